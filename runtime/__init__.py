"""Board-side runtime: numpy + a LiteRT interpreter, never TensorFlow.

>>> from edgelite.runtime import Model
>>> m = Model.load("mnist_int8.tflite")
>>> m.classify("digit.png", top_k=3)
"""

from edgelite.runtime.bench import BenchReport, benchmark
from edgelite.runtime.compare import CompareReport, compare
from edgelite.runtime.metadata import ModelMetadata
from edgelite.runtime.model import Model, TensorInfo
from edgelite.runtime.preprocess import PreprocessSpec

__all__ = ["Model", "TensorInfo", "PreprocessSpec", "ModelMetadata", "benchmark", "BenchReport", "compare",
           "CompareReport"]
