"""The preprocessing contract: one frozen spec, written into the .tflite, used by calibration, eval and runtime."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edgelite.calibration.resize import Pipeline, resize
from edgelite.core.errors import UnreadableImageError, UserInputError
from edgelite.core.vocabulary import ColorMode, ResizeMethod, choices

RESIZE_METHODS = {
    ResizeMethod.BILINEAR.value: Image.Resampling.BILINEAR,
    ResizeMethod.BICUBIC.value: Image.Resampling.BICUBIC,
    ResizeMethod.NEAREST.value: Image.Resampling.NEAREST,
}
COLOR_MODES = choices(ColorMode)
LAYOUTS = ("nhwc", "nchw")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

ImageLike = str | os.PathLike | Image.Image | np.ndarray


# Bounded resources: a model input (and so every preprocessed sample) is at most this many pixels, so a spec
# read from a model file or --input-size cannot ask for a 100000x100000 float array (40 GB per channel).
MAX_INPUT_PIXELS = 4096 * 4096
# Bounded resources: an image is refused before it is decoded when its header declares more pixels than this
# (50 MP covers 48-MP phone photos; a 48 KB PNG can declare 20000x20000 = 400 MP, 1.2 GB once decoded).
MAX_IMAGE_PIXELS_DEFAULT = 50_000_000
MAX_IMAGE_PIXELS_ENV = "EDGELITE_MAX_IMAGE_PIXELS"


def max_image_pixels() -> int:
    from edgelite.core.limits import env_cap

    return env_cap(MAX_IMAGE_PIXELS_ENV, MAX_IMAGE_PIXELS_DEFAULT, "pixels")


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully decode an image; an unreadable or oversized file is an ``UnreadableImageError`` naming it
    (folders skip and count those)."""
    return _decode(path, str(path))


def decode_image(data: bytes, where: str, *, max_pixels: int | None = None) -> Image.Image:
    """Decode an encoded image held in memory (an upload), with the same pixel cap and errors as a file
    (``max_pixels``: a lower cap, e.g. a server's). The decoded image is not copied: peak memory is one image."""
    import io

    return _decode(io.BytesIO(data), where, max_pixels=max_pixels, in_memory=True)


def image_pixels(data: bytes, where: str) -> int:
    """Width × height that an encoded image's header declares (nothing is decoded): what decoding it costs."""
    import io

    with _opened(io.BytesIO(data), where) as im:
        width, height = im.size
        im.close()
    return int(width) * int(height)


@contextlib.contextmanager
def _opened(source: Any, path: str) -> Iterator[Image.Image]:
    """``Image.open`` (header only) with its errors as one-line ``UserInputError``s naming ``path``. The caller
    closes the image, or keeps it (a decoded upload: closing would drop the pixels it is about to return)."""
    import warnings

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns past 89 MP and raises past 179 MP; ours (_decode) comes first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
            try:
                yield im
            except BaseException:
                im.close()
                raise
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such image file") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own hard limit (179 MP) applies even when our cap is raised past it.
        raise UnreadableImageError(f"{path}: over the pixel cap for one image ({exc}); resize it") from None
    except UnidentifiedImageError:   # Pillow's text repeats the source (a BytesIO repr for uploads)
        raise UnreadableImageError(f"{path}: not a readable image (no decoder recognises its format); remove it "
                                   "or convert it to PNG/JPEG") from None
    except (OSError, ValueError) as exc:
        raise UnreadableImageError(f"{path}: not a readable image ({exc}); remove it or convert it to "
                                   "PNG/JPEG") from None


def _decode(source: Any, path: str, *, max_pixels: int | None = None, in_memory: bool = False) -> Image.Image:
    cap = max_image_pixels() if max_pixels is None else min(max_pixels, max_image_pixels())
    with _opened(source, path) as im:
        width, height = im.size
        if width * height > cap:
            hint = f"or raise the cap with {MAX_IMAGE_PIXELS_ENV}" if max_pixels is None else "or send a smaller one"
            raise UnreadableImageError(
                f"{path}: {width}x{height} pixels is over the {cap:,}-pixel cap for one image; resize it, {hint}")
        im.load()
        if in_memory:   # a BytesIO holds no OS resource: return the decoded image itself, not a second copy
            return im
        try:
            return im.copy()
        finally:
            im.close()   # the file handle, at once (multi-frame formats keep it open after load)


