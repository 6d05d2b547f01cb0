"""The harness of benchmarks/serve_hostile.py: a real ``edgelite serve`` process on loopback to attack — started
and stopped within a time budget (``Clock``), its memory read from /proc (``VmHWM`` is the peak), raw HTTP
requests that record refusals instead of raising, a liveness prober, and the per-scenario ``Result`` rows."""

from __future__ import annotations

import http.client
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _models import ROOT

MIB = 1024 * 1024
MAX_BODY = 16 * MIB          # edgelite serve's default --max-body
STOP_WAIT_S = 10.0           # how long a SIGTERM'd server is given before it is killed
SLOW_STOP_WAIT_S = 15.0      # the same in f, with requests in flight: longer than serve's --shutdown-timeout 10
REQUEST_TIMEOUT_S = 30.0     # per request, further capped by the time left


class Clock:
    """The run's deadline: every wait and every request timeout is capped by what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def cap(self, seconds: float) -> float:
        return max(0.5, min(seconds, self.left()))


def loopback(host: str) -> str:
    """``host`` when every address it resolves to is a loopback one; exits otherwise (this script attacks only
    a server it started on this machine)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        sys.exit(f"--host {host!r} does not resolve ({exc})")
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"--host {host!r} resolves to {sorted(addresses)}: only loopback addresses are allowed")
    return host


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM (peak RSS since start) and VmRSS (now) of ``pid`` in MB; empty once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def request(host: str, port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
            timeout: float = REQUEST_TIMEOUT_S) -> tuple[str, bytes]:
    """(status or the name of what went wrong, response body) of one request on its own connection. A server
    that answers early (413) and closes while the body is still going out is read anyway."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            pass   # the answer may still be in the socket's buffer
        except OSError as exc:
            return type(exc).__name__, b""
        try:
            r = conn.getresponse()
            return str(r.status), r.read()
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__, b""
    finally:
        conn.close()


@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int
    stderr_path: Path
    ready_s: float = 0.0

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
             timeout: float = REQUEST_TIMEOUT_S) -> tuple[str, bytes]:
        return request(self.host, self.port, method, path, body, headers, timeout)

    def memory(self) -> dict[str, float]:
        return proc_status(self.proc.pid)

    def stderr_findings(self) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        tracebacks = text.count("Traceback (most recent call last)")
        if not tracebacks:
            return ""
        # the exception line that ends the last traceback: the first unindented line after its frames
        tail = text[text.rindex("Traceback (most recent call last)"):].splitlines()[1:]
        last = next((line for line in tail if line and not line.startswith(" ")), "?")
        return f"{tracebacks} traceback(s) in the server log, the last: {last[:160]}"

    def stop(self, wait: float = STOP_WAIT_S) -> tuple[float | None, int | None]:
        """SIGTERM; (seconds to exit, exit code), or (None, code after SIGKILL) when it outlived ``wait``."""
        if self.proc.poll() is not None:
            return 0.0, self.proc.returncode
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=wait)
            return time.monotonic() - t0, self.proc.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            return None, self.proc.returncode


def start(repo: Path, host: str, extra: list[str], folder: Path, clock: Clock, tag: str) -> Server | None:
    port = free_port(host)
    err = folder / f"serve-{tag}.stderr"
    t0 = time.monotonic()
    with err.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "edgelite", "serve", str(repo), "--host", host, "--port",
                                 str(port), *extra], stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    server = Server(proc, host, port, err)
    deadline = time.monotonic() + clock.cap(60.0)
    while time.monotonic() < deadline and proc.poll() is None:
        status, _ = server.call("GET", "/v2/health/ready", timeout=1.0)
        if status == "200":
            server.ready_s = time.monotonic() - t0
            return server
        time.sleep(0.1)
    server.stop(wait=2.0)
    print(f"  server did not come up: {err.read_text(errors='replace')[-400:]}")
    return None


class Prober:
    """GET /v2/health/live every 50 ms on its own thread: the worst latency is the longest the event loop (or
    the accept queue) kept a trivial request waiting."""

    def __init__(self, server: Server, clock: Clock) -> None:
        self.server, self.clock = server, clock
        self.worst, self.failures, self.count = 0.0, Counter[str](), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.clock.left() > 0:
            t0 = time.monotonic()
            status, _ = self.server.call("GET", "/v2/health/live", timeout=self.clock.cap(REQUEST_TIMEOUT_S))
            self.worst = max(self.worst, time.monotonic() - t0)
            self.count += 1
            if status != "200":
                self.failures[status] += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.clock.cap(REQUEST_TIMEOUT_S) + 1)

    def describe(self) -> str:
        failed = f", failed {dict(self.failures)}" if self.failures else ""
        return f"liveness probe worst {self.worst * 1e3:.0f} ms over {self.count} probes{failed}"


@dataclass
class Result:
    name: str
    statuses: Counter[str] = field(default_factory=Counter)
    base_mb: float = float("nan")
    peak_mb: float = float("nan")
    rss_mb: float = float("nan")
    notes: list[str] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)   # status → the first error body seen with it

    def record(self, outcomes: list[tuple[str, bytes]]) -> None:
        for status, body in outcomes:
            self.statuses[status] += 1
            if status != "200" and status not in self.refusals:
                self.refusals[status] = body[:160].decode("utf-8", "replace")

    def line(self) -> str:
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items())) or "-"
        return (f"{self.name:<38} {statuses:<24} {self.base_mb:8.0f} {self.peak_mb:8.0f} {self.rss_mb:8.0f}  "
                + "; ".join(self.notes))


@dataclass
class Context:
    repo: Path
    folder: Path
    host: str
    extra: list[str]
    clock: Clock
    input_name: str = ""
    good_body: bytes = b""
    reserve: float = 0.0   # seconds kept for the last scenario (f): b-e stop early rather than eat into them

    def spare(self) -> float:
        return self.clock.left() - self.reserve


def good(server: Server, ctx: Context) -> str:
    return server.call("POST", "/v2/models/mnist_f32/infer", ctx.good_body, {"Content-Type": "application/json"},
                       timeout=ctx.clock.cap(REQUEST_TIMEOUT_S))[0]


def concurrently(n: int, fn: Callable[[], tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``fn`` from ``n`` threads released together (a barrier): their outcomes."""
    gate = threading.Barrier(n)

    def one() -> tuple[str, bytes]:
        gate.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: one(), range(n)))


