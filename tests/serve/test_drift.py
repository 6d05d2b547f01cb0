"""Drift: the reference the converter embeds, and the PSI ``serve`` computes over live requests — small on
held-out digits like the calibration ones, large on inverted digits (white background)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from edgelite.core.errors import UserInputError


def test_reference_and_psi_on_constructed_shifts():
    from edgelite.runtime.drift import DriftMonitor, psi, reference_stats

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (400, 8, 8, 3)).astype(np.float32)
    logits = rng.normal(0, 1, (400, 4))
    ref = reference_stats(x, logits)
    assert len(ref["input"]["edges"]) == 21 and abs(sum(ref["input"]["proportions"]) - 1) < 1e-5
    assert len(ref["input"]["mean"]) == 3 and len(ref["predictions"]["proportions"]) == 4
    same, shifted = DriftMonitor(ref), DriftMonitor(ref)
    same.update(rng.normal(0, 1, (200, 8, 8, 3)), rng.normal(0, 1, (200, 4)))
    shifted.update(rng.normal(1.0, 1, (200, 8, 8, 3)), rng.normal(0, 1, (200, 4)) + [3, 0, 0, 0])
    a, b = same.scores(), shifted.scores()
    assert a.input_psi is not None and a.input_psi < 0.02 and a.prediction_psi is not None
    assert a.prediction_psi < 0.1
    assert b.input_psi is not None and b.input_psi > 0.5 and b.prediction_psi is not None and b.prediction_psi > 0.5
    assert psi(np.array([0.5, 0.5]), np.array([50, 50])) == pytest.approx(0.0)
    assert DriftMonitor(ref, min_samples=10).scores().input_psi is None   # too few samples: no score
    assert DriftMonitor.from_metadata({"drift_reference": {"version": 99}}) is None
    assert DriftMonitor.from_metadata({}) is None


def test_serve_scores_drift_and_warns_once(tmp_path, example_models, example, caplog):
    from starlette.testclient import TestClient

    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model
    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    (tmp_path / "m" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], tmp_path / "m" / "1" / "model.tflite")
    model = Model.load(example_models["int8"])
    assert model.metadata.provenance["drift_reference"]["samples"] > 0   # embedded by convert
    x = collect(open_source(example / "eval"), model.spec, model.sample_shape, 100, 0).x
    repo = Repository(tmp_path)

    def send(client, batch):
        for sample in batch:
            item = {"name": model.input.name, "shape": [1, 28, 28, 1], "datatype": "FP32",
                    "data": sample.reshape(-1).tolist()}
            r = client.post("/v2/models/m/infer", json={"inputs": [item]})
            assert r.status_code == 200

    def gauge(client, signal):
        from prometheus_client.parser import text_string_to_metric_families

        for f in text_string_to_metric_families(client.get("/metrics").text):
            for s in f.samples:
                if s.name == "edgelite_drift_psi" and s.labels["signal"] == signal:
                    return s.value
        return None

    with TestClient(create_app(repo)) as client, caplog.at_level(logging.WARNING, logger="edgelite.serve"):
        send(client, x)
        calm = gauge(client, "input"), gauge(client, "prediction")
        assert not [r for r in caplog.records if "drift" in r.getMessage()]
        send(client, 1.0 - x)   # inverted digits: the window fills with another distribution
        shifted = gauge(client, "input")
        warnings = [r.getMessage() for r in caplog.records if "drift" in r.getMessage()]
    print("PSI held-out", calm, "inverted", shifted)
    # measured: 100 held-out digits input PSI 0.0008, predictions 0.068; the window then half inverted: input
    # PSI 0.86
    assert calm[0] is not None and calm[0] < 0.1 and calm[1] is not None and calm[1] < 0.25
    assert shifted is not None and shifted > 0.5
    assert len(warnings) == 1 and "model m version 1" in warnings[0]


def test_capture_keeps_a_capped_sample(tmp_path, example_models):
    from starlette.testclient import TestClient

    from edgelite.runtime import Model
    from edgelite.serve.app import create_app
    from edgelite.serve.capture import Capture
    from edgelite.serve.repository import Repository

    (tmp_path / "m" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], tmp_path / "m" / "1" / "model.tflite")
    name = Model.load(example_models["int8"]).input.name
    folder = tmp_path / "captured"
    capture = Capture(folder, rate=0.5, max_mb=0.004)   # room for a handful of compressed digits
    x = np.random.default_rng(1).random((40, 28, 28, 1), dtype=np.float32)
    with TestClient(create_app(Repository(tmp_path), capture=capture)) as client:
        for sample in x:
            item = {"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": sample.reshape(-1).tolist()}
            assert client.post("/v2/models/m/infer", json={"inputs": [item]}).status_code == 200
    files = sorted(folder.glob("*.npz"))
    assert 1 <= len(files) == capture.saved < 20 and capture.skipped_full > 0   # the cap stopped it, not the coin
    assert sum(f.stat().st_size for f in files) <= 4000 and not list(folder.glob(".*.tmp"))
    from edgelite.core.files import default_file_mode

    assert {f.stat().st_mode & 0o777 for f in files} == {default_file_mode()}   # the umask's, not mkstemp's 0600
    with np.load(files[0], allow_pickle=False) as d:
        assert d["x"].shape == (1, 28, 28, 1) and d["outputs"].shape == (1, 10) and d["y_pred"].shape == (1,)
        assert any(np.array_equal(d["x"][0], s) for s in x)
    with pytest.raises(UserInputError, match="--capture-rate"):
        Capture(folder, rate=0.0, max_mb=1)
