"""Read and edit the .tflite flatbuffer itself (no interpreter): identity checks, op inventory, metadata entries.

Uses the flatc-generated TFLite schema module (vendored, the same file ai-edge-litert ships).
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import flatbuffers
import numpy as np

from edgelite.errors import UserInputError

TFLITE_IDENTIFIER = b"TFL3"
# The converter aligns weight buffers to 16 bytes; we keep that when we repack (XNNPACK reads weights in place).
BUFFER_ALIGNMENT = 16
FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16")
# Ops that only move between float and quantized domains at a boundary; they are not float compute.
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")
INTEGER_ACTIVATIONS = ("INT8", "UINT8", "INT16")
# What Python's flatbuffers (and zipfile) raise on corrupt input. LiteRT's verifier runs before these readers,
# but it does not check everything they follow (for example a metadata entry's buffer index).
CORRUPT_ERRORS = (struct.error, TypeError, IndexError, ValueError, UnicodeDecodeError, EOFError, zlib.error)


def _guarded(fn):
    """Turn a corrupt-flatbuffer exception in a reader into a one-line UserInputError."""

    @functools.wraps(fn)
    def wrapper(data: bytes, *args, **kwargs):
        try:
            return fn(data, *args, **kwargs)
        except CORRUPT_ERRORS as exc:
            raise UserInputError(f"the model flatbuffer is corrupt ({type(exc).__name__} in {fn.__name__}); "
                                 "re-create the file") from None

    return wrapper


def schema():
    """The TFLite flatbuffer schema module (vendored from ai-edge-litert 2.3.0, see runtime/_schema/README.md).

    Vendored rather than imported from ai_edge_litert so that tflite-runtime boards (armv7, no ai-edge-litert
    wheels) read files exactly as LiteRT boards do."""
    from edgelite.runtime._schema import tflite_schema_py_generated

    return tflite_schema_py_generated


@lru_cache(maxsize=1)
def _enum_names() -> tuple[dict[int, str], dict[int, str]]:
    s = schema()
    ops = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    return ops, types


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


@_guarded
def op_inventory(data: bytes) -> list[OpInfo]:
    """Every operator of the main subgraph with its tensors' names and types."""
    s = schema()
    ops_names, type_names = _enum_names()
    model = s.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() == 0:
        return []
    sg = model.Subgraphs(0)

    def tensor(i: int) -> TensorRef:
        t = sg.Tensors(i)
        buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        constant = bool(buf is not None and (buf.DataLength() > 0 or buf.Size() > 0))
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return TensorRef((t.Name() or b"").decode("utf-8", "replace"), type_names.get(t.Type(), str(t.Type())),
                         constant, shape)

    result = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = ops_names.get(builtin, str(builtin))
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.CustomCode() or b'?').decode()}"
        ins = tuple(tensor(i) for i in op.InputsAsNumpy() if i >= 0) if op.InputsLength() else ()
        outs = tuple(tensor(i) for i in op.OutputsAsNumpy() if i >= 0) if op.OutputsLength() else ()
        result.append(OpInfo(k, name, ins, outs))
    return result


def float_compute_ops(data: bytes) -> list[OpInfo]:
    return [op for op in op_inventory(data) if op.is_float_compute]


def is_quantized(data: bytes) -> bool:
    """Any compute op with integer activations (int8/uint8/int16), i.e. a full-integer or int16x8 model."""
    return any(
        op.op_type not in BOUNDARY_OPS
        and any(t.dtype in INTEGER_ACTIVATIONS and not t.constant for t in op.inputs + op.outputs)
        for op in op_inventory(data)
    )


@_guarded
def metadata_entries(data: bytes) -> dict[str, bytes]:
    """The ``Model.metadata`` list as name → buffer bytes."""
    s = schema()
    model = s.Model.GetRootAs(data, 0)
    entries: dict[str, bytes] = {}
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        name = (md.Name() or b"").decode("utf-8", "replace")
        buf = model.Buffers(md.Buffer())
        entries[name] = buf.DataAsNumpy().tobytes() if buf.DataLength() else b""
    return entries


