"""Which ops of a .tflite a phone GPU delegate would not take, and how much of the graph falls back to the CPU.

TFLite's model analyzer had a GPU-compatibility mode (``tf.lite.experimental.Analyzer.analyze(...,
gpu_compatibility=True)``; the LiteRT wheel ships the same analyzer as ``_pywrap_analyzer_wrapper``), but its
per-op checks were removed in TF 2.19 (tensorflow/tensorflow#77042) and it now prints "compatible" for any
model: measured here with TF 2.21 and LiteRT 2.3 on a graph with ARG_MAX, ROUND and TOPK_V2. So edgelite
carries the rules itself, taken from the GPU delegate's own compatibility table
(``tensorflow/lite/tools/versioning/gpu_compatibility.cc``): the supported op list and the constraints
that are visible in the file (tensor ranks and types, constant operands). Rules that depend on op options
edgelite does not decode (strides, dilation, fused activations) are not checked, so the result is a lower
bound on what falls back: a model listed as fully compatible can still meet a runtime limit on the phone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgelite.core.report import Record
from edgelite.runtime import tflite_file
from edgelite.runtime.tflite_file import OpInfo

# Builtin ops the GPU delegate has a kernel for (gpu_compatibility.cc, CheckGpuDelegateCompatibility).
SUPPORTED = frozenset(["ADD", "ADD_N", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CAST", "CONCATENATION", "CONV_2D", "CUMSUM", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "DYNAMIC_UPDATE_SLICE", "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "LSTM", "MAX_POOL_2D", "MEAN", "MUL", "PACK", "ONE_HOT", "QUANTIZE", "RELU_N1_TO_1", "PRELU", "RESHAPE", "SELECT", "SELECT_V2", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "STRIDED_SLICE", "TILE", "TRANSPOSE", "TRANSPOSE_CONV", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RELU", "RELU6", "LEAKY_RELU", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SUM", "PAD", "PADV2", "MIRROR_PAD", "ABS", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "LOG", "LOGISTIC", "NEG", "RSQRT", "SIGN", "SIN", "SQRT", "SQUARE", "TANH", "ATAN2", "DIV", "EQUAL", "FLOOR_DIV", "FLOOR_MOD", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LESS", "LESS_EQUAL", "MAXIMUM", "MINIMUM", "NOT_EQUAL", "POW", "SQUARED_DIFFERENCE", "SUB", "STABLEHLO_CLAMP"])
SUPPORTED_CUSTOM = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})
_FLOATISH = {"FLOAT32", "FLOAT16"}
_AXES_CONST = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}
_ELEMENTWISE_2 = {"ATAN2", "DIV", "EQUAL", "FLOOR_DIV", "FLOOR_MOD", "GREATER", "GREATER_EQUAL", "LOGICAL_AND",
                  "LESS", "LESS_EQUAL", "MAXIMUM", "MINIMUM", "NOT_EQUAL", "POW", "SQUARED_DIFFERENCE", "SUB"}


def _runtime(ts: tuple[tflite_file.TensorRef, ...]) -> list[tflite_file.TensorRef]:
    return [t for t in ts if not t.constant]


def _folded(ops: list[OpInfo]) -> set[str]:
    """Outputs of DEQUANTIZE ops on constants (float16 weights): the delegate folds them into constants."""
    return {o.name for op in ops if op.op_type == "DEQUANTIZE" and op.inputs and all(t.constant for t in op.inputs)
            for o in op.outputs}


def op_problem(op: OpInfo, folded: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why the GPU delegate would not take ``op``, or None when it would (as far as the file shows).

    ``folded``: names of tensors that are constants in effect (dequantized float16 weights)."""
    if folded:
        op = OpInfo(op.index, op.op_type, tuple(
            dataclasses.replace(t, constant=True) if t.name in folded else t for t in op.inputs), op.outputs)
    name = op.op_type
    if name.startswith("CUSTOM:"):
        custom = name.split(":", 1)[1]
        return None if custom in SUPPORTED_CUSTOM else f"custom op {custom} has no GPU kernel"
    if name not in SUPPORTED:
        return f"{name} has no GPU kernel"
    runtime_in = _runtime(op.inputs)
    for t in runtime_in + list(op.outputs):
        if len(t.shape) > 4:
            return f"{name} on a {len(t.shape)}-D tensor (the GPU delegate handles up to 4-D)"
    if name == "CAST":
        src, dst = op.inputs[0].dtype, op.outputs[0].dtype
        ok = ((src == "BOOL" and dst in _FLOATISH) or (src in _FLOATISH and dst == "BOOL")
              or (src in {"FLOAT32", "INT32"} and dst in {"FLOAT32", "INT32"}))
        return None if ok else f"CAST {src} -> {dst} is not a GPU cast case"
    if name in _AXES_CONST and len(op.inputs) > 1 and not op.inputs[1].constant:
        return f"{name} with axes computed at run time (the GPU needs constant axes)"
    if name == "FULLY_CONNECTED":
        if op.inputs and op.inputs[0].constant:
            return "FULLY_CONNECTED with a constant input"
        if len(runtime_in) > 2:
            return "FULLY_CONNECTED with more than 2 runtime inputs"
    if name == "ADD_N" and len(op.inputs) != 2:
        return f"ADD_N with {len(op.inputs)} inputs (the GPU takes 2)"
    if name in ("SLICE", "STRIDED_SLICE") and op.inputs and len(op.inputs[0].shape) not in (3, 4):
        return f"{name} on a {len(op.inputs[0].shape)}-D tensor (the GPU slices 3-D and 4-D tensors)"
    if name == "GATHER":
        if op.inputs[0].dtype == "INT32":
            return "GATHER of INT32 data"
        if len(op.inputs) > 1 and (op.inputs[1].dtype != "INT32" or len(op.inputs[1].shape) != 1):
            return "GATHER with indices that are not 1-D INT32"
    if name in ("PAD", "PADV2", "MIRROR_PAD") and len(op.inputs) > 1:
        pads = op.inputs[1]
        if not pads.constant:
            return f"{name} with paddings computed at run time"
        if len(pads.shape) != 2 or pads.shape[0] not in (3, 4) or pads.shape[1] != 2:
            return f"{name} with paddings of shape {list(pads.shape)} (the GPU takes 3x2 or 4x2)"
    if name in _ELEMENTWISE_2 and len(runtime_in) not in (1, 2):
        return f"{name} with {len(runtime_in)} runtime operands"
    if name == "RESHAPE" and len(runtime_in) != 1:
        return "RESHAPE with a shape computed at run time"
    return None


