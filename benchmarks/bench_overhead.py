"""Measurement overhead of `edgelite bench`: its median vs a raw LiteRT `invoke()` loop on the same model.

Both run in this process, interleaved over several rounds so machine drift hits both alike; the figure is the
median over rounds of (edgelite median / raw median), with the ratio of the pooled medians beside it.
Target: ≤ 1.02x.

    .venv/bin/python benchmarks/bench_overhead.py [--rounds 7] [--runs 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import EXAMPLE, abba, converted, mobilenet_v2

from edgelite.runtime import benchmark
from edgelite.runtime.bench import random_input
from edgelite.runtime.tensors import tensor_info


def raw_median_ms(path: Path, runs: int, warmup: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], random_input(tensor_info(d)))
    for _ in range(warmup):
        it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {
            "mnist int8": converted(folder, EXAMPLE / "model.keras", "int8"),
            "mobilenet_v2 int8": converted(folder, mobilenet_v2(folder), "int8"),
        }
        models["mobilenet_v2 float32"] = converted(folder, folder / "mobilenet_v2.keras", "float32")
        print(f"{'model':<22} {'raw median ms':>13} {'edgelite median ms':>18} {'ratio':>7}  (median of "
              f"{args.rounds} interleaved rounds, {args.runs} runs each, 1 thread)")
        for name, path in models.items():
            raw, ours = abba(args.rounds, lambda p=path: raw_median_ms(p, args.runs, 10),
                             lambda p=path: benchmark(p, threads=[1], runs=args.runs,
                                                      warmup=10).results[0].latency_ms.median)
            ratios = np.asarray(ours) / np.asarray(raw)
            print(f"{name:<22} {np.median(raw):>13.4f} {np.median(ours):>18.4f} {np.median(ratios):>7.3f}  "
                  f"(pooled {np.median(ours) / np.median(raw):.3f}; per-round {ratios.min():.3f}–{ratios.max():.3f})")


if __name__ == "__main__":
    main()
