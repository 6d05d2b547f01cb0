"""Hostile clients against a real ``edgelite serve`` on loopback; prints the server's peak memory per scenario.

A benchmark, not a test: it asserts nothing, it prints what it measured. Every scenario runs against a fresh
server (``python -m edgelite serve REPO --port P``, default settings plus any ``--serve-arg``), so the peak RSS
it prints (``VmHWM`` from /proc/<pid>/status: the peak since the process started) belongs to that scenario
alone. The repository holds the example's MNIST CNN twice: ``mnist`` (int8) and ``mnist_f32`` (float32),
converted into a temp folder first (benchmarks/_models.py).

    a. idle: RSS after start and one valid request;
    b. 6 concurrent raw-body PNG uploads to /classify that decode to 7071×7071 RGBA (just under the default
       50 MP cap), ``--rounds`` times;
    c. the same with 4096×4096 RGBA;
    d. one binary-data (Triton extension) FP32 batch just under 16 MiB to /infer of the float model, then 4 at once;
    e. 8 JSON bodies at once, each just under 16 MiB of ``"data":[0.1,0.1,…]`` (a valid FP32 batch);
    f. ``--slow`` connections that send their headers and part of a body, then stall, while one good client
       keeps asking; then SIGTERM and the time the server takes to exit with them still open (waited for up to
       15 s; then the stalled clients close, and past 5 s more the server is killed). To see the server's body
       deadline answer them within the run, shorten it: ``--serve-arg=--body-timeout=3``.

Alongside b–e a prober asks GET /v2/health/live every 50 ms: its worst latency shows how long the event loop
was blocked. Every request that is refused (413/400/503, a reset or closed connection, a timeout) is recorded as
such; nothing here raises on a refusal. Loopback only; bounded in requests and in time (``--seconds`` caps the
whole run: what does not fit is printed as skipped).

    .venv/bin/python benchmarks/serve_hostile.py [--seconds 75] [--rounds 2] [--slow 200] \
        [--serve-arg=--max-pixels=16777216 ...]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hostile_harness import (
    MAX_BODY,
    MIB,
    REQUEST_TIMEOUT_S,
    SLOW_STOP_WAIT_S,
    Clock,
    Context,
    Result,
    Server,
    concurrently,
    good,
    loopback,
    scenario,
    start,
)
from _models import EXAMPLE, converted


# ---- the scenarios ---------------------------------------------------------------------------------------------
def idle(ctx: Context) -> Result:
    result = Result("a. idle + 1 valid request")
    print(f"\n== {result.name}")
    server = start(ctx.repo, ctx.host, ctx.extra, ctx.folder, ctx.clock, "idle")
    if server is None:
        result.notes.append("server did not start")
        return result
    try:
        result.base_mb = server.memory().get("VmRSS", float("nan"))
        result.statuses[good(server, ctx)] += 1
        mem = server.memory()
        result.peak_mb, result.rss_mb = mem.get("VmHWM", float("nan")), mem.get("VmRSS", float("nan"))
        result.notes.append(f"up in {server.ready_s:.1f} s")
        print(f"  up in {server.ready_s:.1f} s; RSS at start {result.base_mb:.0f} MB; after one valid request "
              f"{result.rss_mb:.0f} MB (peak {result.peak_mb:.0f} MB); statuses {dict(result.statuses)}")
    finally:
        server.stop()
    return result


def png_of(size: int) -> bytes:
    """A flat-colour RGBA PNG of size×size pixels: tiny on the wire, size²×4 bytes once decoded."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (size, size), (40, 90, 160, 255)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def uploads(ctx: Context, size: int, rounds: int, label: str) -> Result:
    png = png_of(size)
    note = (f"{len(png) / 1024:.0f} KB PNG → {size}×{size} RGBA = {size * size * 4 / MIB:.0f} MiB decoded")
    print(f"  ({note})")

    def attack(server: Server, result: Result) -> None:
        for r in range(rounds):
            if ctx.spare() < 3:
                result.notes.append(f"{r}/{rounds} rounds (--seconds cap)")
                break
            result.record(concurrently(6, lambda: server.call(
                "POST", "/v2/models/mnist/classify", png, {"Content-Type": "image/png"},
                timeout=ctx.clock.cap(REQUEST_TIMEOUT_S))))
        result.notes.insert(0, note)

    return scenario(ctx, label, f"png{size}", attack)


