"""Write the models and golden runs that other backends/machines must reproduce.

Converts the embedded example (int8 + float32) into OUT/, and saves LiteRT's raw int8 output tensors on this
machine for 50 evaluation images, XNNPACK on and off, as saved runs (``edgelite.runtime.runs.Run``):
OUT/golden.xnnpack_on.npz and OUT/golden.xnnpack_off.npz, sample ids = the images' paths in the checkout.
Used by `make test-tflite-runtime` (the tflite-runtime venv), the aarch64 check and scripts/raw_outputs.py.

    .venv/bin/python -m tests.support.parity OUT      (from the checkout root)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "mnist"
N = 50
SETTINGS = ("on", "off")   # XNNPACK


def eval_images() -> list[Path]:
    return sorted((EX / "eval").glob("*/*.png"))[::10][:N]


def golden_path(folder: Path, xnnpack: str) -> Path:
    """Where the golden run of one XNNPACK setting lives; ``folder`` may also be a run file's base name."""
    folder = Path(folder)
    base = folder.with_suffix("") if folder.suffix == ".npz" else folder / "golden"
    return base.with_name(f"{base.name}.xnnpack_{xnnpack}.npz")


class RawOutputs:
    """A ``Runner`` over a ``Model`` that returns the raw output tensors (int8 for an int8 model), not
    dequantized floats: parity is judged in the integers the kernels produced."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.size_bytes = model.size_bytes
        self.quantized = model.quantized
        self.last_invoke_s = 0.0

    def run_one(self, sample: np.ndarray) -> list[np.ndarray]:
        m = self.model
        m.set_raw_input(m.input.quantize(sample[None]))
        self.last_invoke_s = m.invoke_raw()
        return [m._interp.get_tensor(o.index).copy() for o in m.outputs]

    def describe(self) -> dict[str, Any]:
        return self.model.describe()


def raw_run(model: Any, images: list[Path]):
    """The model's raw outputs on ``images`` as a ``Run`` (ids: paths relative to the checkout)."""
    from edgelite.runtime.runs import run_samples

    x = np.stack([model.spec.apply(p) for p in images])
    ids = [p.relative_to(ROOT).as_posix() for p in images]
    return run_samples(RawOutputs(model), x, ids)


def images_of(run) -> list[Path]:
    """The images a golden run was recorded on, in this checkout."""
    return [ROOT / i for i in run.ids]


def main(out: Path) -> None:
    from edgelite.converter import ConvertConfig, convert
    from edgelite.runtime import Model

    out.mkdir(parents=True, exist_ok=True)
    convert(ConvertConfig(EX / "model.keras", out / "mnist_int8.tflite", calib=EX / "calib",
                          labels=EX / "labels.txt"))
    convert(ConvertConfig(EX / "model.keras", out / "mnist_float32.tflite", mode="float32",
                          labels=EX / "labels.txt"))
    images = eval_images()
    for flag in SETTINGS:
        model = Model.load(out / "mnist_int8.tflite", backend="litert", xnnpack=flag == "on")
        raw_run(model, images).save(golden_path(out, flag))
    print(f"wrote {out}/mnist_int8.tflite, mnist_float32.tflite, golden.xnnpack_{{on,off}}.npz "
          f"({len(images)} images)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
