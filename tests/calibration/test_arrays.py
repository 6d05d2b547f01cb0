"""calibration/arrays.py: a .npy/.npz header that declares an impossible shape is a one-line user error naming
the file and the fix, never an OverflowError/ValueError from np.memmap or reshape (issue 24 #9)."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest

from edgelite.calibration import arrays
from edgelite.core.errors import UserInputError


def npy_bytes(shape: object, descr: str = "<f4", body: bytes = b"") -> bytes:
    """A version 1.0 .npy written by hand, so the header can say anything numpy's writer might refuse."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    pad = 64 - (len(np.lib.format.magic(1, 0)) + 2 + len(text) + 1) % 64
    header = text + b" " * pad + b"\n"
    return np.lib.format.magic(1, 0) + struct.pack("<H", len(header)) + header + body


# Every one of these passes numpy's own header reader (except the float), and then used to fail in numpy:
# (-1, 28, 28, 1) -> np.memmap OverflowError "memory mapped length must be positive" (exit 3 in the CLI);
# two negatives make a positive byte count; (0, -1) reached np.zeros; True is an int to numpy's reader.
BAD_SHAPES = [(-1, 28, 28, 1), (-1, -1, 28), (0, -1), (2, True, 28), (2.5, 28)]


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=str)
def test_npy_with_a_negative_or_non_integer_dimension(tmp_path, shape):
    path = tmp_path / "neg.npy"
    path.write_bytes(npy_bytes(shape, body=b"\0" * 64 * 28 * 28 * 4))
    with pytest.raises(UserInputError) as info:
        arrays.read_npy(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert "np.save" in message, message


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=str)
def test_npz_member_with_a_negative_or_non_integer_dimension(tmp_path, shape):
    path = tmp_path / "neg.npz"
    # exactly the bytes the product of the dimensions asks for, so no length check catches it first
    declared = abs(int(np.prod([int(d) for d in shape]))) * 4
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", npy_bytes(shape, body=b"\0" * declared))
    with pytest.raises(UserInputError) as info:
        arrays.read_npz(path, ("x",), required=("x",))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}[x]"), message
    assert "re-save" in message or "save it" in message, message


def test_the_hand_written_header_is_a_real_npy(tmp_path):
    """The helper above writes what np.load reads, so the refusals are about the shape, not the format."""
    path = tmp_path / "ok.npy"
    x = np.arange(2 * 3, dtype="<f4").reshape(2, 3)
    path.write_bytes(npy_bytes((2, 3), body=x.tobytes()))
    np.testing.assert_array_equal(np.load(path), x)
    np.testing.assert_array_equal(arrays.read_npy(path), x)


def test_the_refusal_names_the_declared_shape(tmp_path):
    path = tmp_path / "batch.npy"
    path.write_bytes(npy_bytes((-1, 28, 28, 1), body=b"\0" * 4096))
    with pytest.raises(UserInputError, match=r"\(-1, 28, 28, 1\).*negative"):
        arrays.read_npy(path)


def test_a_header_declaring_a_billion_empty_samples_is_refused_at_once(tmp_path):
    """Found by the property test: a few bytes that declare (10⁹, 0) float samples used to make the NaN check
    walk a million empty chunks (minutes); now it is a one-line refusal before any pass over the samples."""
    from edgelite.calibration.sources import open_source

    path = tmp_path / "empty.npy"
    path.write_bytes(npy_bytes((10**9, 0)))
    with pytest.raises(UserInputError) as info:
        open_source(path)
    assert "hold no values" in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
