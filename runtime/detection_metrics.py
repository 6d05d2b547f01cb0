"""Detection without labels: the candidate (int8) model's decoded detections judged against the reference (float)
model's own, image by image, with paired bootstrap intervals over images (``edgelite.core.bootstrap``).

Matching, per image: greedy one-to-one by IoU, highest IoU first, a pair only at IoU ≥ 0.5 and, when class ids
are given, only within one class. Figures, all over the evaluation images:

* ``detections_kept``: matched float boxes / all float boxes (a ratio of sums, not a mean of per-image ratios);
* ``detections_added_per_image``: unmatched candidate boxes per image, counted on images where the float model
  found nothing too (false detections on empty scenes are the int8 failure people see first);
* ``matched_iou``: mean IoU of the matched pairs; ``score_drift``: mean |score difference| of the matched pairs;
* ``keypoint_error_px``: mean distance of the matched pairs' keypoints in input pixels, and
  ``keypoint_error_per_box_size``: the same distance divided by √(width·height) of the float box, in pixels.

These are vs-reference figures: the reference judged against itself is perfect (kept 1, added 0, IoU 1, drift
and error 0), so the JSON writes ``"reference": null`` and ``delta`` is the candidate's distance from that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime.tasks.base import TaskMetric

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Detections:
    """One image's decoded detections: ``boxes`` (K, 4) normalized xmin, ymin, xmax, ymax; ``scores`` (K,);
    optional ``keypoints`` (K, P, 2) normalized x, y and ``classes`` (K,) integer class ids."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Shapes are checked once here so a decoder's slip shows as the shape it produced, not as a broadcasting
        # error deep in the matching.
        boxes = np.asarray(self.boxes, np.float64)
        if boxes.size == 0:   # an image with no detections, whatever empty shape the decoder gave
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (K, 4), got {boxes.shape}")
        k = len(boxes)
        scores = np.asarray(self.scores, np.float64).reshape(-1)
        if scores.shape != (k,):
            raise ValueError(f"scores must be ({k},) for {k} boxes, got {np.shape(self.scores)}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, np.float64)
            if kp.ndim != 3 or kp.shape[0] != k or kp.shape[2] != 2:
                raise ValueError(f"keypoints must be ({k}, P, 2) for {k} boxes, got {kp.shape}")
            object.__setattr__(self, "keypoints", kp)
        if self.classes is not None:
            cl = np.asarray(self.classes).reshape(-1)
            if cl.shape != (k,):
                raise ValueError(f"classes must be ({k},) for {k} boxes, got {np.shape(self.classes)}")
            object.__setattr__(self, "classes", cl)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (K, 4) with every box in ``b`` (M, 4), as (K, M); 0 where both are empty."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def match(reference: Detections, candidate: Detections,
          threshold: float = IOU_THRESHOLD) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching: (reference index, candidate index, IoU) pairs, highest IoU first.

    Ties break by reference then candidate index, so the result does not depend on the sort's stability."""
    if (reference.classes is None) != (candidate.classes is None):
        raise ValueError("class ids are given for one side only; give them for both or neither")
    iou = iou_matrix(reference.boxes, candidate.boxes)
    if reference.classes is not None and candidate.classes is not None:
        iou = np.where(reference.classes[:, None] == candidate.classes[None, :], iou, -1.0)
    r, c = np.nonzero(iou >= threshold)
    order = np.lexsort((c, r, -iou[r, c]))
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for i, j in zip(r[order].tolist(), c[order].tolist(), strict=True):
        if i in used_r or j in used_c:
            continue
        used_r.add(i)
        used_c.add(j)
        pairs.append((i, j, float(iou[i, j])))
    return pairs


