"""Per-op-type latency of a .tflite on the board, and which op types the delegates (XNNPACK) took.

How it is measured, and why (ai-edge-litert 2.3.0, 2-core AVX2 EPYC): LiteRT's Python interpreter has no
profiler hook (the C library's profiler belongs to the CompiledModel API and is not bound in Python), and its
benchmark tool (``python -m ai_edge_litert.tools.benchmark_litert_model``) has no ``--enable_op_profiling``. So
each op is timed alone: a copy of the file whose graph is just that op (``single_op_model``), fed the values
the whole model computes for that op on a seeded input, run with the same threads and XNNPACK setting. The
other way, timing prefixes of the graph (``tflite_edit.truncated``) and taking differences, took 3.5 s on
face mesh int8 (97 ops) and gave negative per-type totals (run-to-run noise of a 10 ms prefix is larger than
a 50 µs op); ops alone took 0.2–0.3 s there and sum to within ~20 % of the whole model.

Delegation is read from the whole model as loaded: a delegate puts a DELEGATE node after the model's own
nodes for each partition it takes, and the partition's inputs and outputs bound the nodes it replaced
(``delegated_nodes``). Inside the whole model XNNPACK also fuses neighbours, so the sum of ops alone is a
guide to where the time goes, not an exact split; ``whole_ms`` is reported beside it.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.report import Record
from edgelite.runtime import tflite_file
from edgelite.runtime.backends import Backend, DelegateSpec, load_delegates, select_backend
from edgelite.runtime.native_log import filtered_stderr
from edgelite.runtime.tensors import tensor_info
from edgelite.runtime.tflite_file import CORRUPT_ERRORS, Slot, _ids, _main_subgraph

if TYPE_CHECKING:
    from edgelite.runtime.model import Model

YES, NO, PARTLY, UNKNOWN = "yes", "no", "partly", "unknown"
# What to do about an int8 op type XNNPACK does not take (it then runs on LiteRT's slow reference kernels).
KNOWN_FIXES = {"PRELU": "replace PReLU with ReLU or LeakyReLU in training (XNNPACK runs both in int8)"}
# An op type is named in a warning only from this share of the time on: below it, it does not explain much.
NAMED_SHARE_PCT = 10.0
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")

# What an op profile may hold: every tensor of one run of the model (README "Limits and guarantees").
MAX_PROFILE_BYTES_DEFAULT = 1024 * 1024 * 1024
MAX_PROFILE_BYTES_ENV = "EDGELITE_MAX_PROFILE_BYTES"
_ITEMSIZE = {"FLOAT32": 4, "INT32": 4, "UINT32": 4, "FLOAT16": 2, "INT16": 2, "UINT16": 2, "INT8": 1, "UINT8": 1,
             "BOOL": 1, "INT64": 8, "UINT64": 8, "FLOAT64": 8, "COMPLEX64": 8, "COMPLEX128": 16}


@dataclass(frozen=True)
class OpTypeTime(Record):
    """One op type: its nodes' time when each runs alone, and whether the delegates took them in the model."""

    float_digits = 4

    op: str
    count: int
    total_ms: float
    share_pct: float       # of the sum over all ops
    delegated: str         # yes / no / partly (some of its nodes) / unknown (the backend does not tell)


@dataclass(frozen=True)
class OpProfile(Record):
    """Where a model's time goes, per op type (most time first), under one threads/XNNPACK setting."""

    float_digits = 4

    model: str
    backend: str
    threads: int | None
    xnnpack: bool
    nodes: int
    runs: int                          # timed invokes per op (median taken), and of the whole model
    whole_ms: float                    # the whole model's median invoke, same settings
    ops_ms: float                      # sum over the ops timed alone
    op_types: list[OpTypeTime]
    profile_s: float                   # what the profile cost
    unmeasured: list[str] = field(default_factory=list)   # "OP#index": nodes that could not run alone (0 ms)

    def top(self, n: int = 10) -> list[OpTypeTime]:
        return self.op_types[:n]

    def not_delegated(self, min_share_pct: float = NAMED_SHARE_PCT) -> list[OpTypeTime]:
        """Op types with at least ``min_share_pct`` of the time that the delegates left (wholly or partly)."""
        return [t for t in self.op_types if t.delegated in (NO, PARTLY) and t.share_pct >= min_share_pct]


