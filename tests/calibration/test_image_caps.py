"""Decompression bombs: an image whose header declares too many pixels is refused before decoding; in a folder
it is skipped and counted like any unreadable image, and Pillow's bomb warning never reaches stderr."""

from __future__ import annotations

import shutil
import struct
import warnings
import zlib
from pathlib import Path

import pytest

from edgelite.calibration.preprocess import load_image
from edgelite.core.errors import UnreadableImageError, UserInputError

from ..cli.test_errors import assert_user_error


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A small PNG whose header declares width x height gray pixels (the data is a few rows of zeros)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    """96 MP: past Pillow's warning threshold (89 MP), under its error (179 MP); our 50 MP cap refuses it."""
    bomb = bomb_png(tmp_path / "bomb.png", 12000, 8000)
    assert bomb.stat().st_size < 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        with pytest.raises(UnreadableImageError, match="12000x8000 pixels is over the 50,000,000-pixel cap"):
            load_image(bomb)
    monkeypatch.setenv("EDGELITE_MAX_IMAGE_PIXELS", "many")
    with pytest.raises(UserInputError, match="EDGELITE_MAX_IMAGE_PIXELS"):
        load_image(bomb)


def test_pillow_s_own_bomb_error_is_an_unreadable_image(tmp_path):
    """400 MP: Pillow's DecompressionBombError (a plain Exception) is one clean, skippable error."""
    with pytest.raises(UnreadableImageError, match="over the pixel cap .*decompression bomb"):
        load_image(bomb_png(tmp_path / "bomb.png"))


def test_a_bomb_in_a_data_folder_is_skipped_and_counted(run_cli, example, example_models, tmp_path):
    data = tmp_path / "eval"
    shutil.copytree(example / "eval" / "3", data / "3")
    bomb_png(data / "3" / "000_bomb.png")
    code, out, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data", data,
                             "--samples", "1000")
    assert code == 0, err
    assert "DecompressionBomb" not in err and "Traceback" not in err
    assert "1 unreadable" in out + err or "skipped 1" in out + err, out + err


def test_run_on_a_bomb_is_one_line(run_cli, example_models, tmp_path):
    assert_user_error(run_cli("run", example_models["int8"], bomb_png(tmp_path / "b.png")), "pixel cap")
