"""Conversion to TFLite. The only part of edgelite that imports TensorFlow, and only when called."""

from edgelite.converter.config import ConvertConfig, IOType, QuantMode
from edgelite.converter.convert import convert
from edgelite.converter.report import ConvertReport

__all__ = ["ConvertConfig", "IOType", "QuantMode", "convert", "ConvertReport"]
