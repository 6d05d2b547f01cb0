"""Run a Keras model or SavedModel as the float reference of ``compare`` (needs TensorFlow)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.converter.loading import SourceModel
from edgelite.core.files import path_size


class TFReference:
    """``compare``'s Runner protocol over a loaded source model. Latency is TF eager call time, not LiteRT's."""

    def __init__(self, src: SourceModel) -> None:
        self.src = src
        self.size_bytes = path_size(src.path)
        self.last_invoke_s = 0.0
        self._tf = __import__("tensorflow")

    def run_one(self, sample: np.ndarray) -> list[np.ndarray]:
        x = self._tf.constant(sample[None].astype(np.float32))
        t0 = time.perf_counter()
        if self.src.keras_model is not None:
            out = self.src.keras_model(x, training=False)
        else:
            result = self.src.signature(**{self.src.input_names[0]: x})
            out = result[sorted(result)[0]]
        outs = out if isinstance(out, (list, tuple)) else [out]
        arrays = [np.asarray(o, dtype=np.float32) for o in outs]
        self.last_invoke_s = time.perf_counter() - t0
        return arrays

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.src.path), "kind": self.src.kind, "size_bytes": self.size_bytes,
                "backend": "tensorflow", "backend_version": self._tf.__version__}

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.src.input_shape[1:] if d is not None)

    @property
    def path(self) -> Path:
        return self.src.path