def scenario(ctx: Context, name: str, tag: str, attack: Callable[[Server, Result], None],
             min_left: float = 5.0) -> Result:
    """A fresh server, one valid request, ``attack`` under the liveness prober, one valid request after it;
    the server's memory before and after, and what its log holds."""
    result = Result(name)
    print(f"\n== {name}")
    if ctx.spare() < min_left:
        result.notes.append("skipped (--seconds cap)")
        print("  skipped: the --seconds cap is reached")
        return result
    server = start(ctx.repo, ctx.host, ctx.extra, ctx.folder, ctx.clock, tag)
    if server is None:
        result.notes.append("server did not start")
        return result
    try:
        first = good(server, ctx)
        result.base_mb = server.memory().get("VmRSS", float("nan"))
        print(f"  up in {server.ready_s:.1f} s; valid request → {first}; RSS {result.base_mb:.0f} MB")
        with Prober(server, ctx.clock) as probe:
            t0 = time.monotonic()
            attack(server, result)
            took = time.monotonic() - t0
        mem = server.memory()
        result.peak_mb, result.rss_mb = mem.get("VmHWM", float("nan")), mem.get("VmRSS", float("nan"))
        after = good(server, ctx) if server.proc.poll() is None else "server gone"
        alive = "alive" if server.proc.poll() is None else f"exited {server.proc.returncode}"
        result.notes += [f"{took:.1f} s", probe.describe(), f"valid request after: {after}", alive]
        print(f"  statuses {dict(result.statuses)} in {took:.1f} s; peak RSS {result.peak_mb:.0f} MB, now "
              f"{result.rss_mb:.0f} MB; {probe.describe()}; valid request after → {after}; server {alive}")
        for status, text in result.refusals.items():
            print(f"  first {status}: {text}")
    finally:
        exit_s, code = server.stop()
        findings = server.stderr_findings()
        if findings:
            result.notes.append(findings)
            print(f"  {findings}")
        if exit_s is None:
            result.notes.append(f"did not exit within {STOP_WAIT_S:.0f} s of SIGTERM: killed")
    return result
