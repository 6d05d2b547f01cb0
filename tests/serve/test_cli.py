"""``edgelite serve`` as a process: binds loopback, answers over a real socket, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_one_file_over_a_socket_then_sigterm(example_models):
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgelite", "serve", str(example_models["int8"]), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
                    assert json.loads(r.read()) == {"ready": True}
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "server did not come up within 60 s"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/mnist_int8", timeout=5) as r:
            assert json.loads(r.read())["inputs"][0]["datatype"] == "INT8"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "serving mnist_int8 version 1" in out and f"http://127.0.0.1:{port}/v2" in out


def test_serve_refuses_a_missing_repository_in_one_line(tmp_path, run_cli):
    code, _, err = run_cli("serve", str(tmp_path / "nowhere"))
    assert code == 2 and "no such model repository" in err and err.count("\n") == 1
