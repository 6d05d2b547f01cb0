"""Read and edit the .tflite flatbuffer itself (no interpreter): identity checks, op inventory, metadata entries.

Reading goes through ``flatbuf.View`` with the field slots of the few TFLite schema tables edgelite needs (below):
it imports in milliseconds on every backend, where the generated schema module costs ~0.36 s per command and
tflite-runtime ships none. Re-packing a whole model (metadata entries) is the converter's job:
``converter/metadata_writer.py``.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.flatbuf import CorruptFlatbuffer, View
from edgelite.runtime.tflite_enums import op_name, type_name

TFLITE_IDENTIFIER = b"TFL3"
# The converter aligns weight buffers to 16 bytes; we keep that when we repack (XNNPACK reads weights in place).
BUFFER_ALIGNMENT = 16
FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16")
# Ops that only move between float and quantized domains at a boundary; they are not float compute.
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")
INTEGER_ACTIVATIONS = ("INT8", "UINT8", "INT16")
# What a corrupt flatbuffer raises in our readers (and zipfile in the appended-files reader). LiteRT's verifier
# runs before these readers, but it does not check everything they follow (a metadata entry's buffer index).
CORRUPT_ERRORS = (CorruptFlatbuffer, struct.error, TypeError, IndexError, ValueError, UnicodeDecodeError, EOFError,
                  zlib.error)


class Slot:
    """Field slots of the TFLite model schema tables edgelite reads (schema.fbs order; a union takes two)."""

    MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS, MODEL_METADATA = 1, 2, 4, 6
    SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
    TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 1, 2, 3, 4
    QUANT_MIN, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT = 0, 1, 2, 3
    OPERATOR_OPCODE_INDEX, OPERATOR_INPUTS, OPERATOR_OUTPUTS = 0, 1, 2
    OPERATOR_OPTIONS_TYPE, OPERATOR_OPTIONS = 3, 4
    OPCODE_DEPRECATED_BUILTIN, OPCODE_CUSTOM, OPCODE_BUILTIN = 0, 1, 3
    BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
    METADATA_NAME, METADATA_BUFFER = 0, 1
    POOL_FILTER_WIDTH, POOL_FILTER_HEIGHT = 3, 4


UINT8_TYPE = 3  # TensorType.UINT8
POOL2D_OPTIONS = 5  # BuiltinOptions.Pool2DOptions
# BuiltinOptions union type → slot of ``fused_activation_function`` in that options table (schema.fbs order)
FUSED_ACTIVATION_SLOT = {1: 3, 2: 4}  # Conv2DOptions, DepthwiseConv2DOptions
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")  # ActivationFunctionType
CUSTOM_OP = 32  # BuiltinOperator.CUSTOM


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(fn: F) -> F:
    """Turn a corrupt-flatbuffer exception in a reader into a one-line UserInputError."""

    @functools.wraps(fn)
    def wrapper(data: bytes, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(data, *args, **kwargs)
        except CORRUPT_ERRORS as exc:
            raise UserInputError(f"the model flatbuffer is corrupt ({type(exc).__name__} in {fn.__name__}); "
                                 "re-create the file") from None

    return wrapper  # type: ignore[return-value]  # same signature: functools.wraps keeps it


def model_view(data: bytes | bytearray) -> View:
    """The root ``Model`` table."""
    return View.root(data)


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a .tflite file and check it is a TFLite flatbuffer (before any native code touches it)."""
    p = Path(path)
    if p.is_dir():
        raise UserInputError(f"{p}: is a folder, expected a .tflite file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such file") from None
    except OSError as exc:
        raise UserInputError(f"{p}: cannot read ({exc.strerror})") from None
    check_tflite_bytes(data, p)
    return data


def check_tflite_bytes(data: bytes, where: str | os.PathLike[str]) -> None:
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise UserInputError(
            f"{where}: not a TFLite model (no 'TFL3' flatbuffer identifier); pass a .tflite file made by a converter"
        )
    root = int.from_bytes(data[0:4], "little")
    if root >= len(data):
        raise UserInputError(f"{where}: truncated or corrupt TFLite file (root offset past the end)")


@dataclass(frozen=True)
class TensorRef:
    name: str
    dtype: str
    constant: bool
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class OpInfo:
    index: int
    op_type: str
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef, ...]

    @property
    def is_float_compute(self) -> bool:
        """True when the op computes on float activations (weights/constants do not count)."""
        if self.op_type in BOUNDARY_OPS:
            return False
        return any(t.dtype in FLOAT_TYPES and not t.constant for t in self.inputs + self.outputs)


def _tensor_ref(tensors: list[View], buffers: list[View], i: int) -> TensorRef:
    t = tensors[i]
    b = t.scalar(Slot.TENSOR_BUFFER, "I")
    buf = buffers[b] if b < len(buffers) else None
    span = buf.vector(Slot.BUFFER_DATA, 1) if buf is not None else None
    constant = bool(buf is not None and ((span is not None and span[1] > 0) or buf.scalar(Slot.BUFFER_SIZE, "Q") > 0))
    shape = t.numbers(Slot.TENSOR_SHAPE, "i4")
    return TensorRef(t.text(Slot.TENSOR_NAME) or "", type_name(t.scalar(Slot.TENSOR_TYPE, "b")), constant,
                     tuple(int(d) for d in shape) if shape is not None else ())


