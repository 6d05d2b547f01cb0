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
    assert len(ref.input.edges) == 21 and abs(sum(ref.input.proportions) - 1) < 1e-5
    assert ref.input.mean is not None and len(ref.input.mean) == 3
    assert ref.predictions is not None and len(ref.predictions.proportions) == 4
    same, shifted = DriftMonitor(ref), DriftMonitor(ref)
    same.update(rng.normal(0, 1, (200, 8, 8, 3)), rng.normal(0, 1, (200, 4)))
    shifted.update(rng.normal(1.0, 1, (200, 8, 8, 3)), rng.normal(0, 1, (200, 4)) + [3, 0, 0, 0])
    a, b = same.scores(), shifted.scores()
    assert a.input_psi is not None and a.input_psi < 0.02 and a.prediction_psi is not None
    assert a.prediction_psi < 0.1
    assert b.input_psi is not None and b.input_psi > 0.5 and b.prediction_psi is not None and b.prediction_psi > 0.5
    assert psi(np.array([0.5, 0.5]), np.array([50, 50])) == pytest.approx(0.0)
    assert DriftMonitor(ref, min_samples=10).scores().input_psi is None   # too few samples: no score
    assert DriftMonitor.from_metadata({}) is None   # no reference: no monitor, no error
    assert DriftMonitor.from_metadata({"drift_reference": ref.to_dict()}).scores().samples == 0


def test_the_reference_json_round_trips_and_a_malformed_one_is_an_error_naming_the_key():
    import json

    from edgelite.runtime.drift import DriftMonitor, DriftReference, reference_stats

    rng = np.random.default_rng(0)
    ref = reference_stats(rng.normal(0, 1, (50, 4, 4, 3)).astype(np.float32), rng.normal(0, 1, (50, 3)))
    data = json.loads(json.dumps(ref.to_dict()))   # as it travels in the file's provenance
    assert list(data) == ["version", "samples", "input", "predictions"]
    assert list(data["input"]) == ["edges", "proportions", "mean", "std"]
    assert DriftReference.from_dict(data) == ref
    many = reference_stats(rng.normal(0, 1, (50, 2, 2, 80)).astype(np.float32), None)   # > 64 channels, no preds
    assert set(many.to_dict()) == {"version", "samples", "input"} and set(many.to_dict()["input"]) == {
        "edges", "proportions"}

    def broken(edit):
        d = json.loads(json.dumps(data))
        edit(d)
        with pytest.raises(UserInputError) as err:
            DriftMonitor.from_metadata({"drift_reference": d})
        assert "\n" not in str(err.value) and str(err.value).startswith("drift_reference: ")
        return str(err.value)

    assert "version: 99 is not 1" in broken(lambda d: d.update(version=99))
    assert "21 edges for 19 proportions" in broken(lambda d: d["input"]["proportions"].pop())
    assert "input.edges[3]: expected a number, got 'x'" in broken(lambda d: d["input"]["edges"].__setitem__(3, "x"))
    assert "input.edges: not in ascending order" in broken(lambda d: d["input"]["edges"].reverse())
    assert "input: required key missing" in broken(lambda d: d.pop("input"))
    assert "bins: unknown key" in broken(lambda d: d.update(bins=20))
    assert "predictions.proportions: 1 classes" in broken(lambda d: d["predictions"].update(proportions=[1.0]))
    assert "expected a table" in broken(lambda d: d.update(input=[1]))


def _with_drift_reference(source, target, edit) -> None:
    """``source`` with its drift reference edited by ``edit`` (labels and the rest of the provenance kept out)."""
    import json

    from edgelite.converter.metadata_writer import with_metadata
    from edgelite.runtime import tflite_file

    data = source.read_bytes()
    own = json.loads(tflite_file.metadata_entries(data)["edgelite"])
    edit(own["provenance"]["drift_reference"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(with_metadata(data, {"edgelite": json.dumps(own).encode()}))


def test_a_file_with_a_malformed_reference_is_served_without_drift_and_says_why(tmp_path, example_models):
    """Not silently: the load line says drift is off and why, once, and so do the model's metadata and the
    repository index; inference is unaffected and no drift gauge is invented."""
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    _with_drift_reference(example_models["int8"], tmp_path / "bad" / "1" / "model.tflite",
                          lambda ref: ref["input"]["proportions"].pop())
    (tmp_path / "good" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], tmp_path / "good" / "1" / "model.tflite")
    lines: list[str] = []
    repo = Repository(tmp_path, log=lines.append)
    assert repo.get("bad").drift is None and repo.get("good").drift is not None
    said = [line for line in lines if "drift" in line]
    assert len(said) == 1 and said[0].startswith("loaded bad version 1") and \
        "drift monitoring off: unusable drift_reference: input: 21 edges for 19 proportions" in said[0], said
    repo.poll()
    assert [line for line in lines if "drift" in line] == said   # once per loaded version, not per poll
    x = np.zeros((1, 28, 28, 1), np.float32).reshape(-1).tolist()
    with TestClient(create_app(repo, repository_api=True)) as client:
        meta = client.get("/v2/models/bad").json()
        assert meta["drift"] == repo.get("bad").drift_status and meta["drift"].startswith("off: unusable")
        assert client.get("/v2/models/good").json()["drift"] == "monitored"
        index = {row["name"]: row for row in client.post("/v2/repository/index").json()}
        assert index["bad"]["state"] == "READY" and index["bad"]["drift"] == meta["drift"]
        name = repo.get("bad").model.input.name
        item = {"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": x}
        for _ in range(60):
            assert client.post("/v2/models/bad/infer", json={"inputs": [item]}).status_code == 200
            assert client.post("/v2/models/good/infer", json={"inputs": [item]}).status_code == 200
        text = client.get("/metrics").text
    window = [line for line in text.splitlines() if line.startswith("edgelite_drift_window_samples{")]
    assert window == ['edgelite_drift_window_samples{model="good",version="1"} 60.0']


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