def single_op_model(data: bytes, index: int) -> bytes:
    """A copy of the model whose main graph is only operator ``index``: its non-constant inputs become the
    graph inputs, its outputs the graph outputs.

    The operator vector is shortened in place (a length of 1 written just before the op's own entry, and the
    subgraph pointed there); the new input/output index vectors are appended at the end of the file, where a
    forward offset from the subgraph table reaches them. Tensors, buffers and the op itself are untouched.
    ``ValueError`` when the file has no such operator (a flatbuffer reading error of ``tflite_file.CORRUPT_ERRORS``
    when the file is corrupt)."""
    buf = bytearray(data)
    model, sg = _main_subgraph(buf)
    span = sg.vector(Slot.SUBGRAPH_OPERATORS, 4) if sg is not None else None
    if sg is None or span is None or not 0 <= index < span[1]:
        raise ValueError(f"no operator {index}")
    fields = {slot: sg.field_position(slot) for slot in
              (Slot.SUBGRAPH_OPERATORS, Slot.SUBGRAPH_INPUTS, Slot.SUBGRAPH_OUTPUTS)}
    if not all(fields.values()):
        raise ValueError("the subgraph stores no inputs or outputs vector")
    op = sg.table_at(Slot.SUBGRAPH_OPERATORS, index)
    tensors = sg.tables(Slot.SUBGRAPH_TENSORS)
    buffers = model.tables(Slot.MODEL_BUFFERS)
    inputs = list(dict.fromkeys(i for i in _ids(op, Slot.OPERATOR_INPUTS)
                                if i >= 0 and not _is_constant(tensors[i], buffers)))
    outputs = [i for i in _ids(op, Slot.OPERATOR_OUTPUTS) if i >= 0]
    ops_at = span[0] + 4 * (index - 1)     # for op 0: the vector's own length field
    _U32.pack_into(buf, ops_at, 1)
    targets = {Slot.SUBGRAPH_OPERATORS: ops_at}
    for slot, ids in ((Slot.SUBGRAPH_INPUTS, inputs), (Slot.SUBGRAPH_OUTPUTS, outputs)):
        buf.extend(b"\0" * (-len(buf) % 4))   # vectors of 32-bit values are 4-byte aligned
        targets[slot] = len(buf)
        buf.extend(_U32.pack(len(ids)) + b"".join(_I32.pack(i) for i in ids))
    for slot, target in targets.items():
        _U32.pack_into(buf, fields[slot], target - fields[slot])   # forward: both lie after the subgraph table
    return bytes(buf)


def _is_constant(tensor: Any, buffers: list[Any]) -> bool:
    b = int(tensor.scalar(Slot.TENSOR_BUFFER, "I"))
    if not 0 < b < len(buffers):     # buffer 0 is the schema's empty sentinel
        return False
    span = buffers[b].vector(Slot.BUFFER_DATA, 1)
    return bool(span and span[1]) or buffers[b].scalar(Slot.BUFFER_SIZE, "Q") > 0


def delegated_nodes(details: Sequence[dict[str, Any]], n_nodes: int) -> set[int]:
    """Indices of the model's own nodes (0..n_nodes-1) that a delegate replaced, from an interpreter's
    ``_get_ops_details()``: each node past ``n_nodes`` is a delegate's partition; walking back from its outputs
    through their producers, and stopping at its inputs, visits exactly the nodes it replaced."""
    producer = {t: d["index"] for d in details[:n_nodes] for t in d["outputs"]}
    replaced: set[int] = set()
    for part in details[n_nodes:]:
        bound = set(part["inputs"])
        stack = [t for t in part["outputs"] if t not in bound]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in replaced:
                continue
            replaced.add(node)
            stack.extend(t for t in details[node]["inputs"] if t >= 0 and t not in bound)
    return replaced


