"""Score quantized variants against the float model on the same evaluation samples (LiteRT, no TF).

One ``Scorer`` runs the float model once and keeps its outputs (every output, by name); each ``score`` runs one
candidate. The budget metric (``loss_pts``) is the top-1 drop in points when labels are known, else
100 × (1 − agreement) — unless a task other than plain classify is in effect (``--task``, ``--metric``, a task
the file records, a detector decoder): then it is that task's headline loss (``TaskFigures.loss``: points for
rates, the metric's own unit otherwise, a rise for errors), judged with point figures only (no bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import Samples
from edgelite.core import metrics
from edgelite.core.errors import UserInputError
from edgelite.core.files import native_stderr_captured
from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime.model import Model
from edgelite.runtime.tasks.base import EvalContext, TaskFigures
from edgelite.runtime.tasks.spec import TaskRequest, TaskSpec


@dataclass(frozen=True)
class Score(Record):
    loss_pts: float          # the budget metric: top-1 drop (labels) or 100 × (1 − agreement)
    agreement: float         # argmax agreement with the float model
    top1: float | None       # % with labels
    noise: float             # mean squared output error vs float
    snr_db: float | None     # output SNR vs float (None when identical)
    size_bytes: int
    task: TaskFigures | None = field(default=None, metadata=OMIT_NONE)   # the task's figures (not plain classify)

    float_digits = 6


def run_outputs(model_bytes: bytes, x: Samples) -> np.ndarray:
    """First output for every sample, dequantized, flattened per sample (N, K)."""
    with native_stderr_captured():  # LiteRT announces its XNNPACK delegate on fd 2 each load
        model = Model.from_bytes(model_bytes)
    return model.predict_all(x)[0].reshape(len(x), -1).astype(np.float64)


def outputs_at_shape(model_bytes: bytes, x: Samples) -> np.ndarray:
    """First output per sample (N, K), with the input resized to the samples' shape first — for float models
    with a dynamic height/width and no embedded spec, which ``run_outputs`` cannot size."""
    from edgelite.calibration.multi_input import shape_of
    from edgelite.runtime.backends import select_backend
    from edgelite.runtime.intermediates import fit_inputs, set_input

    # Only the outputs: XNNPACK on (a preserving interpreter runs without it). LiteRT announces the delegate on
    # fd 2 when it applies it, which a resize makes happen again at allocation.
    with native_stderr_captured():
        interp = select_backend("litert").make(model_bytes)
        order = fit_inputs(interp, shape_of(x))
        interp.allocate_tensors()
        index = interp.get_output_details()[0]["index"]
        rows = []
        for sample in x:
            set_input(interp, sample, order)
            interp.invoke()
            rows.append(np.array(interp.get_tensor(index), np.float64).reshape(-1))
    return np.stack(rows)


def run_all(model_bytes: bytes, x: Samples) -> tuple[list[str], list[np.ndarray]]:
    """Every output for every sample, dequantized: (names in output order, arrays (N, ...))."""
    with native_stderr_captured():
        model = Model.from_bytes(model_bytes)
    return [o.name for o in model.outputs], [np.asarray(a) for a in model.predict_all(x)]


def judged_by_task(spec: TaskSpec | None) -> bool:
    """Whether ``spec`` changes the budget metric: every task but plain classify (no user metric)."""
    return spec is not None and (spec.kind != "classify" or spec.metric is not None)


def resolve_task(request: TaskRequest | None, float_bytes: bytes, *, labels: Sequence[str] | None,
                 source: Path | None = None) -> TaskSpec | None:
    """The task the float model is judged by, resolved once from ``request`` (None: the default), the float
    model's outputs, ``labels``, and the task ``source`` records when it is an edgelite-converted .tflite.
    None when the budget stays today's top-1/agreement: nothing asked, nothing recorded and the guess is
    classify or regress (a logits classifier without labels reads as regress: it keeps the agreement metric)."""
    from edgelite.runtime.tasks.spec import OutputInfo, resolve

    request = request if request is not None else TaskRequest()
    with native_stderr_captured():
        model = Model.from_bytes(float_bytes)
    recorded = _recorded_task(source)
    outputs = [OutputInfo(o.name, tuple(int(d) for d in o.shape[1:])) for o in model.outputs]
    class_output = None
    if labels:
        fit = [o.name for o in outputs if int(np.prod(o.shape or (1,))) == len(labels)]
        class_output = fit[0] if fit else None
    hw = None
    shape = model.inputs[0].shape if model.inputs else ()
    if len(shape) == 4:
        hw = (int(shape[1]), int(shape[2]))
    spec = resolve(request, outputs, labels=list(labels) if labels else None, recorded=recorded, input_hw=hw,
                   class_output=class_output)
    if not request.asked and recorded is None and spec.kind in ("classify", "regress"):
        return None
    return spec


def task_for(request: TaskRequest | None, float_bytes: bytes, *, labels: Sequence[str] | None,
             source: Path | None = None) -> TaskSpec | None:
    """``resolve_task``, except that a default which cannot resolve (a detector-like output without a decoder,
    nothing asked) keeps today's metric instead of failing a conversion that worked without tasks."""
    try:
        return resolve_task(request, float_bytes, labels=labels, source=source)
    except UserInputError:
        if request is not None and request.asked:
            raise
        return None


