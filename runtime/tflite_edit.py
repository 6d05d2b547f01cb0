"""In-place edits of a .tflite file that keep its layout: recorded activation ranges, constant tensor values
and fused activations.

All write over bytes the flatbuffer already holds (same length), so offsets, alignment and the appended
metadata zip stay valid. Used by the converter's range methods, bias correction and cross-layer equalization;
reading is ``tflite_file``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np

from edgelite.runtime.tflite_file import ACTIVATIONS, Slot, _activation_position, _guarded, _main_subgraph


@_guarded
def with_tensor_ranges(data: bytes, ranges: Mapping[str, tuple[float, float]]) -> bytes:
    """A copy of a calibrated model with the recorded (min, max) of the named tensors replaced (per-tensor
    ranges only; the calibration range methods of ``calibration.ranges`` write their choice here)."""
    buf = bytearray(data)
    _, sg = _main_subgraph(buf)
    for t in sg.iter_tables(Slot.SUBGRAPH_TENSORS) if sg is not None else ():
        name = t.text(Slot.TENSOR_NAME) or ""
        q = t.table(Slot.TENSOR_QUANTIZATION) if name in ranges else None
        lo = q.numbers(Slot.QUANT_MIN, "f4") if q is not None else None
        hi = q.numbers(Slot.QUANT_MAX, "f4") if q is not None else None
        if lo is not None and hi is not None and len(lo) == 1 and len(hi) == 1:
            lo[0], hi[0] = ranges[name]
    return bytes(buf)


def _buffers(data: bytes | bytearray) -> tuple[dict[str, int], dict[int, int]]:
    """(tensor name → buffer index, buffer index → how many tensors use it) of the main subgraph."""
    _, sg = _main_subgraph(data)
    if sg is None:
        raise ValueError("no subgraph")
    buffer_of: dict[str, int] = {}
    users: dict[int, int] = {}
    for t in sg.iter_tables(Slot.SUBGRAPH_TENSORS):
        b = int(t.scalar(Slot.TENSOR_BUFFER, "I"))
        users[b] = users.get(b, 0) + 1
        buffer_of.setdefault(t.text(Slot.TENSOR_NAME) or "", b)
    return buffer_of, users


def shared_constants(data: bytes) -> set[str]:
    """Names of the tensors whose buffer another tensor shares (the converter deduplicates identical
    constants): an edit of one would change all of them, so ``with_constants`` refuses them."""
    buffer_of, users = _buffers(data)
    return {name for name, b in buffer_of.items() if users[b] > 1}


def with_constants(data: bytes, values: Mapping[str, np.ndarray]) -> bytes:
    """A copy of the model with each named constant tensor holding its new values (same dtype and size), all
    written into one copy. Refuses (ValueError) an unknown tensor, a size that does not fit, and a tensor whose
    buffer other tensors share."""
    buf = bytearray(data)
    model, _ = _main_subgraph(buf)
    buffer_of, users = _buffers(buf)
    for tensor_name, new in values.items():
        target = buffer_of.get(tensor_name)
        if target is None:
            raise ValueError(f"no tensor {tensor_name!r}")
        if users[target] > 1:
            raise ValueError(f"tensor {tensor_name!r} shares its buffer with {users[target] - 1} other tensor(s)")
        raw = np.ascontiguousarray(new).tobytes()
        span = model.table_at(Slot.MODEL_BUFFERS, target).vector(Slot.BUFFER_DATA, 1)
        if span is None or span[1] != len(raw):
            raise ValueError(f"tensor {tensor_name!r}: {len(raw)} bytes do not fit its "
                             f"{0 if span is None else span[1]}")
        buf[span[0] : span[0] + span[1]] = raw
    return bytes(buf)


def with_constant(data: bytes, tensor_name: str, values: np.ndarray) -> bytes:
    """``with_constants`` for one tensor."""
    return with_constants(data, {tensor_name: values})


def with_fused_activation(data: bytes, op_index: int, activation: str) -> bytes:
    """A copy of the model with the fused activation of a CONV_2D/DEPTHWISE_CONV_2D op replaced (e.g. RELU6 →
    RELU). Only an activation the file stores can be overwritten in place (NONE is the schema default and
    usually not stored): ValueError otherwise."""
    buf = bytearray(data)
    at = _activation_position(buf, op_index)
    if not at:
        raise ValueError(f"op {op_index} stores no fused activation to replace")
    buf[at] = ACTIVATIONS.index(activation)
    return bytes(buf)


def truncated(data: bytes, output: str) -> bytes:
    """A copy of the model that stops at the op producing tensor ``output``: the operators after it are cut off
    and ``output`` becomes the graph's one output, so an interpreter runs only that prefix (with XNNPACK, which
    a preserving interpreter cannot use). In place: the operator and output vectors only get shorter (TFLite
    runs operators in their stored order, so a prefix is a valid graph). For models the converter made: a
    name it does not have is a ``ValueError``."""
    buf = bytearray(data)
    _, sg = _main_subgraph(buf)
    if sg is None:
        raise ValueError("no subgraph")
    names = [t.text(Slot.TENSOR_NAME) or "" for t in sg.iter_tables(Slot.SUBGRAPH_TENSORS)]
    if output not in names:
        raise ValueError(f"no tensor {output!r}")
    index = names.index(output)
    last = None
    for k, op in enumerate(sg.iter_tables(Slot.SUBGRAPH_OPERATORS)):
        outs = op.numbers(Slot.OPERATOR_OUTPUTS, "i4")
        if outs is not None and index in outs.tolist():
            last = k
            break
    if last is None:
        raise ValueError(f"no operator produces {output!r}")
    ops_span, outs_span = sg.vector(Slot.SUBGRAPH_OPERATORS, 4), sg.vector(Slot.SUBGRAPH_OUTPUTS, 4)
    if ops_span is None or outs_span is None or outs_span[1] < 1:
        raise ValueError("the subgraph has no operators or outputs")
    struct.pack_into("<I", buf, ops_span[0] - 4, last + 1)     # a vector's length precedes its elements
    struct.pack_into("<I", buf, outs_span[0] - 4, 1)
    struct.pack_into("<i", buf, outs_span[0], index)
    return bytes(buf)
