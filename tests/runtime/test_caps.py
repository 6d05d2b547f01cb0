"""Small hostile files may not make a command allocate gigabytes: declared sizes are checked before anything is
inflated or allocated. The RSS figures are of the whole `edgelite` process (ru_maxrss via wait4)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgelite.calibration import arrays
from edgelite.core.errors import UserInputError
from edgelite.runtime import metadata as md

from ..cli.test_errors import assert_user_error

RSS_LIMIT_MB = 500  # issue 13: no input under 10 MB may take a command past 500 MB (the models here are tiny)


def _magic() -> bytes:
    return np.lib.format.magic(1, 0)


def zero_bomb_npz(path: Path, megabytes: int) -> Path:
    """An .npz whose 'x' inflates to ``megabytes`` MB of zeros (float32 rows of 28x28x1), streamed."""
    rows = megabytes * 1024 * 1024 // (28 * 28 * 4)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (rows, 28, 28, 1)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as fh:
            fh.write(header.getvalue())
            block = b"\0" * (28 * 28 * 4 * 1024)
            for _ in range(rows // 1024):
                fh.write(block)
            fh.write(b"\0" * (28 * 28 * 4 * (rows % 1024)))
    return path


PEAK = """
import json, sys
from edgelite.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(json.dumps({"code": code, "hwm_kb": int(hwm)}))
"""


def _peak_mb(*argv: str) -> tuple[int, float, str]:
    """(exit code, peak RSS MB, stderr) of the CLI in a fresh process. VmHWM, not ru_maxrss: Linux carries a
    parent's peak into its children's ru_maxrss across fork+exec, and this test process holds TensorFlow."""
    proc = subprocess.run([sys.executable, "-c", PEAK, *argv], capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["code"], result["hwm_kb"] / 1e3, proc.stderr


def test_npy_header_declaring_a_trillion_elements(tmp_path):
    path = tmp_path / "huge.npy"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    path.write_bytes(header.getvalue() + b"\0" * 64)
    with pytest.raises(UserInputError, match="truncated: its header declares"):
        arrays.read_npy(path)


def test_npy_is_mapped_not_loaded(tmp_path):
    x = np.arange(4 * 28 * 28, dtype=np.float32).reshape(4, 28, 28, 1)
    np.save(tmp_path / "x.npy", x)
    mapped = arrays.read_npy(tmp_path / "x.npy")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, x)


def test_npz_bomb_is_refused_before_inflating(tmp_path, example_models):
    bomb = zero_bomb_npz(tmp_path / "bomb.npz", 300)
    assert bomb.stat().st_size < 1_000_000  # 300 MB of zeros in under 1 MB
    with pytest.raises(UserInputError, match="over the 268,435,456-byte cap"):
        arrays.read_npz(bomb, ("x", "y"), required=("x",))
    code, peak, err = _peak_mb("compare", str(example_models["float32"]), str(example_models["int8"]),
                               "--data", str(bomb), "--samples", "8")
    assert code == 2 and "cap" in err and peak < RSS_LIMIT_MB, (code, peak, err)


def test_labels_zip_bomb_in_a_model(tmp_path, example_models):
    """A labels member that inflates to 200 MB: refused from the zip directory; inspect stays small."""
    data = example_models["int8"].read_bytes()
    head = data[: data.rfind(b"PK\x05\x06")]
    head = head[: head.find(b"PK\x03\x04")] if b"PK\x03\x04" in head else head
    buf = io.BytesIO()
    buf.write(head)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("labels.txt", "w", force_zip64=True) as fh:
            line = b"x" * 1023 + b"\n"
            for _ in range(200 * 1024):
                fh.write(line)
        for k in range(3):
            zf.writestr(f"extra{k}.txt", b"y" * (50 * 1024 * 1024))
    bomb = tmp_path / "bomb.tflite"
    bomb.write_bytes(buf.getvalue())
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(UserInputError, match="over the 4,194,304-byte cap"):
        md.read(bomb.read_bytes(), where=str(bomb))
    code, peak, err = _peak_mb("inspect", str(bomb))
    assert code == 2 and "labels" in err and peak < RSS_LIMIT_MB, (code, peak, err)


def test_run_on_a_truncated_array_is_one_line(run_cli, example_models, tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((4, 28, 28, 1), np.float32))
    path.write_bytes(path.read_bytes()[:300])
    assert_user_error(run_cli("run", example_models["int8"], path), "truncated")
