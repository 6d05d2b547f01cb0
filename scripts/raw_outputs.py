"""Raw int8 output tensors of the parity model on this machine, and exact comparison between machines.

    python scripts/raw_outputs.py dump PARITY_DIR BACKEND OUT.npz     # XNNPACK on and off
    python scripts/raw_outputs.py compare X86.npz OTHER.npz [KEY=LSB]  # exit 1 unless byte-identical
                                                                      # (or within LSB for KEY)

Each dump is two saved runs (``edgelite.runtime.runs.Run``), OUT.xnnpack_on.npz and OUT.xnnpack_off.npz, on
the images of PARITY_DIR's golden runs; ``compare`` reads the same two of each name, refuses runs over other
samples, and KEY is ``xnnpack_on`` or ``xnnpack_off``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from tests.support.parity import SETTINGS, golden_path, images_of, raw_run


def dump(parity: Path, backend: str, out: Path) -> None:
    from edgelite.runtime import Model
    from edgelite.runtime.runs import Run

    for flag in SETTINGS:
        images = images_of(Run.load(golden_path(parity, flag)))
        model = Model.load(parity / "mnist_int8.tflite", backend=backend, xnnpack=flag == "on")
        raw_run(model, images).save(golden_path(out, flag))


def compare(a: Path, b: Path, allowed: dict[str, int]) -> int:
    from edgelite.core.errors import UserInputError
    from edgelite.runtime.runs import Run, same_samples

    bad = 0
    for flag in SETTINGS:
        key = f"xnnpack_{flag}"
        try:
            x, y = Run.load(golden_path(a, flag)), Run.load(golden_path(b, flag))
            same_samples(x, y)
        except UserInputError as exc:
            print(f"  {key}: {exc}")
            bad += 1
            continue
        for (name, u), v in zip(x.outputs.items(), y.outputs.values(), strict=True):
            diff = np.abs(u.astype(np.int32) - v.astype(np.int32))
            if u.dtype == v.dtype and not diff.any():
                print(f"  {key} {name}: byte-identical")
                continue
            ok = u.dtype == v.dtype and diff.max() <= allowed.get(key, 0)
            print(f"  {key} {name}: {'within the allowed' if ok else 'DIFFERENT beyond'} {allowed.get(key, 0)} LSB "
                  f"(max {diff.max()} LSB in {np.count_nonzero(diff)} of {diff.size} values; {u.dtype} vs {v.dtype})")
            bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
    else:
        allowed = {k: int(v) for k, v in (arg.split("=") for arg in sys.argv[4:])}
        raise SystemExit(compare(Path(sys.argv[2]), Path(sys.argv[3]), allowed))
