"""The data contract: the preprocessing spec that travels inside the .tflite (``preprocess``, ``resize``), and
the data it is applied to: folders (Pillow), .npy/.npz (``arrays``, capped), arrays, generators (``sources``),
seeded sampling (``sampling``) and group-aware splits (``split``). numpy + Pillow only.

The names below are imported on first use (PEP 562): the board's ``edgelite run`` imports ``preprocess``
through this package and should not pay for the sources and the progress bar.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DataSource": "sources", "open_source": "sources", "from_arrays": "sources", "from_generator": "sources",
    "collect": "sampling", "sample_order": "sampling", "Collected": "sampling", "PreprocessSpec": "preprocess",
    "Inputs": "multi_input", "InputSlot": "multi_input", "MultiSource": "multi_input", "bind": "multi_input",
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from edgelite.calibration.multi_input import Inputs, InputSlot, MultiSource, bind
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.calibration.sampling import Collected, collect, sample_order
    from edgelite.calibration.sources import DataSource, from_arrays, from_generator, open_source


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgelite.calibration' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edgelite.calibration.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
