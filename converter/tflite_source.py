"""A float ``.tflite`` as the source of an int8 conversion (MediaPipe's and other float models ship only that).

TF's calibrate-only conversion writes each activation's min/max into the tensor's quantization field of a
float model, and the MLIR quantizer reads nothing else. Here LiteRT runs the float file over the calibration
samples with every intermediate tensor kept and records the same min/max (the method TF's calibrator uses: the
global min and max over all samples; ``range_calibration.observed_ranges`` reproduces TF's recorded ranges
exactly on Keras sources, tested), which TF's flatbuffer utilities write into the file. From there the file is
a calibrated model like any other: range methods, bias correction, equalization, float fallback and the
budget search all apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime import tflite_file


def inspect_float_tflite(path: Path) -> tuple[bytes, tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """(bytes, input names, first input shape, first output shape) of a float .tflite; refuses quantized ones."""
    from edgelite.core.files import native_stderr_captured
    from edgelite.runtime.model import Model

    data = tflite_file.read_model_bytes(path)
    if tflite_file.is_quantized(data):
        raise UserInputError(f"{path}: already quantized (integer activations); pass the float .tflite or the "
                             "Keras/SavedModel it came from")
    with native_stderr_captured():
        # probed in a child process first: a corrupt file that would crash LiteRT is a one-line error
        model = Model.load(path, probe=True)
    if any(t.dtype != np.float32 for t in model.inputs):
        raise UserInputError(f"{path}: inputs are not float32; edgelite converts float models to int8")
    return (data, tuple(t.name for t in model.inputs), tuple(int(v) for v in model.inputs[0].shape),
            tuple(int(v) for v in model.outputs[0].shape))


def record_ranges(float_model: bytes, x: np.ndarray) -> bytes:
    """``float_model`` with the min/max of every float activation over the samples ``x`` written into it, as
    TF's calibrate-only conversion writes them."""
    from edgelite.converter.loading import import_tf_quantizer
    from edgelite.converter.range_calibration import observed_ranges

    found = observed_ranges(float_model, x, every_float=True)

    import_tf_quantizer()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model: Any = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_model))
    for t in model.subgraphs[0].tensors:
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        if name not in found or (data is not None and len(data)):   # constants get their scales from the quantizer
            continue
        q = schema.QuantizationParametersT()
        q.min, q.max = [found[name][0]], [found[name][1]]
        t.quantization = q
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
