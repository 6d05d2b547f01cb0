"""Raw SSD-anchor heads → detections, as MediaPipe's TensorsToDetectionsCalculator decodes them (CPU path):
a box tensor [1, num_boxes, num_coords] and a score tensor [1, num_boxes, num_classes], plus the anchors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.runtime.decoders.detection import DetectionArrays

# MediaPipe's TensorsToDetectionsCalculatorOptions.BoxFormat: how the model writes the 4 box values. UNSPECIFIED
# decodes as YXHW (when box_format is set MediaPipe no longer looks at reverse_output_order); XYXY are the
# distances (left, top, right, bottom) from the anchor centre.
BOX_FORMATS = ("UNSPECIFIED", "YXHW", "XYWH", "XYXY")


@dataclass(frozen=True)
class TensorsToDetectionsOptions:
    """MediaPipe's ``TensorsToDetectionsCalculatorOptions`` (defaults as in its .proto; ``None`` = unset)."""

    num_classes: int
    num_boxes: int
    num_coords: int
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 0
    num_keypoints: int = 0
    num_values_per_keypoint: int = 2
    x_scale: float = 0.0
    y_scale: float = 0.0
    w_scale: float = 0.0
    h_scale: float = 0.0
    apply_exponential_on_box_size: bool = False
    reverse_output_order: bool = False
    sigmoid_score: bool = False
    score_clipping_thresh: float | None = None
    flip_vertically: bool = False
    min_score_thresh: float | None = None
    ignore_classes: tuple[int, ...] = ()   # never reported: the best class is taken among the others
    allow_classes: tuple[int, ...] = ()    # only these (MediaPipe refuses both lists together)
    # The first max_results detections that pass every filter, in the model's box order (MediaPipe stops
    # there; for score-sorted outputs that is the top N); -1 = all. 0 is refused, as MediaPipe does.
    max_results: int = -1
    box_format: str | None = None          # BOX_FORMATS; None (unset) = reverse_output_order decides
    # MediaPipe reads it only for models that end in a post-processing op (4 output tensors); with anchors it
    # has no effect there either, so it is accepted for pasting and ignored.
    max_classes_per_detection: int = 1

    @property
    def layout(self) -> str:
        """The box layout MediaPipe decodes: box_format when set (UNSPECIFIED = YXHW), else XYWH with
        reverse_output_order and YXHW without."""
        if self.box_format is not None:
            return "YXHW" if self.box_format == "UNSPECIFIED" else self.box_format
        return "XYWH" if self.reverse_output_order else "YXHW"

    def class_allowed(self) -> np.ndarray:
        """(num_classes,) bool: which class ids may be reported (MediaPipe's IsClassIndexAllowed)."""
        ids = np.arange(self.num_classes)
        if self.allow_classes:
            return np.isin(ids, self.allow_classes)
        return ~np.isin(ids, self.ignore_classes)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large negative logits when clipping is unset
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), np.float32)


def scores_and_classes(raw_scores: np.ndarray, options: TensorsToDetectionsOptions) -> tuple[np.ndarray, np.ndarray]:
    """Best class score per box (after clipping and sigmoid, as MediaPipe orders them) and its class."""
    scores = np.asarray(raw_scores, np.float32).reshape(options.num_boxes, options.num_classes)
    if options.sigmoid_score:
        if options.score_clipping_thresh is not None:
            scores = np.clip(scores, -options.score_clipping_thresh, options.score_clipping_thresh)
        scores = _sigmoid(scores)
    if options.allow_classes or options.ignore_classes:
        # MediaPipe looks for the best score among the allowed classes only: an ignored class never wins a box
        scores = np.where(options.class_allowed()[None, :], scores, -np.inf).astype(np.float32)
    classes = np.argmax(scores, axis=1)
    return scores[np.arange(options.num_boxes), classes], classes.astype(np.int64)


