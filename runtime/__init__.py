"""Board-side runtime: numpy + a LiteRT interpreter, never TensorFlow.

>>> from edgelite.runtime import Model
>>> m = Model.load("mnist_int8.tflite")
>>> m.classify("digit.png", top_k=3)

The names below are imported on first use (PEP 562), so ``import edgelite.runtime`` and a command that needs
only ``Model`` do not pay for the benchmark and comparison modules.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Model": "edgelite.runtime.model", "TensorInfo": "edgelite.runtime.tensors",
    "PreprocessSpec": "edgelite.calibration.preprocess", "ModelMetadata": "edgelite.runtime.metadata",
    "benchmark": "edgelite.runtime.bench", "BenchReport": "edgelite.runtime.bench",
    "compare": "edgelite.runtime.compare", "CompareReport": "edgelite.runtime.compare",
}
__all__ = list(_EXPORTS)


class _Package(types.ModuleType):
    """``compare`` is both a submodule and a function. Importing the submodule (lazily, or by anyone's
    ``import edgelite.runtime.compare``) makes the import system set the package attribute to the module;
    this binds the function instead, so ``edgelite.runtime.compare`` is always the function, as when it was
    imported eagerly (it no longer is: ``edgelite run`` does not need the comparison module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "compare" and isinstance(value, types.ModuleType):
            value = value.compare
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:   # `x as x`: the lazy names are this package's public API (explicit re-exports)
    from edgelite.calibration.preprocess import PreprocessSpec as PreprocessSpec
    from edgelite.runtime.bench import BenchReport as BenchReport
    from edgelite.runtime.bench import benchmark as benchmark
    from edgelite.runtime.compare import CompareReport as CompareReport
    from edgelite.runtime.compare import compare as compare
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