def per_image_parts(reference: list[Detections], candidate: list[Detections],
                    input_size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The candidate's per-image parts (N,) that every figure is a ratio of sums of: ``float_boxes``, ``matched``,
    ``added``, ``images`` (1 each), ``iou_sum``, ``score_drift_sum`` and, with keypoints on both sides,
    ``keypoints`` (matched keypoints), ``keypoint_px_sum`` and ``keypoint_box_sum``.

    ``input_size`` is the model's (width, height) in pixels, needed for keypoint errors."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference images but {len(candidate)} candidate images")
    n = len(reference)
    names = ("float_boxes", "matched", "added", "images", "iou_sum", "score_drift_sum", "keypoints",
             "keypoint_px_sum", "keypoint_box_sum")
    parts = {name: np.zeros(n, np.float64) for name in names}
    scale = np.asarray(input_size, np.float64) if input_size is not None else None
    for i, (ref, cand) in enumerate(zip(reference, candidate, strict=True)):
        pairs = match(ref, cand)
        parts["float_boxes"][i] = len(ref.boxes)
        parts["matched"][i] = len(pairs)
        # Unmatched candidate boxes, also where the float model found nothing.
        parts["added"][i] = len(cand.boxes) - len(pairs)
        parts["images"][i] = 1.0
        if not pairs:
            continue
        ri = np.array([p[0] for p in pairs])
        ci = np.array([p[1] for p in pairs])
        parts["iou_sum"][i] = sum(p[2] for p in pairs)
        parts["score_drift_sum"][i] = float(np.abs(ref.scores[ri] - cand.scores[ci]).sum())
        if ref.keypoints is None or cand.keypoints is None:
            continue
        if scale is None:
            raise ValueError("keypoint errors in pixels need the model's input size (width, height)")
        if ref.keypoints.shape[1] != cand.keypoints.shape[1]:
            raise ValueError(f"image {i}: {ref.keypoints.shape[1]} reference keypoints per box but "
                             f"{cand.keypoints.shape[1]} candidate keypoints")
        dist_px = np.linalg.norm((ref.keypoints[ri] - cand.keypoints[ci]) * scale, axis=-1)   # (pairs, P)
        wh = np.clip(ref.boxes[ri, 2:] - ref.boxes[ri, :2], 0, None) * scale
        size = np.sqrt(wh[:, 0] * wh[:, 1])
        parts["keypoints"][i] = dist_px.size
        parts["keypoint_px_sum"][i] = float(dist_px.sum())
        # A degenerate (zero-area) float box has no size to normalize by; its keypoints still count in pixels.
        with np.errstate(invalid="ignore", divide="ignore"):
            parts["keypoint_box_sum"][i] = float(np.where(size[:, None] > 0, dist_px / np.where(
                size[:, None] > 0, size[:, None], 1.0), 0.0).sum())
    return parts


def _ideal_parts(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference judged against itself: every float box kept at IoU 1, nothing added, no drift or error."""
    zero = np.zeros_like(parts["float_boxes"])
    return {"float_boxes": parts["float_boxes"], "matched": parts["float_boxes"], "added": zero,
            "images": parts["images"], "iou_sum": parts["float_boxes"], "score_drift_sum": zero,
            "keypoints": parts["keypoints"], "keypoint_px_sum": zero, "keypoint_box_sum": zero}


# name → (numerator part, denominator part): each figure is Σ numerator / Σ denominator over the drawn images.
FIGURES = {
    "detections_kept": ("matched", "float_boxes"),
    "detections_added_per_image": ("added", "images"),
    "matched_iou": ("iou_sum", "matched"),
    "score_drift": ("score_drift_sum", "matched"),
    "keypoint_error_px": ("keypoint_px_sum", "keypoints"),
    "keypoint_error_per_box_size": ("keypoint_box_sum", "keypoints"),
}


@dataclass(frozen=True)
class DetectionFigures(Record):
    """Candidate detections vs the reference's over ``images`` images; counts, then each figure (``TaskMetric``);
    the keypoint figures only when both sides have keypoints."""

    images: int
    reference_boxes: int
    candidate_boxes: int
    matched: int
    iou_threshold: float
    resamples: int
    seed: int
    detections_kept: TaskMetric
    detections_added_per_image: TaskMetric
    matched_iou: TaskMetric
    score_drift: TaskMetric
    keypoint_error_px: TaskMetric | None = field(default=None, metadata=OMIT_NONE)
    keypoint_error_per_box_size: TaskMetric | None = field(default=None, metadata=OMIT_NONE)

    def metrics(self) -> dict[str, TaskMetric]:
        """The figures by name, as ``"task": {"metrics": …}`` lists them."""
        return {name: m for name in FIGURES if (m := getattr(self, name)) is not None}


def detection_figures(reference: list[Detections], candidate: list[Detections], *,
                      input_size: tuple[int, int] | None = None, resamples: int = 1000,
                      seed: int = 0) -> DetectionFigures:
    """``DetectionFigures`` of the candidate's detections against the reference's, image by image (the same
    images in the same order), each figure with its paired bootstrap interval over images."""
    parts = per_image_parts(reference, candidate, input_size)
    ideal = _ideal_parts(parts)
    with_keypoints = (any(r.keypoints is not None for r in reference)
                      and any(c.keypoints is not None for c in candidate))
    metrics = {}
    for name, (num, den) in FIGURES.items():
        if name.startswith("keypoint") and not with_keypoints:
            continue
        figures = bootstrap.paired_bootstrap(ideal, parts, bootstrap.ratio(num, den), resamples=resamples,
                                             seed=seed)
        metrics[name] = TaskMetric.vs_reference(figures)
    return DetectionFigures(
        images=len(reference), reference_boxes=int(parts["float_boxes"].sum()),
        candidate_boxes=int(parts["matched"].sum() + parts["added"].sum()), matched=int(parts["matched"].sum()),
        iou_threshold=IOU_THRESHOLD, resamples=resamples, seed=seed, **metrics)
