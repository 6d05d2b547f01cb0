"""`edgelite bench` vs LiteRT's own `python -m ai_edge_litert.tools.benchmark_litert_model`, same model, same run.

Both run as subprocesses with 1 thread, 200 runs and 10 warmup runs, interleaved (ABBA) over rounds; the figure
is the median over rounds of edgelite's median / the peer's median. Target: within ±5 %.
Note the peer times LiteRT's CompiledModel API while edgelite times the Interpreter API (what tflite-runtime
and tf.lite also offer); both use XNNPACK on the CPU. The peer's JSON rounds to 0.01 ms, so tiny models are
left out.

    .venv/bin/python benchmarks/vs_litert_benchmark.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import abba, converted, mobilenet_v2

RUNS, WARMUP = 200, 10


def peer_ms(model: Path, out: Path) -> float:
    subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={model}",
                    "--num_threads=1", f"--num_runs={RUNS}", f"--warmup_runs={WARMUP}", f"--result_json={out}"],
                   check=True, capture_output=True)
    data = json.loads(out.read_text())
    return float(_find(data, "median_ms"))


def ours_ms(model: Path, out: Path) -> float:
    subprocess.run([sys.executable, "-m", "edgelite", "bench", str(model), "--threads", "1", "--runs", str(RUNS),
                    "--warmup", str(WARMUP), "--json", str(out)], check=True, capture_output=True)
    return float(json.loads(out.read_text())["results"][0]["latency_ms"]["median"])


def _find(data, key):
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for v in data.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keras_path = mobilenet_v2(folder)
        models = {"mobilenet_v2 int8": converted(folder, keras_path, "int8"),
                  "mobilenet_v2 float32": converted(folder, keras_path, "float32")}
        print(f"{'model':<22} {'peer median ms':>14} {'edgelite median ms':>18} {'ratio':>7}  "
              f"(median of {args.rounds} ABBA rounds, {RUNS} runs, 1 thread)")
        for name, path in models.items():
            peer, ours = abba(args.rounds, lambda p=path: peer_ms(p, folder / "peer.json"),
                              lambda p=path: ours_ms(p, folder / "ours.json"))
            ratios = np.asarray(ours) / np.asarray(peer)
            print(f"{name:<22} {np.median(peer):>14.2f} {np.median(ours):>18.3f} {np.median(ratios):>7.3f}  "
                  f"(pooled {np.median(ours) / np.median(peer):.3f}; per-round {ratios.min():.3f}–{ratios.max():.3f})")


if __name__ == "__main__":
    main()
