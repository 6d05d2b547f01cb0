"""segment: the candidate's class masks against the float model's (argmax over the class axis; one channel:
score > 0.5) — mIoU (per class Σ intersection / Σ union over the images, averaged over the classes either side
paints) and pixel agreement, with paired bootstrap intervals over images."""

from __future__ import annotations

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, Outputs, SampleView, TaskFigures, TaskMetric, worst_first

MAX_CLASSES = 1024   # per-image intersection/union columns: N × classes numbers
VIEWS = 6


def masks_of(a: np.ndarray) -> np.ndarray:
    """(N, H, W) class ids of a score map (N, H, W, C) or (N, H, W) / (N, H, W, 1) probabilities."""
    a = np.asarray(a)
    if a.ndim == 4 and a.shape[-1] > 1:
        out: np.ndarray = a.argmax(-1)
        return out
    if a.ndim == 4:
        a = a[..., 0]
    if a.ndim != 3:
        raise UserInputError(f"a segmentation output is (H, W, C) per image; got {list(a.shape[1:])}")
    return (a > 0.5).astype(np.int64)


def _miou(classes: int) -> bootstrap.Metric:
    def metric(columns: bootstrap.Columns, idx: np.ndarray) -> np.ndarray:
        inter = np.stack([np.asarray(columns[f"i{c}"])[idx].sum(-1) for c in range(classes)], -1)
        union = np.stack([np.asarray(columns[f"u{c}"])[idx].sum(-1) for c in range(classes)], -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
        present = np.isfinite(iou).any(-1)
        out: np.ndarray = np.full(iou.shape[:-1], np.nan)
        out[present] = np.nanmean(iou[present], axis=-1)
        return out

    return metric


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, output: str | None = None,
          candidate_output: str | None = None, basis: str = "") -> TaskFigures:
    name = output or next(iter(reference))
    ref, cand = masks_of(reference[name]), masks_of(candidate[candidate_output or name])
    classes = int(max(ref.max(initial=0), cand.max(initial=0))) + 1
    if classes > MAX_CLASSES:
        raise UserInputError(f"output {name}: {classes} classes; mIoU is computed for at most {MAX_CLASSES}")
    n = len(ref)
    cand_cols: dict[str, np.ndarray] = {}
    ideal_cols: dict[str, np.ndarray] = {}
    for c in range(classes):
        r, k = ref == c, cand == c
        cand_cols[f"i{c}"] = (r & k).sum((1, 2)).astype(float)
        cand_cols[f"u{c}"] = (r | k).sum((1, 2)).astype(float)
        ideal_cols[f"i{c}"] = ideal_cols[f"u{c}"] = r.sum((1, 2)).astype(float)
    same = (ref == cand).sum((1, 2)).astype(float)
    pixels = np.full(n, float(ref[0].size))
    cand_cols.update(same=same, pixels=pixels)
    ideal_cols.update(same=pixels, pixels=pixels)
    metrics = {}
    for metric, fn in (("miou", _miou(classes)), ("pixel_agreement", bootstrap.ratio("same", "pixels"))):
        figs = bootstrap.paired_bootstrap(ideal_cols, cand_cols, fn, resamples=ctx.resamples, seed=ctx.seed)
        metrics[metric] = TaskMetric.vs_reference(figs)
    loss = 1.0 - same / pixels
    worst = worst_first(ctx.ids, loss)
    index = {sid: i for i, sid in enumerate(ctx.ids)}
    views = [SampleView(w.id, w.loss, ref[index[w.id]], cand[index[w.id]]) for w in worst[:VIEWS]]
    method = (f"output {name}: class masks (argmax), {classes} classes; mIoU over the classes either model paints; "
              f"paired bootstrap over images ({ctx.resamples} resamples, seed {ctx.seed})")
    return TaskFigures(kind="segment", headline="miou", metrics=metrics, basis=basis, method=method, worst=worst,
                       details={"output": name, "classes": classes}, views=views)
