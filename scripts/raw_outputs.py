"""Raw int8 output tensors of the parity model on this machine, and exact comparison between machines.

    python scripts/raw_outputs.py dump PARITY_DIR BACKEND OUT.npz     # XNNPACK on and off
    python scripts/raw_outputs.py compare X86.npz OTHER.npz [KEY=LSB]  # exit 1 unless byte-identical
                                                                      # (or within LSB for KEY)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from tests.support.parity import ROOT, raw_outputs


def dump(parity: Path, backend: str, out: Path) -> None:
    from edgelite.runtime import Model

    images = [ROOT / p for p in np.load(parity / "golden.npz", allow_pickle=False)["images"]]
    arrays = {f"xnnpack_{flag}": raw_outputs(Model.load(parity / "mnist_int8.tflite", backend=backend,
                                                         xnnpack=flag == "on"), images)
              for flag in ("on", "off")}
    np.savez(out, **arrays)


def compare(a: Path, b: Path, allowed: dict[str, int]) -> int:
    x, y = np.load(a, allow_pickle=False), np.load(b, allow_pickle=False)
    bad = 0
    for key in sorted(x.files):
        diff = np.abs(x[key].astype(np.int32) - y[key].astype(np.int32))
        if x[key].dtype == y[key].dtype and not diff.any():
            print(f"  {key}: byte-identical")
            continue
        ok = diff.max() <= allowed.get(key, 0)
        print(f"  {key}: {'within the allowed' if ok else 'DIFFERENT beyond'} {allowed.get(key, 0)} LSB "
              f"(max {diff.max()} LSB in {np.count_nonzero(diff)} of {diff.size} values)")
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
    else:
        allowed = {k: int(v) for k, v in (arg.split("=") for arg in sys.argv[4:])}
        raise SystemExit(compare(Path(sys.argv[2]), Path(sys.argv[3]), allowed))
