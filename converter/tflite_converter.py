"""The one place edgelite sets up TensorFlow's ``TFLiteConverter`` and runs its steps.

Every conversion starts from the source's SavedModel (``converter/loading.py`` exports Keras models to one):
float32, float16 and dynamic-range files in one shot; int8 as TF's calibrate-only pass followed by the MLIR
quantizer (``converter/calibrated.py``); int16x8 through TF's older quantizer in one shot. A converter failure
becomes a ``ConversionError`` that names the ops it complained about.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from edgelite.calibration.multi_input import Inputs, Samples
from edgelite.converter.config import ConvertConfig, IOType, QuantMode
from edgelite.converter.loading import SourceModel, import_tf
from edgelite.core import progress
from edgelite.core.errors import ConversionError
from edgelite.core.files import native_stderr_captured


def representative_dataset(representative: Samples) -> Callable[[], Iterator[Any]]:
    """TF's ``representative_dataset`` over the samples, batch 1: a list with one array, or for a multi-input
    model a dict by signature key (TF's calibrator then feeds the signature runner by name, whatever order
    the converted graph puts its inputs in)."""
    if isinstance(representative, Inputs):
        names = representative.names
        return lambda: ({n: a[None] for n, a in zip(names, sample, strict=True)} for sample in representative)
    return lambda: ([sample[None]] for sample in representative)


def tflite_converter(src: SourceModel, cfg: ConvertConfig, representative: Samples | None, *,
                     mode: QuantMode | None = None) -> Any:
    """A ``TFLiteConverter`` on ``src``'s SavedModel set up for ``mode`` (default ``cfg.mode``); int8 and
    int16x8 read their calibration samples from ``representative``."""
    tf = import_tf()
    mode = cfg.mode if mode is None else mode
    converter = tf.lite.TFLiteConverter.from_saved_model(str(src.saved_model_dir))
    if mode is QuantMode.FLOAT32:
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is QuantMode.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
        return converter
    if mode is QuantMode.DYNAMIC:
        return converter
    assert representative is not None, "int8 and int16x8 need calibration samples"
    converter.representative_dataset = representative_dataset(representative)
    ops = tf.lite.OpsSet
    if mode is QuantMode.INT8:   # calibrate-only: ``Calibrated`` quantizes with the MLIR quantizer itself
        converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8, ops.TFLITE_BUILTINS]
    else:
        converter.target_spec.supported_ops = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8] + (
            [ops.TFLITE_BUILTINS] if cfg.allow_float_ops else [])
    return converter


def io_dtype(tf: Any, io: IOType) -> Any:
    """The TF dtype of an ``--io`` choice."""
    return {IOType.INT8: tf.int8, IOType.UINT8: tf.uint8, IOType.FLOAT32: tf.float32}[io]


def _converter(src: SourceModel, cfg: ConvertConfig, representative: Samples | None) -> Any:
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(src.saved_model_dir))
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def run_tf(what: str, cfg: ConvertConfig, call: Any) -> bytes:
    """Run one TF converter step; its exceptions (ConverterError and plain ones) become ``ConversionError``
    naming the TFLite/TF ops the converter complained about, with its log kept for ``--verbose``."""
    with progress.working(what), native_stderr_captured() as log:
        try:
            return bytes(call())
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError, ValueError, RuntimeError
            raise ConversionError(_failure_message(what, cfg, exc), details=log.read_text(errors="replace")) from None


def _failure_message(what: str, cfg: ConvertConfig, exc: BaseException) -> str:
    text = str(exc)
    ops = sorted(set(re.findall(r"'(tfl|tf)\.([A-Za-z0-9_]+)'", text)))
    names = ", ".join(f"{a}.{b}" for a, b in ops[:8])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else type(exc).__name__)
    hint = " (--allow-float-ops keeps unsupported ops float)" if cfg.mode.needs_calibration else ""
    return f"{cfg.model}: {what} failed{f' on {names}' if names else ''}: {first[:300]}{hint}"
