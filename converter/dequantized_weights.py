"""Weights stored behind DEQUANTIZE ops, folded into float32 constants before calibration.

MediaPipe ships its face detector, face mesh, hand and palm models with float16 weights, each read through a
DEQUANTIZE op (other publishers do the same with int8 weights and their scales). TF's quantizer cannot take
them: it fails with ``scale out of expressed type range`` and an f16 vs f32 ``tfl.sub``. Here each DEQUANTIZE
whose input is a dense constant becomes what it computes: its float32 output tensor gets a buffer holding the
dequantized values, the op is dropped and so is the narrow tensor nothing reads any more. float16 → float32 is
exact, and integer weights are dequantized as TFLite's kernel does (``scale * (q - zero_point)``, rounded once
to float32), so the folded model computes the same outputs as the original.

The model is re-packed with the generated object API (``metadata_writer.schema``, ai-edge-litert's; no
TensorFlow), with weight buffers aligned as the converter aligns them. A zip appended after the flatbuffer
(associated files) is not carried: the conversion reads the source's metadata from the source file itself.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.tflite_file import TFLITE_IDENTIFIER

_DEQUANTIZE, _DENSIFY = 6, 124   # BuiltinOperator
# TensorType → numpy type of the stored values this module can dequantize
_STORED = {1: np.float16, 9: np.int8, 3: np.uint8, 7: np.int16}   # FLOAT16, INT8, UINT8, INT16
_TYPE_NAMES = {1: "float16", 9: "int8", 3: "uint8", 7: "int16"}
_FLOAT32 = 0


@dataclass(frozen=True)
class Folded:
    """A model with its dequantized constants folded, and what was folded."""

    data: bytes
    # stored type of the weights ("float16", "int8", …) → tensors folded; "sparse": how many of them were
    # sparse constants behind a DENSIFY
    folded: dict[str, int] = field(default_factory=dict)
    left: int = 0   # DEQUANTIZE ops kept: their input is computed, or of a type or layout we cannot read

    @property
    def count(self) -> int:
        return sum(n for kind, n in self.folded.items() if kind != "sparse")

    def notice(self) -> str | None:
        """The one line a convert report carries, None when nothing was folded or left."""
        if not self.count and not self.left:
            return None
        kinds = " and ".join(f"{n} {kind}" for kind, n in sorted(self.folded.items()) if kind != "sparse")
        line = f"{kinds} weight tensors folded to float32 before calibration" if kinds else ""
        if self.folded.get("sparse"):
            line += f" ({self.folded['sparse']} of them sparse, densified)"
        if self.left:
            kept = f"{self.left} DEQUANTIZE op(s) left as they are (their input is not a constant)"
            line = f"{line}; {kept}" if line else kept
        return line

# The float32 weights made may take at most this many times the file's size (float16 doubles, int8 quadruples;
# a sparse constant densifies), plus a little for tiny files: a small hostile file whose DEQUANTIZE ops all read
# one big constant cannot make the fold allocate gigabytes.
FOLD_FACTOR = 6
FOLD_SLACK_BYTES = 16 * 1024 * 1024


def _opcode(model: Any, op: Any) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    # Codes below 127 may be stored only in the deprecated int8 field (older files), newer ones only in the int32.
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def _stored(model: Any, tensor: Any) -> np.ndarray | None:
    """The values a dense constant ``tensor`` stores (float16 or integers), None when it is none we can read."""
    stored = _STORED.get(int(tensor.type))
    if stored is None or tensor.sparsity is not None or not 0 < tensor.buffer < len(model.buffers):
        return None
    raw = model.buffers[tensor.buffer].data
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
    if raw is None or len(raw) != int(np.prod(shape)) * np.dtype(stored).itemsize:
        return None
    values = np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=np.dtype(stored).newbyteorder("<"))
    return values.reshape(shape)


def _dequantized(values: np.ndarray, tensor: Any) -> np.ndarray | None:
    """The float32 values a DEQUANTIZE of ``tensor`` holding ``values`` computes (None: scales we cannot read)."""
    if values.dtype == np.float16:
        return values.astype(np.float32)
    q = tensor.quantization
    if q is None or q.scale is None or not len(q.scale):
        return None
    scale = np.asarray(q.scale, dtype=np.float64)
    zero = np.asarray(q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else [0], dtype=np.float64)
    if len(scale) > 1:   # per channel, along quantizedDimension
        axis = int(q.quantizedDimension)
        if not 0 <= axis < values.ndim or values.shape[axis] != len(scale) or len(zero) not in (1, len(scale)):
            return None
        bshape = [1] * values.ndim
        bshape[axis] = len(scale)
        scale = scale.reshape(bshape)
        zero = zero.reshape(bshape) if len(zero) > 1 else zero[:1]
    # an int times a float32 scale is exact in float64: rounded once to float32, as TFLite's per-channel kernel
    # does (its per-tensor kernel rounds q * scale and -zero_point * scale apart: at most a step apart)
    return (scale * (values.astype(np.float64) - zero)).astype(np.float32)


def _densified(data: bytes, model: Any) -> dict[int, np.ndarray]:
    """The dense values of each DENSIFY of a sparse constant in the main subgraph, by output tensor: what LiteRT
    computes (sparse formats are its to decode), read from one run that keeps every tensor. Empty when there
    is none, or when LiteRT cannot run the file (those DEQUANTIZE ops then stay)."""
    sg = model.subgraphs[0] if model.subgraphs else None
    wanted = [int(op.outputs[0]) for op in (sg.operators or []) if _opcode(model, op) == _DENSIFY
              and sg.tensors[int(op.inputs[0])].sparsity is not None] if sg is not None else []
    if not wanted:
        return {}
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        it = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        return {i: np.array(it.get_tensor(i)) for i in wanted}
    except (ValueError, RuntimeError, IndexError):   # what LiteRT raises for a file it cannot run
        return {}


def _read(model: Any, index: int, ops: list[Any]) -> set[int]:
    """Tensors of subgraph ``index`` that ``ops``, the graph's inputs/outputs or a signature refer to."""
    sg = model.subgraphs[index]
    read = {int(i) for i in (sg.inputs if sg.inputs is not None else ())} | \
           {int(i) for i in (sg.outputs if sg.outputs is not None else ())}
    for op in ops:
        for ids in (op.inputs, op.outputs, op.intermediates):
            read.update(int(i) for i in (ids if ids is not None else ()) if i >= 0)
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == index:
            read.update(int(m.tensorIndex) for m in list(sig.inputs or []) + list(sig.outputs or []))
    return read


