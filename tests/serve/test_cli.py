"""``edgelite serve`` as a process: binds loopback, answers over a real socket, stops on SIGTERM."""

from __future__ import annotations

import json
import urllib.request

from tests.serve.conftest import serving


def test_serve_one_file_over_a_socket_then_sigterm(example_models):
    with serving(example_models["int8"]) as server:
        with urllib.request.urlopen(f"{server.url}/v2/models/mnist_int8", timeout=5) as r:
            assert json.loads(r.read())["inputs"][0]["datatype"] == "INT8"
    assert server.proc.returncode == 0, server.stderr
    assert "serving mnist_int8 version 1" in server.stdout and f"{server.url}/v2" in server.stdout
    assert "stopped: requests in flight finished" in server.stdout


def test_serve_refuses_a_missing_repository_in_one_line(tmp_path, run_cli):
    code, _, err = run_cli("serve", str(tmp_path / "nowhere"))
    assert code == 2 and "no such model repository" in err and err.count("\n") == 1
