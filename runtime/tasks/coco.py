"""detect with COCO annotations: both models' detections judged against the labels — mAP@0.5:0.95, mAP@0.5 and
AR@100 for the float model (reference) and the int8 model (candidate), their differences, and paired percentile
bootstrap 95 % intervals of the differences over images.

Evaluator: faster-coco-eval (``COCOeval_faster``, bbox), which gives pycocotools' figures (a test checks them
against pycocotools itself); it is imported only here, when annotations are given (``pip install
'edgelite[coco]'``).

Annotations: one COCO detection JSON file, read, bounded and matched to the evaluation samples by
``coco_annotations``; an evaluation image the file does not list is left out of mAP and a note says so. An
annotated image with no boxes counts, as an image without objects.

Detections: boxes normalized to the model's input, which saw the image's central ``crop_fraction`` (cropped in
whole pixels as ``calibration.preprocess`` crops it) stretched to the input size; they are mapped back to image
pixels through that crop. Class ids index the categories in category id order; when some class id is ≥ K (the
number of categories) but every class id is a category id, they are read as category ids instead (an SSD with
COCO's 90-id label map against its 80 categories); a note says which reading was used whenever the category ids
are not 0..K-1 or 1..K (``class_mapping``). A detector without class ids is judged only against a file with one
category.

Bootstrap: each resample draws the annotated images with replacement (``bootstrap.resample_indices``, the same
draws for both sides), rebuilds both evaluations on the drawn images (a repeated image gets fresh ids, so it
counts twice, as the bootstrap means) and recomputes the three figures. A COCO evaluation per resample costs far
more than the other tasks' sums, so at most ``MAP_RESAMPLES`` resamples are drawn, whatever ``--resamples``
asks; ``method`` says how many. Each side keeps its (image, category) IoU matrices across resamples (a drawn
image's are its original's); the matching and accumulation run afresh on every resample. Measured on 2 shared,
busy cores (load 6), 100 images with ~3 labelled boxes and ~4 detections each: 20–45 ms per side per resample
without the kept IoUs, about 30 % less with them; 200 resamples ≈ 8–15 s for both sides.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import MissingDependencyError, UserInputError
from edgelite.runtime.detection_metrics import Detections
from edgelite.runtime.tasks.base import EvalContext, TaskMetric, figure
from edgelite.runtime.tasks.coco_annotations import MAX_ANNOTATION_BYTES as MAX_ANNOTATION_BYTES
from edgelite.runtime.tasks.coco_annotations import GroundTruth, load_annotations, match_samples

MAP_RESAMPLES = 200                        # resamples of the mAP interval (one COCO evaluation per side each)
METRIC_NAMES = ("map50_95", "map50", "ar100")




@dataclass(frozen=True)
class PixelDetections:
    """One image's detections in image pixels, as COCO results hold them: bbox (K, 4) x, y, w, h; scores (K,);
    category ids (K,)."""

    bbox: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray


@dataclass(frozen=True)
class Scores:
    """One side's COCO figures on one set of images (NaN where undefined: no labelled boxes) and AP@0.5:0.95 per
    category (in category id order)."""

    map50_95: float
    map50: float
    ar100: float
    per_class: tuple[float, ...]

    def get(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class LabelledFigures:
    """What ``detect`` adds with annotations: the metrics by name, AP per class name for both sides, notes, and
    how the figures were computed, in one line."""

    metrics: dict[str, TaskMetric]
    per_class_ap: dict[str, dict[str, float | None]]
    notes: list[str] = field(default_factory=list)
    method: str = ""


# --- detections → image pixels ---------------------------------------------------------------------------------

def crop_window(width: float, height: float, crop_fraction: float) -> tuple[float, float, float, float]:
    """(left, top, width, height) of the central crop the model saw, in whole pixels as the preprocessing crops
    (``calibration.preprocess``); the whole image at 1.0."""
    if crop_fraction >= 1.0:
        return 0.0, 0.0, float(width), float(height)
    w, h = int(round(width)), int(round(height))
    cw, ch = max(1, round(w * crop_fraction)), max(1, round(h * crop_fraction))
    return float((w - cw) // 2), float((h - ch) // 2), float(cw), float(ch)


def to_pixels(boxes: np.ndarray, width: float, height: float, crop_fraction: float = 1.0) -> np.ndarray:
    """Normalized (K, 4) xmin, ymin, xmax, ymax of the model's input → (K, 4) COCO x, y, w, h in image pixels."""
    left, top, cw, ch = crop_window(width, height, crop_fraction)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0 = left + b[:, 0] * cw, top + b[:, 1] * ch
    # an inverted box (xmax < xmin) from a decoder is an empty box, not a negative area
    w, h = np.clip(b[:, 2] - b[:, 0], 0, None) * cw, np.clip(b[:, 3] - b[:, 1], 0, None) * ch
    return np.stack([x0, y0, w, h], axis=1)