def _ids(view: View, slot: int) -> list[int]:
    ids = view.numbers(slot, "i4")
    return [int(i) for i in ids] if ids is not None else []


@_guarded
def op_inventory(data: bytes) -> list[OpInfo]:
    """Every operator of the main subgraph with its tensors' names and types."""
    model = model_view(data)
    subgraphs = model.tables(Slot.MODEL_SUBGRAPHS)
    if not subgraphs:
        return []
    sg = subgraphs[0]
    tensors = sg.tables(Slot.SUBGRAPH_TENSORS)
    buffers = model.tables(Slot.MODEL_BUFFERS)
    codes = model.tables(Slot.MODEL_OPERATOR_CODES)
    refs: dict[int, TensorRef] = {}

    def tensor(i: int) -> TensorRef:
        if i not in refs:
            refs[i] = _tensor_ref(tensors, buffers, i)
        return refs[i]

    result = []
    # Each tensor id of an operator takes 4 bytes of a converter's file; a hostile one can point thousands of
    # operators at one list of thousands of ids (160 KB claiming 4·10⁸ tensor uses): refused, not walked.
    budget = len(data) // 2 + 4096
    for k, op in enumerate(sg.iter_tables(Slot.SUBGRAPH_OPERATORS)):
        ins_ids, outs_ids = _ids(op, Slot.OPERATOR_INPUTS), _ids(op, Slot.OPERATOR_OUTPUTS)
        budget -= len(ins_ids) + len(outs_ids)
        if budget < 0:
            raise ValueError("operators list more tensor uses than the file could hold")
        code = codes[op.scalar(Slot.OPERATOR_OPCODE_INDEX, "I")]
        # Codes below 127 are also in the deprecated int8 field; newer ones only in the int32 one.
        builtin = max(code.scalar(Slot.OPCODE_BUILTIN, "i"), code.scalar(Slot.OPCODE_DEPRECATED_BUILTIN, "b"))
        name = op_name(builtin)
        if builtin == CUSTOM_OP:
            name = f"CUSTOM:{(code.string(Slot.OPCODE_CUSTOM) or b'?').decode('utf-8', 'replace')}"
        ins = tuple(tensor(i) for i in ins_ids if i >= 0)
        outs = tuple(tensor(i) for i in outs_ids if i >= 0)
        result.append(OpInfo(k, name, ins, outs))
    return result


@_guarded
def io_tensors(data: bytes) -> tuple[list[TensorRef], list[TensorRef]]:
    """The main subgraph's input and output tensors (name, type as the schema spells it, shape), in order."""
    model, sg = _main_subgraph(data)
    if sg is None:
        return [], []
    tensors = sg.tables(Slot.SUBGRAPH_TENSORS)
    buffers = model.tables(Slot.MODEL_BUFFERS)
    return ([_tensor_ref(tensors, buffers, i) for i in _ids(sg, Slot.SUBGRAPH_INPUTS)],
            [_tensor_ref(tensors, buffers, i) for i in _ids(sg, Slot.SUBGRAPH_OUTPUTS)])


def float_compute_ops(data: bytes) -> list[OpInfo]:
    return [op for op in op_inventory(data) if op.is_float_compute]


def is_quantized(data: bytes) -> bool:
    """Any compute op with integer activations (int8/uint8/int16), i.e. a full-integer or int16x8 model."""
    return any(
        op.op_type not in BOUNDARY_OPS
        and any(t.dtype in INTEGER_ACTIVATIONS and not t.constant for t in op.inputs + op.outputs)
        for op in op_inventory(data)
    )


def _buffer_bytes(buf: View) -> bytes:
    span = buf.vector(Slot.BUFFER_DATA, 1)
    return bytes(buf.buf[span[0] : span[0] + span[1]]) if span else b""


@_guarded
def metadata_entries(data: bytes) -> dict[str, bytes]:
    """The ``Model.metadata`` list as name → buffer bytes."""
    model = model_view(data)
    entries: dict[str, bytes] = {}
    for md in model.iter_tables(Slot.MODEL_METADATA):
        name = md.text(Slot.METADATA_NAME) or ""
        entries[name] = _buffer_bytes(model.table_at(Slot.MODEL_BUFFERS, md.scalar(Slot.METADATA_BUFFER, "I")))
    return entries


def data_offsets(data: bytes) -> list[int]:
    """Where each non-empty buffer's data starts in the file (to check alignment)."""
    starts = []
    for buf in model_view(data).iter_tables(Slot.MODEL_BUFFERS):
        span = buf.vector(Slot.BUFFER_DATA, 1)
        if span and span[1]:
            starts.append(span[0])
    return starts


def _main_subgraph(data: bytes | bytearray) -> tuple[View, View | None]:
    model = model_view(data)
    subgraphs = model.tables(Slot.MODEL_SUBGRAPHS)
    return model, (subgraphs[0] if subgraphs else None)


