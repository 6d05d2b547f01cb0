"""Non-maximum suppression as MediaPipe's NonMaxSuppressionCalculator does it: DEFAULT (greedy, drop overlaps)
and WEIGHTED (BlazeFace: each kept box is the score-weighted mean of the boxes and keypoints it absorbs, with the
top box's score and class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.runtime.decoders.detection import DetectionArrays, concatenate

OVERLAP_TYPES = ("INTERSECTION_OVER_UNION", "JACCARD", "MODIFIED_JACCARD")
ALGORITHMS = ("DEFAULT", "WEIGHTED")


@dataclass(frozen=True)
class NmsOptions:
    """MediaPipe's ``NonMaxSuppressionCalculatorOptions`` (defaults as in its .proto; -1 = no limit)."""

    min_suppression_threshold: float = 1.0
    overlap_type: str = "JACCARD"
    algorithm: str = "DEFAULT"
    # At most this many kept (-1 = all; 0 is refused, as MediaPipe does). MediaPipe's WEIGHTED path reserves
    # but never enforces it (no MediaPipe graph combines the two); here it caps both algorithms, as a user who
    # writes it means.
    max_num_detections: int = -1
    min_score_threshold: float = -1.0   # when > 0, detections below it are dropped before suppression
    # NMS within each class (boxes of different classes never suppress each other), then max_num_detections
    # over all of them by score: MediaPipe's multiclass_nms.
    multiclass_nms: bool = False
    # Accepted so a MediaPipe config pastes, with no effect on numpy decoding: MediaPipe merges the detection
    # lists of num_detection_streams input streams (edgelite decodes one model output: one list), and
    # return_empty_detections decides whether an empty result is still sent down the graph as a packet (a
    # decoder call here always returns its result, empty or not).
    num_detection_streams: int = 1
    return_empty_detections: bool = False


def overlap(top: np.ndarray, others: np.ndarray, overlap_type: str, *, top_is_reference: bool) -> np.ndarray:
    """Similarity of one box (4,) with many (M, 4). JACCARD and IOU are the same for rectangles;
    MODIFIED_JACCARD divides by the area of MediaPipe's second rectangle: the candidate in DEFAULT, the top box
    in WEIGHTED (``top_is_reference``)."""
    iw = np.clip(np.minimum(top[2], others[:, 2]) - np.maximum(top[0], others[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(top[3], others[:, 3]) - np.maximum(top[1], others[:, 1]), 0.0, None)
    inter = iw * ih
    area_top = (top[2] - top[0]) * (top[3] - top[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    if overlap_type == "MODIFIED_JACCARD":
        norm = np.full_like(areas, area_top) if top_is_reference else areas
    else:
        norm = area_top + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, inter / np.where(norm > 0, norm, 1.0), 0.0)


def non_max_suppression(dets: DetectionArrays, options: NmsOptions) -> DetectionArrays:
    """Kept detections by decreasing score (per class first when ``multiclass_nms``)."""
    if options.multiclass_nms:
        return per_class_nms(dets, options)
    return _suppress(dets, options)


def _suppress(dets: DetectionArrays, options: NmsOptions) -> DetectionArrays:
    order = np.argsort(-dets.scores, kind="stable")  # stable: ties keep decode order, reruns agree
    limit = len(order) if options.max_num_detections < 0 else options.max_num_detections
    if options.algorithm == "WEIGHTED":
        return _weighted(dets, order, options, limit)
    if options.min_score_threshold > 0:   # MediaPipe stops at the first box below it, by decreasing score
        order = order[dets.scores[order] >= options.min_score_threshold]
    kept: list[int] = []
    while order.size and len(kept) < limit:
        top = order[0]
        kept.append(int(top))
        rest = order[1:]
        sim = overlap(dets.boxes[top], dets.boxes[rest], options.overlap_type, top_is_reference=False)
        order = rest[sim <= options.min_suppression_threshold]
    return dets.take(np.asarray(kept, np.int64))


def _weighted(dets: DetectionArrays, order: np.ndarray, options: NmsOptions, limit: int) -> DetectionArrays:
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    classes: list[int] = []
    points: list[np.ndarray] = []
    while order.size and len(scores) < limit:
        top = order[0]
        # MediaPipe stops when the best remaining box is below min_score_threshold, but a box below it still
        # joins (and weighs in) the group of a better box it overlaps
        if options.min_score_threshold > 0 and dets.scores[top] < options.min_score_threshold:
            break
        sim = overlap(dets.boxes[top], dets.boxes[order], options.overlap_type, top_is_reference=True)
        group = sim > options.min_suppression_threshold  # includes the top box itself (similarity 1)
        members = order[group]
        scores.append(dets.scores[top])
        classes.append(dets.class_ids[top])
        if members.size == 0:
            # a zero-area top box absorbs nothing; MediaPipe emits it as is and stops there
            boxes.append(dets.boxes[top])
            points.append(dets.keypoints[top])
            break
        w = dets.scores[members].astype(np.float64)
        boxes.append((dets.boxes[members] * w[:, None]).sum(0) / w.sum())
        points.append((dets.keypoints[members] * w[:, None, None]).sum(0) / w.sum())
        order = order[~group]
    if not scores:
        return dets.take(np.zeros(0, np.int64))
    return DetectionArrays(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                           np.asarray(classes, np.int64), np.asarray(points, np.float32))


def per_class_nms(dets: DetectionArrays, options: NmsOptions) -> DetectionArrays:
    """NMS within each class (boxes of different classes never suppress each other), merged by score."""
    parts = [_suppress(dets.take(dets.class_ids == c), options) for c in np.unique(dets.class_ids)]
    merged = concatenate(parts, dets.keypoints.shape[1])
    if options.max_num_detections >= 0:
        merged = merged.take(np.arange(min(len(merged), options.max_num_detections)))
    return merged