def _fold_subgraph(model: Any, index: int, folded: Counter[str], dense: dict[int, np.ndarray], budget: list[int]
                   ) -> tuple[int, set[int]]:
    """Fold the DEQUANTIZE ops of one subgraph (``dense``: values of DENSIFY outputs); (ops left, tensors nothing
    reads any more). Each source constant is unfolded once (DEQUANTIZE ops of one constant share its float32
    buffer), a tensor already written keeps its op, and ``budget[0]`` (bytes the new buffers may still take)
    bounds what a small hostile file can make us allocate."""
    s = _schema()
    sg = model.subgraphs[index]
    boundary = _read(model, index, [])
    kept_ops, left, sources = [], 0, set()
    unfolded: dict[int, int] = {}    # source tensor → the float32 buffer made from it
    written: set[int] = set()
    for op in sg.operators or []:
        if _opcode(model, op) != _DEQUANTIZE:
            kept_ops.append(op)
            continue
        src, dst = int(op.inputs[0]), int(op.outputs[0])
        # a graph output stays computed (a constant output is not something every runtime accepts); so does a
        # tensor another op already writes
        if dst in boundary or dst in written or int(sg.tensors[dst].type) != _FLOAT32:
            kept_ops.append(op)
            left += 1
            continue
        if src not in unfolded:
            stored = _stored(model, sg.tensors[src]) if src not in dense else dense[src]
            values = None if stored is None else _dequantized(stored, sg.tensors[src])
            if values is None:
                kept_ops.append(op)
                left += 1
                continue
            budget[0] -= 4 * values.size
            if budget[0] < 0:
                raise UserInputError(f"its weights behind DEQUANTIZE unfold to more than {FOLD_FACTOR} times the "
                                     "file's size; a real model's do not — re-export the file")
            buf = s.BufferT()
            buf.data = np.frombuffer(values.astype("<f4").tobytes(), dtype=np.uint8)
            unfolded[src] = len(model.buffers)
            model.buffers.append(buf)
        sg.tensors[dst].buffer = unfolded[src]
        written.add(dst)
        folded[_TYPE_NAMES[int(sg.tensors[src].type)]] += 1
        sources.add(src)
    # a DENSIFY whose dense output nothing reads any more goes too, and its sparse constant with it
    others = _read(model, index, [op for op in kept_ops if _opcode(model, op) != _DENSIFY])
    unread = [op for op in kept_ops if _opcode(model, op) == _DENSIFY and int(op.outputs[0]) not in others]
    for op in unread:
        kept_ops.remove(op)
        sources.update((int(op.inputs[0]), int(op.outputs[0])))
        folded["sparse"] += 1
    sg.operators = kept_ops
    return left, sources - _read(model, index, kept_ops)