@_guarded
def tensor_ranges(data: bytes) -> dict[str, tuple[float, float]]:
    """Per-tensor (min, max) recorded in the quantization field, e.g. by a calibrate-only conversion."""
    _, sg = _main_subgraph(data)
    if sg is None:
        return {}
    ranges: dict[str, tuple[float, float]] = {}
    for t in sg.iter_tables(Slot.SUBGRAPH_TENSORS):
        q = t.table(Slot.TENSOR_QUANTIZATION)
        if q is None:
            continue
        lo, hi = q.numbers(Slot.QUANT_MIN, "f4"), q.numbers(Slot.QUANT_MAX, "f4")
        if lo is None or hi is None or not len(lo) or not len(hi):
            continue
        ranges[t.text(Slot.TENSOR_NAME) or ""] = (float(lo.min()), float(hi.max()))
    return ranges


_NUMPY_TYPES = {"FLOAT32": np.float32, "INT32": np.int32, "INT8": np.int8, "UINT8": np.uint8, "INT64": np.int64,
                "FLOAT16": np.float16}


@_guarded
def op_constants(data: bytes, op_index: int) -> list[np.ndarray | None]:
    """The constant inputs of one op as arrays (None for non-constant inputs or unreadable types)."""
    model, sg = _main_subgraph(data)
    if sg is None:
        raise IndexError("no subgraph")
    op = sg.table_at(Slot.SUBGRAPH_OPERATORS, op_index)
    n_buffers = (model.vector(Slot.MODEL_BUFFERS, 4) or (0, 0))[1]
    result: list[np.ndarray | None] = []
    for i in _ids(op, Slot.OPERATOR_INPUTS):
        if i < 0:
            result.append(None)
            continue
        t = sg.table_at(Slot.SUBGRAPH_TENSORS, i)
        b = t.scalar(Slot.TENSOR_BUFFER, "I")
        raw = _buffer_bytes(model.table_at(Slot.MODEL_BUFFERS, b)) if b < n_buffers else b""
        dtype = _NUMPY_TYPES.get(type_name(t.scalar(Slot.TENSOR_TYPE, "b")))
        if not raw or dtype is None:
            result.append(None)
            continue
        dims = t.numbers(Slot.TENSOR_SHAPE, "i4")
        shape = tuple(int(d) for d in dims) if dims is not None else ()
        arr = np.frombuffer(raw[: len(raw) - len(raw) % np.dtype(dtype).itemsize], dtype=dtype)
        result.append(arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr)
    return result


@_guarded
def pool_filter(data: bytes, op_index: int) -> tuple[int, int] | None:
    """(height, width) of a pooling op's window, None for other ops."""
    _, sg = _main_subgraph(data)
    if sg is None:
        raise IndexError("no subgraph")
    op = sg.table_at(Slot.SUBGRAPH_OPERATORS, op_index)
    if op.scalar(Slot.OPERATOR_OPTIONS_TYPE, "B") != POOL2D_OPTIONS:
        return None
    opts = op.union(Slot.OPERATOR_OPTIONS)
    if opts is None:
        return None
    return int(opts.scalar(Slot.POOL_FILTER_HEIGHT, "i")), int(opts.scalar(Slot.POOL_FILTER_WIDTH, "i"))


def uint8_input_quantization(buf: bytearray) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(scale, zero_point) of every uint8 graph input as writable views into ``buf`` (None when absent)."""
    _, sg = _main_subgraph(buf)
    if sg is None:
        return []
    tensors = sg.tables(Slot.SUBGRAPH_TENSORS)
    out = []
    for i in _ids(sg, Slot.SUBGRAPH_INPUTS):
        t = tensors[i]
        if t.scalar(Slot.TENSOR_TYPE, "b") != UINT8_TYPE:
            continue
        q = t.table(Slot.TENSOR_QUANTIZATION)
        out.append((None, None) if q is None else
                   (q.numbers(Slot.QUANT_SCALE, "f4"), q.numbers(Slot.QUANT_ZERO_POINT, "i8")))
    return out


def _activation_position(data: bytes | bytearray, op_index: int) -> int | None:
    """Where a CONV_2D/DEPTHWISE_CONV_2D op stores its fused activation (0 when it is the default NONE),
    None for other ops."""
    _, sg = _main_subgraph(data)
    if sg is None:
        raise IndexError("no subgraph")
    op = sg.table_at(Slot.SUBGRAPH_OPERATORS, op_index)
    slot = FUSED_ACTIVATION_SLOT.get(op.scalar(Slot.OPERATOR_OPTIONS_TYPE, "B"))
    opts = op.union(Slot.OPERATOR_OPTIONS) if slot is not None else None
    return None if opts is None or slot is None else opts.field_position(slot)


@_guarded
def fused_activation(data: bytes, op_index: int) -> str | None:
    """The activation fused into a CONV_2D or DEPTHWISE_CONV_2D op (NONE, RELU, RELU6, …); None for other ops."""
    at = _activation_position(data, op_index)
    if at is None:
        return None
    code = data[at] if at else 0
    return ACTIVATIONS[code] if code < len(ACTIVATIONS) else f"UNKNOWN_{code}"
