"""classify: top-1 agreement with the float model (Wilson interval) and, with labels, each side's top-1 and its
paired drop (Newcombe interval) — the figures compare already prints, in the task record."""

from __future__ import annotations

import numpy as np

from edgelite.core import stats
from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, Outputs, TaskFigures, TaskMetric, worst_first


def _scores(outputs: Outputs, name: str | None, where: str) -> np.ndarray:
    if name is None:
        name = next(iter(outputs))
    if name not in outputs:
        raise UserInputError(f"{where}: no output {name!r} to read class scores from")
    a = np.asarray(outputs[name], np.float64)
    return a.reshape(len(a), -1)


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, class_output: str | None = None,
          candidate_output: str | None = None, basis: str = "") -> TaskFigures:
    """Agreement (and top-1 with labels) on the class-score output."""
    ref = _scores(reference, class_output, "reference")
    cand = _scores(candidate, candidate_output or class_output, "candidate")
    rp, cp = ref.argmax(1), cand.argmax(1)
    labels = ctx.labels
    if labels is not None and (labels.min(initial=0) < 0 or labels.max(initial=0) >= ref.shape[1]):
        labels = None   # labels that do not index the scores judge nothing here (compare says so already)
    p = stats.paired(rp, cp, labels)
    lo, hi = p.agreement_ci95
    metrics = {"agreement": TaskMetric.of(None, p.agreement, p.agreement - 1.0, (lo - 1.0, hi - 1.0))}
    headline = "agreement"
    if labels is not None and p.top1_drop_ci95 is not None and p.top1_drop_pts is not None:
        r1, c1 = float(np.mean(rp == labels)), float(np.mean(cp == labels))
        d_lo, d_hi = p.top1_drop_ci95
        metrics["top1"] = TaskMetric.of(r1, c1, c1 - r1, (-d_hi / 100.0, -d_lo / 100.0))
        headline = "top1"
    if labels is not None:
        loss = (rp == labels).astype(float) - (cp == labels).astype(float)
    else:
        loss = (rp != cp).astype(float)
    method = ("top-1 of the class-score output; agreement: Wilson 95 % interval"
              + ("; top-1 drop: Newcombe paired interval" if headline == "top1" else ""))
    return TaskFigures(kind="classify", headline=headline, metrics=metrics, basis=basis, method=method,
                       worst=worst_first(ctx.ids, loss))