def binary_batch(ctx: Context) -> Result:
    """The biggest batch of 28×28×1 FP32 samples whose binary-extension body stays under --max-body."""
    per_sample = 28 * 28 * 4

    def head_for(n: int) -> bytes:
        return json.dumps({"inputs": [{"name": ctx.input_name, "shape": [n, 28, 28, 1], "datatype": "FP32",
                                       "parameters": {"binary_data_size": n * per_sample}}]}).encode()

    n = (MAX_BODY - len(head_for(10**6))) // per_sample
    head = head_for(n)
    raw = np.random.default_rng(0).random(n * per_sample // 4, dtype=np.float32).tobytes()
    body = head + raw
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    note = f"batch {n}, body {len(body) / MIB:.3f} MiB"
    print(f"  ({note})")

    def attack(server: Server, result: Result) -> None:
        def send() -> tuple[str, bytes]:
            return server.call("POST", "/v2/models/mnist_f32/infer", body, headers,
                               timeout=ctx.clock.cap(REQUEST_TIMEOUT_S))

        t0 = time.monotonic()
        once = send()
        result.record([once])
        result.notes.append(f"{note}; one alone → {once[0]} in {time.monotonic() - t0:.1f} s")
        if ctx.spare() > 3:
            result.record(concurrently(4, send))
        else:
            result.notes.append("4 concurrent skipped (--seconds cap)")

    return scenario(ctx, "d. 16 MiB binary FP32 batch ×(1+4)", "binary", attack)


def json_bodies(ctx: Context) -> Result:
    """8 valid FP32 requests at once, each a JSON body just under --max-body of 0.1 values."""
    n = 1
    while True:   # the largest batch whose JSON text stays under the cap
        size = len(f'{{"inputs":[{{"name":"{ctx.input_name}","shape":[{n + 1},28,28,1],"datatype":"FP32",'
                   f'"data":[]}}]}}') + 4 * (n + 1) * 784 - 1
        if size > MAX_BODY:
            break
        n += 1
    values = n * 784
    body = (f'{{"inputs":[{{"name":"{ctx.input_name}","shape":[{n},28,28,1],"datatype":"FP32","data":['.encode()
            + b"0.1," * (values - 1) + b"0.1]}]}")
    note = f"batch {n}, {values:,} values, body {len(body) / MIB:.3f} MiB"
    print(f"  ({note})")

    def attack(server: Server, result: Result) -> None:
        result.notes.append(note)
        result.record(concurrently(8, lambda: server.call(
            "POST", "/v2/models/mnist_f32/infer", body, {"Content-Type": "application/json"},
            timeout=ctx.clock.cap(REQUEST_TIMEOUT_S))))

    return scenario(ctx, "e. 8 × ~16 MiB JSON at once", "json", attack)


def slow_clients(ctx: Context, count: int, seconds: float) -> Result:
    """``count`` connections that send headers and 1 KB of a 100 KB body, then stall, while one good client
    asks in a loop; then SIGTERM with the stalled connections still open."""
    result = Result(f"f. {count} stalled bodies + 1 good client")
    print(f"\n== {result.name}")
    if ctx.clock.left() < 5:
        result.notes.append("skipped (--seconds cap)")
        print("  skipped: the --seconds cap is reached")
        return result
    server = start(ctx.repo, ctx.host, ctx.extra, ctx.folder, ctx.clock, "slow")
    if server is None:
        result.notes.append("server did not start")
        return result
    socks: list[socket.socket] = []
    try:
        result.base_mb = server.memory().get("VmRSS", float("nan"))
        head = (f"POST /v2/models/mnist_f32/infer HTTP/1.1\r\nHost: {ctx.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000\r\n\r\n").encode() + b'{"inputs":[' + b" " * 1000
        opened = Counter[str]()
        for _ in range(count):
            s = socket.socket()
            s.settimeout(2.0)
            try:
                s.connect((ctx.host, server.port))
                s.sendall(head)
                socks.append(s)
                opened["stalled"] += 1
            except OSError as exc:
                opened[type(exc).__name__] += 1
                s.close()
        ok, latencies = Counter[str](), []
        stop = time.monotonic() + min(seconds, max(0.0, ctx.clock.left() - SLOW_STOP_WAIT_S - 5))
        while time.monotonic() < stop:
            t0 = time.monotonic()
            ok[good(server, ctx)] += 1
            latencies.append(time.monotonic() - t0)
        # what the stalled connections got meanwhile: still open (nothing to read), or an answer / a close
        still_open = answered = closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(200)
                if data:
                    answered += 1
                else:
                    closed += 1
            except BlockingIOError:
                still_open += 1
            except OSError:
                closed += 1
        mem = server.memory()
        result.peak_mb, result.rss_mb = mem.get("VmHWM", float("nan")), mem.get("VmRSS", float("nan"))
        result.statuses.update(ok)
        worst = max(latencies) * 1e3 if latencies else float("nan")
        result.notes.append(f"stalled {dict(opened)}; good {ok.get('200', 0)}/{sum(ok.values())} OK "
                            f"(worst {worst:.0f} ms); stalled after: {still_open} open, {answered} answered, "
                            f"{closed} closed")
        print(f"  opened {dict(opened)}; good client {dict(ok)} in {seconds:.0f} s (median "
              f"{np.median(latencies) * 1e3 if latencies else float('nan'):.1f} ms, worst {worst:.0f} ms); "
              f"stalled connections now: {still_open} open, {answered} answered, {closed} closed by the server; "
              f"peak RSS {result.peak_mb:.0f} MB, now {result.rss_mb:.0f} MB")
        wait = max(1.0, min(SLOW_STOP_WAIT_S, ctx.clock.left() - 3))
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=wait)
            exit_note = (f"SIGTERM → exit {server.proc.returncode} in {time.monotonic() - t0:.2f} s, the stalled "
                         "clients' sockets left open")
        except subprocess.TimeoutExpired:
            for s in socks:   # the clients give up: does the server then finish?
                s.close()
            socks.clear()
            t1 = time.monotonic()
            try:
                server.proc.wait(timeout=5)
                exit_note = (f"SIGTERM: still running after {wait:.0f} s with the stalled connections open; exit "
                             f"{server.proc.returncode} {time.monotonic() - t1:.2f} s after they closed")
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait(timeout=30)
                exit_note = f"SIGTERM: still running {wait:.0f} s + 5 s after (stalled connections closed): killed"
        result.notes.append(exit_note)
        print(f"  {exit_note}")
    finally:
        for s in socks:
            s.close()
        server.stop()
        findings = server.stderr_findings()
        if findings:
            result.notes.append(findings)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=75.0,
                    help="cap on the whole run, model conversion included (default 75; a run takes ~60 s on 2 cores)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of 6 concurrent uploads in b and c (default 2)")
    ap.add_argument("--slow", type=int, default=200, help="stalled connections in f (default 200)")
    ap.add_argument("--slow-seconds", type=float, default=5.0, help="how long the good client asks in f (default 5)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to serve and attack (default 127.0.0.1)")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for edgelite serve, e.g. --serve-arg=--max-pixels=16777216 (repeat)")
    args = ap.parse_args()
    if not (1 <= args.rounds <= 10 and 1 <= args.slow <= 1000 and 0 < args.slow_seconds <= 60
            and 10 <= args.seconds <= 600):
        sys.exit("bounds: --rounds 1-10, --slow 1-1000, --slow-seconds ≤ 60, --seconds 10-600")
    host = loopback(args.host)
    clock = Clock(args.seconds)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        int8 = converted(folder, EXAMPLE / "model.keras", "int8")
        f32 = converted(folder, EXAMPLE / "model.keras", "float32")
        repo = folder / "repo"
        for name, path in (("mnist", int8), ("mnist_f32", f32)):
            (repo / name / "1").mkdir(parents=True)
            shutil.copy(path, repo / name / "1" / "model.tflite")
        from edgelite.runtime import Model

        ctx = Context(repo, folder, host, args.serve_arg, clock, Model.load(f32).input.name,
                      reserve=args.slow_seconds + SLOW_STOP_WAIT_S + 8)
        ctx.good_body = json.dumps({"inputs": [{"name": ctx.input_name, "shape": [1, 28, 28, 1], "datatype": "FP32",
                                                "data": [0.0] * 784}]}).encode()
        print(f"models converted in {time.monotonic() - t_start:.1f} s; serve args {args.serve_arg or '(defaults)'}; "
              f"{os.cpu_count()} cores shared by the server and these clients")
        results = [
            idle(ctx),
            uploads(ctx, 7071, args.rounds, f"b. 6 × 7071² RGBA PNG ×{args.rounds}"),
            uploads(ctx, 4096, args.rounds, f"c. 6 × 4096² RGBA PNG ×{args.rounds}"),
            binary_batch(ctx),
            json_bodies(ctx),
            slow_clients(ctx, args.slow, args.slow_seconds),
        ]
    print(f"\n== summary ({time.monotonic() - t_start:.0f} s in all; RSS in MB: at start of the scenario, peak "
          "(VmHWM), after)")
    print(f"{'scenario':<38} {'statuses':<24} {'start':>8} {'peak':>8} {'after':>8}  notes")
    for r in results:
        print(r.line())


if __name__ == "__main__":
    main()
