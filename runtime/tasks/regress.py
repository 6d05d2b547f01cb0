"""regress: per-output error against the float model — MAE and RMSE of every output (``mae``/``rmse`` for the
first, ``mae[NAME]``/``rmse[NAME]`` for the others), with paired bootstrap intervals over samples. With more than
one output, ``details.outputs`` names them in order (the first is the one the bare ``mae``/``rmse`` measure)."""

from __future__ import annotations

import numpy as np

from edgelite.core import bootstrap
from edgelite.runtime.tasks.base import EvalContext, Outputs, TaskFigures, TaskMetric, worst_first


def _rmse(columns: bootstrap.Columns, idx: np.ndarray) -> np.ndarray:
    sq = np.asarray(columns["sq"])[idx].sum(axis=-1)
    count = np.asarray(columns["count"])[idx].sum(axis=-1)
    out: np.ndarray = np.sqrt(sq / np.maximum(count, 1))
    return out


def error_metrics(reference: Outputs, candidate: Outputs, pairs: list[tuple[str, str]], ctx: EvalContext
                  ) -> tuple[dict[str, TaskMetric], np.ndarray]:
    """MAE/RMSE per output pair, and the first pair's per-sample MAE (for the worst-first list)."""
    metrics: dict[str, TaskMetric] = {}
    first_loss = np.zeros(len(ctx.ids))
    for k, (rn, cn) in enumerate(pairs):
        r = np.asarray(reference[rn], np.float64).reshape(len(ctx.ids), -1)
        c = np.asarray(candidate[cn], np.float64).reshape(len(ctx.ids), -1)
        diff = c - r
        cand = {"abs": np.abs(diff).sum(1), "sq": (diff ** 2).sum(1), "count": np.full(len(r), r.shape[1], float)}
        ideal = {"abs": np.zeros(len(r)), "sq": np.zeros(len(r)), "count": cand["count"]}
        suffix = "" if k == 0 else f"[{rn}]"
        for name, fn in (("mae", bootstrap.ratio("abs", "count")), ("rmse", _rmse)):
            figs = bootstrap.paired_bootstrap(ideal, cand, fn, resamples=ctx.resamples, seed=ctx.seed)
            metrics[name + suffix] = TaskMetric.vs_reference(figs)
        if k == 0:
            first_loss = cand["abs"] / cand["count"]
    return metrics, first_loss


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, pairs: list[tuple[str, str]],
          basis: str = "") -> TaskFigures:
    metrics, loss = error_metrics(reference, candidate, pairs, ctx)
    details: dict[str, object] | None = {"outputs": [rn for rn, _ in pairs]} if len(pairs) > 1 else None
    return TaskFigures(kind="regress", headline="mae", metrics=metrics, basis=basis,
                       method=f"error of each output against the float model's; paired bootstrap over samples "
                              f"({ctx.resamples} resamples, seed {ctx.seed})",
                       worst=worst_first(ctx.ids, loss), details=details)
