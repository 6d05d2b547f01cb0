"""The drift monitor's batched bookkeeping (runtime/drift.py) against a plain recomputation: one request at a
time, int8 codes looked up instead of dequantized, a window that overflows — the same counts and scores."""

from __future__ import annotations

import numpy as np
import pytest


def _reference(rng: np.random.Generator) -> dict:
    from edgelite.runtime.drift import reference_stats

    return reference_stats(rng.normal(0, 1, (300, 6, 6, 2)).astype(np.float32), rng.normal(0, 1, (300, 5)))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_quantized_requests_bin_like_their_float_values(dtype):
    from edgelite.core.metrics import dequantize
    from edgelite.runtime.drift import DriftMonitor

    rng = np.random.default_rng(1)
    ref = _reference(rng)
    scale, zp = 0.03, (5 if dtype == np.int8 else 128)
    info = np.iinfo(dtype)
    codes = rng.integers(info.min, info.max + 1, (130, 1, 6, 6, 2)).astype(dtype)
    outputs = rng.normal(0, 1, (130, 1, 5))
    by_code, by_value = DriftMonitor(ref, window=100), DriftMonitor(ref, window=100)
    for x, y in zip(codes, outputs, strict=True):   # one request at a time, as serve sends them
        by_code.update(x, y, quantization=(scale, zp))
        by_value.update(dequantize(x, scale, zp), y)
    a, b = by_code.scores(), by_value.scores()
    assert a.samples == b.samples == 100
    assert a.input_psi == pytest.approx(b.input_psi, abs=1e-12) and a.prediction_psi == b.prediction_psi
    # and the windowed totals equal a recomputation over the last 100 requests alone
    fresh = DriftMonitor(ref, window=100)
    fresh.update(np.concatenate([dequantize(x, scale, zp) for x in codes[-100:]]), outputs[-100:, 0])
    c = fresh.scores()
    assert c.input_psi == pytest.approx(a.input_psi, abs=1e-12) and c.prediction_psi == pytest.approx(a.prediction_psi)


def test_pending_rows_are_binned_before_a_score_and_crossings_fire_once():
    from edgelite.runtime.drift import BATCH, DriftMonitor

    rng = np.random.default_rng(2)
    ref = _reference(rng)
    m = DriftMonitor(ref, window=500, min_samples=10)
    for _ in range(BATCH - 1):   # fewer than a batch: still pending …
        m.update(rng.normal(0, 1, (1, 6, 6, 2)), rng.normal(0, 1, (1, 5)))
    assert m.updates == 0
    assert m.scores().samples == BATCH - 1   # … until a score is asked
    fired = []
    for _ in range(400):   # shifted traffic: PSI crosses the threshold once, then stays above it
        m.update(rng.normal(3, 1, (1, 6, 6, 2)), rng.normal(0, 1, (1, 5)))
        if m.crossed() is not None:
            fired.append(m.updates)
    assert len(fired) == 1
