"""segment: the candidate's class masks against the float model's (argmax over the class axis; one channel:
score > 0.5) — mIoU (per class Σ intersection / Σ union over the images, averaged over the classes either side
paints) and pixel agreement, with paired bootstrap intervals over images.

With label masks (``--masks DIR``: one PNG per evaluation image, same file stem, pixel value = class id, 255 =
ignore, as VOC and Cityscapes ship them) both models are judged against the labels instead: ``miou`` and
``pixel_agreement`` (pixel accuracy) of each side and their paired difference. A mask is cut to the central
``crop_fraction`` the model saw and resized (nearest) to the output's size; its header is checked against the
image pixel cap before it is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, Outputs, SampleView, TaskFigures, TaskMetric, worst_first

MAX_CLASSES = 1024   # per-image intersection/union columns: N × classes numbers
VIEWS = 6
IGNORE = 255         # label value that counts for neither side


def masks_of(a: np.ndarray) -> np.ndarray:
    """(N, H, W) class ids of a score map (N, H, W, C) or (N, H, W) / (N, H, W, 1) probabilities or logits."""
    a = np.asarray(a)
    if a.ndim == 4 and a.shape[-1] > 1:
        out: np.ndarray = a.argmax(-1)
        return out
    if a.ndim == 4:
        a = a[..., 0]
    if a.ndim != 3:
        raise UserInputError(f"a segmentation output is (H, W, C) per image; got {list(a.shape[1:])}")
    # one channel: a probability (threshold 0.5) or, with values outside [0, 1], a logit (threshold 0)
    threshold = 0.5 if a.size == 0 or (float(a.min()) >= 0.0 and float(a.max()) <= 1.0) else 0.0
    return (a > threshold).astype(np.int64)


def class_names_of(scores: np.ndarray, ctx: EvalContext) -> list[str] | None:
    """The file's labels when they name the score map's channels one for one (DeepLab v3's 21), else None
    (the masks then show class ids)."""
    a = np.asarray(scores)
    names = ctx.class_names
    if names is None or a.ndim != 4 or a.shape[-1] < 2 or len(names) != a.shape[-1]:
        return None
    return [str(n) for n in names]


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


def read_label_masks(folder: Path, ids: tuple[str, ...], size: tuple[int, int], crop_fraction: float) -> np.ndarray:
    """(N, H, W) label masks for the samples ``ids``, at the output's (H, W)."""
    from PIL import Image

    from edgelite.calibration.preprocess import load_image

    if not folder.is_dir():
        raise UserInputError(f"--masks {folder}: not a folder of label PNGs")
    paths = [folder / (Path(i).stem + ".png") for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserInputError(f"--masks {folder}: no label mask for {len(missing)} of {len(ids)} evaluation images "
                             f"(e.g. {missing[0].name}); give one PNG per image, same file stem")
    h, w = size
    out = np.empty((len(ids), h, w), np.int64)
    for k, p in enumerate(paths):
        im = load_image(p)
        if im.mode not in ("L", "P", "I", "I;16"):
            raise UserInputError(f"{p}: a label mask holds one class id per pixel (mode L or P), not {im.mode}")
        cw, ch = max(1, round(im.width * crop_fraction)), max(1, round(im.height * crop_fraction))
        left, top = (im.width - cw) // 2, (im.height - ch) // 2
        im = im.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.NEAREST)
        out[k] = np.asarray(im, np.int64)
    return out


def _vs_labels(ref: np.ndarray, cand: np.ndarray, labels: np.ndarray, ctx: EvalContext, name: str, basis: str,
               names: list[str] | None = None) -> TaskFigures:
    """Both models' masks against label masks: each side's mIoU and pixel accuracy, paired."""
    named = {"class_names": names} if names is not None else {}
    valid = labels != IGNORE
    classes = int(max(ref.max(initial=0), cand.max(initial=0), np.where(valid, labels, 0).max(initial=0))) + 1
    if classes > MAX_CLASSES:
        raise UserInputError(f"output {name}: {classes} classes; mIoU is computed for at most {MAX_CLASSES}")

    def columns(pred: np.ndarray) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for c in range(classes):
            p, t = (pred == c) & valid, (labels == c) & valid
            cols[f"i{c}"] = (p & t).sum((1, 2)).astype(float)
            cols[f"u{c}"] = (p | t).sum((1, 2)).astype(float)
        cols["same"] = ((pred == labels) & valid).sum((1, 2)).astype(float)
        cols["pixels"] = valid.sum((1, 2)).astype(float)
        return cols

    ref_cols, cand_cols = columns(ref), columns(cand)
    metrics = {}
    for metric, fn in (("miou", _miou(classes)), ("pixel_agreement", bootstrap.ratio("same", "pixels"))):
        metrics[metric] = TaskMetric.paired(bootstrap.paired_bootstrap(ref_cols, cand_cols, fn,
                                                                       resamples=ctx.resamples, seed=ctx.seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = (ref_cols["same"] - cand_cols["same"]) / np.maximum(ref_cols["pixels"], 1)
    worst = worst_first(ctx.ids, loss)
    index = {sid: i for i, sid in enumerate(ctx.ids)}
    views = [SampleView(w.id, w.loss, ref[index[w.id]], cand[index[w.id]]) for w in worst[:VIEWS]]
    method = (f"output {name}: class masks (argmax), {classes} classes, against label masks ({IGNORE} ignored); "
              f"mIoU over the classes either the model or the labels paint; paired bootstrap over images "
              f"({ctx.resamples} resamples, seed {ctx.seed})")
    return TaskFigures(kind="segment", headline="miou", metrics=metrics, basis=basis, method=method, worst=worst,
                       details={"output": name, "classes": classes, "labels": "masks", **named}, views=views)


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, output: str | None = None,
          candidate_output: str | None = None, basis: str = "", masks: Path | None = None) -> TaskFigures:
    name = output or next(iter(reference))
    ref, cand = masks_of(reference[name]), masks_of(candidate[candidate_output or name])
    if masks is not None:
        labels = read_label_masks(masks, ctx.ids, (ref.shape[1], ref.shape[2]), ctx.crop_fraction)
        return _vs_labels(ref, cand, labels, ctx, name, basis, class_names_of(reference[name], ctx))
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
    names = class_names_of(reference[name], ctx)
    named = {"class_names": names} if names is not None else {}
    method = (f"output {name}: class masks (argmax), {classes} classes; mIoU over the classes either model paints; "
              f"paired bootstrap over images ({ctx.resamples} resamples, seed {ctx.seed})")
    return TaskFigures(kind="segment", headline="miou", metrics=metrics, basis=basis, method=method, worst=worst,
                       details={"output": name, "classes": classes, **named}, views=views)
