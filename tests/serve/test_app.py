"""``edgelite serve``: the Open Inference Protocol routes over a real repository of the example's int8 and float
models, driven through Starlette's TestClient (real HTTP semantics, no socket)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="module")
def repo(tmp_path_factory, example_models):
    root = tmp_path_factory.mktemp("repo")
    for name, versions in (("mnist", ("1", "3")), ("mnist_f32", ("7",))):
        for v in versions:
            (root / name / v).mkdir(parents=True)
    shutil.copy(example_models["float32"], root / "mnist" / "1" / "model.tflite")
    shutil.copy(example_models["int8"], root / "mnist" / "3" / "model.tflite")
    shutil.copy(example_models["float32"], root / "mnist_f32" / "7" / "model.tflite")
    (root / "not a model").mkdir()        # skipped: not a valid name
    (root / "mnist" / "latest").mkdir()   # skipped: not a numeric version
    return root


@pytest.fixture(scope="module")
def client(repo):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.limits import ServeLimits
    from edgelite.serve.repository import Repository

    with TestClient(create_app(Repository(repo), limits=ServeLimits(max_body=64 * 1024))) as c:
        yield c


def test_health_server_and_model_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2").json()["name"] == "edgelite"
    meta = client.get("/v2/models/mnist").json()
    assert meta["versions"] == ["3"] and meta["platform"] == "tflite"   # policy latest: only 3 is loaded
    (inp,) = meta["inputs"]
    # the latest version (3, int8) is served: its real input datatype, with FP32 accepted for it
    assert inp["datatype"] == "INT8" and inp["shape"] == [-1, 28, 28, 1]   # -1: the batch axis is dynamic
    assert inp["parameters"]["accepts_fp32"] and inp["parameters"]["scale"] > 0
    (out,) = meta["outputs"]
    assert out["datatype"] == "FP32" and out["parameters"]["dequantized_from"] == "INT8"
    assert client.get("/v2/models/mnist/versions/3").status_code == 200
    assert client.get("/v2/models/mnist/ready").json()["ready"] is True
    assert client.get("/v2/models/mnist_f32").json()["inputs"][0]["datatype"] == "FP32"


def test_infer_equals_model_run_bit_for_bit(client, repo, example):
    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model

    model = Model.load(repo / "mnist" / "3" / "model.tflite")
    x = collect(open_source(example / "eval"), model.spec, model.sample_shape, 3, 0).x
    name = model.input.name
    for sample in x:
        want = model.run(sample[None])[model.outputs[0].name]
        # float data, quantized for the caller as Model.run does
        r = client.post("/v2/models/mnist/infer", json={"id": "a1", "inputs": [
            {"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": sample.reshape(-1).tolist()}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_name"] == "mnist" and body["model_version"] == "3" and body["id"] == "a1"
        got = np.asarray(body["outputs"][0]["data"], np.float32).reshape(body["outputs"][0]["shape"])
        np.testing.assert_array_equal(got, want)
        # raw int8 data passes as it is
        q = model.input.quantize(sample[None])
        r = client.post("/v2/models/mnist/versions/3/infer", json={"inputs": [
            {"name": name, "shape": [1, 28, 28, 1], "datatype": "INT8", "data": q.reshape(-1).tolist()}]})
        np.testing.assert_array_equal(np.asarray(r.json()["outputs"][0]["data"], np.float32), want.reshape(-1))


@pytest.mark.parametrize("path, body, status, message", [
    ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model 'nope'"),
    ("/v2/models/mnist/versions/1/infer", {"inputs": []}, 404, "no loaded version '1'"),
    ("/v2/models/..%2F..%2Fetc/infer", {"inputs": []}, 404, "no route"),   # a name never holds a "/"
    ("/v2/models/.hidden/infer", {"inputs": []}, 404, "unknown model '.hidden'"),
    ("/v2/models/mnist/infer", {"inputs": []}, 400, 'non-empty "inputs"'),
    ("/v2/models/mnist/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0]}]}, 400,
     "unknown input 'x'"),
])
def test_bad_requests_get_4xx_with_an_error_body(client, path, body, status, message):
    r = client.post(path, json=body)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_wrong_datatype_shape_json_and_size(client, repo):
    from edgelite.runtime import Model

    name = Model.load(repo / "mnist" / "3" / "model.tflite").input.name

    def post(item=None, **kw):
        return client.post("/v2/models/mnist/infer", **(kw or {"json": {"inputs": [item]}}))

    cases = [
        (post({"name": name, "shape": [1, 28, 28, 1], "datatype": "INT32", "data": [0] * 784}), "takes INT8 or FP32"),
        (post({"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.0] * 10}), "do not fill shape"),
        (post({"name": name, "shape": [1, 14, 56, 1], "datatype": "FP32", "data": [0.0] * 784}), "shape"),
        (post({"name": name, "shape": [1, -28], "datatype": "FP32", "data": [0.0]}), "non-negative integers"),
        (post({"name": name, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": ["a"] * 784}), "not FP32 values"),
        (post(content=b"{not json", headers={"content-type": "application/json"}), "not valid JSON"),
    ]
    for r, message in cases:
        assert r.status_code == 400 and message in r.json()["error"], r.text
    big = client.post("/v2/models/mnist/infer", content=b"[" + b"0," * 40000 + b"0]")
    assert big.status_code == 413 and "--max-body" in big.json()["error"]
    assert client.get("/v2/nothing").status_code == 404 and "error" in client.get("/v2/nothing").json()
    assert client.get("/v2/models/mnist/infer").status_code == 405


def test_repository_refuses_what_it_cannot_serve(tmp_path, example_models):
    from edgelite.core.errors import UserInputError
    from edgelite.serve.repository import Repository, scan

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no models found"):
        scan(tmp_path / "empty")
    with pytest.raises(UserInputError, match="no such model repository"):
        scan(tmp_path / "missing")
    assert scan(example_models["int8"]) == {"mnist_int8": [(1, example_models["int8"])]}
    broken = tmp_path / "broken" / "m" / "1"
    broken.mkdir(parents=True)
    (broken / "model.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(UserInputError, match="not a TFLite model"):
        Repository(tmp_path / "broken")


def test_classify_uses_the_files_own_preprocessing(client, repo, example):
    from edgelite.runtime import Model

    model = Model.load(repo / "mnist" / "3" / "model.tflite")
    image = sorted((example / "eval" / "7").glob("*.png"))[0]
    want = [{"label": label, "score": score} for label, score in model.classify(image, 3)]
    raw = client.post("/v2/models/mnist/classify?top_k=3", content=image.read_bytes(),
                      headers={"content-type": "image/png"})
    assert raw.status_code == 200, raw.text
    assert raw.json()["classes"] == want and raw.json()["model_version"] == "3"
    form = client.post("/v2/models/mnist/classify?top_k=3", files={"image": ("d.png", image.read_bytes(), "image/png")})
    assert form.status_code == 200 and form.json()["classes"] == want
    for r, message in ((client.post("/v2/models/mnist/classify", content=b"not an image"), "not a readable image"),
                       (client.post("/v2/models/mnist/classify", content=b""), "empty body"),
                       (client.post("/v2/models/mnist/classify?top_k=0", content=image.read_bytes()), "top_k"),
                       (client.post("/v2/models/mnist/classify", files={"x": (None, "1")}), "holds no file")):
        assert r.status_code == 400 and message in r.json()["error"], r.text


def test_tensorflow_serving_predict(client, repo, example):
    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model

    model = Model.load(repo / "mnist" / "3" / "model.tflite")
    x = collect(open_source(example / "eval"), model.spec, model.sample_shape, 3, 0).x
    want = model.run(x)[model.outputs[0].name]   # a batch of 3: the batch axis is dynamic
    rows = client.post("/v1/models/mnist:predict", json={"instances": x.tolist()})
    assert rows.status_code == 200, rows.text
    np.testing.assert_array_equal(np.asarray(rows.json()["predictions"], np.float32), want)
    cols = client.post("/v1/models/mnist/versions/3:predict", json={"inputs": x[:1].tolist()})
    np.testing.assert_array_equal(np.asarray(cols.json()["outputs"], np.float32), want[:1])
    for body, message in (({"instances": []}, "non-empty"), ({"instances": [[1, 2], [3]]}, "rectangular"),
                          ({"instances": [["a"]]}, "numbers"), ({}, "exactly one of")):
        r = client.post("/v1/models/mnist:predict", json=body)
        assert r.status_code == 400 and message in r.json()["error"], r.text
    assert client.post("/v1/models/nope:predict", json={"instances": [[0]]}).status_code == 404


def test_inline_and_thread_pool_paths_answer_alike(repo, example):
    """The sub-millisecond example runs on the event loop (no thread-pool hop); with the pool forced, or with
    two interpreters (never inline), the answers are the same bytes."""
    from starlette.testclient import TestClient

    from edgelite.calibration import collect, open_source
    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    one, two = Repository(repo), Repository(repo, instances=2)
    served = one.get("mnist")
    assert served.inline and not two.get("mnist").inline
    x = collect(open_source(example / "eval"), served.model.spec, served.model.sample_shape, 2, 0).x
    q = served.model.input.quantize(x[:1])
    raw = q.tobytes()
    head = json.dumps({"inputs": [{"name": served.model.input.name, "shape": [1, 28, 28, 1], "datatype": "INT8",
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))}
    answers = []
    for repository, inline in ((one, True), (one, False), (two, False)):
        repository.get("mnist").inline = inline
        with TestClient(create_app(repository)) as client:
            r = client.post("/v2/models/mnist/infer", content=head + raw, headers=headers)
        assert r.status_code == 200, r.text
        answers.append(r.content)
    assert answers[0] == answers[1] == answers[2]
    want = served.model.run(q)[served.model.outputs[0].name].astype("<f4").tobytes()
    assert answers[0].endswith(want)