def decode_boxes(raw_boxes: np.ndarray, anchors: np.ndarray, options: TensorsToDetectionsOptions
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (N, 4) xmin, ymin, xmax, ymax; keypoints (N, K, 2) x, y), normalized, for every anchor."""
    raw = np.asarray(raw_boxes, np.float32).reshape(options.num_boxes, options.num_coords)
    ax, ay, aw, ah = (anchors[:, i] for i in range(4))
    o = options.box_coord_offset
    layout = options.layout
    # y, x, h, w (YXHW, MediaPipe's default); x, y, w, h (XYWH: reverse_output_order, BlazeFace); XYXY: the
    # distances left, top, right, bottom from the anchor, turned into a centre offset and a size as MediaPipe does
    r0, r1, r2, r3 = raw[:, o], raw[:, o + 1], raw[:, o + 2], raw[:, o + 3]
    cx: np.ndarray
    cy: np.ndarray
    w: np.ndarray
    h: np.ndarray
    if layout == "XYWH":
        cx, cy, w, h = r0, r1, r2, r3
    elif layout == "XYXY":
        cx, cy, w, h = (r2 - r0) / 2, (r3 - r1) / 2, r2 + r0, r3 + r1
    else:
        cy, cx, h, w = r0, r1, r2, r3
    cx = cx / options.x_scale * aw + ax
    cy = cy / options.y_scale * ah + ay
    if options.apply_exponential_on_box_size:
        h = np.exp(h / options.h_scale) * ah
        w = np.exp(w / options.w_scale) * aw
    else:
        h = h / options.h_scale * ah
        w = w / options.w_scale * aw
    ymin, ymax = cy - h / 2, cy + h / 2
    if options.flip_vertically:
        ymin, ymax = 1.0 - ymax, 1.0 - ymin
    boxes = np.stack([cx - w / 2, ymin, cx + w / 2, ymax], axis=1)
    k = options.num_keypoints
    if k == 0:
        return boxes, np.zeros((options.num_boxes, 0, 2), np.float32)
    start = options.keypoint_coord_offset
    step = options.num_values_per_keypoint
    cols = start + step * np.arange(k)
    first, second = raw[:, cols], raw[:, cols + 1]
    kx, ky = (second, first) if layout == "YXHW" else (first, second)   # XYWH and XYXY write x, y
    kx = kx / options.x_scale * aw[:, None] + ax[:, None]
    ky = ky / options.y_scale * ah[:, None] + ay[:, None]
    if options.flip_vertically:
        ky = 1.0 - ky
    return boxes, np.stack([kx, ky], axis=2).astype(np.float32)


def decode_ssd(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
               options: TensorsToDetectionsOptions) -> DetectionArrays:
    """Every box at or above ``min_score_thresh``, of an allowed class, with a non-negative size, in anchor order
    (before NMS); the first ``max_results`` of them when that is positive."""
    if anchors.shape[0] != options.num_boxes:
        raise ValueError(f"{anchors.shape[0]} anchors for num_boxes = {options.num_boxes}")
    scores, classes = scores_and_classes(raw_scores, options)
    keep = np.ones(options.num_boxes, bool)
    if options.min_score_thresh is not None:
        keep &= scores >= options.min_score_thresh
    idx = np.flatnonzero(keep)
    # Decode only the survivors: a face image leaves a few dozen of 896 rows.
    boxes, keypoints = decode_boxes(np.asarray(raw_boxes, np.float32).reshape(options.num_boxes, -1)[idx],
                                    anchors[idx], _subset(options, idx.size))
    sized = np.flatnonzero((boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1]))  # drops < 0 and NaN
    if options.max_results > 0:
        sized = sized[:options.max_results]
    return DetectionArrays(boxes[sized].astype(np.float32), scores[idx][sized], classes[idx][sized],
                           keypoints[sized])


def _subset(options: TensorsToDetectionsOptions, count: int) -> TensorsToDetectionsOptions:
    from dataclasses import replace

    return replace(options, num_boxes=count)
