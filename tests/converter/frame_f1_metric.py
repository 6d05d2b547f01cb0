"""A user metric for frame-activation models (note / onset / contour per frame, sigmoid): the F1 of the frames
above 0.5 against the reference model's frames above 0.5 (or against ``labels``, (N, T, K) 0/1 targets, when
given), in points. Used by test_task_budget.py as ``--metric tests/converter/frame_f1_metric.py:frame_f1``."""

from __future__ import annotations

import numpy as np


def _frames(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(next(iter(outputs.values()))) > 0.5


def frame_f1(outputs, reference=None, labels=None):
    pred = _frames(outputs)
    if labels is not None:
        truth = np.asarray(labels) > 0.5
    elif reference is not None:
        truth = _frames(reference)
    else:
        truth = pred   # the reference scored against itself
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    return 100.0 * (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