def _recorded_task(source: Path | None) -> dict[str, Any] | None:
    """The task an edgelite-converted float .tflite source records (provenance ``task``), if any."""
    if source is None or source.suffix != ".tflite" or not source.is_file():
        return None
    try:
        with native_stderr_captured():
            return Model.load(source).metadata.recorded_task()
    except (UserInputError, ValueError, RuntimeError):   # unreadable metadata records nothing (loading says why)
        return None


class Scorer:
    """The float model's outputs on ``x`` (and its accuracy on ``y``), to score candidates against; with a
    ``task`` (``judged_by_task``) each candidate is judged by that task's headline loss."""

    def __init__(self, float_bytes: bytes, x: Samples, y: np.ndarray | None, *,
                 task: TaskSpec | None = None, ids: Sequence[str] | None = None,
                 crop_fraction: float = 1.0) -> None:
        self.x, self.y = x, y
        # the samples' ids (an image's path in its folder: COCO annotations and label masks are matched by it)
        # and the central crop the model saw (boxes and masks map back through it)
        self.ids = tuple(str(i) for i in ids) if ids is not None else tuple(str(i) for i in range(len(x)))
        if len(self.ids) != len(x):
            raise ValueError(f"{len(x)} samples but {len(self.ids)} ids")
        self.crop_fraction = crop_fraction
        self.subset = ids is not None   # a part of the evaluation data: labels of the other images are left out
        if task is not None and ids is None and (task.annotations is not None or task.masks is not None):
            # samples without ids (calibration images ranking layers) have no labels: judge them against the
            # float model only
            import dataclasses

            task = dataclasses.replace(task, annotations=None, masks=None)
        self.float_bytes = float_bytes
        self.task = task if judged_by_task(task) else None
        self.names, outs = run_all(float_bytes, x)
        self.ref_outputs = dict(zip(self.names, outs, strict=True))
        self.ref = outs[0].reshape(len(x), -1).astype(np.float64)
        self.float_top1 = self._top1(self.ref)
        self.signal = float(np.mean(self.ref ** 2))

    def on(self, x: Samples, y: np.ndarray | None, ids: Sequence[str] | None = None) -> Scorer:
        """A scorer of the same float model and task on other samples (without ``ids``: against the float
        model only, no labels)."""
        return Scorer(self.float_bytes, x, y, task=self.task, ids=ids, crop_fraction=self.crop_fraction)

    def _top1(self, out: np.ndarray) -> float | None:
        if self.y is None:
            return None
        return float(np.mean(out.argmax(1) == self.y) * 100.0)

    @property
    def metric_name(self) -> str:
        if self.task is not None:
            return task_metric_name(self.task)
        return "top-1 drop (pts)" if self.y is not None else "disagreement (pts)"

    def judge(self, outs: list[np.ndarray], *, resamples: int = 0) -> TaskFigures:
        """The task figures of a candidate's outputs (in output order) against the float model's."""
        from edgelite.runtime.tasks.judge import judge

        assert self.task is not None
        cand = dict(zip(self.names, outs, strict=True))   # the candidate's outputs read by the float's names
        ctx = EvalContext(ids=self.ids, labels=self.y, input_size=self.task.input_size, resamples=resamples,
                          seed=self.task.seed, crop_fraction=self.crop_fraction, subset=self.subset)
        return judge(self.task, self.ref_outputs, cand, ctx)

    def score(self, model_bytes: bytes) -> Score:
        names, outs = run_all(model_bytes, self.x)
        out = outs[0].reshape(len(self.x), -1).astype(np.float64)
        agreement = metrics.agreement(out, self.ref)
        top1 = self._top1(out)
        figs = None
        if self.task is not None:
            figs = self.judge(outs)
            task_loss = figs.loss()
            loss = float("inf") if task_loss is None else task_loss
        else:
            loss = (self.float_top1 - top1) if top1 is not None and self.float_top1 is not None \
                else 100.0 * (1.0 - agreement)
        noise = float(np.mean((out - self.ref) ** 2))
        return Score(loss_pts=float(loss), agreement=agreement, top1=top1, noise=noise,
                     snr_db=metrics.snr_db(self.signal, noise),
                     size_bytes=len(model_bytes), task=figs)


def task_metric_name(spec: TaskSpec) -> str:
    """The headline loss as reports name it: "detections kept loss (pts)", "landmark error rise (px)", "user
    metric drop"."""
    from edgelite.runtime.tasks.base import info

    headline = _headline(spec)
    i = info(headline)
    if headline == "metric":
        assert spec.metric is not None
        return f"user metric drop ({spec.metric.name})"
    word = "rise" if not i.higher_is_better else "loss"
    return f"{i.label} {word} ({i.loss_unit})"


def _headline(spec: TaskSpec) -> str:
    """The task's headline metric name without judging (as each task's judge picks it)."""
    if spec.metric is not None:
        return "metric"
    return {"detect": "map50_95" if spec.annotations is not None else "detections_kept",
            "landmarks": "landmark_error_px", "segment": "miou",
            "embed": "cosine", "regress": "mae", "classify": "agreement"}.get(spec.kind, "mae")
