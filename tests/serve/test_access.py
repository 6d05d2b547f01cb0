"""Bearer token, JSON-lines access log with request ids, and Triton's repository API."""

from __future__ import annotations

import json
import shutil

import pytest

from edgelite.core.errors import UserInputError


@pytest.fixture
def repo_dir(tmp_path, example_models):
    for name in ("a", "b"):
        (tmp_path / name / "1").mkdir(parents=True)
        shutil.copy(example_models["int8"], tmp_path / name / "1" / "model.tflite")
    return tmp_path


def test_token_guards_everything_but_health_and_every_request_is_logged(repo_dir, tmp_path_factory):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.middleware import read_token
    from edgelite.serve.repository import Repository

    token_file = tmp_path_factory.mktemp("t") / "token"
    token_file.write_text("s3cret-token\n")
    lines: list[str] = []
    app = create_app(Repository(repo_dir), token=read_token(token_file), access_log=lines.append)
    with TestClient(app) as client:
        assert client.get("/v2/health/ready").status_code == 200              # probes need no token
        r = client.get("/v2/models/a")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "token" in r.json()["error"]
        assert client.get("/v2/models/a", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
        ok = client.get("/v2/models/a", headers={"Authorization": "Bearer s3cret-token", "X-Request-ID": "cam-7"})
        assert ok.status_code == 200 and ok.headers["x-request-id"] == "cam-7"
        fresh = client.get("/v2/models/a", headers={"Authorization": "Bearer s3cret-token",
                                                    "X-Request-ID": "bad id with spaces"})
        assert len(fresh.headers["x-request-id"]) == 32 and fresh.headers["x-request-id"] != "bad id with spaces"
    logged = [json.loads(line) for line in lines]
    assert [e["status"] for e in logged] == [200, 401, 401, 401, 200, 200]
    assert logged[4]["id"] == "cam-7" and logged[4]["path"] == "/v2/models/a" and logged[4]["ms"] >= 0
    assert all(e["bytes"] > 0 for e in logged)
    for bad in ("", "two words", "x" * 5000):
        token_file.write_text(bad)
        with pytest.raises(UserInputError, match="token file must hold one token"):
            read_token(token_file)


def test_repository_api_unload_load_index(repo_dir):
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    repo = Repository(repo_dir)
    with TestClient(create_app(repo, repository_api=True)) as client:
        assert [(m["name"], m["state"]) for m in client.post("/v2/repository/index").json()] == [
            ("a", "READY"), ("b", "READY")]
        assert client.post("/v2/repository/models/b/unload").status_code == 200
        assert client.get("/v2/models/b").status_code == 404
        repo.poll()   # a poll does not bring back what was unloaded on purpose
        assert client.get("/v2/models/b").status_code == 404
        assert ("b", "UNAVAILABLE") in [(m["name"], m["state"]) for m in client.post("/v2/repository/index").json()]
        assert client.post("/v2/repository/models/b/load").status_code == 200
        assert client.get("/v2/models/b").json()["versions"] == ["1"]
        assert client.post("/v2/repository/models/zz/load").status_code == 404
        assert client.post("/v2/repository/models/zz/unload").status_code == 404
    with TestClient(create_app(Repository(repo_dir))) as client:   # off unless enabled
        assert client.post("/v2/repository/index").status_code == 404
