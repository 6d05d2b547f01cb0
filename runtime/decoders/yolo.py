"""Dense YOLO-style heads (YOLOv8/11 export): one tensor [1, 4+C, N] or [1, N, 4+C] holding cx, cy, w, h then C
class scores per candidate; decoded with per-class NMS (DEFAULT, IoU)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.runtime.decoders.detection import DetectionArrays
from edgelite.runtime.decoders.nms import NmsOptions, per_class_nms


@dataclass(frozen=True)
class YoloOptions:
    """``input_size`` (height, width) in pixels converts pixel boxes; ``normalized`` None guesses from the
    values (any centre or size above 2 means pixels, e.g. 0–640)."""

    num_classes: int | None = None
    input_size: tuple[int, int] | None = None
    normalized: bool | None = None
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 300


def to_rows(output: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """(N, 4+C) rows from either layout. The channel axis is the one of size 4+C; without ``num_classes`` it is
    the smaller axis, since real heads have far more candidates (e.g. 8400) than channels."""
    arr = np.asarray(output, np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"a YOLO head is [1, 4+C, N] or [1, N, 4+C]; got {tuple(np.shape(output))}")
    a, b = arr.shape
    if num_classes is not None:
        channels = 4 + num_classes
        if b == channels and a != channels:
            return arr
        if a == channels and b != channels:
            return np.ascontiguousarray(arr.T)
        if a == b == channels:
            raise ValueError(f"shape {tuple(np.shape(output))} is square: the layout is ambiguous")
        raise ValueError(f"no axis of {tuple(np.shape(output))} has 4 + {num_classes} channels")
    if a == b:
        raise ValueError(f"shape {tuple(np.shape(output))} is square: pass num_classes")
    rows = arr if b < a else np.ascontiguousarray(arr.T)
    if rows.shape[1] < 5:
        raise ValueError(f"shape {tuple(np.shape(output))} has fewer than 4 + 1 channels")
    return rows


def decode_yolo(output: np.ndarray, options: YoloOptions | None = None) -> DetectionArrays:
    """Boxes normalized xmin, ymin, xmax, ymax; the best class and its score; NMS within each class."""
    opts = options or YoloOptions()
    rows = to_rows(output, opts.num_classes)
    xywh = rows[:, :4]
    normalized = opts.normalized if opts.normalized is not None else bool(np.abs(xywh).max(initial=0.0) <= 2.0)
    if not normalized:
        if opts.input_size is None:
            raise ValueError("the head's boxes are in pixels: give input_size (height, width)")
        h, w = opts.input_size
        xywh = xywh / np.asarray([w, h, w, h], np.float32)
    cls = rows[:, 4:]
    best = np.argmax(cls, axis=1)
    scores = cls[np.arange(cls.shape[0]), best]
    keep = np.flatnonzero(scores >= opts.score_threshold)  # thresholds first: NMS then sees tens, not 8400
    cx, cy, bw, bh = (xywh[keep, i] for i in range(4))
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    dets = DetectionArrays(boxes, scores[keep].astype(np.float32), best[keep].astype(np.int64),
                           np.zeros((keep.size, 0, 2), np.float32))
    nms = NmsOptions(min_suppression_threshold=opts.iou_threshold, overlap_type="INTERSECTION_OVER_UNION",
                     algorithm="DEFAULT", max_num_detections=opts.max_detections)
    return per_class_nms(dets, nms)
