"""detect with COCO annotations: both models' detections judged against the labels — mAP@0.5:0.95, mAP@0.5 and
AR@100 for the float model (reference) and the int8 model (candidate), their differences, and paired percentile
bootstrap 95 % intervals of the differences over images.

Evaluator: faster-coco-eval (``COCOeval_faster``, bbox), which gives pycocotools' figures (a test checks them
against pycocotools itself); it is imported only here, when annotations are given (``pip install
'edgelite[coco]'``).

Annotations: one COCO detection JSON file (``images[]``, ``annotations[]``, ``categories[]``), read whole, so it
is bounded first (``MAX_ANNOTATION_BYTES``, then ``MAX_ANNOTATIONS``, ``MAX_IMAGES``, ``MAX_CATEGORIES`` before
anything is built from the lists). Its images are matched to the evaluation
samples by file name: the path inside the data folder first, else the base name (an ambiguous base name is
refused). An annotated image that is not among the evaluation samples is refused (the figures would silently
cover other images than the ones given); an evaluation image the file does not list is left out of mAP (nothing
says what is on it) and a note says so. An annotated image with no boxes counts, as an image without objects.

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
import json
import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import MissingDependencyError, UserInputError
from edgelite.runtime.detection_metrics import Detections
from edgelite.runtime.tasks.base import EvalContext, TaskMetric, figure

# COCO val2017's instances file is ~25 MB. json.load builds Python objects of many times a file's size (a
# 64 MiB file can take 1–2 GB), so the cap sits at 2.5× val2017 rather than at any file size.
MAX_ANNOTATION_BYTES = 64 * 1024 * 1024
MAX_ANNOTATIONS = 10_000_000               # COCO train2017 has 0.86 M boxes
MAX_IMAGES = 200_000                       # COCO train2017 has 118 k images, val2017 5 k
MAX_CATEGORIES = 10_000                    # COCO has 80, LVIS 1203
MAP_RESAMPLES = 200                        # resamples of the mAP interval (one COCO evaluation per side each)
EDGE_TOLERANCE_PX = 1.0                    # labelling tools round box edges; a box this far out is still inside
FIX = "give a COCO detection file: images[] (id, file_name, width, height), annotations[] (image_id, " \
      "category_id, bbox [x, y, w, h] in pixels), categories[] (id, name)"
METRIC_NAMES = ("map50_95", "map50", "ar100")


@dataclass(frozen=True)
class GroundTruth:
    """The annotations, checked: per annotated image its file name, size (width, height) and boxes (COCO
    annotation fields: bbox, category_id, iscrowd, area); the categories in id order."""

    path: Path
    file_names: tuple[str, ...]
    sizes: tuple[tuple[float, float], ...]
    boxes: tuple[tuple[dict[str, Any], ...], ...]
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]


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


# --- reading the annotations -------------------------------------------------------------------------------------

def _bad(path: Path, what: str) -> UserInputError:
    return UserInputError(f"{path}: {what}; {FIX}")


def _number(value: object) -> float | None:
    """``value`` as a finite float, None when it is not a finite number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _int_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _read_json(path: Path) -> dict[str, Any]:
    """The file's JSON object, its size and count bounded before anything is built from it."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UserInputError(f"{path}: cannot read the annotations file ({e.strerror or e}); give the path of a "
                             "COCO JSON file") from None
    if size > MAX_ANNOTATION_BYTES:
        raise UserInputError(f"{path}: {size / 2**20:.0f} MiB is over the {MAX_ANNOTATION_BYTES // 2**20} MiB "
                             "limit on annotation files; keep only the annotations of the evaluation images")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _bad(path, f"not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise _bad(path, f"the top level is a JSON {type(data).__name__}, not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise _bad(path, f"no {key}[] list")
    # counted before any per-image or per-category structure is built from them
    for key, limit, fix in (("annotations", MAX_ANNOTATIONS, "keep only the annotations of the evaluation images"),
                            ("images", MAX_IMAGES, "keep only the evaluation images"),
                            ("categories", MAX_CATEGORIES, "is it a COCO detection file?")):
        if len(data[key]) > limit:
            raise UserInputError(f"{path}: {len(data[key])} {key} is over the limit of {limit}; {fix}")
    return data


def _categories(path: Path, raw: list[Any]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    cats: dict[int, str] = {}
    for i, c in enumerate(raw):
        cid = _int_id(c.get("id")) if isinstance(c, dict) else None
        if cid is None:
            raise _bad(path, f"categories[{i}] has no integer id")
        if cid in cats:
            raise _bad(path, f"category id {cid} appears twice")
        cats[cid] = str(c.get("name", cid))
    if not cats:
        raise _bad(path, "categories[] is empty")
    ids = tuple(sorted(cats))
    names = [cats[i] for i in ids]
    # per-class AP is keyed by name: a repeated name keeps its id so neither class hides the other
    names = [n if names.count(n) == 1 else f"{n} (id {i})" for n, i in zip(names, ids, strict=True)]
    return ids, tuple(names)


def _images(path: Path, raw: list[Any]) -> dict[int, tuple[str, float, float]]:
    """image id → (normalized file name, width, height)."""
    images: dict[int, tuple[str, float, float]] = {}
    seen: set[str] = set()
    for i, im in enumerate(raw):
        if not isinstance(im, dict):
            raise _bad(path, f"images[{i}] is not an object")
        iid, name = _int_id(im.get("id")), im.get("file_name")
        w, h = _number(im.get("width")), _number(im.get("height"))
        if iid is None or not isinstance(name, str) or not name or w is None or h is None or w <= 0 or h <= 0:
            raise _bad(path, f"images[{i}] needs an integer id, a file_name and positive width and height")
        if iid in images:
            raise _bad(path, f"image id {iid} appears twice")
        name = _normal_name(name)
        if name in seen:
            raise _bad(path, f"file_name {name!r} appears twice in images[]")
        seen.add(name)
        images[iid] = (name, w, h)
    if not images:
        raise _bad(path, "images[] is empty")
    return images


def _box(path: Path, i: int, ann: object, images: dict[int, tuple[str, float, float]],
         categories: set[int]) -> tuple[int, dict[str, Any]]:
    """One annotation, checked: (its image id, its COCO fields)."""
    if not isinstance(ann, dict):
        raise _bad(path, f"annotations[{i}] is not an object")
    aid = ann.get("id", f"#{i}")
    iid, cid, bbox = _int_id(ann.get("image_id")), _int_id(ann.get("category_id")), ann.get("bbox")
    if iid not in images:
        raise _bad(path, f"annotation {aid} names image_id {ann.get('image_id')!r}, which images[] does not list")
    if cid not in categories:
        raise _bad(path, f"annotation {aid} names category_id {ann.get('category_id')!r}, which categories[] "
                         "does not list")
    xywh = [_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if xywh is None or any(v is None for v in xywh):
        raise _bad(path, f"annotation {aid} has no bbox of 4 numbers")
    x, y, w, h = (float(v) for v in xywh)  # type: ignore[arg-type]
    name, width, height = images[iid]
    t = EDGE_TOLERANCE_PX
    if w <= 0 or h <= 0 or x < -t or y < -t or x + w > width + t or y + h > height + t:
        raise UserInputError(f"{path}: annotation {aid} on {name!r} has bbox [x, y, w, h] = {[x, y, w, h]} outside "
                             f"its {width:g}×{height:g} image (or empty); fix the box or the image's size")
    area = _number(ann.get("area"))
    crowd = ann.get("iscrowd", 0)
    # pycocotools reads area (for its size ranges) and iscrowd (crowd boxes match many detections, count none)
    return iid, {"bbox": [x, y, w, h], "category_id": cid, "iscrowd": 1 if crowd in (1, True) else 0,
                 "area": area if area is not None and area > 0 else w * h}


def _normal_name(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def load_annotations(path: Path) -> GroundTruth:
    """The annotations file, read and checked (one-line ``UserInputError`` naming the file and the fix)."""
    path = Path(path)
    data = _read_json(path)
    category_ids, category_names = _categories(path, data["categories"])
    images = _images(path, data["images"])
    per_image: dict[int, list[dict[str, Any]]] = {iid: [] for iid in images}
    cats = set(category_ids)
    for i, ann in enumerate(data["annotations"]):
        iid, box = _box(path, i, ann, images, cats)
        per_image[iid].append(box)
    order = list(images)
    return GroundTruth(path=path, file_names=tuple(images[i][0] for i in order),
                       sizes=tuple((images[i][1], images[i][2]) for i in order),
                       boxes=tuple(tuple(per_image[i]) for i in order), category_ids=category_ids,
                       category_names=category_names)


# --- evaluation samples ↔ annotated images ------------------------------------------------------------------------

def match_samples(ids: Sequence[str], gt: GroundTruth, *, subset: bool = False
                  ) -> tuple[list[tuple[int, int]], list[str]]:
    """(sample index, annotated image index) pairs in sample order, and the samples the file does not list.

    A file name matches a sample id exactly (the path inside the data folder), else by base name when exactly one
    sample has it. Annotated images outside ``ids`` are refused (the wrong --data), unless ``ids`` are a
    ``subset`` of the evaluation data (``--samples``, the search or confirm part of ``--max-drop``)."""
    exact = {_normal_name(s): i for i, s in enumerate(ids)}
    by_base: dict[str, list[int]] = {}
    for k, s in enumerate(ids):
        by_base.setdefault(posixpath.basename(_normal_name(s)), []).append(k)
    pairs: dict[int, int] = {}
    missing: list[str] = []
    for j, name in enumerate(gt.file_names):
        i: int | None = exact.get(name)
        if i is None:
            found = by_base.get(posixpath.basename(name), [])
            if len(found) > 1:
                raise UserInputError(f"{gt.path}: image {name!r} matches {len(found)} evaluation images by name "
                                     f"({ids[found[0]]!r}, {ids[found[1]]!r}); write file_name as the path "
                                     "inside the data folder")
            i = found[0] if found else None
        if i is None:
            missing.append(name)
        elif i in pairs:
            raise UserInputError(f"{gt.path}: images {gt.file_names[pairs[i]]!r} and {name!r} both match "
                                 f"evaluation image {ids[i]!r}; write file_name as the path inside the data folder")
        else:
            pairs[i] = j
    if missing and not subset:
        raise UserInputError(f"{gt.path}: {len(missing)} of its {len(gt.file_names)} images are not in the "
                             f"evaluation data (e.g. {missing[0]!r}); give --data the annotated images")
    unlisted = [ids[i] for i in range(len(ids)) if i not in pairs]
    return sorted(pairs.items()), unlisted


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
    sub = GroundTruth(path=gt.path, file_names=tuple(gt.file_names[j] for _, j in pairs),
                      sizes=tuple(gt.sizes[j] for _, j in pairs), boxes=tuple(gt.boxes[j] for _, j in pairs),
                      category_ids=gt.category_ids, category_names=gt.category_names)
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
    deltas: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for rows in bootstrap.resample_indices(n, resamples, ctx.seed) if resamples else ():
        for idx in rows:
            order = idx.tolist()
            r, c = coco_scores(sub, ref_px, order, ref_cache), coco_scores(sub, cand_px, order, cand_cache)
            for name in METRIC_NAMES:
                deltas[name].append(c.get(name) - r.get(name))
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
