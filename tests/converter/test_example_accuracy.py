"""Int8 accuracy on the embedded example, gated by thresholds measured with benchmarks/example_accuracy.py.

Measured (TF 2.21, ai-edge-litert 2.3.0, seeds 0–4, 50 and 200 calibration samples, 500 held-out digits):
top-1 drop 0.00 pts in all 10 runs, agreement 0.998–1.000, SNR 43.8–45.7 dB. Gates leave room for other
TF/LiteRT versions: drop ≤ 0.6 pts (3 digits), agreement ≥ 0.99, SNR ≥ 35 dB. A negative control shows the
same gates fail on a collapsed calibration.
"""

import numpy as np
import pytest

from edgelite.calibration import collect, open_source
from edgelite.converter import ConvertConfig, convert
from edgelite.runtime import Model, compare

pytestmark = pytest.mark.slow

MAX_DROP_PTS, MIN_AGREEMENT, MIN_SNR_DB = 0.6, 0.99, 35.0


def _evaluate(example, f32, cand):
    ref, cand = Model.load(f32), Model.load(cand)
    data = collect(open_source(example / "eval", class_names=cand.labels), cand.spec, cand.sample_shape,
                   None, 0, shuffle=False)
    return compare(ref, cand, data.x, data.y)


def test_int8_within_measured_drop(example, example_models):
    r = _evaluate(example, example_models["float32"], example_models["int8"])
    assert r.reference.top1 >= 96.0  # the float model itself (97.4 % when trained)
    assert r.top1_drop_pts <= MAX_DROP_PTS
    assert r.agreement >= MIN_AGREEMENT
    assert r.snr_db >= MIN_SNR_DB


def test_gates_catch_a_collapsed_calibration(example, example_models, tmp_path):
    """Calibrating on blank images gives wrong activation ranges; the same gates must fail."""
    blank = tmp_path / "blank.npy"
    np.save(blank, np.zeros((50, 28, 28, 1), np.float32))
    bad = tmp_path / "bad.tflite"
    convert(ConvertConfig(example / "model.keras", bad, calib=blank, labels=example / "labels.txt"))
    r = _evaluate(example, example_models["float32"], bad)
    assert r.top1_drop_pts > MAX_DROP_PTS or r.agreement < MIN_AGREEMENT or r.snr_db < MIN_SNR_DB
