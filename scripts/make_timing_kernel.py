"""Build ``runtime/data/timing_kernel_int8.tflite``: the fixed yardstick that ``edgelite check`` times next to
every model, so latency can be compared with a baseline recorded in another run (or on a busier machine) as a
ratio instead of in milliseconds.

The kernel is a small full-int8 CNN (conv, depthwise conv, pooling, dense: the ops int8 edge models spend
their time in) of about 1 ms at one thread on an x86 CI core. It is committed; re-running this script changes
its bytes, and with them the sha256 that baselines record, so old baselines' latency figures are refused.

    .venv/bin/python scripts/make_timing_kernel.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "runtime" / "data" / "timing_kernel_int8.tflite"


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((96, 96, 3), batch_size=1)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
    for filters in (32, 32, 64):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Conv2D(filters, 1, activation="relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, activation="softmax")(x)
    model = keras.Model(inp, out)

    rng = np.random.default_rng(0)
    calib = rng.random((32, 96, 96, 3), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s[None]] for s in calib)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        content = conv.convert()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(content)
    print(f"wrote {OUT} ({len(content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
