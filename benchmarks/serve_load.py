"""``edgelite serve`` under load from a real generator (Debian's ``wrk``) on loopback; prints the figures.

For each model (the example's int8 MNIST CNN; with ``--mobilenet`` also a MobileNetV2-size int8 model, random
weights, 224×224):
1. the raw ceiling: ``--instances`` threads, each invoking its own interpreter in a loop (no HTTP);
2. saturation: wrk with 4 connections per instance against ``/v2/models/<m>/infer`` (binary tensors, as
   tritonclient sends them) → requests/s as a share of the ceiling;
   and, for one instance, the same wrk against a bare ASGI app under the same uvicorn: the HTTP floor;
3. per-request overhead: one connection, median latency minus the median ``invoke()`` time;
4. hot swaps: wrk for 20 s while versions 2, 3 (corrupt) and 4 arrive (``--poll-seconds 0.5``) → p99 vs the
   steady run, and non-2xx answers (must be 0).

Server and wrk share this machine's cores with each other: the figures are a floor for a board that only
serves. Needs ``wrk`` (``apt-get install wrk``).

    .venv/bin/python benchmarks/serve_load.py [--mobilenet] [--instances 1] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _models import EXAMPLE, converted, mobilenet_v2

from tests.serve.conftest import free_port


def raw_ceiling(model_path: Path, instances: int, seconds: float) -> tuple[float, float]:
    """(invokes/s over all instances, median invoke ms) with one interpreter per thread, no HTTP."""
    from edgelite.runtime import Model

    models = [Model.load(model_path, threads=1) for _ in range(instances)]
    counts = [0] * instances
    times: list[float] = []
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        m = models[k]
        m.run_one(np.zeros(m.sample_shape, np.float32))
        while time.perf_counter() < stop:
            t = m.invoke_raw()
            counts[k] += 1
            if k == 0:
                times.append(t)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds, float(np.median(times)) * 1e3


def lua_body(model_path: Path, folder: Path) -> Path:
    """A wrk script that POSTs one binary-tensor infer request (zeros of the input's dtype and shape)."""
    from edgelite.runtime import Model

    m = Model.load(model_path)
    raw = np.zeros(m.input.shape, m.input.dtype).tobytes()
    dtype = {"int8": "INT8", "uint8": "UINT8", "float32": "FP32"}[str(m.input.dtype)]
    head = json.dumps({"inputs": [{"name": m.input.name, "shape": list(m.input.shape), "datatype": dtype,
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    body = folder / "body.bin"
    body.write_bytes(head + raw)
    script = folder / "infer.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{body}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
        f'wrk.headers["Inference-Header-Content-Length"] = "{len(head)}"\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return script


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{int(seconds)}s",
                          "--latency", "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))   # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "non2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0}


def start(repo: Path, instances: int, poll: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgelite", "serve", str(repo), "--port", str(port),
                             "--instances", str(instances), "--threads", "1", "--poll-seconds", str(poll),
                             "--max-queue", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(proc.stderr.read() if proc.stderr else "server did not start")


BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", b"40")]})
    await send({"type": "http.response.body", "body": bytes(40)})
"""


def http_floor(folder: Path, script: Path, seconds: float) -> float:
    """Requests/s of an ASGI app that reads the body and answers 40 bytes, under the same uvicorn (parser and
    loop) and the same wrk load as the server: what HTTP alone costs on this machine."""
    (folder / "bare_asgi.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_asgi:app", "--app-dir", str(folder), "--port",
                             str(port), "--log-level", "warning", "--no-access-log"])
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        return wrk(f"http://127.0.0.1:{port}/v2/models/m/infer", script, 4, seconds)["rps"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def run(name: str, model_path: Path, folder: Path, instances: int, seconds: float) -> None:
    repo = folder / f"repo-{name}"
    (repo / name / "1").mkdir(parents=True)
    shutil.copy(model_path, repo / name / "1" / "model.tflite")
    ceiling, invoke_ms = raw_ceiling(model_path, instances, seconds)
    script = lua_body(model_path, folder)
    floor = http_floor(folder, script, seconds) if instances == 1 else float("nan")
    proc, url = start(repo, instances, 0.5)
    target = f"{url}/v2/models/{name}/infer"
    try:
        sat = wrk(target, script, 4 * instances, seconds)
        one = wrk(target, script, 1, seconds)
        steady = wrk(target, script, 2 * instances, 20)

        def deploy() -> None:
            for version, good in ((2, True), (3, False), (4, True)):
                time.sleep(5)
                (repo / name / str(version)).mkdir()
                target_file = repo / name / str(version) / "model.tflite"
                if good:
                    shutil.copy(model_path, target_file)
                else:
                    target_file.write_bytes(b"TFL3" * 64)

        t = threading.Thread(target=deploy)
        t.start()
        swaps = wrk(target, script, 2 * instances, 20)
        t.join()
        final = json.loads(urllib.request.urlopen(f"{url}/v2/models/{name}").read())["versions"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"\n== {name}: {instances} instance(s), {os.cpu_count()} cores shared by server and wrk")
    print(f"raw invoke ceiling      {ceiling:9.1f} /s   (median invoke {invoke_ms:.3f} ms)")
    print(f"served at saturation    {sat['rps']:9.1f} /s   = {100 * sat['rps'] / ceiling:.1f} % of the ceiling; "
          f"p50 {sat['p50']:.2f} ms, p99 {sat['p99']:.2f} ms")
    if instances == 1:
        best = 1.0 / (1.0 / floor + invoke_ms / 1e3)
        print(f"HTTP alone (bare ASGI)  {floor:9.1f} /s   → HTTP + invoke() with nothing else: {best:.0f} /s = "
              f"{100 * best / ceiling:.1f} % of the ceiling (the most any Python server reaches here); served "
              f"= {100 * sat['rps'] / best:.0f} % of that")
    print(f"one connection          {one['rps']:9.1f} /s   p50 {one['p50']:.3f} ms → per-request overhead "
          f"{one['p50'] - invoke_ms:.3f} ms over invoke()")
    print(f"steady (20 s)           p50 {steady['p50']:.2f} ms, p99 {steady['p99']:.2f} ms, "
          f"non-2xx {steady['non2xx']:.0f}, socket errors {steady['socket_errors']:.0f}")
    print(f"swaps 2, 3 (corrupt), 4 p50 {swaps['p50']:.2f} ms, p99 {swaps['p99']:.2f} ms, "
          f"non-2xx {swaps['non2xx']:.0f}, socket errors {swaps['socket_errors']:.0f}; serving version(s) {final}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mobilenet", action="store_true", help="also a MobileNetV2-size int8 model (converts first)")
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mnist = folder / "mnist_int8.tflite"
        from edgelite.converter import ConvertConfig, convert

        convert(ConvertConfig(EXAMPLE / "model.keras", mnist, calib=EXAMPLE / "calib", samples=100))
        run("mnist", mnist, folder, args.instances, args.seconds)
        if args.mobilenet:
            run("mobilenetv2", converted(folder, mobilenet_v2(folder), "int8"), folder, args.instances, args.seconds)


if __name__ == "__main__":
    main()
