"""The words edgelite's flags, TOML keys and reports share: one enum per choice, and the target presets.

Every place that offers or checks a choice reads it from here — argparse ``choices=``, ``edgelite.toml``
validation, ``ConvertConfig``, the backends — so a new mode or target is one line in one file. The values are
the strings users type and the JSON carries; members compare equal to them (``str`` enums).

Pure Python and board-safe: the check on a board validates ``[models.convert]`` with these rules without
pulling in the converter.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from edgelite.core.errors import UserInputError


class QuantMode(str, Enum):
    INT8 = "int8"          # full integer: int8 weights and activations, calibrated
    INT16X8 = "int16x8"    # int16 activations, int8 weights, calibrated
    FLOAT16 = "float16"    # float16 weights, float compute
    DYNAMIC = "dynamic"    # int8 weights, float activations (dynamic range)
    FLOAT32 = "float32"    # no quantization

    @property
    def needs_calibration(self) -> bool:
        return self in (QuantMode.INT8, QuantMode.INT16X8)


class IOType(str, Enum):
    INT8 = "int8"
    UINT8 = "uint8"
    FLOAT32 = "float32"


class Target(str, Enum):
    LITERT = "litert"
    MEDIAPIPE = "mediapipe"
    GPU = "gpu"


class BackendName(str, Enum):
    AUTO = "auto"                    # the first of the others that imports, in this order
    LITERT = "litert"                # ai-edge-litert: the maintained runtime
    TFLITE_RUNTIME = "tflite-runtime"  # 2.14, old and armv7 boards (numpy<2)
    TF = "tf"                        # tf.lite.Interpreter: deprecated, needs TensorFlow


class Equalize(str, Enum):
    """``convert --equalize``: what cross-layer equalization balances (converter/equalization.py)."""

    ACTIVATIONS = "activations"   # each channel's activation range against the next layer's weights
    WEIGHTS = "weights"           # the two layers' weight ranges (Nagel et al. 2019)


class ResizeMethod(str, Enum):
    """Pillow's resampling filters (the ``pil`` pipeline); the other pipelines are bilinear by definition."""

    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    NEAREST = "nearest"


class ColorMode(str, Enum):
    RGB = "rgb"
    BGR = "bgr"
    GRAY = "gray"


class XnnpackChoice(str, Enum):
    """``bench --xnnpack``: the default delegate on, off, or both in one interleaved run."""

    ON = "on"
    OFF = "off"
    BOTH = "both"


E = TypeVar("E", bound=Enum)


def choices(enum: type[Enum]) -> tuple[str, ...]:
    """The values users may type, in declaration order (argparse ``choices=``, error messages)."""
    return tuple(str(m.value) for m in enum)


def parse(enum: type[E], value: object, where: str) -> E:
    """``enum(value)``, or a one-line ``UserInputError`` naming ``where`` and the known values."""
    try:
        return enum(value)
    except ValueError:
        raise UserInputError(f"{where} must be one of {', '.join(choices(enum))}, got {value!r}") from None


def resolve_target(target: str | Target | None, mode: str | None,
                   io: str | None) -> tuple[QuantMode, IOType | None, list[str]]:
    """(mode, io, notes) for a deployment target, keeping what the user chose where the target allows it.

    ``None`` means "the target's choice". A choice the target cannot meet is a ``UserInputError`` with the
    reason (never a silently different model). The why of each preset is in ``converter/targets.py``."""
    t = parse(Target, target or Target.LITERT.value, "--target")
    m = None if mode is None else parse(QuantMode, mode, "--mode")
    i = None if io is None else parse(IOType, io, "--io")
    if t is Target.LITERT:
        return m or QuantMode.INT8, i, []
    if t is Target.MEDIAPIPE:
        if m is QuantMode.INT16X8 or m is QuantMode.DYNAMIC:
            raise UserInputError(f"--target mediapipe takes --mode int8, float16 or float32, not {m.value}: "
                                 "MediaPipe Tasks' classifiers need uint8 or float32 tensors at the model's edges")
        m = m or QuantMode.INT8
        if i is IOType.INT8:
            raise UserInputError("--target mediapipe cannot use --io int8: MediaPipe Tasks refuses int8 input "
                                 "tensors (uint8/float32 only); use --io uint8 (default) or --io float32")
        if m is not QuantMode.INT8 and i is IOType.UINT8:
            raise UserInputError(f"--io uint8 needs --mode int8; --mode {m.value} keeps float32 I/O")
        i = i or (IOType.UINT8 if m is QuantMode.INT8 else IOType.FLOAT32)
        return m, i, [f"target mediapipe: --mode {m.value} --io {i.value}, batch 1, RGB input, standard metadata "
                      "(normalization, color space, labels) for MediaPipe Tasks' ImageClassifier"]
    if m not in (None, QuantMode.FLOAT16, QuantMode.FLOAT32):
        raise UserInputError(f"--target gpu takes --mode float16 (default) or float32, not {m.value}: phone GPU "
                             "delegates compute in float, so int8 weights buy no speed there and cost accuracy")
    if i not in (None, IOType.FLOAT32):
        raise UserInputError(f"--target gpu keeps float32 I/O; drop --io {i.value}")
    m = m or QuantMode.FLOAT16
    return m, IOType.FLOAT32, [f"target gpu: --mode {m.value} (float weights, float compute), float32 I/O, "
                               "batch 1; the result is checked op by op for GPU-delegate kernels"]