def _drop_tensors(model: Any, index: int, unread: set[int]) -> None:
    """Remove ``unread`` tensors from subgraph ``index`` and renumber every reference to the others."""
    sg = model.subgraphs[index]
    new_index: dict[int, int] = {}
    kept: list[Any] = []
    for i, t in enumerate(sg.tensors):
        if i not in unread:
            new_index[i] = len(kept)
            kept.append(t)
    sg.tensors = kept

    def renumber(ids: Any) -> Any:
        return None if ids is None else [new_index[int(i)] if i >= 0 else -1 for i in ids]

    sg.inputs, sg.outputs = renumber(sg.inputs), renumber(sg.outputs)
    for op in sg.operators or []:
        op.inputs, op.outputs, op.intermediates = renumber(op.inputs), renumber(op.outputs), renumber(op.intermediates)
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == index:
            for m in list(sig.inputs or []) + list(sig.outputs or []):
                m.tensorIndex = new_index[int(m.tensorIndex)]


def _schema() -> Any:
    from edgelite.converter.metadata_writer import schema

    return schema()


@functools.lru_cache(maxsize=1)   # the convert notice and the source loader fold the same bytes
def fold_dequantized_constants(data: bytes) -> Folded:
    """``data`` with every DEQUANTIZE of a dense constant (float16, or int8/uint8/int16 with its scales) replaced
    by a float32 constant; ``data`` itself when the model has none (the bytes are not re-packed then)."""
    import flatbuffers

    from edgelite.converter.metadata_writer import _AlignedBuffer

    s = _schema()
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # noqa: BLE001 - the generated reader raises anything on a corrupt file
        raise UserInputError(f"the model flatbuffer is corrupt ({type(exc).__name__}); re-create the file") from None
    if not any(_opcode(model, op) == _DEQUANTIZE for sg in model.subgraphs or [] for op in sg.operators or []):
        return Folded(data)
    folded: Counter[str] = Counter()
    left = 0
    sources: dict[int, set[int]] = {}
    dense = _densified(data, model)
    budget = [FOLD_FACTOR * len(data) + FOLD_SLACK_BYTES]
    for k in range(len(model.subgraphs)):
        n, unread = _fold_subgraph(model, k, folded, dense if k == 0 else {}, budget)
        left += n
        sources[k] = unread
    if not folded:
        return Folded(data, {}, left)
    # the narrow weights' buffers are emptied where no tensor and no metadata entry points at them any more
    emptied = {int(model.subgraphs[k].tensors[i].buffer) for k, ids in sources.items() for i in ids}
    for k, ids in sources.items():
        _drop_tensors(model, k, ids)
    still = {int(t.buffer) for sg in model.subgraphs for t in sg.tensors}
    still |= {int(m.buffer) for m in model.metadata or []}
    still |= {int(b) for b in (model.metadataBuffer if model.metadataBuffer is not None else ())}
    for b in emptied - still:
        model.buffers[b].data = None
    model.buffers = [_AlignedBuffer(b) for b in model.buffers]
    builder = flatbuffers.Builder(max(1024, 2 * len(data)))
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return Folded(bytes(builder.Output()), dict(folded), left)
