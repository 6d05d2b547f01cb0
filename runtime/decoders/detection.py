"""Detection records shared by every decoder: arrays while decoding (vectorized), frozen records at the end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One detection; box corners normalized to [0, 1] of the model input (they may spill over the edges, as
    MediaPipe's do), keypoints as normalized (x, y) pairs."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float
    class_id: int
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin


@dataclass(frozen=True)
class DetectionArrays:
    """Detections of one image as arrays: ``boxes`` (N, 4) xmin, ymin, xmax, ymax; ``scores`` (N,);
    ``class_ids`` (N,); ``keypoints`` (N, K, 2) x, y (K may be 0)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: np.ndarray) -> DetectionArrays:
        """The detections at ``index`` (an integer array or a boolean mask), in that order."""
        return DetectionArrays(self.boxes[index], self.scores[index], self.class_ids[index], self.keypoints[index])

    def records(self) -> tuple[Detection, ...]:
        """Frozen records, in array order (NMS leaves them by decreasing score)."""
        boxes = self.boxes.astype(float).tolist()
        keypoints = self.keypoints.astype(float).tolist()
        return tuple(
            Detection(b[0], b[1], b[2], b[3], float(s), int(c), tuple((p[0], p[1]) for p in k))
            for b, s, c, k in zip(boxes, self.scores.tolist(), self.class_ids.tolist(), keypoints, strict=True)
        )


def empty(num_keypoints: int = 0) -> DetectionArrays:
    """No detections, with the keypoint axis sized so concatenation still works."""
    return DetectionArrays(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                           np.zeros((0, num_keypoints, 2), np.float32))


def concatenate(parts: list[DetectionArrays], num_keypoints: int = 0) -> DetectionArrays:
    """Join per-class results into one set, by decreasing score (stable, so ties keep class order)."""
    if not parts:
        return empty(num_keypoints)
    joined = DetectionArrays(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                             np.concatenate([p.class_ids for p in parts]),
                             np.concatenate([p.keypoints for p in parts]))
    return joined.take(np.argsort(-joined.scores, kind="stable"))
