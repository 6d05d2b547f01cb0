"""Deployment targets: ``--target litert|mediapipe|gpu`` picks what the target needs and says what it picked.

- ``litert`` (default): full int8 with int8 I/O, for edgelite's runtime and LiteRT on boards (XNNPACK's fast
  int8 path; uint8 I/O disables it on some Arm cores).
- ``mediapipe``: full int8 with uint8 I/O (or float32), batch 1, RGB input, standard metadata complete for
  MediaPipe Tasks' ImageClassifier (normalization, color space, labels). MediaPipe refuses int8 I/O
  ("Requested one of these types: uint8/float32, got INT8") and grayscale inputs, so a 1-channel model gets a
  fixed RGB→luma layer in front (ITU-R 601-2 weights, what Pillow's ``convert("L")`` computes).
- ``gpu``: float16 weights with float32 compute and I/O, batch 1: what phone GPU delegates run natively.
  Fixing the batch lets the converter fold the SHAPE/STRIDED_SLICE/RESHAPE chain that Keras' ``Flatten``
  leaves for a dynamic batch, which the GPU delegate cannot take. The file is then checked op by op
  (``runtime/gpu.py``) and a warning says what would fall back to the CPU.

The presets themselves are one table (``edgelite.core.vocabulary.PRESETS``: modes, I/O, batch, RGB front,
resize pipeline, checks) that ``resolve_target``, the converter and the CLI's help read, so that ``check`` on a
board validates them without the converter. A choice the target cannot meet is a one-line ``UserInputError``
with the reason, never a different model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from edgelite.core.errors import ConversionError, UserInputError
from edgelite.core.vocabulary import PRESETS, Target

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL.Image.convert("L")


def check_source(target: Target, model: Path, input_shape: tuple[int | None, ...],
                 output_shape: tuple[int | None, ...], inputs: int, labels: Any) -> list[str]:
    """Refuse what the target cannot take; return warnings for what it takes with a caveat."""
    if not PRESETS[target].image_classifier:
        return []
    why = "MediaPipe Tasks' ImageClassifier takes one image input (N, H, W, 3)"
    if inputs != 1:
        raise UserInputError(f"{model}: has {inputs} inputs; {why}")
    if len(input_shape) != 4 or input_shape[3] not in (1, 3):
        raise UserInputError(f"{model}: input shape {input_shape} is not an image with 1 or 3 channels; {why}")
    if input_shape[1] is None or input_shape[2] is None:
        raise UserInputError(f"{model}: input size is dynamic ({input_shape}); MediaPipe resizes images to the "
                             "model's fixed input size: re-export the model with a fixed height and width")
    if len(output_shape) != 2:
        raise UserInputError(f"{model}: output shape {output_shape} is not (N, classes) scores; MediaPipe Tasks' "
                             "ImageClassifier reads one score per class")
    warnings = []
    if input_shape[3] == 1:
        warnings.append("MediaPipe Tasks takes RGB images only: a fixed RGB->gray layer (ITU-R 601-2 luma, as "
                        "Pillow's convert('L')) was put in front of the grayscale model; feed it RGB images")
    if not labels:
        warnings.append("no labels: MediaPipe will report class indices only; pass --labels FILE")
    return warnings


def refront(src: Any, folder: Path, *, batch1: bool, rgb: bool) -> Any:
    """A new SavedModel around ``src``'s serving signature: batch fixed to 1 and/or an RGB->luma front.

    Returns a ``SourceModel`` that the rest of the conversion uses like the original (same layer names, so
    float-fallback patterns still match)."""
    from edgelite.converter.loading import import_tf

    tf = import_tf()
    loaded = tf.saved_model.load(str(src.saved_model_dir))
    serve = loaded.signatures["serving_default"]
    name = src.input_names[0]
    rest = tuple(src.input_shape[1:])
    if rgb:
        rest = rest[:-1] + (3,)
    batch = 1 if batch1 else src.input_shape[0]
    kernel = tf.constant([[list(LUMA)]], dtype=tf.float32)[..., None] if rgb else None  # (1, 1, 3, 1)

    class Front(tf.Module):  # type: ignore[name-defined]  # tf: imported above, at run time
        def __init__(self) -> None:
            super().__init__()
            self.inner = loaded   # keeps the variables tracked

        @tf.function(input_signature=[tf.TensorSpec((batch,) + rest, tf.float32, name=name)])
        def __call__(self, x: Any) -> Any:
            if kernel is not None:
                x = tf.nn.conv2d(x, kernel, strides=1, padding="VALID")   # one 1x1 conv: int8- and GPU-friendly
            return serve(**{name: x})

    module = Front()
    out_dir = folder / "refront"
    try:
        tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.__call__})
    except Exception as exc:  # noqa: BLE001 - TF raises many types while tracing; the message is what matters
        raise ConversionError(f"{src.path}: could not re-export the model for the target ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    shape = (batch,) + rest
    out_shape = (batch,) + tuple(src.output_shape[1:])
    reloaded = tf.saved_model.load(str(out_dir)).signatures["serving_default"]
    return dataclasses.replace(src, saved_model_dir=out_dir, input_shape=shape, output_shape=out_shape,
                               keras_model=None, signature=reloaded)
