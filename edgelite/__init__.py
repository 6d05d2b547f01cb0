"""edgelite: Keras/SavedModel → calibrated full-int8 TFLite, and a TensorFlow-free runtime for edge boards.

Layers, bottom to top (each imports only those below it; import-linter checks it in ``make test``):
``edgelite.core`` → ``edgelite.calibration`` → ``edgelite.runtime`` → ``edgelite.converter`` →
``edgelite.check`` | ``edgelite.html`` → ``edgelite.cli``. Only the converter imports TensorFlow, lazily.
"""

from edgelite.core.version import __version__

__all__ = ["__version__"]
