"""``inspect_model``: what a .tflite holds — tensors, op counts, float ops, labels, both kinds of metadata and,
on request, the phone-GPU compatibility. ``edgelite inspect`` prints it; it is plain data for scripts too."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime import tflite_file
from edgelite.runtime.gpu import GpuSummary
from edgelite.runtime.metadata import MetadataSummary
from edgelite.runtime.metadata_summary import StandardSummary, standard_summary
from edgelite.runtime.model import Model
from edgelite.runtime.tensors import TensorSummary


@dataclass(frozen=True)
class OpAt(Record):
    op: str
    tensor: str          # its first output


@dataclass(frozen=True)
class ModelInspection(Record):
    path: str
    kind: str
    size_bytes: int
    backend: str
    backend_version: str
    threads: int | None
    xnnpack: bool
    delegates: list[str]
    inputs: list[TensorSummary]
    outputs: list[TensorSummary]
    metadata: MetadataSummary
    ops: dict[str, int]                  # op type -> count, most frequent first
    float_ops: list[OpAt]                # ops that compute in float
    quantized: bool
    labels: list[str] = field(default_factory=list)
    standard_metadata: StandardSummary | None = None      # as MediaPipe / Task Library read it
    gpu: GpuSummary | None = field(default=None, metadata=OMIT_NONE)   # only when asked for


def inspect_model(model: Model, *, gpu: bool = False) -> ModelInspection:
    """Everything ``edgelite inspect`` shows about a loaded model."""
    ops = tflite_file.op_inventory(model.content)
    counts = Counter(op.op_type for op in ops)
    summary = None
    if gpu:
        from edgelite.runtime import gpu as gpu_check

        summary = gpu_check.check(model.content).summarized()
    return ModelInspection(
        **model.describe(),
        ops=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        float_ops=[OpAt(op=op.op_type, tensor=op.outputs[0].name if op.outputs else "")
                   for op in ops if op.is_float_compute],
        quantized=model.quantized, labels=list(model.labels or []),
        standard_metadata=standard_summary(model.content, str(model.path)), gpu=summary)
