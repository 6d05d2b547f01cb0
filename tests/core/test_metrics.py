"""The shared maths against LiteRT itself (rounding of ties) and against known values, not against a copy of
its own formulas."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.core import metrics


@pytest.mark.slow
def test_quantize_rounds_ties_as_litert_quantize_kernel(example, tmp_path):
    """A float-I/O int8 model starts with LiteRT's QUANTIZE op: on exact ties it must agree with ours."""
    from edgelite.converter import ConvertConfig, convert
    from edgelite.runtime.backends import select_backend

    path = tmp_path / "float_io.tflite"
    convert(ConvertConfig(example / "model.keras", path, calib=example / "calib", io="float32"))
    interp = select_backend("litert").make(path.read_bytes(), preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    q = next(d for d in interp.get_tensor_details()
             if d["dtype"] == np.int8 and tuple(d["shape"]) == tuple(inp["shape"]))
    scale, zp = q["quantization"]
    k = np.random.default_rng(0).integers(-120, 120, size=inp["shape"]).astype(np.float32)
    ties = (k + 0.5) * np.float32(scale)
    assert np.mean(np.abs(ties / np.float32(scale) - k) == 0.5) > 0.99   # really ties in float32
    interp.set_tensor(inp["index"], ties)
    interp.invoke()
    litert = interp.get_tensor(q["index"])
    ours = metrics.quantize(ties, scale, zp, np.int8)
    assert np.array_equal(ours, litert)
    away = np.clip(np.sign(ties) * np.floor(np.abs(ties / np.float32(scale)) + 0.5) + zp, -128, 127)
    assert not np.array_equal(away.astype(np.int8), litert)   # the negative control: C's round() differs


def test_quantize_clamps_and_round_trips_within_half_a_step():
    x = np.linspace(-3, 3, 1001, dtype=np.float32)
    scale, zp = 0.02, 3
    q = metrics.quantize(x, scale, zp, np.int8)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127
    inside = (x >= (-128 - zp) * scale) & (x <= (127 - zp) * scale)
    err = np.abs(metrics.dequantize(q, scale, zp) - x)[inside]
    assert err.max() <= scale / 2 + 1e-6


def test_snr_known_values_and_identical_outputs():
    assert metrics.snr_db(100.0, 1.0) == pytest.approx(20.0)
    assert metrics.snr_db(1.0, 1.0) == pytest.approx(0.0)
    assert metrics.snr_db(5.0, 0.0) is None
    assert metrics.snr_db(0.0, 1.0) < -200          # an all-zero reference stays finite


def test_agreement_cosine_and_topk_on_hand_made_scores():
    a = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4]])
    b = np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
    assert metrics.agreement(a, b) == pytest.approx(2 / 3)
    assert metrics.cosine_rows(a, a) == pytest.approx(np.ones(3))
    assert metrics.cosine_rows(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])) == pytest.approx([0.0])
    y = np.array([1, 1, 0])
    assert metrics.topk_accuracy_pct(a, y, 1) == pytest.approx(100 / 3)
    assert metrics.topk_accuracy_pct(a, y, 2) == pytest.approx(100.0)   # row 3: tie 0.3/0.3, class 0 first
    assert list(metrics.topk_indices(np.array([0.2, 0.5, 0.5, 0.1]), 3)) == [1, 2, 0]   # ties: lower index first
