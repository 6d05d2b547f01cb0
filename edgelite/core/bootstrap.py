"""Paired seeded bootstrap over images, for task metrics that no closed-form interval covers (detections kept,
matched IoU, mAP, landmark error).

Method: Efron's percentile bootstrap. Draw ``resamples`` sets of N image indices with replacement; on each set
recompute the metric *from its per-image parts* for the reference and for the candidate on the **same** indices
(that is what makes it paired: an image that is hard for both models moves both sides together, so the interval
of the difference is much narrower than two independent ones); the 95 % interval of the difference is the 2.5th
and 97.5th percentile of the resampled differences.

Why images and not boxes (or keypoints, or pixels): the unit that was sampled is the image. Boxes within one
image share its lighting, scale and clutter, so they fail or succeed together; resampling boxes would treat 30
boxes of one crowded photo as 30 independent facts and give an interval that is far too narrow.

The metric is recomputed per resample, not averaged from per-image values: a ratio such as detections kept =
Σ matched / Σ float boxes stays a ratio of sums on every resample (``ratio``), because a mean of per-image ratios
weighs an image with one box as much as one with fifty (and is undefined on images with none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from edgelite.core.report import Record

# Per-image parts of a metric: named columns, each of shape (N,), one value per image.
Columns = Mapping[str, np.ndarray]
# A metric on resamples: ``metric(columns, idx)`` with ``idx`` of shape (B, N), one resample of image indices per
# row, returns (B,) values (NaN where the metric is undefined on that resample, e.g. no float boxes drawn).
Metric = Callable[[Columns, np.ndarray], np.ndarray]

# Bound on the indices materialised at once (B·N), so 1000 resamples of 100 000 images stay within ~100 MB.
CHUNK_ELEMENTS = 1 << 22


def ratio(numerator: str, denominator: str) -> Metric:
    """The metric Σ numerator / Σ denominator over the drawn images (NaN where the denominator sums to 0)."""

    def metric(columns: Columns, idx: np.ndarray) -> np.ndarray:
        num = np.asarray(columns[numerator], np.float64)[idx].sum(axis=-1)
        den = np.asarray(columns[denominator], np.float64)[idx].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return out

    return metric


def mean(column: str) -> Metric:
    """The metric mean(column) over the drawn images (a per-image figure, e.g. detections added per image)."""

    def metric(columns: Columns, idx: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.asarray(columns[column], np.float64)[idx].mean(axis=-1)
        return out

    return metric


@dataclass(frozen=True)
class BootstrapFigures(Record):
    """A metric on all images for both sides, their difference (candidate − reference) and its paired
    percentile-bootstrap 95 % interval; NaN where the metric is undefined on the full set."""

    reference: float
    candidate: float
    delta: float
    delta_ci95: list[float]
    resamples: int
    seed: int


def _images(columns: Columns, side: str) -> int:
    lengths = {name: len(np.asarray(col)) for name, col in columns.items()}
    if not lengths:
        raise ValueError(f"{side}: no per-image columns")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{side}: per-image columns differ in length: {lengths}")
    return next(iter(lengths.values()))


def resample_indices(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Image indices drawn with replacement, in chunks of rows (one resample a row) of at most ``CHUNK_ELEMENTS``
    indices: the same draws for the same (n, resamples, seed), never all in memory at once."""
    rng = np.random.default_rng(seed)
    step = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, resamples, step):
        yield rng.integers(0, n, size=(min(step, resamples - start), n))


def paired_bootstrap(per_image_ref: Columns, per_image_cand: Columns, metric: Metric, *, resamples: int = 1000,
                     seed: int = 0) -> BootstrapFigures:
    """Paired percentile bootstrap of ``metric`` over images (see the module docstring for the method).

    ``per_image_ref``/``per_image_cand`` hold each side's per-image parts (N,) for the same N images in the same
    order; ``metric`` recomputes the figure from them on each resample, vectorized over resamples."""
    if resamples < 0:
        raise ValueError(f"resamples must be at least 0, got {resamples}")
    n = _images(per_image_ref, "reference")
    if _images(per_image_cand, "candidate") != n:
        raise ValueError(f"reference and candidate cover different numbers of images "
                         f"({n} vs {_images(per_image_cand, 'candidate')})")
    nan = float("nan")
    if n == 0:
        return BootstrapFigures(nan, nan, nan, [nan, nan], resamples, seed)
    everything = np.arange(n)[None, :]
    ref, cand = float(metric(per_image_ref, everything)[0]), float(metric(per_image_cand, everything)[0])
    # 0 resamples: the point figures only (the --max-drop search scores each trial so)
    deltas = np.concatenate([np.empty(0), *(metric(per_image_cand, idx) - metric(per_image_ref, idx)
                                           for idx in resample_indices(n, resamples, seed))])
    finite = deltas[np.isfinite(deltas)]
    # A resample on which the metric is undefined (no float boxes drawn) carries no information about its
    # value; dropping it conditions on the metric existing, as the full-set figure does.
    if finite.size == 0:
        lo = hi = nan
    else:
        lo, hi = (float(v) for v in np.percentile(finite, [2.5, 97.5]))
    delta = cand - ref if math.isfinite(cand) and math.isfinite(ref) else nan
    return BootstrapFigures(reference=ref, candidate=cand, delta=delta, delta_ci95=[lo, hi], resamples=resamples,
                            seed=seed)
