"""Hostile requests that once broke ``edgelite serve`` (issue 24), in-process through Starlette's TestClient: each
must get a 4xx with a strict-JSON body, and the next valid request must get what it got before."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

IMAGE = "image"   # the example model's Keras input name, which a converted file keeps (converter/io_names.py)


def strict(text: str | bytes):
    """json.loads that refuses NaN/Infinity literals (which Python's json accepts and no other parser does)."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, example_models):
    root = tmp_path_factory.mktemp("hostile-repo")
    for name, kind in (("mnist", "int8"), ("mnist_f32", "float32")):
        (root / name / "1").mkdir(parents=True)
        shutil.copy(example_models[kind], root / name / "1" / "model.tflite")
    return root


@pytest.fixture(scope="module")
def client(repo):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    with TestClient(create_app(Repository(repo), repository_api=True)) as c:
        yield c


def _body(x: np.ndarray, datatype: str = "FP32") -> dict:
    return {"inputs": [{"name": IMAGE, "shape": list(x.shape), "datatype": datatype, "data": x.reshape(-1).tolist()}]}


def _valid(client, name: str = "mnist_f32") -> list[float]:
    x = np.linspace(0, 1, 784, dtype=np.float32).reshape(1, 28, 28, 1)
    r = client.post(f"/v2/models/{name}/infer", json=_body(x))
    assert r.status_code == 200, r.text
    return strict(r.text)["outputs"][0]["data"]


def _refused(r, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert words in strict(r.text)["error"], r.text


@pytest.mark.parametrize("name", ["mnist", "mnist_f32"])
def test_an_empty_batch_is_a_400_and_leaves_the_interpreter_as_it_was(client, name):
    before = _valid(client, name)
    r = client.post(f"/v2/models/{name}/infer",
                    json={"inputs": [{"name": IMAGE, "shape": [0, 28, 28, 1], "datatype": "FP32", "data": []}]})
    _refused(r, 400, "holds no values")
    assert _valid(client, name) == before
    # the same through the binary extension and TF Serving's predict
    head = json.dumps({"inputs": [{"name": IMAGE, "shape": [0, 28, 28, 1], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 0}}]}).encode()
    r = client.post(f"/v2/models/{name}/infer", content=head,
                    headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400
    assert client.post(f"/v1/models/{name}:predict", json={"instances": [[]]}).status_code == 400
    assert _valid(client, name) == before


def test_a_failed_interpreter_is_replaced_with_a_fresh_one_that_answers_the_same(repo):
    from edgelite.serve.repository import Repository

    served = Repository(repo).get("mnist_f32")
    x = np.full((1, 28, 28, 1), 0.5, np.float32)
    with served.instance() as model:
        want = model.run(x)
        model.healthy = False          # what Model.run leaves when it cannot undo a failed resize or invoke
    assert served.model is not model   # replaced on release
    with served.instance() as fresh:
        assert fresh is not model and fresh.healthy
        np.testing.assert_array_equal(fresh.run(x)[fresh.outputs[0].name], want[model.outputs[0].name])


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A1", "9" * 5000, "-1", "1.0"])
def test_versions_are_ascii_digits_only(client, version):
    before = _valid(client)
    for path in (f"/v2/models/mnist_f32/versions/{version}", f"/v2/models/mnist_f32/versions/{version}/ready"):
        _refused(client.get(path), 404, "has no loaded version")
    r = client.post(f"/v2/models/mnist_f32/versions/{version}/infer", json=_body(np.zeros((1, 28, 28, 1))))
    _refused(r, 404, "has no loaded version")
    assert _valid(client) == before


def _png(side: int = 32, mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (side, side), (200,) * len(mode)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("top_k", ["%C2%B2", "9" * 5000, "0", "-3", "1e3"])
def test_top_k_must_be_a_small_ascii_number(client, top_k):
    r = client.post(f"/v2/models/mnist/classify?top_k={top_k}", content=_png(), headers={"Content-Type": "image/png"})
    _refused(r, 400, "top_k must be an integer")
    ok = client.post("/v2/models/mnist/classify?top_k=3", content=_png(), headers={"Content-Type": "image/png"})
    assert ok.status_code == 200 and len(ok.json()["classes"]) == 3


def test_binary_header_length_must_be_ascii_digits_and_sent_once(client):
    x = np.zeros((1, 28, 28, 1), np.float32)
    head = json.dumps({"inputs": [{"name": IMAGE, "shape": [1, 28, 28, 1], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    body = head + x.tobytes()
    for value in ("\xb2", "9" * 5000, "-1", str(len(body) + 1)):
        r = client.post("/v2/models/mnist_f32/infer", content=body,
                        headers={"Inference-Header-Content-Length": value.encode("latin-1")})
        _refused(r, 400, "Inference-Header-Content-Length")
    twice = [("Inference-Header-Content-Length", str(len(head))), ("Inference-Header-Content-Length", "0")]
    _refused(client.post("/v2/models/mnist_f32/infer", content=body, headers=twice), 400, "sent 2 times")
    ok = client.post("/v2/models/mnist_f32/infer", content=body,
                     headers={"Inference-Header-Content-Length": str(len(head))})
    assert ok.status_code == 200


@pytest.mark.parametrize("raw", [
    b"[" * 100_000,
    b"{\"inputs\":" + b"[" * 100_000,
    b"[" + b"[],"  * (3 * 1024 * 1024) + b"[]]",      # 3 Mi lists: over the 2 Mi container cap
    json.dumps({"inputs": [{"name": IMAGE, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0]}]}).replace(
        '"data": [0]', '"data": [' + "9" * 5000 + "]").encode(),
    json.dumps({"inputs": [{"name": IMAGE, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0]}]}).replace(
        '"shape": [1, 28, 28, 1]', '"shape": [' + "9" * 5000 + "]").encode(),
    json.dumps({"inputs": [{"name": IMAGE, "shape": [10 ** 4000], "datatype": "FP32", "data": [0]}]}).encode(),
    json.dumps({"inputs": [{"name": ["a"], "shape": [1], "datatype": ["FP32"], "data": [0]}]}).encode(),
    b"\xff\xfe{}",
])
def test_json_that_python_cannot_hold_is_a_400(client, raw):
    before = _valid(client)
    r = client.post("/v2/models/mnist_f32/infer", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert len(strict(r.text)["error"]) < 600   # nothing the client sent is echoed back whole
    r = client.post("/v1/models/mnist_f32:predict", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert _valid(client) == before


def test_multipart_mistakes_are_starlettes_400s(client):
    png = _png()
    two = client.post("/v2/models/mnist/classify", files=[("a", ("a.png", png, "image/png")),
                                                          ("b", ("b.png", png, "image/png"))])
    _refused(two, 400, "Too many files")
    fields = client.post("/v2/models/mnist/classify", data={f"f{i}": "x" for i in range(50)},
                         files={"image": ("a.png", png, "image/png")})
    _refused(fields, 400, "Too many fields")
    no_boundary = client.post("/v2/models/mnist/classify", content=b"--x\r\n\r\n",
                              headers={"Content-Type": "multipart/form-data"})
    _refused(no_boundary, 400, "boundary")
    ok = client.post("/v2/models/mnist/classify", files={"image": ("a.png", png, "image/png")})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_inputs_to_a_float_model_are_refused(client, literal):
    before = _valid(client)
    raw = json.dumps(_body(np.zeros((1, 28, 28, 1)))).replace("[0.0,", f"[{literal},", 1).encode()
    _refused(client.post("/v2/models/mnist_f32/infer", content=raw), 400, "NaN or infinite")
    predict = json.dumps({"instances": np.zeros((1, 28, 28, 1)).tolist()}).replace("[0.0", f"[{literal}", 1)
    _refused(client.post("/v1/models/mnist_f32:predict", content=predict.encode()), 400, "NaN or infinite")
    x = np.zeros((1, 28, 28, 1), np.float32)
    x[0, 3, 3, 0] = float(literal.replace("Infinity", "inf"))
    head = json.dumps({"inputs": [{"name": IMAGE, "shape": [1, 28, 28, 1], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    r = client.post("/v2/models/mnist_f32/infer", content=head + x.tobytes(),
                    headers={"Inference-Header-Content-Length": str(len(head))})
    _refused(r, 400, "NaN or infinite")
    assert _valid(client) == before


def test_non_finite_outputs_are_null_in_strictly_valid_json(client):
    x = np.full((1, 28, 28, 1), 3e38, np.float32)   # finite, but the float model overflows to NaN on it
    r = client.post("/v2/models/mnist_f32/infer", json=_body(x))
    assert r.status_code == 200
    out = strict(r.text)["outputs"][0]
    assert out["data"] == [None] * 10 and out["parameters"]["non_finite"] == 10
    r = client.post("/v1/models/mnist_f32:predict", json={"instances": x.tolist()})
    assert r.status_code == 200 and strict(r.text)["predictions"] == [[None] * 10]
    binary = client.post("/v2/models/mnist_f32/infer", json={**_body(x), "parameters": {"binary_data_output": True}})
    size = int(binary.headers["inference-header-content-length"])
    assert np.isnan(np.frombuffer(binary.content[size:], np.float32)).all()   # binary data carries them exactly


def test_batches_past_max_batch_are_refused(repo):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.limits import ServeLimits
    from edgelite.serve.repository import Repository

    with TestClient(create_app(Repository(repo), limits=ServeLimits(max_batch=4))) as c:
        assert c.post("/v2/models/mnist_f32/infer", json=_body(np.zeros((4, 28, 28, 1)))).status_code == 200
        _refused(c.post("/v2/models/mnist_f32/infer", json=_body(np.zeros((5, 28, 28, 1)))), 400, "--max-batch 4")
        r = c.post("/v1/models/mnist_f32:predict", json={"instances": np.zeros((5, 28, 28, 1)).tolist()})
        _refused(r, 400, "--max-batch 4")


def test_an_upload_over_the_pixel_cap_is_refused_before_it_is_decoded(repo):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.limits import ServeLimits
    from edgelite.serve.repository import Repository

    with TestClient(create_app(Repository(repo), limits=ServeLimits(max_pixels=64 * 64))) as c:
        ok = c.post("/v2/models/mnist/classify", content=_png(64), headers={"Content-Type": "image/png"})
        assert ok.status_code == 200
        r = c.post("/v2/models/mnist/classify", content=_png(65), headers={"Content-Type": "image/png"})
        _refused(r, 413, "--max-pixels")


def test_error_bodies_and_the_index_name_models_not_server_paths(client, repo, tmp_path):
    r = client.post("/v2/models/mnist_f32/infer",
                    json={"inputs": [{"name": IMAGE, "shape": [1, 27, 28, 1], "datatype": "FP32",
                                      "data": [0.0] * (27 * 28)}]})
    assert r.status_code == 400 and "mnist_f32/1/model.tflite" in r.text
    assert str(repo) not in r.text and str(repo.resolve()) not in r.text
    (repo / "mnist" / "5").mkdir()
    (repo / "mnist" / "5" / "model.tflite").write_bytes(b"not a flatbuffer")
    try:
        assert client.post("/v2/repository/models/mnist/load").status_code == 200   # version 1 stays
        index = client.post("/v2/repository/index")
        refused = [row for row in index.json() if row["version"] == "5"]
        assert refused and refused[0]["state"] == "UNAVAILABLE" and str(repo) not in index.text
        missing = client.post("/v2/repository/models/nothing_here/load")
        assert missing.status_code == 404 and str(repo) not in missing.text
    finally:
        shutil.rmtree(repo / "mnist" / "5")


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_clients_host(client):
    r = client.get("/v2/models/mnist/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers


def test_two_authorization_headers_are_refused_and_the_admin_token_guards_the_repository(repo):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    app = create_app(Repository(repo), token="infer-token", admin_token="admin-token", repository_api=True)
    with TestClient(app) as c:
        infer, admin = {"Authorization": "Bearer infer-token"}, {"Authorization": "Bearer admin-token"}
        assert c.get("/v2/models/mnist", headers=infer).status_code == 200
        assert c.get("/v2/models/mnist", headers=admin).status_code == 401
        assert c.post("/v2/repository/index", headers=infer).status_code == 401
        assert c.post("/v2/repository/index", headers=admin).status_code == 200
        both = [("Authorization", "Bearer wrong"), ("Authorization", "Bearer infer-token")]
        _refused(c.get("/v2/models/mnist", headers=both), 400, "more than one Authorization")


def test_token_files_are_read_to_their_cap_and_loose_modes_warned(tmp_path, caplog):
    from edgelite.core.errors import UserInputError
    from edgelite.serve.middleware import read_token

    with pytest.raises(UserInputError, match="one token of 1-4096 bytes"):
        read_token(Path("/dev/zero"))   # 2.6 GB before it stopped, once: now one byte past the cap
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    os.chmod(token, 0o600)
    with caplog.at_level("WARNING", logger="edgelite.serve"):
        assert read_token(token) == "s3cret"
    assert not caplog.records
    os.chmod(token, 0o644)
    with caplog.at_level("WARNING", logger="edgelite.serve"):
        assert read_token(token) == "s3cret"
    assert "can be read by other users" in caplog.text and "chmod 600" in caplog.text


def test_exposure_warnings_name_what_is_open():
    from edgelite.cli.commands import _exposure_warnings

    assert _exposure_warnings("127.0.0.1", None, None, True) == []
    assert _exposure_warnings("::1", None, None, False) == []
    assert "no --token-file" in _exposure_warnings("0.0.0.0", None, None, False)[0]
    assert _exposure_warnings("0.0.0.0", "t", None, False) == []
    assert "loads and unloads" in _exposure_warnings("192.168.1.5", "t", None, True)[0]


def test_symlinks_leading_out_of_repo_are_skipped_unless_followed(tmp_path, example_models):
    from edgelite.serve.repository import Repository

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(example_models["int8"], outside / "model.tflite")
    root = tmp_path / "repo"
    (root / "inside" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], root / "inside" / "1" / "model.tflite")
    (root / "linked" / "1").mkdir(parents=True)
    (root / "linked" / "1" / "model.tflite").symlink_to(outside / "model.tflite")
    (root / "dirlink").symlink_to(outside.parent / "elsewhere2", target_is_directory=True)
    (outside.parent / "elsewhere2" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], outside.parent / "elsewhere2" / "1" / "model.tflite")
    lines: list[str] = []
    assert Repository(root, log=lines.append).names() == ["inside"]
    assert sum("leads outside" in line for line in lines) == 2
    assert Repository(root, follow_symlinks=True).names() == ["dirlink", "inside", "linked"]


def test_a_version_whose_copy_finishes_during_validation_is_retried(tmp_path, example_models, monkeypatch):
    """The refusal stamp is taken before validating: a file that changed since is validated again."""
    from edgelite.serve import repository as repository_module
    from edgelite.serve.repository import Repository

    root = tmp_path / "repo"
    (root / "m" / "1").mkdir(parents=True)
    shutil.copy(example_models["int8"], root / "m" / "1" / "model.tflite")
    repo = Repository(root)
    target = root / "m" / "2" / "model.tflite"
    target.parent.mkdir()
    good = example_models["int8"].read_bytes()
    target.write_bytes(good[: len(good) // 2])   # the copy has begun
    real = Repository._validate

    def validate_while_the_copy_finishes(self, name, version, path, current):
        try:
            return real(self, name, version, path, current)   # refuses the half-written file …
        finally:
            if version == 2 and path.stat().st_size < len(good):
                path.write_bytes(good)   # … while the copy completes, after the probe read the file
                st = path.stat()
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    monkeypatch.setattr(repository_module.Repository, "_validate", validate_while_the_copy_finishes)
    repo.poll()
    assert repo.versions("m") == [1] and ("m", 2) in repo.refused
    repo.poll()                             # the file is not what was refused: it is validated again
    assert repo.versions("m") == [2] and ("m", 2) not in repo.refused