@dataclass(frozen=True)
class CpuOp(Record):
    """An op a phone GPU delegate would leave to the CPU, and why."""

    index: int
    op: str
    tensor: str
    reason: str


@dataclass(frozen=True)
class GpuSummary(Record):
    """What reports carry of a ``GpuCompatibility``."""

    ops_total: int
    ops_on_cpu: int
    cpu_fraction: float
    gpu_partitions: int
    fully_compatible: bool
    unsupported: list[CpuOp]


@dataclass(frozen=True)
class GpuCompatibility:
    ops_total: int
    unsupported: list[CpuOp] = field(default_factory=list)
    partitions: int = 0          # runs of consecutive GPU ops: each boundary is a GPU <-> CPU copy

    @property
    def cpu_fraction(self) -> float:
        return len(self.unsupported) / self.ops_total if self.ops_total else 0.0

    @property
    def fully_compatible(self) -> bool:
        return not self.unsupported

    def summarized(self) -> GpuSummary:
        return GpuSummary(ops_total=self.ops_total, ops_on_cpu=len(self.unsupported),
                          cpu_fraction=round(self.cpu_fraction, 4), gpu_partitions=self.partitions,
                          fully_compatible=self.fully_compatible, unsupported=list(self.unsupported))

    def to_dict(self) -> dict[str, Any]:
        return self.summarized().to_dict()

    def summary(self) -> str:
        if self.fully_compatible:
            return f"all {self.ops_total} ops have GPU-delegate kernels (file-level check; see README)"
        kinds = sorted({u.op for u in self.unsupported})
        return (f"{len(self.unsupported)} of {self.ops_total} ops ({self.cpu_fraction:.0%}) would fall back to the "
                f"CPU ({', '.join(kinds)}), splitting the graph into {self.partitions} GPU partition(s)")


def check(data: bytes) -> GpuCompatibility:
    """The GPU-delegate compatibility of a model's main subgraph, op by op, in execution order."""
    ops = tflite_file.op_inventory(data)
    folded = _folded(ops)
    unsupported, partitions, in_gpu_run = [], 0, False
    for op in ops:
        why = op_problem(op, folded)
        if why is None:
            if not in_gpu_run:
                partitions += 1
            in_gpu_run = True
            continue
        in_gpu_run = False
        tensor = op.outputs[0].name if op.outputs else ""
        unsupported.append(CpuOp(index=op.index, op=op.op_type, tensor=tensor, reason=why))
    return GpuCompatibility(ops_total=len(ops), unsupported=unsupported, partitions=partitions)
