"""ONNX sources end to end (``make test-sources``: needs edgelite[torch,onnx], onnx2torch and rapidocr's models).

rapidocr-onnxruntime 1.4.4 ships PP-OCR's ONNX models as Paddle exports them (weights in Constant nodes,
Reshape targets computed from Shape at run time, dynamic axes): the text-orientation classifier is judged here
on real text crops against onnxruntime, the reference its users run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.sources
onnx = pytest.importorskip("onnx")
if importlib.util.find_spec("onnx2torch") is None:   # not imported here: it needs torchvision (source_export)
    pytest.skip("onnx2torch is not installed (make test-sources installs it)", allow_module_level=True)


def _models() -> Path:
    # the wheel is data here (installed --no-deps: its package imports opencv), found without importing it
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    assert spec is not None and spec.submodule_search_locations, "make test-sources installs rapidocr-onnxruntime"
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _text_crops(folder: Path, n: int, offset: int) -> Path:
    """``n`` 192x48 RGB crops of skimage's scanned page and text photo, half of them rotated 180° (what the
    orientation classifier tells apart); ``offset`` picks disjoint crops for calibration and evaluation."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    pages = [Image.fromarray(data.page()).convert("RGB"), Image.fromarray(data.text()).convert("RGB")]
    for k in range(n):
        page = pages[(k + offset) % 2]
        w, h = page.size
        x = ((k + offset) * 37) % max(1, w - 192)
        y = ((k + offset) * 23) % max(1, h - 48)
        crop = page.crop((x, y, x + 192, y + 48))
        if k % 2:
            crop = crop.rotate(180)
        crop.save(folder / f"crop{k + offset:03d}.png")
    return folder


def test_pp_ocr_classifier_onnx_to_int8_vs_onnxruntime(tmp_path, run_cli):
    from edgelite.runtime import Model, tflite_file

    source = _models() / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    before = source.read_bytes()
    calib, held_out = _text_crops(tmp_path / "calib", 64, 0), _text_crops(tmp_path / "eval", 60, 1000)
    out = tmp_path / "cls_int8.tflite"
    code, stdout, err = run_cli("convert", source, "--input-shape", "1,3,48,192", "-o", out, "--calib", calib,
                                "--mean", "127.5", "--std", "127.5", "--json", tmp_path / "convert.json")
    assert code == 0, err
    assert source.read_bytes() == before
    report = json.loads((tmp_path / "convert.json").read_text())
    assert report["source_kind"] == "onnx" and report["source_export"]["route"].startswith("onnx2torch")
    assert report["source_export"]["float_max_abs_diff"] < 1e-4
    data = out.read_bytes()
    assert tflite_file.is_quantized(data) and not tflite_file.float_compute_ops(data)
    m = Model.load(out)
    assert tuple(m.input.shape) == (1, 48, 192, 3) and m.input.dtype == np.int8
    assert m.spec is not None and m.spec.mean == (127.5,)

    code, _, err = run_cli("compare", source, out, "--data", held_out, "--json", tmp_path / "cmp.json")
    assert code == 0, err
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["reference"]["backend"] == "onnxruntime" and cmp["samples"] == 60
    # the orientation verdict of int8 and of onnxruntime's float on held-out crops
    assert cmp["agreement"] >= 0.9, cmp["agreement"]


def _tiny_onnx(path: Path, op: str, dynamic: bool = False) -> Path:
    from onnx import TensorProto, helper

    dims = ["batch", 3, "h", "w"] if dynamic else [1, 3, 16, 16]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node(op, ["x"], ["y"], name="the_node")
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_bad_onnx_sources_get_one_line(tmp_path, run_cli):
    calib = tmp_path / "c.npy"
    np.save(calib, np.zeros((4, 16, 16, 3), np.float32))
    # an op onnx2torch has no converter for, named with the node
    path = _tiny_onnx(tmp_path / "det.onnx", "Det")
    code, _, err = run_cli("convert", path, "-o", tmp_path / "a.tflite", "--calib", calib)
    assert code == 2 and "'the_node' (Det" in err and err.count("\n") == 1, err
    # dynamic spatial axes without --input-shape
    path = _tiny_onnx(tmp_path / "dyn.onnx", "Relu", dynamic=True)
    code, _, err = run_cli("convert", path, "-o", tmp_path / "b.tflite", "--calib", calib)
    assert code == 2 and "dynamic axes" in err and "--input-shape" in err and err.count("\n") == 1, err
    # not an ONNX file at all
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 10)
    code, _, err = run_cli("convert", junk, "-o", tmp_path / "c.tflite", "--calib", calib)
    assert code == 2 and "not a readable ONNX model" in err and err.count("\n") == 1, err


def test_static_slice_follows_onnx_slice_semantics():
    """``slice_to`` (onnx2torch's Slice with constant arguments, made static) against numpy's slicing, which the
    ONNX Slice spec follows (clamping, negative indices and steps), on random arguments."""
    import torch

    from edgelite.converter.onnx_source import slice_to

    rng = np.random.default_rng(0)
    x = rng.random((4, 7, 9)).astype(np.float32)
    for _ in range(300):
        axes = tuple(int(a) for a in rng.choice([0, 1, 2, -1, -2], size=rng.integers(1, 3), replace=False))
        if len({a % 3 for a in axes}) != len(axes):
            continue
        starts = tuple(int(v) for v in rng.integers(-12, 12, len(axes)))
        ends = tuple(int(v) if rng.random() > 0.2 else int(np.iinfo(np.int64).max) * int(rng.choice([-1, 1]))
                     for v in rng.integers(-12, 12, len(axes)))
        steps = tuple(int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in axes)
        index: list[slice] = [slice(None)] * 3
        for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
            index[a % 3] = slice(s, e, st)
        want = x[tuple(index)]
        got = slice_to(torch.from_numpy(x), starts, ends, axes, steps).numpy()
        assert got.shape == want.shape and np.array_equal(got, want), (starts, ends, axes, steps)
