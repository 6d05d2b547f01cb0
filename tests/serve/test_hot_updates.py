"""Hot model updates: new versions are validated and swapped in, broken ones refused, nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.serve.conftest import serving


def _put(root, name, version, source) -> None:
    """Deploy like a careful operator: write the version folder aside, then rename it into place."""
    staging = root / f".{name}-{version}.tmp"
    staging.mkdir()
    shutil.copy(source, staging / "model.tflite")
    (root / name).mkdir(exist_ok=True)
    os.rename(staging, root / name / str(version))


def test_versions_are_validated_swapped_refused_and_retried(tmp_path, example_models):
    from edgelite.runtime import Model
    from edgelite.serve.repository import Repository

    int8, f32 = example_models["int8"], example_models["float32"]
    _put(tmp_path, "m", 1, int8)
    lines: list[str] = []
    repo = Repository(tmp_path, log=lines.append)
    assert repo.get("m").version == 1 and repo.loads == 1

    _put(tmp_path, "m", 2, int8)
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    old = repo.get("m")
    held = old.acquire()   # a request in flight: it holds version 1's interpreter across the swap
    repo.poll()
    new = repo.get("m")
    assert new.version == 2 and repo.versions("m") == [2] and new is not old
    assert old.version == 1 and held not in new.models and held.path == tmp_path / "m" / "1" / "model.tflite"
    # the held interpreter still runs (not closed by the swap) and answers as version 1's file does
    (name,) = held.run(x)
    expected = Model.load(tmp_path / "m" / "1" / "model.tflite").run(x)[name]
    assert np.array_equal(held.run(x)[name], expected) and expected.shape == (1, 10)
    old.release(held)   # it goes back to version 1's pool, which nothing new is given from
    assert old.busy == 0 and new.busy == 0 and repo.get("m") is new

    (tmp_path / "m" / "3").mkdir()
    (tmp_path / "m" / "3" / "model.tflite").write_bytes(int8.read_bytes()[:5000])   # truncated copy
    repo.poll()
    assert repo.get("m").version == 2 and ("m", 3) in repo.refused
    refusals = [line for line in lines if line.startswith("refused m version 3")]
    repo.poll()   # the same file is not retried
    assert [line for line in lines if line.startswith("refused m version 3")] == refusals

    shutil.copy(int8, tmp_path / "m" / "3" / "model.tflite")   # the copy completes: the file changed, retried
    repo.poll()
    assert repo.get("m").version == 3 and ("m", 3) not in repo.refused

    _put(tmp_path, "m", 4, f32)   # float input instead of int8: another signature
    repo.poll()
    assert repo.get("m").version == 3 and "inputs/outputs differ from version 3" in repo.refused[("m", 4)].reason
    relaxed = Repository(tmp_path, allow_signature_change=True)
    assert relaxed.get("m").version == 4


def test_one_models_failure_stays_that_models(tmp_path, example_models, monkeypatch, caplog):
    """A version whose loading fails for a reason that is not the file's (an edgelite bug, here a TypeError;
    or the machine's, a MemoryError) is refused on its own: the other models' new versions are still loaded by
    the same poll, the bug's traceback is in the log, and it is not retried until its file changes."""
    import logging

    from edgelite.serve.repository import Repository

    int8 = example_models["int8"]
    for name in ("a", "b", "c"):
        _put(tmp_path, name, 1, int8)
    lines: list[str] = []
    repo = Repository(tmp_path, log=lines.append)
    real = Repository._validate
    failures = {("a", 2): TypeError("'NoneType' object is not subscriptable"), ("c", 2): MemoryError()}

    def validate(self, name, version, path, current):
        if (name, version) in failures:
            raise failures[(name, version)]
        return real(self, name, version, path, current)

    monkeypatch.setattr(Repository, "_validate", validate)
    for name in ("a", "b", "c"):
        _put(tmp_path, name, 2, int8)
    with caplog.at_level(logging.ERROR, logger="edgelite.serve"):
        repo.poll()
    assert {n: repo.get(n).version for n in ("a", "b", "c")} == {"a": 1, "b": 2, "c": 1}
    assert repo.refused[("a", 2)].reason.startswith("internal error (TypeError: 'NoneType' object is not")
    assert "MemoryError" in repo.refused[("c", 2)].reason
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "model a version 2: internal error" in record.getMessage() and record.exc_info is not None
    assert record.exc_info[0] is TypeError   # the traceback is logged, for a bug report
    refused = [line for line in lines if line.startswith("refused")]
    assert len(refused) == 2
    repo.poll()   # not retried while the file is the same
    assert [line for line in lines if line.startswith("refused")] == refused
    # at start-up a bug is not turned into a refusal: it ends the start (the CLI: exit 3 with the traceback)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _put(fresh, "a", 2, int8)
    with pytest.raises(TypeError):
        Repository(fresh)


