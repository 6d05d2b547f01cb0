"""Sources edgelite refuses before any loader runs: pickled PyTorch files (never unpickled — a pickle that would
run code leaves no trace), under their own names and disguised as .bin; PyTorch and ONNX sources are named in one
line instead of "unknown model type"."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest


class _Trap:
    """Unpickling this runs ``open(marker, 'w')``: the proof that nobody unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(_Trap(marker), protocol=2))
    return path


def _torch_zip(path: Path, marker: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:   # torch.save's layout since 1.6: <archive>/data.pkl, data/0, …
        zf.writestr("archive/data.pkl", pickle.dumps(_Trap(marker), protocol=2))
        zf.writestr("archive/version", "3\n")
    return path


@pytest.mark.parametrize("name, make", [("model.pt", _pickle), ("model.pth", _pickle), ("weights.bin", _pickle),
                                        ("model.pt", _torch_zip), ("pytorch_model.bin", _torch_zip),
                                        ("model.ckpt", _torch_zip)])
def test_pickled_pytorch_files_are_refused_unread(tmp_path, run_cli, name, make):
    marker = tmp_path / "unpickled"
    source = make(tmp_path / name, marker)
    before = source.read_bytes()
    code, _, err = run_cli("convert", source, "-o", tmp_path / "out.tflite", "--mode", "float32")
    assert code == 2 and err.count("\n") == 1, err
    assert "a pickled PyTorch file; edgelite never unpickles" in err and "model.pt2" in err and str(source) in err
    assert not marker.exists()                       # nothing ran
    assert source.read_bytes() == before and not (tmp_path / "out.tflite").exists()


def test_pytorch_and_onnx_sources_without_their_extras_get_one_line(tmp_path, run_cli):
    """In the board/convert install (no torch): each source kind is named with the install it needs."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here: the missing-extra line cannot show")
    calib = tmp_path / "c.npy"
    np.save(calib, np.zeros((2, 8, 8, 3), np.float32))
    for source in (tmp_path / "m.pt2", tmp_path / "m.onnx", "mypkg.models:build_net"):
        if isinstance(source, Path):
            source.write_bytes(b"\x00" * 16)
        code, _, err = run_cli("convert", source, "-o", tmp_path / "o.tflite", "--calib", calib)
        assert code == 2 and "pip install" in err and "edgelite[torch" in err and err.count("\n") == 1, err
    code, _, err = run_cli("convert", tmp_path / "m.pt2", "-o", tmp_path / "o.tflite", "--mode", "float16")
    assert code == 2 and "--mode int8" in err and err.count("\n") == 1, err


def test_keras_zips_and_tf_checkpoints_are_not_mistaken_for_pickles(example, tmp_path):
    from edgelite.converter.source_kinds import pickled, refuse_unsupported

    assert not pickled(example / "model.keras")      # a .keras file is a zip too, without data.pkl
    refuse_unsupported(example / "model.keras")
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x0a\x0b" + bytes(30))         # a TensorFlow checkpoint shard: not a pickle
    refuse_unsupported(ckpt)
