"""Write the models and golden outputs that other backends/machines must reproduce.

Converts the embedded example (int8 + float32) into OUT/, and saves the raw int8 output tensors of LiteRT on
this machine for the first 50 evaluation images, XNNPACK on and off, in OUT/golden.npz. Used by
`make test` (tflite-runtime venv) and the aarch64 check.

    .venv/bin/python -m tests.support.parity OUT      (from the checkout root)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "mnist"
N = 50


def eval_images() -> list[Path]:
    return sorted((EX / "eval").glob("*/*.png"))[::10][:N]


def raw_outputs(model, images) -> np.ndarray:
    """Raw output tensors (int8 for the int8 model), one row per image."""
    rows = []
    for p in images:
        model.set_raw_input(model.input.quantize(model.spec.apply(p)[None]))
        model.invoke_raw()
        rows.append(model._interp.get_tensor(model.outputs[0].index).reshape(-1).copy())
    return np.stack(rows)


def main(out: Path) -> None:
    from edgelite.converter import ConvertConfig, convert
    from edgelite.runtime import Model

    out.mkdir(parents=True, exist_ok=True)
    convert(ConvertConfig(EX / "model.keras", out / "mnist_int8.tflite", calib=EX / "calib",
                          labels=EX / "labels.txt"))
    convert(ConvertConfig(EX / "model.keras", out / "mnist_float32.tflite", mode="float32",
                          labels=EX / "labels.txt"))
    images = eval_images()
    golden = {f"int8_xnnpack_{flag}": raw_outputs(Model.load(out / "mnist_int8.tflite", backend="litert",
                                                             xnnpack=flag == "on"), images)
              for flag in ("on", "off")}
    np.savez(out / "golden.npz", images=np.array([str(p.relative_to(ROOT)) for p in images]), **golden)
    print(f"wrote {out}/mnist_int8.tflite, mnist_float32.tflite, golden.npz ({len(images)} images)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
