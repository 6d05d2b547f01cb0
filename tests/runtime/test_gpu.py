"""GPU-delegate compatibility rules (runtime/gpu.py) on hand-made op lists and on real files."""

from __future__ import annotations

from edgelite.runtime import gpu
from edgelite.runtime.tflite_file import OpInfo, TensorRef


def T(name="t", dtype="FLOAT32", shape=(1, 8, 8, 4), constant=False) -> TensorRef:
    return TensorRef(name, dtype, constant, shape)


def op(kind, ins=(), outs=None, index=0) -> OpInfo:
    return OpInfo(index, kind, tuple(ins), tuple(outs if outs is not None else [T("out")]))


def test_supported_ops_pass_and_missing_kernels_are_named():
    assert gpu.op_problem(op("CONV_2D", [T(), T("w", constant=True), T("b", shape=(4,), constant=True)])) is None
    assert gpu.op_problem(op("ROUND", [T()])) == "ROUND has no GPU kernel"
    assert "custom op Foo" in gpu.op_problem(op("CUSTOM:Foo", [T()]))
    assert gpu.op_problem(op("CUSTOM:Convolution2DTransposeBias", [T()])) is None


def test_constraints_visible_in_the_file():
    assert "5-D" in gpu.op_problem(op("ADD", [T(shape=(1, 2, 3, 4, 5)), T()]))
    assert "CAST INT64 -> FLOAT32" in gpu.op_problem(op("CAST", [T(dtype="INT64")]))
    assert gpu.op_problem(op("CAST", [T(dtype="INT32")])) is None
    assert "constant input" in gpu.op_problem(op("FULLY_CONNECTED", [T(constant=True), T("w", constant=True)]))
    assert "computed at run time" in gpu.op_problem(op("MEAN", [T(), T("axes", "INT32", (2,))]))
    assert gpu.op_problem(op("MEAN", [T(), T("axes", "INT32", (2,), constant=True)])) is None
    assert "1-D tensor" in gpu.op_problem(op("STRIDED_SLICE", [T(shape=(4,))]))
    assert "4x2" in gpu.op_problem(op("PAD", [T(), T("p", "INT32", (5, 2), constant=True)]))


def test_float16_weights_behind_dequantize_count_as_constants():
    deq = op("DEQUANTIZE", [T("w16", "FLOAT16", (10, 64), constant=True)], [T("w", shape=(10, 64))], index=0)
    fc = op("FULLY_CONNECTED", [T("x", shape=(1, 64)), T("w", shape=(10, 64)), T("b", shape=(10,))], index=1)
    assert gpu.op_problem(fc) is not None                     # three runtime inputs, seen alone
    assert gpu.op_problem(fc, gpu._folded([deq, fc])) is None  # the weights are folded constants


def test_real_files(fer_model, example_models):
    from edgelite.runtime.tflite_file import read_model_bytes

    kernel = gpu.check(read_model_bytes(gpu.__file__.replace("gpu.py", "data/timing_kernel_int8.tflite")))
    assert kernel.fully_compatible and kernel.partitions == 1 and kernel.cpu_fraction == 0.0
    mnist = gpu.check(read_model_bytes(example_models["int8"]))
    assert [u.op for u in mnist.unsupported] == ["SHAPE", "STRIDED_SLICE", "RESHAPE"]
    assert mnist.partitions == 3 and round(mnist.cpu_fraction, 3) == round(3 / mnist.ops_total, 3)
    assert "would fall back to the CPU" in mnist.summary()
