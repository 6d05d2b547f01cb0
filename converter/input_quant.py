"""Pin a uint8 image input's quantization to what clients that feed raw pixels assume.

MediaPipe Tasks and the TFLite Task Library copy the resized 0–255 pixels straight into a uint8 input tensor;
they read neither its scale/zero-point nor the normalization metadata. The model then computes on
``(pixel − zero_point) × scale``, which is ``(pixel − mean) / std`` only when ``scale = 1/std`` and
``zero_point = mean``. TF's calibrator instead records the range the calibration images happened to reach
(e.g. [−0.93, 1.0]), so a phone would feed every pixel on the wrong scale. Rewriting the two numbers in
place keeps every op as converted: the QUANTIZE op after the input requantizes from the pinned scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.core.errors import ConversionError, UserInputError
from edgelite.runtime import tflite_file


@dataclass(frozen=True)
class InputPin:
    scale: float
    zero_point: int


def raw_pixel_pin(mean: tuple[float, ...], std: tuple[float, ...], pipeline: str, warnings: list[str]) -> InputPin:
    """The uint8 input quantization under which raw pixels mean ``(pixel − mean) / std``."""
    if len(set(mean)) > 1 or len(set(std)) > 1:
        raise UserInputError(f"--io uint8 with per-channel --mean/--std cannot work with the {pipeline} pipeline: "
                             "it feeds raw pixels to uint8 inputs, and a uint8 tensor has one scale; use one "
                             "mean and std, or --io float32")
    m, s = float(mean[0]), float(std[0])
    zp = int(round(m))
    if not 0 <= zp <= 255 or s <= 0:
        raise UserInputError(f"--io uint8 needs 0 ≤ mean ≤ 255 and std > 0 for the {pipeline} pipeline (raw pixels "
                             f"go into the uint8 input), got mean {m:g}, std {s:g}; use --io float32")
    if zp != m:
        warnings.append(f"mean {m:g} is not a whole pixel value: the {pipeline} client feeds raw pixels to the uint8 "
                        f"input, so the model sees (pixel − {zp}) / {s:g}, half a level off (--mean {zp} removes it)")
    return InputPin(scale=1.0 / s, zero_point=zp)


def pin_input(data: bytes, pin: InputPin) -> bytes:
    """``data`` with every uint8 graph input's scale and zero-point set to ``pin`` (same size, patched in place)."""
    buf = bytearray(data)
    for scale, zero_point in tflite_file.uint8_input_quantization(buf):
        if scale is None or zero_point is None or len(scale) != 1 or len(zero_point) != 1:
            raise ConversionError("the converted uint8 input has no per-tensor quantization to pin; "
                                  "use --io float32")
        # Views into ``buf``: writing them rewrites the flatbuffer's vectors.
        scale[0] = np.float32(pin.scale)
        zero_point[0] = np.int64(pin.zero_point)
    return bytes(buf)
