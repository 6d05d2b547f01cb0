"""A user metric for MTCNN's ONet (``--metric tests/sources/mtcnn_metric.py:landmark_error_px``).

ONet's landmark head gives five points as (x1..x5, y1..y5), each a fraction of the 48-px crop. The metric is
minus the mean point distance to the float model's points, in crop pixels (higher is better, 0 for the float
model itself), with one value per sample so the interval is the paired bootstrap of that mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CROP_PX = 48


def _landmarks(outputs: dict[str, np.ndarray]) -> np.ndarray:
    (points,) = [a for a in outputs.values() if a.reshape(len(a), -1).shape[1] == 10]
    flat = points.reshape(len(points), 10).astype(np.float64) * CROP_PX
    return np.stack([flat[:, :5], flat[:, 5:]], axis=-1)   # (N, 5, 2)


def landmark_error_px(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None = None,
                      labels: Any = None) -> tuple[float, np.ndarray]:
    got = _landmarks(outputs)
    if reference is None:
        per = np.zeros(len(got))
    else:
        per = -np.linalg.norm(got - _landmarks(reference), axis=-1).mean(axis=1)
    return float(per.mean()), per