def _contiguous(ids: Sequence[int]) -> bool:
    """Category ids 0..K-1 or 1..K: indices in id order are the natural reading of a detector's class ids."""
    return list(ids) in (list(range(len(ids))), list(range(1, len(ids) + 1)))


def class_mapping(gt: GroundTruth, classes: Sequence[np.ndarray]) -> tuple[bool, str | None]:
    """How detection class ids (all images, both sides: one detector's id space) name the file's categories:
    (by category id, note). The rule: class ids index the categories in id order when they all can (every id
    < K); else, when every class id is itself a category id, they are taken as category ids (an SSD exported
    with COCO's 90-id label map against the 80 categories, ids 1..90); else ``pixel_detections`` refuses. A
    note says which mapping was used whenever the category ids are not 0..K-1 or 1..K, or ids were used."""
    ids = np.concatenate([np.asarray(c, np.float64).ravel() for c in classes]) if classes else np.zeros(0)
    if ids.size == 0 or not np.all(ids == np.round(ids)):
        return False, None   # nothing to map, or non-integers pixel_detections refuses
    cats, k = gt.category_ids, len(gt.category_ids)
    lo, hi = int(ids.min()), int(ids.max())
    seen = f"class ids {lo}..{hi}" if lo != hi else f"class id {lo}"
    span = f"{k} categories with ids {cats[0]}..{cats[-1]} (not 0..{k - 1} or 1..{k})"
    if lo >= 0 and hi < k:
        if _contiguous(cats):
            return False, None
        also = (" (they are all category ids too: if the detector uses those, these figures are mis-mapped; "
                "renumber the categories 0..K-1 or 1..K to match)") if set(ids.tolist()) <= set(cats) else ""
        return False, (f"the detector's {seen} were read as indices into {gt.path}'s {span} in id order"
                       f"{also}")
    if set(ids.tolist()) <= set(cats):
        return True, (f"the detector's {seen} reach past the {k} categories of {gt.path} but are all its "
                      "category ids, so they were read as category ids, not as indices in id order")
    return False, None


def pixel_detections(dets: Detections, size: tuple[float, float], crop_fraction: float, gt: GroundTruth,
                     side: str, by_id: bool = False) -> PixelDetections:
    """One image's detections in pixels with their category ids: class ids index the categories in id order,
    or are category ids with ``by_id`` (see ``class_mapping``). ``UserInputError`` when they cannot name the
    file's categories."""
    k = len(dets.boxes)
    cats = np.asarray(gt.category_ids, np.int64)
    if k == 0:
        category_ids = np.zeros(0, np.int64)
    elif dets.classes is None:
        if len(cats) != 1:
            raise UserInputError(f"{gt.path} has {len(cats)} categories but the detector gives no class ids; give "
                                 "annotations with one category, or a decoder that reads the class output")
        category_ids = np.repeat(cats, k)
    else:
        raw = np.asarray(dets.classes)
        classes = raw.astype(np.int64)
        bad_rows = (classes != raw) | ~(np.isin(classes, cats) if by_id else (classes >= 0) & (classes < len(cats)))
        if np.any(bad_rows):
            raise UserInputError(f"the {side} detector gives class id {raw[bad_rows][0]} but {gt.path} has "
                                 f"{len(cats)} categories (class ids index them in category id order, or are "
                                 "category ids when every one is); give annotations with the detector's classes")
        category_ids = classes if by_id else cats[classes]
    return PixelDetections(to_pixels(dets.boxes, size[0], size[1], crop_fraction), dets.scores, category_ids)


# --- COCO evaluation -------------------------------------------------------------------------------------------

def _evaluator() -> tuple[Any, Any]:
    try:
        from faster_coco_eval import COCO, COCOeval_faster  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError("COCO mAP needs faster-coco-eval: pip install 'edgelite[coco]'") from None
    return COCO, COCOeval_faster


