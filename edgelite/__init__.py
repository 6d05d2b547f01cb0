"""edgelite: Keras/SavedModel → calibrated full-int8 TFLite, and a TensorFlow-free runtime for edge boards.

Subpackages: ``edgelite.runtime`` (board side, numpy + LiteRT), ``edgelite.calibration`` (numpy + Pillow),
``edgelite.converter`` (the only one that imports TensorFlow, lazily).
"""

__version__ = "0.1.0"