def profile_ops(model: str | os.PathLike[str] | bytes, *, name: str | None = None, backend: str = "auto",
                threads: int | None = None, xnnpack: bool = True, delegates: Sequence[DelegateSpec] = (),
                runs: int = 10, seed: int = 0, input_shapes: Sequence[Sequence[int]] | None = None) -> OpProfile:
    """Time every op of ``model`` (a path or the file's bytes) alone, ``runs`` invokes each after one warm-up,
    and sum per op type; whether a delegate took each type is read from the whole model. ``input_shapes``: the
    graph inputs' shapes when they differ from the file's (a dynamic height/width a ``Model`` resized)."""
    from edgelite.runtime.bench import random_input

    t0 = time.perf_counter()
    data = model if isinstance(model, bytes) else tflite_file.read_model_bytes(model)
    where = name or ("<memory>" if isinstance(model, bytes) else str(Path(model)))
    ops = tflite_file.op_inventory(data)
    _check_tensor_bytes(where, ops)
    library = select_backend(backend)
    loaded = load_delegates(library, list(delegates))
    with filtered_stderr():   # LiteRT announces XNNPACK on fd 2 at the first interpreter
        try:
            whole = _ready(library.make(data, threads, xnnpack, loaded), input_shapes)
            feeds = {d["index"]: random_input(tensor_info(d), seed + k)
                     for k, d in enumerate(whole.get_input_details())}
            values = _values(library, data, feeds, input_shapes)
            for index, value in feeds.items():
                whole.set_tensor(index, value)
            whole_s = _median_invoke(whole, runs)
        except (ValueError, RuntimeError, IndexError) as exc:
            text = str(exc).strip().splitlines()
            raise UserInputError(f"{where}: {library.name} cannot run this model on a seeded random input to "
                                 f"profile it ({text[0] if text else type(exc).__name__}); check it runs with "
                                 "`edgelite bench` first") from None
        delegated = _delegation(whole, len(ops), xnnpack or bool(loaded))
        del whole
        per_op: list[float | None] = []
        for op in ops:
            per_op.append(_time_alone(library, data, op.index, values, threads, xnnpack, loaded, runs))
    return _summary(where, library.name, threads, xnnpack, runs, whole_s, ops, per_op, delegated,
                    time.perf_counter() - t0)


def _check_tensor_bytes(where: str, ops: Sequence[tflite_file.OpInfo]) -> None:
    """The profile keeps every tensor of one run (each op alone is fed real values): refuse a model whose
    tensors would add up past ``EDGELITE_MAX_PROFILE_BYTES`` (a 13 KB file of chained ops on 16 MB tensors
    would otherwise hold gigabytes), computed from the file's shapes before anything is allocated."""
    from edgelite.core.limits import env_cap

    cap = env_cap(MAX_PROFILE_BYTES_ENV, MAX_PROFILE_BYTES_DEFAULT, "bytes")
    seen: dict[str, int] = {}
    for op in ops:
        for t in (*op.inputs, *op.outputs):
            if t.name not in seen:
                size = 1
                for d in t.shape:
                    size *= max(int(d), 1)
                seen[t.name] = size * _ITEMSIZE.get(t.dtype, 4)
    total = sum(seen.values())
    if total > cap:
        raise UserInputError(f"{where}: its tensors add up to {total:,} bytes, over the {cap:,}-byte cap of an op "
                             f"profile; raise it with {MAX_PROFILE_BYTES_ENV}")


def _ready(interp: Any, shapes: Sequence[Sequence[int]] | None = None) -> Any:
    """``interp`` with its inputs resized to ``shapes`` (where given) and its tensors allocated."""
    for d, shape in zip(interp.get_input_details(), shapes or (), strict=False):
        if tuple(d["shape"]) != tuple(shape):
            interp.resize_tensor_input(d["index"], list(shape))
    interp.allocate_tensors()
    return interp


def _values(library: Backend, data: bytes, feeds: dict[int, np.ndarray],
            shapes: Sequence[Sequence[int]] | None) -> dict[int, np.ndarray]:
    """Every tensor's value after one run of the whole model (built-in kernels, all tensors kept), so each op
    alone gets real inputs: random ones could send an index or a shape input out of range."""
    interp = _ready(library.make(data, preserve_all_tensors=True), shapes)
    for index, value in feeds.items():
        interp.set_tensor(index, value)
    interp.invoke()
    out = dict(feeds)
    for d in interp.get_tensor_details():
        # ValueError: a tensor without data (optional, or freed); no op alone can be fed it anyway
        with contextlib.suppress(ValueError):
            out[d["index"]] = np.array(interp.get_tensor(d["index"]))
    return out


def _median_invoke(interp: Any, runs: int) -> float:
    interp.invoke()   # the first invoke packs XNNPACK's weights: not part of the steady state
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _delegation(whole: Any, n_nodes: int, any_delegate: bool) -> set[int] | None:
    """The replaced nodes of the whole model; None when the backend does not list its nodes."""
    if not any_delegate:
        return set()
    details = getattr(whole, "_get_ops_details", None)
    if details is None:
        return None
    try:
        return delegated_nodes(details(), n_nodes)
    except (KeyError, IndexError, ValueError, RuntimeError):
        return None


