"""Activation range methods: from a tensor's histogram over calibration data to the (min, max) int8 covers.

TF's calibration records each tensor's min and max. One outlier then stretches the int8 grid over values that
almost never occur, and every common value loses resolution. The methods here read a histogram of the same
tensor and choose a range that clips the rare tail:

- ``minmax``: the observed min and max (what TF does).
- ``percentile[:P]``: the P-th and (100 − P)-th percentiles (default P = 99.99), each side on its own.
- ``mse``: the clipping range that minimizes the expected squared error of quantize → dequantize, rounding
  noise (step² / 12 per value inside the range) plus clipping error (distance to the edge outside it).
- ``entropy``: the range whose 256-level quantized histogram diverges least from the observed one
  (KL divergence; the histogram calibration TensorRT describes, here with the asymmetric int8 grid).

Every range keeps 0 inside it (TFLite's asymmetric int8 needs 0 to be exactly representable). Pure numpy: the
statistics come from a float model run by LiteRT, so this module needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgelite.core.errors import UserInputError

BINS = 2048            # histogram resolution per tensor: 8 bins per int8 step over the recorded range
LEVELS = 256           # int8
DEFAULT_PERCENTILE = 99.99
METHODS = ("minmax", "percentile", "mse", "entropy")


@dataclass(frozen=True)
class RangeMethod:
    """A parsed ``--calibration`` value: ``minmax``, ``percentile[:P]``, ``mse`` or ``entropy``."""

    name: str = "minmax"
    percentile: float = DEFAULT_PERCENTILE

    @classmethod
    def parse(cls, text: str | None) -> RangeMethod:
        name, _, arg = (text or "minmax").strip().lower().partition(":")
        if name not in METHODS:
            raise UserInputError(f"--calibration must be one of {', '.join(METHODS)} (percentile:P, e.g. "
                                 f"percentile:99.9), got {text!r}")
        if arg and name != "percentile":
            raise UserInputError(f"--calibration {name} takes no argument, got {text!r}")
        p = DEFAULT_PERCENTILE
        if arg:
            try:
                p = float(arg)
            except ValueError:
                p = float("nan")
            if not 50.0 < p <= 100.0:
                raise UserInputError(f"--calibration percentile:P takes P in (50, 100], got {arg!r}")
        return cls(name, p)

    def __str__(self) -> str:
        return f"percentile:{self.percentile:g}" if self.name == "percentile" else self.name


@dataclass
class Histogram:
    """Counts of one tensor's values over fixed bins spanning its recorded (min, max), widened to include 0.

    Values outside the bins (possible when the statistics come from other samples than the recorded range)
    are counted in the end bins, so no value is lost."""

    lo: float
    hi: float
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS, np.float64))

    def __post_init__(self) -> None:
        self.lo, self.hi = min(float(self.lo), 0.0), max(float(self.hi), 0.0)
        if self.hi - self.lo <= 0.0:
            self.hi = self.lo + 1e-8

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)

    def add(self, values: np.ndarray) -> None:
        v = np.clip(np.asarray(values, np.float64).ravel(), self.lo, self.hi)
        idx = np.minimum(((v - self.lo) / (self.hi - self.lo) * len(self.counts)).astype(np.int64),
                         len(self.counts) - 1)
        self.counts += np.bincount(idx, minlength=len(self.counts))


def choose(hist: Histogram, method: RangeMethod) -> tuple[float, float]:
    """The (min, max) ``method`` picks for the values ``hist`` has seen; always contains 0."""
    pick = CHOOSERS["minmax" if hist.counts.sum() == 0 else method.name]
    lo, hi = pick(hist, method)
    return float(min(lo, 0.0)), float(max(hi, 0.0))


def _observed(hist: Histogram) -> tuple[float, float]:
    nz = np.flatnonzero(hist.counts)
    if not len(nz):
        return hist.lo, hist.hi
    e = hist.edges
    return float(e[nz[0]]), float(e[nz[-1] + 1])


def _percentile(hist: Histogram, p: float) -> tuple[float, float]:
    cdf = np.cumsum(hist.counts) / hist.counts.sum()
    e = hist.edges
    tail = (100.0 - p) / 100.0
    lo_bin = int(np.searchsorted(cdf, tail, side="left"))
    hi_bin = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    obs_lo, obs_hi = _observed(hist)
    lo = obs_lo if tail == 0.0 or hist.lo >= 0.0 else float(e[lo_bin])
    hi = obs_hi if tail == 0.0 else float(e[min(hi_bin + 1, len(e) - 1)])
    return lo, hi


_FACTORS = np.concatenate([np.linspace(1.0, 0.3, 71), np.linspace(0.29, 0.05, 25)])


def _search(hist: Histogram, score: Callable[[float, float], float]) -> tuple[float, float]:
    """The (lo, hi) with the lowest ``score`` among shrunken versions of the observed range: both sides by one
    factor first, then each side on its own (two rounds of coordinate descent), so that an outlier on one side
    does not force the same clipping on the other. Factors run from 1.0 down to 0.05."""
    lo0, hi0 = _observed(hist)
    best = min(((lo0 * f, hi0 * f) for f in _FACTORS), key=lambda r: score(*r))
    for _ in range(2):
        if lo0 < 0.0:
            best = (min((lo0 * f for f in _FACTORS), key=lambda lo: score(lo, best[1])), best[1])
        if hi0 > 0.0:
            best = (best[0], min((hi0 * f for f in _FACTORS), key=lambda hi: score(best[0], hi)))
    return float(best[0]), float(best[1])


def expected_sq_error(hist: Histogram, lo: float, hi: float) -> float:
    """Expected squared error per value of quantizing the histogram's values to ``LEVELS`` levels on [lo, hi]
    (bin centres stand for the values): step²/12 inside, the squared distance to the nearest edge outside."""
    c = (hist.edges[:-1] + hist.edges[1:]) / 2
    step = (hi - lo) / (LEVELS - 1)
    inside = (c >= lo) & (c <= hi)
    err = np.where(inside, step * step / 12.0, np.minimum((c - lo) ** 2, (c - hi) ** 2))
    return float(np.sum(hist.counts * err) / hist.counts.sum())


def _mse(hist: Histogram) -> tuple[float, float]:
    return _search(hist, lambda lo, hi: expected_sq_error(hist, lo, hi))


def kl_divergence(hist: Histogram, lo: float, hi: float) -> float:
    """KL(P ‖ Q): P the observed distribution with the tails folded into the edge bins of [lo, hi]; Q the values
    inside [lo, hi] with each of the ``LEVELS`` quantization cells' mass spread evenly over its non-empty bins
    (TensorRT's construction)."""
    e = hist.edges
    inside = (e[:-1] >= lo - 1e-12) & (e[1:] <= hi + 1e-12)
    idx = np.flatnonzero(inside)
    if len(idx) < LEVELS:
        return float("inf")
    inner = hist.counts[idx].astype(np.float64)
    # The bin holding 0 is left out: 0 is exact on every range (the zero point), and after a ReLU it holds most
    # of the mass, which would otherwise dominate the divergence and always pick the narrowest range.
    zero = int(np.searchsorted(e, 0.0, side="right")) - 1 - idx[0]
    if 0 <= zero < len(inner):
        inner[zero] = 0.0
    p = inner.copy()                       # the reference: what the clipped int8 tensor must represent
    p[0] += hist.counts[: idx[0]].sum()
    p[-1] += hist.counts[idx[-1] + 1:].sum()
    # Q is built from the values inside the range only: the clipped tail mass is what Q cannot show, so the
    # divergence charges clipping as well as rounding (without this, the narrowest range always wins)
    sizes = np.full(LEVELS, len(p) // LEVELS)
    sizes[: len(p) % LEVELS] += 1                       # cells as np.array_split makes them
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    mass = np.add.reduceat(inner, starts)
    seen = np.add.reduceat((inner > 0).astype(np.float64), starts)
    per_bin = np.repeat(np.divide(mass, seen, out=np.zeros_like(mass), where=seen > 0), sizes)
    q = np.where(inner > 0, per_bin, 0.0)
    total_p, total_q = p.sum(), q.sum()
    if total_p == 0 or total_q == 0:
        return float("inf")
    p, q = p / total_p, q / total_q
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-12))))


def _entropy(hist: Histogram) -> tuple[float, float]:
    return _search(hist, lambda lo, hi: kl_divergence(hist, lo, hi))


# The range methods by name, in order of cost (``--optimize`` tries them in this order): name → chooser.
CHOOSERS: dict[str, Callable[[Histogram, RangeMethod], tuple[float, float]]] = {
    "minmax": lambda h, m: _observed(h),
    "percentile": lambda h, m: _percentile(h, m.percentile),
    "mse": lambda h, m: _mse(h),
    "entropy": lambda h, m: _entropy(h),
}
assert tuple(CHOOSERS) == METHODS
