"""The words edgelite's flags, TOML keys and reports share: one enum per choice, and the target presets.

Every place that offers or checks a choice reads it from here — argparse ``choices=``, ``edgelite.toml``
validation, ``ConvertConfig``, the backends — so a new mode or target is one line in one file. The values are
the strings users type and the JSON carries; members compare equal to them (``str`` enums).

Pure Python and board-safe: the check on a board validates ``[models.convert]`` with these rules without
pulling in the converter.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TargetPreset:
    """What one ``--target`` picks and needs, the one table every layer reads (why: converter/targets.py)."""

    target: Target
    summary: str                          # --target help
    default_mode: QuantMode
    modes: tuple[QuantMode, ...]          # the modes it takes
    mode_refusal: str                     # why it refuses the others
    int8_io: IOType | None                # default --io for int8 (None: int8 or what the user gave)
    ios: tuple[IOType, ...]               # the I/O types it takes (for int8; float modes keep float32)
    io_refusal: str
    batch1: bool = False                  # re-export with batch 1
    rgb_front: bool = False               # a grayscale model gets an RGB → luma layer in front
    resize_pipeline: str | None = None    # the client's decode + resize, forced (calibration/resize.py)
    image_classifier: bool = False        # the source must be an image classifier (one image in, scores out)
    gpu_check: bool = False               # the result is checked op by op for GPU-delegate kernels
    note: str = ""                        # what the target picked: "{mode}", "{io}" filled in


_ALL_IO = (IOType.INT8, IOType.UINT8, IOType.FLOAT32)
PRESETS: dict[Target, TargetPreset] = {p.target: p for p in (
    TargetPreset(Target.LITERT, "litert (int8, int8 I/O; default)", QuantMode.INT8, tuple(QuantMode), "",
                 None, _ALL_IO, ""),
    TargetPreset(Target.MEDIAPIPE, "mediapipe (int8, uint8 I/O, RGB, metadata for MediaPipe Tasks)", QuantMode.INT8,
                 (QuantMode.INT8, QuantMode.FLOAT16, QuantMode.FLOAT32),
                 "MediaPipe Tasks' classifiers need uint8 or float32 tensors at the model's edges",
                 IOType.UINT8, (IOType.UINT8, IOType.FLOAT32),
                 "MediaPipe Tasks refuses int8 input tensors (uint8/float32 only); use --io uint8 (default) or "
                 "--io float32",
                 batch1=True, rgb_front=True, resize_pipeline="mediapipe", image_classifier=True,
                 note="target mediapipe: --mode {mode} --io {io}, batch 1, RGB input, standard metadata "
                      "(normalization, color space, labels) for MediaPipe Tasks' ImageClassifier"),
    TargetPreset(Target.GPU, "gpu (float16, float I/O, GPU-delegate check)", QuantMode.FLOAT16,
                 (QuantMode.FLOAT16, QuantMode.FLOAT32),
                 "phone GPU delegates compute in float, so int8 weights buy no speed there and cost accuracy",
                 None, (IOType.FLOAT32,), "", batch1=True, gpu_check=True,
                 note="target gpu: --mode {mode} (float weights, float compute), float32 I/O, batch 1; the "
                      "result is checked op by op for GPU-delegate kernels"),
)}


def resolve_target(target: str | Target | None, mode: str | None,
                   io: str | None) -> tuple[QuantMode, IOType | None, list[str]]:
    """(mode, io, notes) for a deployment target, keeping what the user chose where the target allows it.

    ``None`` means "the target's choice". A choice the target cannot meet is a ``UserInputError`` with the
    reason (never a silently different model)."""
    p = PRESETS[parse(Target, target or Target.LITERT.value, "--target")]
    m = None if mode is None else parse(QuantMode, mode, "--mode")
    i = None if io is None else parse(IOType, io, "--io")
    if m is not None and m not in p.modes:
        names = [f"{x.value} (default)" if x is p.default_mode else x.value for x in p.modes]
        listed = ", ".join(names[:-1]) + f" or {names[-1]}"
        raise UserInputError(f"--target {p.target.value} takes --mode {listed}, not {m.value}: {p.mode_refusal}")
    m = m or p.default_mode
    if p.target is Target.LITERT:
        return m, i, []
    if i is not None and i not in p.ios:
        if p.ios == (IOType.FLOAT32,):
            raise UserInputError(f"--target {p.target.value} keeps float32 I/O; drop --io {i.value}")
        raise UserInputError(f"--target {p.target.value} cannot use --io {i.value}: {p.io_refusal}")
    if m is not QuantMode.INT8 and i is not None and i is not IOType.FLOAT32:
        raise UserInputError(f"--io {i.value} needs --mode int8; --mode {m.value} keeps float32 I/O")
    i = i or (p.int8_io if m is QuantMode.INT8 and p.int8_io is not None else IOType.FLOAT32)
    return m, i, [p.note.format(mode=m.value, io=i.value)]