@functools.cache
def _reusing_evaluator() -> Any:
    """``COCOeval_faster`` that takes each (image, category) IoU matrix from ``iou_cache`` when an earlier
    evaluation of the same side computed it: a drawn image is an earlier image under a new id, with the same
    boxes in the same order, so its IoUs are the same; the matching and accumulation still run per resample."""
    _, base = _evaluator()

    class Reusing(base):  # type: ignore[misc, valid-type]
        iou_cache: dict[tuple[int, int], Any]
        source: Sequence[int]   # evaluated image id − 1 → index of the image it copies

        def computeIoU(self, imgId: int, catId: int) -> Any:   # the evaluator's own method name
            key = (self.source[int(imgId) - 1], int(catId))
            if key not in self.iou_cache:
                self.iou_cache[key] = super().computeIoU(imgId, catId)
            return self.iou_cache[key]

    return Reusing


def _quiet(*_args: object, **_kwargs: object) -> None:
    """faster-coco-eval's print function: its progress lines are not ours to print."""


def resampled_truth(gt: GroundTruth, order: Sequence[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The images and labelled objects of ``order`` (indices into ``gt``, repeats allowed) as COCO lists: image
    ``k`` of the order gets id ``k + 1`` so a repeated image is a new image, and annotation ids start at 1
    (COCOeval reads id 0 as "unmatched"). Shared by the box and the keypoint evaluation."""
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for k, j in enumerate(order):
        width, height = gt.sizes[j]
        images.append({"id": k + 1, "width": width, "height": height})
        for obj in gt.boxes[j]:
            anns.append({**obj, "id": len(anns) + 1, "image_id": k + 1})
    return images, anns


def _datasets(gt: GroundTruth, dets: Sequence[PixelDetections], order: Sequence[int]
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """COCO ground-truth and result datasets over the images ``order`` (indices into ``gt``, repeats allowed):
    image ``k`` of the order gets id ``k + 1`` so a repeated image is a new image, and annotation ids start at 1
    (COCOeval reads id 0 as "unmatched")."""
    images, gt_anns = resampled_truth(gt, order)
    dt_anns: list[dict[str, Any]] = []
    for k, j in enumerate(order):
        d = dets[j]
        for bbox, score, cid in zip(d.bbox.tolist(), d.scores.tolist(), d.category_ids.tolist(), strict=True):
            dt_anns.append({"id": len(dt_anns) + 1, "image_id": k + 1, "category_id": cid, "bbox": bbox,
                            "score": score, "area": bbox[2] * bbox[3], "iscrowd": 0})
    categories = [{"id": c, "name": n} for c, n in zip(gt.category_ids, gt.category_names, strict=True)]
    return ({"images": images, "annotations": gt_anns, "categories": categories},
            {"images": images, "annotations": dt_anns, "categories": categories})


def _mean_defined(a: np.ndarray) -> float:
    """COCO's summary rule: the mean over entries that are defined (−1 marks a category without labels)."""
    kept = a[a > -1]
    return float(kept.mean()) if kept.size else float("nan")


def coco_scores(gt: GroundTruth, dets: Sequence[PixelDetections], order: Sequence[int] | None = None,
                iou_cache: dict[tuple[int, int], Any] | None = None) -> Scores:
    """One side's mAP@0.5:0.95, mAP@0.5, AR@100 and per-category AP over the images ``order`` (default: all).
    ``iou_cache``: IoU matrices kept across calls for the same ``gt`` and ``dets`` (one dict per side)."""
    coco_cls, _ = _evaluator()
    eval_cls = _reusing_evaluator()
    order = range(len(gt.file_names)) if order is None else order
    gt_data, dt_data = _datasets(gt, dets, order)
    # its stdout too: a print it makes past print_function must not land in a JSON report on stdout
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = coco_cls(gt_data, print_function=_quiet), coco_cls(dt_data, print_function=_quiet)
        ev = eval_cls(coco_gt, coco_dt, "bbox", print_function=_quiet)
        ev.iou_cache, ev.source = ({} if iou_cache is None else iou_cache), order
        # only the "all" size range is reported: the small/medium/large ones would triple the work for nothing
        ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e5**2]], ["all"]
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    area, last = p.areaRngLbl.index("all"), p.maxDets.index(100)
    precision = np.asarray(ev.eval["precision"])[:, :, :, area, last]   # (IoU, recall, category)
    recall = np.asarray(ev.eval["recall"])[:, :, area, last]            # (IoU, category)
    at50 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.5)))
    return Scores(map50_95=_mean_defined(precision), map50=_mean_defined(precision[at50]),
                  ar100=_mean_defined(recall),
                  per_class=tuple(_mean_defined(precision[:, :, k]) for k in range(precision.shape[2])))


# --- the judge ----------------------------------------------------------------------------------------------------

