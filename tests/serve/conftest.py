"""A real ``edgelite serve`` process on a free loopback port, for tests that speak HTTP over a socket."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    stdout: str = ""      # filled when the server has exited
    stderr: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serving(repo: Path, *extra: str) -> Iterator[Server]:
    """Start ``edgelite serve repo`` and wait until /v2/health/ready answers; SIGTERM it afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgelite", "serve", str(repo), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
                    assert json.loads(r.read()) == {"ready": True}
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"edgelite serve exited: {proc.communicate()[1]}")
                assert time.monotonic() < deadline, "server did not come up within 60 s"
                time.sleep(0.2)
        server = Server(port, proc)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    server.stdout, server.stderr = out, err
