"""Small hostile float .tflite sources cannot make a conversion allocate gigabytes or walk for minutes: the
DEQUANTIZE fold unfolds each constant once and within a bound, and the op reader refuses operator lists that
claim more tensor uses than the file could hold."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from edgelite.converter.dequantized_weights import FOLD_FACTOR, fold_dequantized_constants
from edgelite.core.errors import UserInputError
from edgelite.runtime import tflite_file

DEQUANTIZE, ADD = 6, 0


def _model(n: int, dequantize_ops: int) -> bytes:
    """A float16 constant of ``n`` values read by ``dequantize_ops`` DEQUANTIZE ops that all write one tensor,
    then ADD."""
    from ai_edge_litert import schema_py_generated as s

    def code(b: int):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = b, min(b, 127), 1
        return c

    def tensor(name: str, typ: int, buf: int = 0):
        t = s.TensorT()
        t.name, t.type, t.shape, t.buffer = name.encode(), typ, [1, n], buf
        return t

    m = s.ModelT()
    m.version, m.operatorCodes = 3, [code(DEQUANTIZE), code(ADD)]
    empty, weights = s.BufferT(), s.BufferT()
    weights.data = np.frombuffer(np.ones(n, np.float16).tobytes(), np.uint8)
    m.buffers = [empty, weights]
    g = s.SubGraphT()
    g.tensors = [tensor("in", 0), tensor("w16", 1, 1), tensor("w", 0), tensor("out", 0)]
    g.inputs, g.outputs = [0], [3]
    ops = []
    for _ in range(dequantize_ops):
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [1], [2]
        ops.append(op)
    add = s.OperatorT()
    add.opcodeIndex, add.inputs, add.outputs = 1, [0, 2], [3]
    add.builtinOptionsType, add.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    g.operators = [*ops, add]
    m.subgraphs = [g]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_many_dequantize_ops_of_one_constant_unfold_it_once():
    data = _model(100_000, 300)   # 200 KB; unfolded 300 times this would be 120 MB
    folded = fold_dequantized_constants(data)
    # one float32 copy of the constant; the 299 ops writing a tensor already written stay as they are
    assert len(folded.data) < len(data) + 4 * 100_000 + 64 * 1024
    assert folded.left == 299


def test_the_fold_is_bounded_by_the_file_size(monkeypatch):
    import edgelite.converter.dequantized_weights as dw

    monkeypatch.setattr(dw, "FOLD_SLACK_BYTES", 0)
    dw.fold_dequantized_constants.cache_clear()
    # float16 → float32 doubles the constant: within the bound; a tighter factor refuses in one line
    assert len(fold_dequantized_constants(_model(50_000, 1)).data) < FOLD_FACTOR * 50_000 * 2
    monkeypatch.setattr(dw, "FOLD_FACTOR", 1)
    dw.fold_dequantized_constants.cache_clear()
    with pytest.raises(UserInputError, match="unfold to more than 1 times the file's size"):
        fold_dequantized_constants(_model(50_001, 1))


def _shared_operator(ops: int, ids: int) -> bytes:
    """A graph whose operators vector points ``ops`` times at one operator that reads ``ids`` tensors: the
    flatbuffer stores the op once (~4·ids bytes), a reader that walks it sees ops·ids tensor uses."""
    from ai_edge_litert import schema_py_generated as s

    b = flatbuffers.Builder(1024)
    name = b.CreateString("t0")
    s.TensorStartShapeVector(b, 2)
    b.PrependInt32(4)
    b.PrependInt32(1)
    shape = b.EndVector()
    s.TensorStart(b)
    s.TensorAddName(b, name)
    s.TensorAddShape(b, shape)
    t0 = s.TensorEnd(b)
    s.OperatorStartInputsVector(b, ids)
    for _ in range(ids):
        b.PrependInt32(0)
    ins = b.EndVector()
    s.OperatorStartOutputsVector(b, 1)
    b.PrependInt32(0)
    outs = b.EndVector()
    s.OperatorStart(b)
    s.OperatorAddInputs(b, ins)
    s.OperatorAddOutputs(b, outs)
    op = s.OperatorEnd(b)
    vectors = []
    for start, items, prepend in ((s.SubGraphStartOperatorsVector, [op] * ops, b.PrependUOffsetTRelative),
                                  (s.SubGraphStartTensorsVector, [t0], b.PrependUOffsetTRelative),
                                  (s.SubGraphStartInputsVector, [0], b.PrependInt32),
                                  (s.SubGraphStartOutputsVector, [0], b.PrependInt32)):
        start(b, len(items))
        for item in items:
            prepend(item)
        vectors.append(b.EndVector())
    s.SubGraphStart(b)
    s.SubGraphAddOperators(b, vectors[0])
    s.SubGraphAddTensors(b, vectors[1])
    s.SubGraphAddInputs(b, vectors[2])
    s.SubGraphAddOutputs(b, vectors[3])
    sg = s.SubGraphEnd(b)
    s.OperatorCodeStart(b)
    s.OperatorCodeAddVersion(b, 1)
    code = s.OperatorCodeEnd(b)
    s.BufferStart(b)
    buf = s.BufferEnd(b)
    tops = []
    for start, item in ((s.ModelStartSubgraphsVector, sg), (s.ModelStartOperatorCodesVector, code),
                        (s.ModelStartBuffersVector, buf)):
        start(b, 1)
        b.PrependUOffsetTRelative(item)
        tops.append(b.EndVector())
    s.ModelStart(b)
    s.ModelAddVersion(b, 3)
    s.ModelAddSubgraphs(b, tops[0])
    s.ModelAddOperatorCodes(b, tops[1])
    s.ModelAddBuffers(b, tops[2])
    b.Finish(s.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_operator_lists_that_claim_more_than_the_file_holds_are_refused_fast():
    import time

    data = _shared_operator(20_000, 20_000)   # ~160 KB claiming 4·10⁸ tensor uses
    assert len(data) < 300_000
    t0 = time.perf_counter()
    with pytest.raises(UserInputError, match="corrupt"):
        tflite_file.op_inventory(data)
    assert time.perf_counter() - t0 < 5   # measured: milliseconds; walking it took minutes and 3 GB
    # the same shape written out honestly (each op its own list) is read as it is
    assert len(tflite_file.op_inventory(_shared_operator(3, 3))) == 3


def _chained_adds(n: int, k: int) -> bytes:
    """``k`` ADDs in a chain on (1, n) float tensors: a few KB of file, k·4n bytes of tensors when run."""
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    code = s.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = ADD, ADD, 1
    m.version, m.operatorCodes, m.buffers = 3, [code], [s.BufferT()]
    g = s.SubGraphT()
    g.tensors = []
    for i in range(k + 1):
        t = s.TensorT()
        t.name, t.type, t.shape, t.buffer = f"t{i}".encode(), 0, [1, n], 0
        g.tensors.append(t)
    g.inputs, g.outputs, g.operators = [0], [k], []
    for i in range(k):
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [i, i], [i + 1]
        op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
        g.operators.append(op)
    m.subgraphs = [g]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_an_op_profile_refuses_before_holding_every_tensor(monkeypatch):
    import resource

    from edgelite.runtime.op_profile import MAX_PROFILE_BYTES_ENV, profile_ops

    data = _chained_adds(4_000_000, 150)   # ~13 KB; profiling it would keep 2.4 GB of tensors
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserInputError, match="tensors add up to 2,416,000,000 bytes"):
        profile_ops(data)
    # refused from the file's shapes: nothing near the 2.4 GB was allocated (ru_maxrss is in KB on Linux)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000
    # under a raised cap a small one is profiled as usual
    monkeypatch.setenv(MAX_PROFILE_BYTES_ENV, str(10**9))
    assert profile_ops(_chained_adds(1000, 3), runs=2).op_types[0].op == "ADD"