@dataclass(frozen=True)
class PreprocessSpec:
    """How 0–255 pixels become model input: ``value = (pixel − mean) / std`` per channel, after color/crop/resize.

    ``crop_fraction`` < 1 keeps that central fraction of height and width before resizing
    (like ``tf.image.central_crop``). ``layout`` is the model's input layout. ``pipeline`` names the client
    whose decode and resize edgelite reproduces (``runtime/resize.py``): ``pil``, ``mediapipe``,
    ``tflite-support`` or ``tf``; files written before pipelines existed read as ``pil``.
    """

    height: int
    width: int
    color: str = "rgb"
    resize: str = "bilinear"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (255.0,)
    crop_fraction: float = 1.0
    layout: str = "nhwc"
    pipeline: str = "pil"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if not (isinstance(self.height, int) and isinstance(self.width, int)) or self.height < 1 or self.width < 1:
            raise UserInputError(f"input size must be positive integers, got {self.height}x{self.width}")
        if self.height * self.width > MAX_INPUT_PIXELS:
            raise UserInputError(f"input size {self.height}x{self.width} is over the {MAX_INPUT_PIXELS:,}-pixel cap "
                                 "(4096x4096) for a model input; a real image model takes far less")
        if self.color not in COLOR_MODES:
            raise UserInputError(f"color must be one of {', '.join(COLOR_MODES)}, got {self.color!r}")
        if self.resize not in RESIZE_METHODS:
            raise UserInputError(f"resize must be one of {', '.join(RESIZE_METHODS)}, got {self.resize!r}")
        if self.layout not in LAYOUTS:
            raise UserInputError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.channels):
                need = "1 value" if self.channels == 1 else f"1 or {self.channels} values"
                raise UserInputError(f"{name} needs {need} for color {self.color!r}, got {len(values)}")
            if not all(np.isfinite(values)):
                raise UserInputError(f"{name} values must be finite numbers, got {values}")
        if any(s == 0 for s in self.std):
            raise UserInputError("std values must be non-zero")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise UserInputError(f"crop fraction must be in (0, 1], got {self.crop_fraction}")
        pipe = Pipeline.parse(str(self.pipeline), "resize pipeline")
        object.__setattr__(self, "pipeline", pipe.value)
        if pipe is not Pipeline.PIL and self.resize != "bilinear":
            raise UserInputError(f"resize {self.resize!r} is Pillow's; the {pipe.value} pipeline resizes bilinearly "
                                 "only: drop --resize or use --resize-pipeline pil")
        if pipe.feeds_raw_uint8 and self.crop_fraction < 1.0:
            raise UserInputError(f"the {pipe.value} pipeline resizes the whole image (no central crop); "
                                 "crop the images before, or use --resize-pipeline pil or tf")
        if pipe is Pipeline.MEDIAPIPE and (len(set(self.mean)) > 1 or len(set(self.std)) > 1):
            raise UserInputError("MediaPipe Tasks takes one mean and one std for all channels ('Per-channel "
                                 "image normalization is not available'); give single --mean/--std values")

    @property
    def resize_pipeline(self) -> Pipeline:
        return Pipeline(self.pipeline)

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one preprocessed sample (no batch axis)."""
        if self.layout == "nchw":
            return (self.channels, self.height, self.width)
        return (self.height, self.width, self.channels)

    # ---- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = {"height", "width", "color", "resize", "mean", "std", "crop_fraction", "layout", "pipeline"}
        unknown = set(data) - known
        if unknown:
            raise UserInputError(f"unknown preprocessing keys: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {k: (tuple(v) if k in ("mean", "std") else v) for k, v in data.items()}
        return cls(**values)

    # ---- application ---------------------------------------------------------------------------------------
    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """(pixel − mean) / std on an HxWxC array of 0–255 values, returned as float32 in the model's layout.

        The ``mediapipe`` pipeline computes it as MediaPipe does, ``pixel × scale + offset`` with the range
        (0 − mean)/std … (255 − mean)/std spread over 0–255 (equal up to float rounding)."""
        px = pixels.astype(np.float32)
        if self.resize_pipeline is Pipeline.MEDIAPIPE:
            mean, std = np.float32(self.mean[0]), np.float32(self.std[0])
            lo, hi = (np.float32(0.0) - mean) / std, (np.float32(255.0) - mean) / std
            x = px * ((hi - lo) / np.float32(255.0)) + lo
        else:
            x = (px - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return self._in_layout(x)

    def _in_layout(self, x: np.ndarray) -> np.ndarray:
        if self.layout == "nchw":
            x = np.transpose(x, (2, 0, 1))
        return np.ascontiguousarray(x, dtype=np.float32)

    def to_pixels(self, image: ImageLike) -> np.ndarray:
        """Decode, orient, color-convert, crop and resize as the pipeline's client does: an HxWxC array of
        0–255 values, uint8 (float32 for ``tf``, whose resize is not rounded)."""
        pipe = self.resize_pipeline
        im = self._as_pil(image)
        if pipe.applies_exif_orientation:
            im = ImageOps.exif_transpose(im)
        im = im.convert("L" if self.color == "gray" else "RGB")
        if self.crop_fraction < 1.0:
            w, h = im.size
            cw, ch = max(1, round(w * self.crop_fraction)), max(1, round(h * self.crop_fraction))
            left, top = (w - cw) // 2, (h - ch) // 2
            im = im.crop((left, top, left + cw, top + ch))
        if pipe is Pipeline.PIL and im.size != (self.width, self.height):
            im = im.resize((self.width, self.height), RESIZE_METHODS[self.resize])
        arr = np.asarray(im, dtype=np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if pipe is not Pipeline.PIL and arr.shape[:2] != (self.height, self.width):
            arr = resize(arr, self.height, self.width, pipe)   # every pipeline is the identity at the same size
        if self.color == "bgr":
            arr = arr[:, :, ::-1]
        return arr

    def apply(self, image: ImageLike) -> np.ndarray:
        """Image (path, PIL image, or HxW[xC] 0–255 integer array) → one model-ready float32 sample."""
        return self.normalize(self.to_pixels(image))

    def apply_for_input(self, image: ImageLike, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
        """``apply`` as the pipeline's client feeds a model input of ``dtype`` with that quantization.

        MediaPipe Tasks and the Task Library copy the resized 0–255 pixels straight into a uint8 input,
        whatever its scale/zero-point and normalization say. The float returned here quantizes back to
        exactly those pixels, so edgelite's numbers are the phone's even when the two disagree (files
        converted by edgelite for these clients have a matching input quantization, see the converter)."""
        if self.resize_pipeline.feeds_raw_uint8 and np.dtype(dtype) == np.uint8 and scale:
            px = self.to_pixels(image).astype(np.float32)
            return self._in_layout((px - np.float32(zero_point)) * np.float32(scale))
        return self.apply(image)

    @staticmethod
    def _as_pil(image: ImageLike) -> Image.Image:
        if isinstance(image, Image.Image):
            return image
        if isinstance(image, (str, os.PathLike)):
            return load_image(Path(image))
        if isinstance(image, np.ndarray):
            arr = image
            if arr.dtype.kind not in "iu":
                raise UserInputError(f"pixel arrays must be integers 0–255, got dtype {arr.dtype}")
            if arr.size and (arr.min() < 0 or arr.max() > 255):
                raise UserInputError(f"pixel values must be in 0–255, got {arr.min()}..{arr.max()}")
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[:, :, 0]
            if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
                raise UserInputError(f"pixel array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
            return Image.fromarray(arr.astype(np.uint8))
        raise UserInputError(f"cannot use {type(image).__name__} as an image; pass a path, PIL image or array")

    def value_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel model-input range reached by pixels 0 and 255 (used for the standard metadata stats)."""
        mean = np.broadcast_to(np.asarray(self.mean, np.float32), (self.channels,))
        std = np.broadcast_to(np.asarray(self.std, np.float32), (self.channels,))
        a, b = (0.0 - mean) / std, (255.0 - mean) / std
        return np.minimum(a, b), np.maximum(a, b)


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    """Parse ``"127.5"`` or ``"0.485,0.456,0.406"`` from the command line."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UserInputError(f"--{what} takes numbers like 127.5 or 123.7,116.3,103.5; got {text!r}") from None
    return values


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (or a single ``N`` for a square input)."""
    parts = text.lower().split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 1:
        raise UserInputError(f"--input-size takes HxW like 224x224; got {text!r}")
    return nums[0], nums[1]
