"""``GET /metrics``: request counters and phase latencies as Prometheus reads them (its own text parser)."""

from __future__ import annotations

import shutil

import numpy as np


def _families(text: str) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _value(samples, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_requests_phases_loads_and_memory(tmp_path, example_models):
    from starlette.testclient import TestClient

    from edgelite.runtime import Model
    from edgelite.serve.app import create_app
    from edgelite.serve.metrics import BoardCollector, Metrics
    from edgelite.serve.repository import Repository

    (tmp_path / "repo" / "m" / "2").mkdir(parents=True)
    shutil.copy(example_models["int8"], tmp_path / "repo" / "m" / "2" / "model.tflite")
    # a board's sysfs, as a Raspberry Pi 4 lays it out
    zone = tmp_path / "sys" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("61300\n")
    (zone / "type").write_text("cpu-thermal\n")
    freq = tmp_path / "sys" / "cpu" / "cpu0" / "cpufreq"
    freq.mkdir(parents=True)
    (freq / "scaling_cur_freq").write_text("1500000\n")
    metrics = Metrics(board=BoardCollector(tmp_path / "sys" / "thermal", tmp_path / "sys" / "cpu"))

    name = Model.load(example_models["int8"]).input.name
    good = {"inputs": [{"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.0] * 784}]}
    with TestClient(create_app(Repository(tmp_path / "repo"), metrics=metrics)) as client:
        for _ in range(3):
            assert client.post("/v2/models/m/infer", json=good).status_code == 200
        assert client.post("/v2/models/m/infer", json={"inputs": []}).status_code == 400
        for i in range(5):   # unknown names share one label value: clients cannot grow the metrics
            assert client.post(f"/v2/models/nope{i}/infer", json=good).status_code == 404
        r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    f = _families(r.text)
    req = f["edgelite_requests"]
    assert _value(req, "edgelite_requests_total", model="m", version="2", status="200") == 3
    assert _value(req, "edgelite_requests_total", model="m", version="2", status="400") == 1
    assert _value(req, "edgelite_requests_total", model="_unknown", status="404") == 5
    assert not any("nope" in s.labels.get("model", "") for s in req)
    phases = f["edgelite_request_phase_seconds"]
    for phase in ("queue", "preprocess", "inference"):
        assert _value(phases, "edgelite_request_phase_seconds_count", model="m", phase=phase) == 3
    assert _value(phases, "edgelite_request_phase_seconds_sum", model="m", phase="inference") > 0
    assert _value(f["edgelite_model_loads"], "edgelite_model_loads_total", model="m") == 1
    assert _value(f["edgelite_instances_busy"], "edgelite_instances_busy", model="m") == 0
    assert _value(f["process_resident_memory_bytes"], "process_resident_memory_bytes") > 10e6
    assert _value(f["edgelite_soc_temperature_celsius"], "edgelite_soc_temperature_celsius",
                  zone="thermal_zone0", type="cpu-thermal") == 61.3
    assert _value(f["edgelite_cpu_frequency_hertz"], "edgelite_cpu_frequency_hertz", cpu="cpu0") == 1.5e9
    assert np.isfinite(_value(phases, "edgelite_request_phase_seconds_sum", model="m", phase="queue"))
