"""Tasks over two ``Run``s: resolve the task from what the runs recorded of their models (output names and
shapes, the file's labels and recorded task, the input size) and judge it — what ``compare_runs`` calls, live or
on saved runs alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, TaskFigures
from edgelite.runtime.tasks.spec import RECORD_KEY, OutputInfo, TaskRequest, TaskSpec, resolve

if TYPE_CHECKING:
    from edgelite.runtime.compare import CompareReport
    from edgelite.runtime.comparisons import Matched
    from edgelite.runtime.runs import Run


def _recorded(run: Run) -> dict[str, Any] | None:
    """The task the run's model file records: edgelite's own (provenance), else its standard metadata's."""
    meta = run.description.get("metadata")
    if not isinstance(meta, dict):
        return None
    prov = meta.get("provenance")
    rec = prov.get(RECORD_KEY) if isinstance(prov, dict) else None
    if isinstance(rec, dict):
        return rec
    rec = meta.get(RECORD_KEY)
    return rec if isinstance(rec, dict) else None


def input_hw(run: Run) -> tuple[int, int] | None:
    """The first image-like input's (height, width) as the run's model described it."""
    inputs = run.description.get("inputs")
    for t in inputs if isinstance(inputs, list) else ():
        shape = t.get("shape") if isinstance(t, dict) else getattr(t, "shape", None)
        if isinstance(shape, (list, tuple)) and len(shape) == 4 and all(isinstance(d, int) for d in shape):
            return int(shape[1]), int(shape[2])
    return None


def spec_for_runs(task: TaskRequest | TaskSpec | None, m: Matched, class_output: str | None) -> TaskSpec:
    """The task ``m`` is judged by: ``task`` when already a spec, else resolved from the request (None: the
    default) and what the candidate run (else the reference run) recorded."""
    if isinstance(task, TaskSpec):
        return task
    request = task if task is not None else TaskRequest()
    outputs = [OutputInfo(r, tuple(int(d) for d in m.reference.outputs[r].shape[1:])) for r, _ in m.pairs]
    recorded = _recorded(m.candidate) or _recorded(m.reference)
    return resolve(request, outputs, labels=m.class_names, recorded=recorded,
                   input_hw=input_hw(m.candidate) or input_hw(m.reference), class_output=class_output)


def judge_runs(task: TaskRequest | TaskSpec | None, m: Matched, class_output: str | None, *,
               crop_fraction: float = 1.0, subset: bool = False) -> TaskFigures:
    """The task figures of the matched runs."""
    from edgelite.runtime.tasks.judge import judge

    spec = spec_for_runs(task, m, class_output)
    ctx = EvalContext(ids=m.reference.ids, labels=m.labels, input_size=spec.input_size, resamples=spec.resamples,
                      seed=spec.seed, class_names=m.class_names, crop_fraction=crop_fraction, subset=subset)
    try:
        return judge(spec, m.reference.outputs, m.candidate.outputs, ctx, pairs=list(m.pairs))
    except UserInputError as exc:
        if not spec.basis.startswith("guessed"):
            raise   # asked for, or recorded in the file: the user's to fix
        # a guess that does not fit the outputs must not fail a compare that worked before: say so, judge the
        # per-output error
        regress = dataclasses.replace(spec, kind="regress", decoder=None, notes=(
            *spec.notes, f"the guessed task {spec.kind} could not judge these outputs ({exc}); give --task"))
        return judge(regress, m.reference.outputs, m.candidate.outputs, ctx, pairs=list(m.pairs))


def with_images(report: CompareReport, x: Any, ids: Sequence[str]) -> CompareReport:
    """``report`` with the model inputs of its drawn samples filled in (the first image input of each)."""
    task = report.task
    if task is None or not task.views:
        return report
    arrays = getattr(x, "arrays", None)
    images = np.asarray(arrays[0] if arrays is not None else x)
    if images.ndim != 4:
        return report
    index = {sid: i for i, sid in enumerate(ids)}
    views = [dataclasses.replace(v, image=images[index[v.id]]) if v.id in index else v for v in task.views]
    out: CompareReport = dataclasses.replace(report, task=dataclasses.replace(task, views=views))
    return out