def _time_alone(library: Backend, data: bytes, index: int, values: dict[int, np.ndarray], threads: int | None,
                xnnpack: bool, loaded: list[Any], runs: int) -> float | None:
    """Median seconds of op ``index`` run alone; None when it cannot run alone (an input without a value, a
    stateful or control-flow op the cut breaks)."""
    try:
        interp = library.make(single_op_model(data, index), threads, xnnpack, loaded)
        inputs = interp.get_input_details()
        if any(d["index"] not in values for d in inputs):
            return None
        for d in inputs:
            if tuple(d["shape"]) != values[d["index"]].shape:
                interp.resize_tensor_input(d["index"], list(values[d["index"]].shape))
        interp.allocate_tensors()
        for d in inputs:
            interp.set_tensor(d["index"], values[d["index"]])
        return _median_invoke(interp, runs)
    except (RuntimeError, *CORRUPT_ERRORS):
        return None


def _summary(where: str, backend: str, threads: int | None, xnnpack: bool, runs: int, whole_s: float,
             ops: list[tflite_file.OpInfo], per_op: list[float | None], delegated: set[int] | None,
             cost_s: float) -> OpProfile:
    total_s = sum(t for t in per_op if t is not None)
    by_type: dict[str, list[int]] = {}
    for op in ops:
        by_type.setdefault(op.op_type, []).append(op.index)
    rows = []
    for op_type, nodes in by_type.items():
        seconds = sum(per_op[k] or 0.0 for k in nodes)
        if delegated is None:
            taken = UNKNOWN
        else:
            n = sum(k in delegated for k in nodes)
            taken = YES if n == len(nodes) else NO if n == 0 else PARTLY
        rows.append(OpTypeTime(op=op_type, count=len(nodes), total_ms=round(seconds * 1e3, 4),
                               share_pct=round(100 * seconds / total_s, 2) if total_s else 0.0, delegated=taken))
    rows.sort(key=lambda r: (-r.total_ms, r.op))
    return OpProfile(model=where, backend=backend, threads=threads, xnnpack=xnnpack, nodes=len(ops), runs=runs,
                     whole_ms=round(whole_s * 1e3, 4), ops_ms=round(total_s * 1e3, 4), op_types=rows,
                     profile_s=round(cost_s, 3),
                     unmeasured=[f"{op.op_type}#{op.index}" for op, t in zip(ops, per_op, strict=True) if t is None])


def slow_ops_clause(profile: OpProfile) -> str | None:
    """The part of the int8-is-slower warning that names op types: the ones the delegates left, with their fix,
    or (all taken) the op types the time goes to. None for a profile without timed ops."""
    if not profile.op_types or profile.ops_ms <= 0:
        return None
    left = profile.not_delegated()[:3]
    if profile.xnnpack and left:
        named = ", ".join(f"{t.op} ({t.share_pct:.0f} % of the int8 time, {t.count} op{'s' * (t.count > 1)})"
                          for t in left)
        partly = " (only some of them)" if any(t.delegated == PARTLY for t in left) else ""
        fixes = "; ".join(KNOWN_FIXES[t.op] for t in left if t.op in KNOWN_FIXES)
        types = " ".join(f"--keep-float-op {t.op}" for t in left)
        return (f"{named} not delegated to XNNPACK{partly}, so LiteRT's built-in int8 kernels run "
                f"{'it' if len(left) == 1 else 'them'}; fix: {fixes + ', or ' if fixes else ''}keep "
                f"{'it' if len(left) == 1 else 'them'} float (`edgelite convert ... {types}`)")
    top = [t for t in profile.op_types if t.share_pct >= NAMED_SHARE_PCT][:3] or profile.op_types[:1]
    named = ", ".join(f"{t.op} {t.share_pct:.0f} %" for t in top)
    who = "XNNPACK took them" if profile.xnnpack and all(t.delegated == YES for t in top) else \
        "XNNPACK was off" if not profile.xnnpack else "delegation unknown"
    return f"the int8 time is mostly {named} ({who})"


def profile_of(model: Model, *, runs: int = 10) -> OpProfile | None:
    """``profile_ops`` of a loaded ``Model`` under its own backend, threads, XNNPACK setting and input shapes;
    None when it runs external delegates (a ``Model`` keeps their paths, not their options) or cannot be
    profiled."""
    if model.delegates:
        return None
    try:
        return profile_ops(model.content, name=str(model.path), backend=model.backend.name, threads=model.threads,
                           xnnpack=model.xnnpack, runs=runs, input_shapes=[t.shape for t in model.inputs])
    except UserInputError:   # the profile only adds op names to a warning: without it the warning still stands
        return None