def test_policy_all_serves_every_valid_version(tmp_path, example_models):
    from edgelite.serve.repository import Repository

    for v in (1, 2):
        _put(tmp_path, "m", v, example_models["int8"])
    repo = Repository(tmp_path, policy="all")
    assert repo.versions("m") == [1, 2] and repo.get("m").version == 2 and repo.get("m", "1").version == 1
    with pytest.raises(LookupError, match="no loaded version '7'"):
        repo.get("m", "7")


def test_no_request_fails_while_versions_arrive(tmp_path, example_models, example):
    """4 client threads keep inferring while versions 2, 3 (corrupt) and 4 arrive: 0 failed requests."""
    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model

    int8 = example_models["int8"]
    _put(tmp_path, "m", 1, int8)
    model = Model.load(int8)
    x = collect(open_source(example / "eval"), model.spec, model.sample_shape, 1, 0).x[0]
    want = model.run(x[None])[model.outputs[0].name].reshape(-1)
    body = json.dumps({"inputs": [{"name": model.input.name, "shape": [1, 28, 28, 1], "datatype": "FP32",
                                   "data": x.reshape(-1).tolist()}]}).encode()
    failures: list[str] = []
    versions: set[str] = set()
    done = threading.Event()

    def client(url: str) -> None:
        while not done.is_set():
            req = urllib.request.Request(f"{url}/v2/models/m/infer", data=body,
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    answer = json.loads(r.read())
                versions.add(answer["model_version"])
                if not np.array_equal(np.asarray(answer["outputs"][0]["data"], np.float32), want):
                    failures.append("wrong result")
            except (urllib.error.URLError, OSError, KeyError) as exc:
                failures.append(repr(exc))

    with serving(tmp_path, "--poll-seconds", "0.2") as server:
        threads = [threading.Thread(target=client, args=(server.url,)) for _ in range(4)]
        for t in threads:
            t.start()
        for version, source in ((2, int8), (3, None), (4, int8)):
            time.sleep(1.0)
            if source is None:
                (tmp_path / "m" / "3").mkdir()
                (tmp_path / "m" / "3" / "model.tflite").write_bytes(b"TFL3" * 100)
            else:
                _put(tmp_path, "m", version, source)
        deadline = time.monotonic() + 60
        while "4" not in versions and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == [] and {"1", "2", "4"} <= versions and "3" not in versions, (failures[:3], versions)
    assert "refused m version 3" in server.stdout and "loaded m version 4" in server.stdout


def test_the_interpreter_pool_queues_then_refuses(example_models):
    from edgelite.runtime import Model
    from edgelite.serve.repository import Overloaded, Served

    models = [Model.load(example_models["int8"]) for _ in range(2)]
    served = Served("m", 1, example_models["int8"], models, max_queue=1)
    got: list[Model] = []
    with served.instance() as a, served.instance() as b:
        assert a is not b and served.busy == 2
        waiter = threading.Thread(target=lambda: got.append(served.instance().__enter__()))
        waiter.start()
        deadline = time.monotonic() + 10
        while served.waiting != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served.waiting == 1
        with pytest.raises(Overloaded, match="--max-queue 1"):   # the queue is full: refused at once
            with served.instance():
                pass
    waiter.join(timeout=10)
    assert len(got) == 1 and got[0] in models and served.waiting == 0


def test_overload_is_a_503_with_retry_after(tmp_path, example_models):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    _put(tmp_path, "m", 1, example_models["int8"])
    repo = Repository(tmp_path, max_queue=0)
    served = repo.get("m")
    with TestClient(create_app(repo)) as client, served.instance():   # the only interpreter is busy
        r = client.post("/v2/models/m/infer", json={"inputs": [
            {"name": served.model.input.name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.0] * 784}]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "busy" in r.json()["error"]