def resampled_deltas(n: int, resamples: int, seed: int, names: Sequence[str],
                     score: Callable[[list[int]], tuple[Any, Any]]) -> dict[str, list[float]]:
    """Candidate − reference of each figure ``name`` on every paired resample of the ``n`` images: ``score(order)``
    evaluates both sides on the drawn images (``order``, repeats allowed) and returns two objects with
    ``.get(name)``. Shared by the box and keypoint evaluations."""
    deltas: dict[str, list[float]] = {name: [] for name in names}
    for rows in bootstrap.resample_indices(n, resamples, seed) if resamples else ():
        for idx in rows:
            r, c = score(idx.tolist())
            for name in names:
                deltas[name].append(c.get(name) - r.get(name))
    return deltas


def _interval(deltas: list[float]) -> tuple[float, float] | None:
    finite = np.asarray([d for d in deltas if math.isfinite(d)])
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def _version() -> str:
    try:
        return importlib.metadata.version("faster-coco-eval")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def judge_labelled(path: Path, ctx: EvalContext, ref_dets: list[Detections],
                   cand_dets: list[Detections]) -> LabelledFigures:
    """Both models' detections against the COCO annotations in ``path``: mAP@0.5:0.95, mAP@0.5 and AR@100 of
    each side, their differences with paired bootstrap intervals over the annotated images, AP per class."""
    if not len(ref_dets) == len(cand_dets) == len(ctx.ids):
        raise ValueError(f"{len(ctx.ids)} sample ids but {len(ref_dets)} reference and {len(cand_dets)} candidate "
                         "detection lists")
    _evaluator()   # a missing evaluator is said before the file is read
    gt = load_annotations(Path(path))
    pairs, unlisted = match_samples(ctx.ids, gt, subset=ctx.subset)
    notes: list[str] = []
    if unlisted:
        notes.append(f"{len(unlisted)} of the {len(ctx.ids)} evaluation images have no entry in {gt.path} "
                     f"(e.g. {unlisted[0]!r}) and are left out of mAP")
    # only the matched images are evaluated, in sample order
    sub = gt.taking([j for _, j in pairs])
    # one mapping for both sides and every image: a per-image guess could read one id two ways
    by_id, mapping_note = class_mapping(sub, [d.classes for dets in (ref_dets, cand_dets) for d in
                                              (dets[i] for i, _ in pairs) if d.classes is not None and len(d.boxes)])
    if mapping_note:
        notes.append(mapping_note)
    ref_px = [pixel_detections(ref_dets[i], sub.sizes[k], ctx.crop_fraction, sub, "float", by_id)
              for k, (i, _) in enumerate(pairs)]
    cand_px = [pixel_detections(cand_dets[i], sub.sizes[k], ctx.crop_fraction, sub, "int8", by_id)
               for k, (i, _) in enumerate(pairs)]
    ref_cache: dict[tuple[int, int], Any] = {}
    cand_cache: dict[tuple[int, int], Any] = {}
    ref, cand = coco_scores(sub, ref_px, iou_cache=ref_cache), coco_scores(sub, cand_px, iou_cache=cand_cache)
    n = len(pairs)
    resamples = min(max(ctx.resamples, 0), MAP_RESAMPLES)
    deltas = resampled_deltas(n, resamples, ctx.seed, METRIC_NAMES, lambda order: (
        coco_scores(sub, ref_px, order, ref_cache), coco_scores(sub, cand_px, order, cand_cache)))
    metrics = {name: TaskMetric.of(ref.get(name), cand.get(name), cand.get(name) - ref.get(name),
                                   _interval(deltas[name]) if resamples else None) for name in METRIC_NAMES}
    if not any(sub.boxes):
        notes.append(f"{gt.path} has no boxes on the evaluation images: mAP and AR are undefined")
    per_class = {name: {"reference": figure(r), "candidate": figure(c)}
                 for name, r, c in zip(sub.category_names, ref.per_class, cand.per_class, strict=True)}
    capped = f" (capped at {MAP_RESAMPLES} of the {ctx.resamples} asked)" if ctx.resamples > MAP_RESAMPLES else ""
    method = (f"faster-coco-eval {_version()} COCO bbox evaluation (IoU 0.50:0.95, up to 100 detections per "
              f"image) on {n} annotated images; paired percentile bootstrap over images, {resamples} resamples"
              f"{capped}, seed {ctx.seed}")
    return LabelledFigures(metrics=metrics, per_class_ap=per_class, notes=notes, method=method)
