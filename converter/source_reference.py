"""A PyTorch or ONNX source as ``compare``'s float reference: the source itself, not its export.

Eager PyTorch for ``.pt2`` and ``package.module:factory``, onnxruntime for ``.onnx`` — so the verdict covers the
whole way from what the user trained to what the phone runs (the float export included). Each is fed the same
preprocessed samples as the candidate, in its own layout: a sample in the candidate's NHWC is transposed to the
source's NCHW when that is the only difference between the two shapes. Outputs carry the candidate's names
(litert-torch names them ``…output_K…`` in the source's order), so the two runs pair by name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import InputSlot
from edgelite.converter.pytorch_source import require
from edgelite.converter.reference import tensor_summaries
from edgelite.core.errors import UserInputError

OUTPUT_INDEX = re.compile(r"output_(\d+)")


def _recorded_shapes(candidate: Any) -> list[tuple[int, ...]]:
    """The source input shapes the candidate's provenance records (``source_export``), if it was made from one."""
    try:
        made = candidate.metadata.provenance or {}
    except AttributeError:
        return []
    exported = made.get("source_export") or {}
    return [tuple(int(d) for d in s) for s in exported.get("input_shapes", [])]


class SourceReference:
    """``compare``'s Runner over a PyTorch module or an ONNX session. Latency is the framework's own call time
    (eager torch, onnxruntime), not LiteRT's."""

    def __init__(self, source: str, kind: str, candidate: Any, shapes: Sequence[tuple[int, ...]]) -> None:
        self.source, self.kind = source, kind
        self.last_invoke_s = 0.0
        self._candidate = candidate
        self._cand_inputs = [tuple(int(d) for d in t.shape[1:]) for t in candidate.inputs]
        self._cand_outputs = [t.name for t in candidate.outputs]
        given = list(shapes) or _recorded_shapes(candidate)
        if kind == "onnx":
            self._open_onnx(given)
        else:
            self._open_torch(given)
        if len(self._shapes) != len(self._cand_inputs):
            raise UserInputError(f"{source} has {len(self._shapes)} input(s) but {candidate.path} has "
                                 f"{len(self._cand_inputs)}; compare the model with the file converted from it")
        self._turn = [self._turned(k) for k in range(len(self._shapes))]

    # ---- opening ----------------------------------------------------------------------------------------------
    def _open_torch(self, given: list[tuple[int, ...]]) -> None:
        import torch

        from edgelite.converter.source_export import SourceError, load_factory, load_pt2, resolve_shapes

        self._torch = torch
        try:
            if self.kind == "factory":
                self._module, found = load_factory(self.source), None
            else:
                self._module, found = load_pt2(self.source)
            self._shapes = [tuple(s) for s in resolve_shapes(self.source, found, [list(s) for s in given] or None)]
        except SourceError as exc:
            raise UserInputError(str(exc)) from None
        params = sum(int(p.numel()) * p.element_size() for p in self._module.parameters())
        self.size_bytes = params if self.kind == "factory" else Path(self.source).stat().st_size
        self.backend, self.backend_version = "torch", torch.__version__

    def _open_onnx(self, given: list[tuple[int, ...]]) -> None:
        import onnxruntime as ort

        from edgelite.converter.source_export import MAX_ONNX_BYTES

        if Path(self.source).stat().st_size > MAX_ONNX_BYTES:
            raise UserInputError(f"{self.source}: over edgelite's {MAX_ONNX_BYTES} byte cap for ONNX files")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1   # as the candidate's default timing (one thread)
        try:
            self._session = ort.InferenceSession(self.source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:   # noqa: BLE001 - onnxruntime's load errors are the file's: one line
            raise UserInputError(f"{self.source}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})")\
                from None
        inputs = self._session.get_inputs()
        self._names = [i.name for i in inputs]
        found = [[d if isinstance(d, int) and d > 0 else None for d in i.shape] for i in inputs]
        from edgelite.converter.source_export import SourceError, resolve_shapes

        try:
            self._shapes = [tuple(s) for s in resolve_shapes(self.source, found, [list(s) for s in given] or None)]
        except SourceError as exc:
            raise UserInputError(str(exc)) from None
        self.size_bytes = Path(self.source).stat().st_size
        self.backend, self.backend_version = "onnxruntime", ort.__version__

    def _turned(self, k: int) -> bool:
        """Whether input ``k`` arrives in NHWC (the candidate's) and the source takes NCHW."""
        src, cand = self._shapes[k][1:], self._cand_inputs[k]
        if tuple(src) == tuple(cand):
            return False
        if len(src) == 3 and (src[1], src[2], src[0]) == tuple(cand):
            return True
        raise UserInputError(f"{self.source} takes {tuple(self._shapes[k])} but {self._candidate.path} input {k} "
                             f"takes {cand}; compare the model with the file converted from it (give --input-shape "
                             "as it was converted)")

    # ---- Runner -----------------------------------------------------------------------------------------------
    def run_one(self, sample: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        parts = [sample] if isinstance(sample, np.ndarray) else list(sample)
        if len(parts) != len(self._shapes):
            raise UserInputError(f"{self.source}: has {len(self._shapes)} input(s); got {len(parts)} arrays")
        xs = [np.ascontiguousarray(np.transpose(np.asarray(p, np.float32), (2, 0, 1)) if turn
                                   else np.asarray(p, np.float32))[None] for p, turn in zip(parts, self._turn,
                                                                                            strict=True)]
        t0 = time.perf_counter()
        if self.kind == "onnx":
            outs = self._session.run(None, dict(zip(self._names, xs, strict=True)))
        else:
            from edgelite.converter.source_export import flat_outputs

            with self._torch.no_grad():
                outs = [o.numpy() for o in flat_outputs(self._module(*[self._torch.from_numpy(x) for x in xs]))]
        self.last_invoke_s = time.perf_counter() - t0
        arrays = [np.asarray(o, dtype=np.float32) for o in outs]
        return [arrays[k] for k in self._order(len(arrays))]

    def _order(self, n: int) -> list[int]:
        """The source's outputs in the candidate's output order (litert-torch's ``output_K`` is the source's K)."""
        found = [OUTPUT_INDEX.search(name) for name in self._cand_outputs]
        idx = [int(m.group(1)) for m in found if m]
        if len(idx) == n == len(self._cand_outputs) and sorted(idx) == list(range(n)):
            return idx
        return list(range(n))

    @property
    def output_names(self) -> list[str]:
        return list(self._cand_outputs)

    @property
    def slots(self) -> tuple[InputSlot, ...]:
        """The candidate's inputs (names and layout): the samples arrive as the device takes them."""
        return tuple(InputSlot(t.name, shape) for t, shape in zip(self._candidate.inputs, self._cand_inputs,
                                                                   strict=True))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self._cand_inputs[0]

    @property
    def path(self) -> Path:
        return Path(self.source)

    def describe(self) -> dict[str, Any]:
        return {"path": self.source, "kind": "pytorch" if self.kind != "onnx" else "onnx",
                "size_bytes": self.size_bytes, "backend": self.backend, "backend_version": self.backend_version,
                "inputs": tensor_summaries([t.name for t in self._candidate.inputs],
                                   [(1, *s) for s in self._cand_inputs]),
                "outputs": tensor_summaries([t.name for t in self._candidate.outputs],
                                    [tuple(int(d) for d in t.shape) for t in self._candidate.outputs])}


def open_source_reference(source: str, kind: str, candidate: Any,
                          shapes: Sequence[tuple[int, ...]] = ()) -> SourceReference:
    """The reference runner for a PyTorch/ONNX ``source`` compared with ``candidate`` (a ``Model``); a missing
    extra is one line naming the install."""
    require(kind)
    return SourceReference(source, kind, candidate, shapes)
