"""Tensors at a model's edges: ``TensorInfo`` (shape, dtype, affine quantization) and how arrays become them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgelite.core import metrics
from edgelite.core.errors import UserInputError
from edgelite.core.report import Record


@dataclass(frozen=True)
class TensorSummary(Record):
    """What reports carry of a tensor."""

    name: str
    shape: list[int]
    shape_signature: list[int]       # -1 where the size is dynamic
    dtype: str
    scale: float                     # 0.0: not quantized
    zero_point: int


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor: name, shape (batch first), dtype, and affine quantization if any."""

    name: str
    index: int
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in metrics.INT_RANGES

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float values → this tensor's dtype, as TFLite rounds (``core.metrics``); a cast for float tensors."""
        if not self.quantized:
            return x.astype(self.dtype, copy=False)
        return metrics.quantize(x, self.scale, self.zero_point, self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return q.astype(np.float32, copy=False)
        return metrics.dequantize(q, self.scale, self.zero_point)

    def summary(self) -> TensorSummary:
        return TensorSummary(name=self.name, shape=list(self.shape), shape_signature=list(self.shape_signature),
                             dtype=str(self.dtype), scale=self.scale, zero_point=self.zero_point)

    def to_dict(self) -> dict[str, Any]:
        return self.summary().to_dict()


def tensor_info(d: dict[str, Any]) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    return TensorInfo(
        name=d["name"], index=d["index"], shape=tuple(int(v) for v in d["shape"]),
        shape_signature=tuple(int(v) for v in d.get("shape_signature", d["shape"])),
        dtype=np.dtype(d["dtype"]), scale=float(scale), zero_point=int(zp),
    )


def to_tensor(arr: np.ndarray, t: TensorInfo) -> np.ndarray:
    """An array for tensor ``t``: its own dtype passes; floats are quantized (or cast for float tensors)."""
    if arr.dtype == t.dtype:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise UserInputError(f"input {t.name!r} contains NaN or Inf values")
        return t.quantize(arr)
    raise UserInputError(f"input {t.name!r} is {t.dtype}; got {arr.dtype} (pass floats or {t.dtype})")




class NamedType(Protocol):
    """A tensor as I/O lines name it: ``TensorSummary``, ``tflite_file.TensorRef``, a report's own record."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str: ...


def io_line(inputs: Sequence[NamedType], outputs: Sequence[NamedType]) -> str:
    """A file's I/O types as reports state them: one type when every input and output has it (``int8``), else
    per side (``int8 in / float32 out``), and per tensor on a side whose tensors differ (``int8 in / out: cls
    int8, box float32``) — an output left float among int8 ones must not hide behind one word."""
    types = {str(t.dtype).lower() for t in (*inputs, *outputs)}
    if len(types) == 1:
        return types.pop()

    def side(tensors: Sequence[NamedType], word: str) -> str:
        kinds = {str(t.dtype).lower() for t in tensors}
        if len(kinds) == 1:
            return f"{kinds.pop()} {word}"
        return f"{word}: " + ", ".join(f"{t.name} {str(t.dtype).lower()}" for t in tensors)

    return f"{side(inputs, 'in')} / {side(outputs, 'out')}"
