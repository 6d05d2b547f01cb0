"""Run a Keras model or SavedModel as the float reference of ``compare`` (needs TensorFlow)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import InputSlot
from edgelite.converter.loading import SourceModel
from edgelite.core.errors import UserInputError
from edgelite.core.files import path_size


class TFReference:
    """``compare``'s Runner protocol over a loaded source model. Latency is TF eager call time, not LiteRT's.

    Inputs and outputs are the source's, in its order (``SourceModel.input_names``/``output_names``): the
    names and order a file converted from it has (converter/io_names.py), so runs of both pair by name."""

    def __init__(self, src: SourceModel) -> None:
        self.src = src
        self.size_bytes = path_size(src.path)
        self.last_invoke_s = 0.0
        self._tf = __import__("tensorflow")

    def run_one(self, sample: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """One sample (no batch axis): a bare array for a single-input model, else one array per input in
        ``input_names`` order. Returns every output (batch axis kept) in the source's output order."""
        names = self.src.input_names
        parts = [sample] if isinstance(sample, np.ndarray) else list(sample)
        if len(parts) != len(names):
            raise UserInputError(f"{self.src.path}: has {len(names)} input(s) ({', '.join(names)}); pass one array "
                                 f"per input in that order, got {len(parts)}")
        xs = [self._tf.constant(np.asarray(p, dtype=np.float32)[None]) for p in parts]
        t0 = time.perf_counter()
        if self.src.keras_model is not None:
            out = self.src.keras_model(xs[0] if len(xs) == 1 else xs, training=False)
            # a dict output is named by its keys (SourceModel.output_names), a list is in model.outputs order
            outs = [out[n] for n in self.src.output_names] if isinstance(out, dict) else self._tf.nest.flatten(out)
        else:
            result = self.src.signature(**dict(zip(names, xs, strict=True)))
            outs = [result[n] for n in self._signature_outputs(result)]
        arrays = [np.asarray(o, dtype=np.float32) for o in outs]
        self.last_invoke_s = time.perf_counter() - t0
        return arrays

    @property
    def slots(self) -> tuple[InputSlot, ...]:
        """Every input as data sees it (name and one sample's shape; ``compare`` puts the spec on image inputs)."""
        shapes = self.src.input_shapes or (self.src.input_shape,)
        return tuple(InputSlot(n, tuple(int(d) if d is not None else -1 for d in s[1:]))
                     for n, s in zip(self.src.input_names, shapes, strict=True))

    def _signature_outputs(self, result: dict[str, Any]) -> list[str]:
        """A SavedModel's output keys in ``output_names`` order (sorted keys)."""
        known = [n for n in self.src.output_names if n in result]
        return known if len(known) == len(result) else sorted(result)

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.src.path), "kind": self.src.kind, "size_bytes": self.size_bytes,
                "backend": "tensorflow", "backend_version": self._tf.__version__,
                "inputs": tensor_summaries(self.src.input_names, self.src.input_shapes),
                "outputs": tensor_summaries(self.src.output_names, self.src.output_shapes)}

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.src.input_shape[1:] if d is not None)

    @property
    def path(self) -> Path:
        return self.src.path


def tensor_summaries(names: Sequence[str], shapes: Sequence[Sequence[int | None]]) -> list[dict[str, Any]]:
    """Reports' tensor summaries (``TensorSummary``'s keys) as dicts: the batch axis of one sample per run is
    1, other unknown sizes -1 (the shape signature's convention); float32, which ``run_one`` feeds and returns."""
    return [{"name": n, "shape": [1 if d is None and i == 0 else -1 if d is None else int(d) for i, d in enumerate(s)],
             "shape_signature": [-1 if d is None else int(d) for d in s], "dtype": "float32", "scale": 0.0,
             "zero_point": 0}
            for n, s in zip(names, shapes, strict=False)]
