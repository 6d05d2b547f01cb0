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

import struct
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import Samples
from edgelite.converter.config import ConvertConfig
from edgelite.core.errors import UserInputError
from edgelite.runtime import tflite_file


def inspect_float_tflite(path: Path) -> tuple[bytes, tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """(bytes, input names, first input shape, first output shape) of a float .tflite; refuses quantized ones.
    The bytes have their dequantized constant weights folded to float32 (``dequantized_weights``); the file
    itself is left as it is."""
    from edgelite.converter import source_metadata
    from edgelite.core.files import native_stderr_captured
    from edgelite.runtime.isolation import probe as run_probe
    from edgelite.runtime.model import Model

    data = tflite_file.read_model_bytes(path)
    if tflite_file.is_quantized(data):
        raise UserInputError(f"{path}: already quantized (integer activations); pass the float .tflite or the "
                             "Keras/SavedModel it came from")
    if source_metadata.read(path, data).origin == "unreadable":
        # the runtime refuses a file whose metadata it cannot read; the conversion warned and goes on without it
        data = _without_metadata(data)
    with native_stderr_captured():
        # probed in a child process first: a corrupt file that would crash LiteRT is a one-line error
        run_probe(path, content=data)
        model = Model.from_bytes(data, path)
    if any(t.dtype != np.float32 for t in model.inputs):
        raise UserInputError(f"{path}: inputs are not float32; edgelite converts float models to int8")
    return (_folded(path, data).data, tuple(t.name for t in model.inputs),
            tuple(int(v) for v in model.inputs[0].shape), tuple(int(v) for v in model.outputs[0].shape))


def _folded(path: Path, data: bytes) -> Any:
    """``fold_dequantized_constants`` with the file named in its one-line errors."""
    from edgelite.converter.dequantized_weights import fold_dequantized_constants

    try:
        return fold_dequantized_constants(data)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from None


def _without_metadata(data: bytes) -> bytes:
    """``data`` with an empty ``Model.metadata`` list: the vector's length set to 0 in place, so nothing is
    re-packed and a metadata entry too corrupt to re-pack is no obstacle."""
    buf = bytearray(data)
    try:
        span = tflite_file.model_view(buf).vector(tflite_file.Slot.MODEL_METADATA, 4)
    except tflite_file.CORRUPT_ERRORS:
        return data   # the loader reports the file
    if span is not None:
        struct.pack_into("<I", buf, span[0] - 4, 0)   # a vector's length precedes its elements
    return bytes(buf)


def record_ranges(float_model: bytes, x: Samples) -> bytes:
    """``float_model`` with the min/max of every float activation over the samples ``x`` written into it, as
    TF's calibrate-only conversion writes them."""
    from edgelite.converter.loading import import_tf_quantizer
    from edgelite.converter.range_calibration import observed_ranges

    import_tf_quantizer()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model: Any = flatbuffer_utils.convert_bytearray_to_object(bytearray(float_model))
    renamed = _unique_names(model)
    dropped = _drop_kept_constants_flag(model)   # both run: a litert-torch export has alike names and the flag
    if renamed or dropped:
        # ranges are observed and written by tensor name: alike names would share one range (litert-torch
        # exports name most tensors "litert_torch._convert…" or "arith.constant")
        float_model = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    found = observed_ranges(float_model, x, every_float=True)
    for t in model.subgraphs[0].tensors:
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        if name not in found or (data is not None and len(data)):   # constants get their scales from the quantizer
            continue
        q = schema.QuantizationParametersT()
        q.min, q.max = [found[name][0]], [found[name][1]]
        t.quantization = q
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


KEEP_CONSTANTS_FLAG = b"keep_stablehlo_constant"


def _drop_kept_constants_flag(model: Any) -> bool:
    """Remove the ``keep_stablehlo_constant`` metadata entry litert-torch writes into its exports: with it TF's
    MLIR quantizer leaves every weight constant float, so each CONV_2D/FULLY_CONNECTED stays float (measured on
    facenet's ONet: 9 of 9 float with the entry, 0 without). Returns whether it was there."""
    entries = list(model.metadata or [])
    kept = [m for m in entries if bytes(m.name or b"") != KEEP_CONSTANTS_FLAG]
    if len(kept) == len(entries):
        return False
    model.metadata = kept or None
    return True


def _unique_names(model: Any) -> bool:
    """Give every tensor of the first subgraph a name of its own (``NAME;1``, ``NAME;2`` … for repeats); the
    subgraph's inputs and outputs keep theirs (the file's I/O names travel to the converted model). Returns
    whether anything was renamed."""
    sub = model.subgraphs[0]

    def name(t: Any) -> str:
        return t.name.decode() if isinstance(t.name, bytes) else str(t.name)

    # the object API holds these as numpy arrays (or None): no truth test on them
    io = {int(i) for part in (sub.inputs, sub.outputs) if part is not None for i in part}
    taken = {name(sub.tensors[i]) for i in io}
    renamed = False
    for k, t in enumerate(sub.tensors):
        if k in io:
            continue
        base, n = name(t), 0
        candidate = base
        while candidate in taken:
            n += 1
            candidate = f"{base};{n}"
        if candidate != base:
            t.name = candidate.encode()
            renamed = True
        taken.add(candidate)
    return renamed


def source_labels(cfg: ConvertConfig, warnings: list[str]) -> tuple[str, ...] | None:
    """``--labels``, else the labels a float .tflite source carries. What that source's metadata gives the
    conversion (or why it cannot) and the weights folded for calibration go to ``warnings``, one line each."""
    from edgelite.converter import source_metadata
    from edgelite.runtime import metadata as md

    labels = md.read_labels_file(cfg.labels) if cfg.labels else None
    if cfg.model.suffix != ".tflite" or not cfg.model.is_file():
        return labels
    data = tflite_file.read_model_bytes(cfg.model)
    from edgelite.core.files import native_stderr_captured
    from edgelite.runtime.isolation import probe as run_probe

    with native_stderr_captured():
        # probed in a child process before anything reads the graph: a hostile file is refused in seconds
        # (the probe is cached; the loader's own probe of the same bytes is then free)
        run_probe(cfg.model, content=data)
    if tflite_file.is_quantized(data):   # refused by the loader, with its own message
        return labels
    meta = source_metadata.read(cfg.model, data)
    warnings.extend(source_metadata.notices(cfg, meta))
    folded = _folded(cfg.model, data).notice()
    if folded:
        warnings.append(folded)
    return labels if labels is not None else meta.labels
