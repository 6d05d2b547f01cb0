"""Does ``edgelite check``'s latency budget hold on a noisy machine? Prints figures; not a test.

Two int8 models of the same family: ``base`` and ``slow``, which has more conv blocks and is really about
20 % slower (measured here with a long interleaved run and printed). A baseline is recorded with ``base``;
then ``edgelite check`` (the Python API, same code path as the CLI) runs N times with ``base`` and N times with
``slow``, with the default ``max_latency_growth_pct = 10`` budget, on a quiet machine and with a competing
busy process. For contrast, the same decisions are computed from absolute milliseconds (what a naive gate
would compare).

    .venv/bin/python benchmarks/check_noise.py [--runs 20] [--limit 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np


def _busy(stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def build(folder: Path, blocks: int) -> Path:
    """An int8 CNN on 64x64 RGB: stem + ``blocks`` 3x3 conv blocks; compute grows linearly with blocks."""
    import keras

    from edgelite.converter import ConvertConfig, convert

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((64, 64, 3))
    x = L.Conv2D(24, 3, strides=2, padding="same", activation="relu")(inp)
    for _ in range(blocks):
        x = L.Conv2D(24, 3, padding="same", activation="relu")(x)
    out = L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x))
    src = folder / f"blocks{blocks}.keras"
    keras.Model(inp, out).save(src)
    calib = np.random.default_rng(0).random((32, 64, 64, 3), dtype=np.float32)
    np.save(folder / "calib.npy", calib)
    dst = folder / f"blocks{blocks}.tflite"
    convert(ConvertConfig(src, dst, calib=folder / "calib.npy", samples=32))
    return dst


def config(folder: Path, candidate: Path, limit: float) -> Path:
    path = folder / f"{candidate.stem}.toml"
    path.write_text(textwrap.dedent(f"""
        baseline = "baseline.json"
        [[models]]
        name = "model"
        tflite = "{candidate}"
        [models.budgets]
        max_latency_growth_pct = {limit}
    """))
    return path


def runs(cfg_path: Path, n: int, limit: float) -> dict[str, list[float]]:
    from edgelite.check import load_baseline, load_config, run_check
    from edgelite.converter.convert import convert_options

    cfg = load_config(cfg_path)
    base = load_baseline(cfg.baseline).models["model"]
    growth, naive = [], []
    for _ in range(n):
        m = run_check(cfg, convert_source=convert_options).models[0]
        growth.append(m.budgets[0].value)
        naive.append((m.latency.candidate_ms / base["latency_ms"] - 1) * 100)
    return {"growth": growth, "naive": naive}


def summary(label: str, r: dict[str, list[float]], limit: float) -> str:
    g, a = np.asarray(r["growth"]), np.asarray(r["naive"])
    return (f"{label:<34} gate: growth {np.median(g):+6.1f} % (min {g.min():+6.1f}, max {g.max():+6.1f}), "
            f"tripped {int(np.sum(g > limit)):2d}/{len(g)} | absolute ms: {np.median(a):+6.1f} % "
            f"(min {a.min():+6.1f}, max {a.max():+6.1f}), tripped {int(np.sum(a > limit)):2d}/{len(a)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--limit", type=float, default=10.0, help="max_latency_growth_pct (default 10)")
    ap.add_argument("--base-blocks", type=int, default=4)
    ap.add_argument("--slow-blocks", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgelite.check import load_config, run_check
    from edgelite.converter.convert import convert_options
    from edgelite.runtime import Model, device
    from edgelite.runtime.latency import paired_timing

    fp = device.fingerprint()
    print(f"machine: {fp.cpu_model}, {fp.cores} cores, {fp.arch}, simd {' '.join(fp.simd)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base, slow = build(folder, args.base_blocks), build(folder, args.slow_blocks)
        t = paired_timing({"base": Model.load(base, threads=1), "slow": Model.load(slow, threads=1)}, rounds=101)
        print(f"true slowdown of '{slow.stem}' over '{base.stem}' (101 interleaved rounds, 1 thread): "
              f"{(t.ratio('slow', 'base') - 1) * 100:+.1f} % "
              f"({t.median_ms('base'):.3f} -> {t.median_ms('slow'):.3f} ms)")
        base_cfg, slow_cfg = config(folder, base, args.limit), config(folder, slow, args.limit)
        run_check(load_config(base_cfg), update_baseline=True, convert_source=convert_options)
        print(f"baseline recorded with '{base.stem}'; {args.runs} checks each, max_latency_growth_pct = {args.limit:g}")
        print(summary("unchanged model, quiet machine", runs(base_cfg, args.runs, args.limit), args.limit))
        print(summary("20 % slower model, quiet machine", runs(slow_cfg, args.runs, args.limit), args.limit))
        stop = mp.Event()
        hogs = [mp.Process(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
        for h in hogs:
            h.start()
        try:
            print(summary("unchanged model, 2 busy processes", runs(base_cfg, args.runs, args.limit), args.limit))
            print(summary("20 % slower model, 2 busy processes", runs(slow_cfg, args.runs, args.limit), args.limit))
        finally:
            stop.set()
            for h in hogs:
                h.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
