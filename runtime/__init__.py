"""Board-side runtime: numpy + a LiteRT interpreter, never TensorFlow.

>>> from edgelite.runtime import Model
>>> m = Model.load("mnist_int8.tflite")
>>> m.classify("digit.png", top_k=3)

The names below are imported on first use (PEP 562), so ``import edgelite.runtime`` and a command that needs
only ``Model`` do not pay for the benchmark and comparison modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# ``compare`` is both a submodule and a function: importing the submodule later would rebind the package
# attribute to the module, so the function is bound here, eagerly (compare.py imports only numpy and stats).
from edgelite.runtime.compare import CompareReport, compare

_EXPORTS = {
    "Model": "edgelite.runtime.model", "TensorInfo": "edgelite.runtime.tensors",
    "PreprocessSpec": "edgelite.calibration.preprocess", "ModelMetadata": "edgelite.runtime.metadata",
    "benchmark": "edgelite.runtime.bench", "BenchReport": "edgelite.runtime.bench",
}
__all__ = [*_EXPORTS, "compare", "CompareReport"]

if TYPE_CHECKING:   # `x as x`: the lazy names are this package's public API (explicit re-exports)
    from edgelite.calibration.preprocess import PreprocessSpec as PreprocessSpec
    from edgelite.runtime.bench import BenchReport as BenchReport
    from edgelite.runtime.bench import benchmark as benchmark
    from edgelite.runtime.metadata import ModelMetadata as ModelMetadata
    from edgelite.runtime.model import Model as Model
    from edgelite.runtime.tensors import TensorInfo as TensorInfo


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgelite.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
