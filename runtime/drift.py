"""Input and prediction drift: how far live traffic has moved from the data the model was calibrated on.

The converter stores a reference in the file's edgelite metadata (``provenance["drift_reference"]``): a coarse
histogram of the calibration samples' model-ready values (20 bins between their 0.5th and 99.5th percentiles,
values beyond falling in the end bins), their per-channel mean and standard deviation, and the share of each
class the float model predicts on them. ``serve`` keeps the same histogram and class counts over a rolling
window of live requests and scores the difference with the Population Stability Index,

    PSI = Σ_bins (q − p) · ln(q / p)        p: reference share, q: live share (both floored at 1e-4)

the measure credit scoring uses for exactly this; the usual reading is < 0.1 stable, 0.1–0.25 moderate shift,
> 0.25 significant shift (the warning threshold here). Numpy only: runs on the board.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

BINS = 20
MAX_CHANNELS = 64       # per-channel statistics are kept for at most this many channels
MAX_CLASSES = 1000      # prediction shares are kept for outputs of at most this many classes
FLOOR = 1e-4            # shares are floored here before the logarithm (an empty bin must not be infinite)
WARN_PSI = 0.25
REFERENCE_VERSION = 1


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(values, np.float64).reshape(-1)]


def reference_stats(x: np.ndarray, outputs: np.ndarray | None) -> dict[str, Any]:
    """The drift reference of calibration samples ``x`` (model-ready floats, batch first) and the float
    model's outputs on them (None: no prediction reference)."""
    values = np.asarray(x, np.float64).reshape(len(x), -1)
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, BINS + 1)
    counts = _counts(values, edges).sum(axis=0)
    ref: dict[str, Any] = {"version": REFERENCE_VERSION, "samples": int(len(x)),
                           "input": {"edges": _round(edges), "proportions": _round(counts / counts.sum())}}
    channels = x.shape[-1] if x.ndim >= 2 else 1
    if channels <= MAX_CHANNELS:
        per_channel = np.asarray(x, np.float64).reshape(-1, channels)
        ref["input"]["mean"] = _round(per_channel.mean(axis=0))
        ref["input"]["std"] = _round(per_channel.std(axis=0))
    if outputs is not None:
        flat = np.asarray(outputs).reshape(len(outputs), -1)
        if 2 <= flat.shape[1] <= MAX_CLASSES:
            classes = np.bincount(flat.argmax(axis=1), minlength=flat.shape[1])
            ref["predictions"] = {"proportions": _round(classes / classes.sum())}
    return ref


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-row histogram counts over ``edges``; values beyond the edges count in the end bins."""
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    out = np.zeros((values.shape[0], len(edges) - 1), np.int64)
    for row in range(values.shape[0]):
        out[row] = np.bincount(idx[row], minlength=len(edges) - 1)
    return out


def psi(reference: np.ndarray, counts: np.ndarray) -> float:
    """Population Stability Index of live ``counts`` against ``reference`` shares."""
    p = np.maximum(np.asarray(reference, np.float64), FLOOR)
    total = counts.sum()
    q = np.maximum(counts / total if total else np.zeros_like(p), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


@dataclass
class DriftScores:
    samples: int
    input_psi: float | None
    prediction_psi: float | None


class DriftMonitor:
    """A rolling window of live inputs and predictions against a model's drift reference."""

    def __init__(self, reference: dict[str, Any], window: int = 500, min_samples: int = 50) -> None:
        if reference.get("version") != REFERENCE_VERSION:
            raise ValueError(f"drift reference version {reference.get('version')!r} is not {REFERENCE_VERSION}")
        inp = reference["input"]
        self.edges = np.asarray(inp["edges"], np.float64)
        self.input_ref = np.asarray(inp["proportions"], np.float64)
        if self.edges.ndim != 1 or len(self.edges) != len(self.input_ref) + 1 or not 2 <= len(self.edges) <= 1001:
            raise ValueError("drift reference: edges and proportions do not match")
        pred = reference.get("predictions")
        self.pred_ref = np.asarray(pred["proportions"], np.float64) if pred else None
        if self.pred_ref is not None and not 2 <= len(self.pred_ref) <= MAX_CLASSES:
            raise ValueError("drift reference: prediction proportions out of range")
        self.min_samples = min_samples
        self._lock = threading.Lock()   # the service updates from several request threads
        self.updates = 0
        self.warned = False             # the last check was past WARN_PSI (a warning is logged once per crossing)
        self._inputs: collections.deque[np.ndarray] = collections.deque(maxlen=window)
        self._preds: collections.deque[int] = collections.deque(maxlen=window)

    @classmethod
    def from_metadata(cls, provenance: dict[str, Any] | None) -> DriftMonitor | None:
        """The monitor of a file's drift reference, or None when the file has none (or a malformed one)."""
        ref = (provenance or {}).get("drift_reference")
        if not isinstance(ref, dict):
            return None
        try:
            return cls(ref)
        except (KeyError, TypeError, ValueError):
            return None

    def update(self, x: np.ndarray, outputs: np.ndarray) -> None:
        """Add a batch of model-ready inputs (float, batch first) and the model's outputs on them."""
        values = np.asarray(x, np.float64).reshape(len(x), -1)
        rows = _counts(values, self.edges)
        flat = np.asarray(outputs).reshape(len(outputs), -1)
        with self._lock:
            self._inputs.extend(rows)
            if self.pred_ref is not None and flat.shape[1] == len(self.pred_ref):
                self._preds.extend(int(c) for c in flat.argmax(axis=1))
            self.updates += len(values)

    def scores(self) -> DriftScores:
        with self._lock:
            n = len(self._inputs)
            if n < self.min_samples:
                return DriftScores(n, None, None)
            live_inputs = np.sum(self._inputs, axis=0)
            preds = list(self._preds)
        input_psi = psi(self.input_ref, live_inputs)
        pred_psi = None
        if self.pred_ref is not None and len(preds) >= self.min_samples:
            pred_psi = psi(self.pred_ref, np.bincount(preds, minlength=len(self.pred_ref)))
        return DriftScores(n, input_psi, pred_psi)

    def crossed(self, every: int = 50) -> DriftScores | None:
        """Every ``every`` samples: the scores when either PSI has just crossed ``WARN_PSI`` upwards (so the
        service logs one warning per crossing), else None."""
        if self.updates % every:
            return None
        s = self.scores()
        high = any(v is not None and v > WARN_PSI for v in (s.input_psi, s.prediction_psi))
        fire, self.warned = high and not self.warned, high
        return s if fire else None