def with_metadata(data: bytes, entries: dict[str, bytes], *, remove: Iterable[str] = ()) -> bytes:
    """A new model flatbuffer with ``entries`` added to (or replacing) ``Model.metadata``, ``remove`` dropped.

    A replaced entry reuses its buffer; a removed one leaves an empty buffer (renumbering buffers would touch
    every tensor). Anything appended after the flatbuffer (an associated-files zip) is dropped; the caller
    appends its own.
    """
    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffers = model.buffers or []
    kept = []
    for m in model.metadata or []:
        name = m.name.decode()
        if name in remove:
            buffers[m.buffer].data = None
        elif name in entries:
            buffers[m.buffer].data = np.frombuffer(entries[name], dtype=np.uint8)
            kept.append(m)
        else:
            kept.append(m)
    present = {m.name.decode() for m in kept}
    for name, payload in entries.items():
        if name in present:
            continue
        md = s.MetadataT()
        md.name = name.encode()
        md.buffer = len(buffers)
        buf = s.BufferT()
        buf.data = np.frombuffer(payload, dtype=np.uint8)
        buffers.append(buf)
        kept.append(md)
    model.metadata = kept
    model.buffers = [_AlignedBuffer(b) for b in buffers]
    builder = flatbuffers.Builder(max(1024, len(data) + 4096))
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


class _AlignedBuffer:
    """Packs a ``BufferT`` with its data vector aligned to ``BUFFER_ALIGNMENT`` (the schema's force_align)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 - flatbuffers' naming
        s = schema()
        data = self.inner.data
        vec = None
        if data is not None and len(data):
            payload = np.asarray(data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            vec = builder.EndVector(len(payload))
        s.BufferStart(builder)
        if vec is not None:
            s.BufferAddData(builder, vec)
        s.BufferAddOffset(builder, self.inner.offset)
        s.BufferAddSize(builder, self.inner.size)
        return s.BufferEnd(builder)


@_guarded
def tensor_ranges(data: bytes) -> dict[str, tuple[float, float]]:
    """Per-tensor (min, max) recorded in the quantization field, e.g. by a calibrate-only conversion."""
    s = schema()
    model = s.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() == 0:
        return {}
    sg = model.Subgraphs(0)
    ranges: dict[str, tuple[float, float]] = {}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        q = t.Quantization()
        if q is None or q.MinLength() == 0 or q.MaxLength() == 0:
            continue
        ranges[(t.Name() or b"").decode("utf-8", "replace")] = (float(q.MinAsNumpy().min()),
                                                              float(q.MaxAsNumpy().max()))
    return ranges


_NUMPY_TYPES = {"FLOAT32": np.float32, "INT32": np.int32, "INT8": np.int8, "UINT8": np.uint8, "INT64": np.int64,
                "FLOAT16": np.float16}


@_guarded
def op_constants(data: bytes, op_index: int) -> list[np.ndarray | None]:
    """The constant inputs of one op as arrays (None for non-constant inputs or unreadable types)."""
    s = schema()
    _, type_names = _enum_names()
    model = s.Model.GetRootAs(data, 0)
    sg = model.Subgraphs(0)
    op = sg.Operators(op_index)
    result: list[np.ndarray | None] = []
    for i in (op.InputsAsNumpy() if op.InputsLength() else []):
        if i < 0:
            result.append(None)
            continue
        t = sg.Tensors(int(i))
        buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        dtype = _NUMPY_TYPES.get(type_names.get(t.Type(), ""))
        if buf is None or buf.DataLength() == 0 or dtype is None:
            result.append(None)
            continue
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        arr = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype)
        result.append(arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr)
    return result


@_guarded
def pool_filter(data: bytes, op_index: int) -> tuple[int, int] | None:
    """(height, width) of a pooling op's window, None for other ops."""
    s = schema()
    op = s.Model.GetRootAs(data, 0).Subgraphs(0).Operators(op_index)
    if op.BuiltinOptionsType() != s.BuiltinOptions.Pool2DOptions:
        return None
    opts = s.Pool2DOptions()
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    return int(opts.FilterHeight()), int(opts.FilterWidth())
