"""The maths every report shares: affine (de)quantization as TFLite does it, and output-error measures.

One definition each, so ``compare``, ``analyze``, the ``--max-drop`` judge and the runtime cannot drift apart.

Rounding is LiteRT's, measured rather than assumed: its ``QUANTIZE`` kernel computes ``x / scale`` in float32,
rounds half to even, adds the zero point and clamps. Measured on x86_64 with ai-edge-litert's built-in kernels:
every one of 784 exact ties (``(k + 0.5) · scale``) matched ``np.round(x / scale) + zero_point``, while
half-away-from-zero (C's ``round``) matched 71 %. The order matters: rounding ``x / scale + zero_point`` instead
moves ties by one whenever the zero point is odd. ``tests/core/test_metrics.py`` holds this against LiteRT.
So a float sample quantized here is the integer a LiteRT ``QUANTIZE`` op would have produced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INT_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255), np.dtype(np.int16): (-32768, 32767)}

# Signal power floor for SNR: an all-zero reference gives a (very negative) finite SNR instead of log10(0).
_SIGNAL_FLOOR = 1e-30


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    """Float values → integer ``dtype`` as LiteRT's QUANTIZE does (see the module docstring); clamped."""
    dt = np.dtype(dtype)
    lo, hi = INT_RANGES[dt]
    q = np.round(np.asarray(x, dtype=np.float32) / np.float32(scale)) + zero_point
    out: np.ndarray = np.clip(q, lo, hi).astype(dt)
    return out


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values → float32: ``(q - zero_point) * scale``."""
    out: np.ndarray = (np.asarray(q).astype(np.float32) - zero_point) * np.float32(scale)
    return out


def snr_db(signal_power: float, noise_power: float) -> float | None:
    """``10 log10(signal / noise)`` in dB; None when the noise is exactly zero (identical outputs).

    Both powers must be on the same footing (both sums or both means over the same elements)."""
    if noise_power == 0.0:
        return None
    return float(10.0 * np.log10(max(signal_power, _SIGNAL_FLOOR) / noise_power))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b`` (N,)."""
    out: np.ndarray = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return out


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose argmax is the same in ``a`` and ``b`` (top-1 agreement of two models)."""
    return float(np.mean(a.argmax(1) == b.argmax(1)))


def topk_accuracy_pct(scores: np.ndarray, y: np.ndarray, k: int) -> float:
    """Percentage of rows whose true class ``y`` is among the ``k`` highest scores (ties: lower index first)."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y[:, None], axis=1)) * 100.0)


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores of one score vector, best first (ties: lower index first)."""
    out: np.ndarray = np.argsort(-scores, kind="stable")[: max(1, k)]
    return out
