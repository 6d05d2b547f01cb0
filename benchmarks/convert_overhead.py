"""Cost of `edgelite convert` over the plain TF converter with the same calibration samples.

Plain path: keras.saving.load_model → model.export → TFLiteConverter.from_saved_model with int8 settings, fed
arrays already in memory. edgelite additionally reads and preprocesses the PNGs, checks float ops, embeds the
metadata, verifies the result in LiteRT and writes atomically. TF is imported once before timing; the two are
interleaved. Target: ≤ 1.10x.

    .venv/bin/python benchmarks/convert_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import EXAMPLE, mobilenet_v2

from edgelite.calibration import collect, open_source
from edgelite.converter import ConvertConfig, convert
from edgelite.runtime import PreprocessSpec


def plain_tf(model_path: Path, samples: np.ndarray, out: Path) -> float:
    import keras
    import tensorflow as tf

    t0 = time.perf_counter()
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s[None]] for s in samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        out.write_bytes(conv.convert())
    return time.perf_counter() - t0


def ours(model_path: Path, n: int, out: Path) -> float:
    t0 = time.perf_counter()
    convert(ConvertConfig(model_path, out, calib=EXAMPLE / "calib", samples=n))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    import tensorflow  # noqa: F401 - import cost paid once, outside the timings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {"mnist": (EXAMPLE / "model.keras", PreprocessSpec(28, 28, color="gray")),
                 "mobilenet_v2": (mobilenet_v2(folder), PreprocessSpec(224, 224))}
        print(f"{'model':<14} {'plain TF s':>10} {'edgelite s':>10} {'ratio':>7}  "
              f"({args.samples} calibration samples, median of {args.rounds} interleaved rounds)")
        for name, (path, spec) in cases.items():
            got = collect(open_source(EXAMPLE / "calib"), spec, spec.input_shape, args.samples, 0)
            plain, mine = [], []
            for r in range(args.rounds):
                plain.append(plain_tf(path, got.x, folder / f"plain_{name}_{r}.tflite"))
                mine.append(ours(path, args.samples, folder / f"ours_{name}_{r}.tflite"))
            print(f"{name:<14} {np.median(plain):>10.2f} {np.median(mine):>10.2f} "
                  f"{np.median(mine) / np.median(plain):>7.3f}")


if __name__ == "__main__":
    main()
