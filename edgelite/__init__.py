"""edgelite: Keras/SavedModel → calibrated full-int8 TFLite, and a TensorFlow-free runtime for edge boards.

Subpackages: ``edgelite.runtime`` (board side, numpy + LiteRT), ``edgelite.calibration`` (numpy + Pillow),
``edgelite.converter`` (the only one that imports TensorFlow, lazily).
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout, runtime/, calibration/ and converter/ sit beside this folder, not inside it (the
# installed package maps them in). Python run from the checkout root finds this folder first and would then
# miss edgelite.runtime; adding the checkout root to __path__ resolves the subpackages the same way.
_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "runtime").exists() and (_root / "runtime" / "__init__.py").is_file():
    __path__.append(str(_root))  # noqa: F821 - __path__ is defined for packages
