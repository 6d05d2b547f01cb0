"""Resize pipelines: how each client that will run the file turns a decoded image into the model's pixels.

The same photo resized by two libraries gives different pixels, and an int8 model can change its top-1 on
that difference. So the pipeline is part of the preprocessing contract (``PreprocessSpec.pipeline``), written
into the .tflite, and reproduced here in numpy (no OpenCV, no TensorFlow on the board):

``pil``
    Pillow's ``Image.resize`` (antialiased when downsampling). What PIL-based training loaders feed.
``mediapipe``
    MediaPipe Tasks' CPU image-to-tensor step: ``cv::warpPerspective`` of the full-image ROI onto the tensor,
    ``INTER_LINEAR``, replicated border, no half-pixel shift. OpenCV's 8-bit remap works in fixed point:
    source coordinates rounded to 1/32 pixel, bilinear weights in 1/32768, rounded descale. Reproduced bit
    for bit (measured against mediapipe 1.2.2 through a probe model; tests/runtime/test_pipelines_clients.py).
``tflite-support``
    The TFLite Task Library (C++, and its Java/Python wrappers): libyuv ``ARGBScale`` with
    ``kFilterBilinear``: 16.16 fixed-point source steps, centred when downsampling, an 8-bit vertical blend
    then a 7-bit horizontal blend. Android's Support Library ``ResizeOp`` scales with ``Bitmap``
    (Skia) instead, which no library off the phone reproduces.
``tf``
    ``tf.image.resize(..., "bilinear", antialias=False)`` as Keras' ``image_dataset_from_directory`` calls
    it: half-pixel centres, float32 output that is not rounded back to 0–255.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from edgelite.core.errors import UserInputError


class Pipeline(str, Enum):
    PIL = "pil"
    MEDIAPIPE = "mediapipe"
    TFLITE_SUPPORT = "tflite-support"
    TF = "tf"

    @classmethod
    def parse(cls, name: str, where: str = "--resize-pipeline") -> Pipeline:
        try:
            return cls(name)
        except ValueError:
            raise UserInputError(f"{where}: unknown resize pipeline {name!r}; known: "
                                 f"{', '.join(p.value for p in cls)}") from None

    @property
    def feeds_raw_uint8(self) -> bool:
        """MediaPipe Tasks and the Task Library copy the resized 0–255 pixels straight into a uint8 input
        tensor, ignoring its scale/zero-point and the normalization metadata."""
        return self in (Pipeline.MEDIAPIPE, Pipeline.TFLITE_SUPPORT)

    @property
    def applies_exif_orientation(self) -> bool:
        """MediaPipe's image loader (``Image.create_from_file``) rotates by the EXIF orientation tag; Pillow,
        ``tf.io.decode_image`` and the Task Library's loaders keep the stored pixel order."""
        return self is Pipeline.MEDIAPIPE

    @property
    def float_output(self) -> bool:
        """TF's resize returns unrounded float32 pixels; the others return uint8."""
        return self is Pipeline.TF


def resize(pixels: np.ndarray, height: int, width: int, pipeline: Pipeline) -> np.ndarray:
    """Bilinear resize of an HxWxC uint8 array the way ``pipeline`` does it (not ``pil``: Pillow does that)."""
    if pipeline is Pipeline.MEDIAPIPE:
        return _opencv_warp_linear(pixels, height, width)
    if pipeline is Pipeline.TFLITE_SUPPORT:
        return _libyuv_bilinear(pixels, height, width)
    if pipeline is Pipeline.TF:
        return _tf_bilinear_half_pixel(pixels, height, width)
    raise ValueError(f"{pipeline} resizes with Pillow")


# ---- mediapipe: OpenCV warpPerspective, INTER_LINEAR, 8-bit fixed point --------------------------------------
_INTER_BITS = 5                     # OpenCV INTER_BITS: 1/32-pixel source coordinates
_INTER_TAB = 1 << _INTER_BITS
_COEF_BITS = 15                     # INTER_REMAP_COEF_BITS: weights sum to 32768


def _opencv_warp_linear(src: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = src.shape[:2]
    # The ROI's corners (0,0)-(w,h) map onto the tensor's (0,0)-(width,height): dst→src is a pure scale.
    # OpenCV rounds (coordinate × 32) half-to-even (cvRound), as np.rint does.
    fx = np.rint(np.arange(width, dtype=np.float64) * (w / width) * _INTER_TAB).astype(np.int64)
    fy = np.rint(np.arange(height, dtype=np.float64) * (h / height) * _INTER_TAB).astype(np.int64)
    x0, ax = fx >> _INTER_BITS, fx & (_INTER_TAB - 1)
    y0, ay = fy >> _INTER_BITS, fy & (_INTER_TAB - 1)
    # Bilinear weights (a/32)·(b/32)·32768 are exact integers, so OpenCV's table needs no sum fix-up.
    wx = np.stack([_INTER_TAB - ax, ax]) * (1 << (_COEF_BITS - 2 * _INTER_BITS))   # (2, width)
    wy = np.stack([_INTER_TAB - ay, ay])                                          # (2, height)
    xi = np.clip(np.stack([x0, x0 + 1]), 0, w - 1)   # BORDER_REPLICATE
    yi = np.clip(np.stack([y0, y0 + 1]), 0, h - 1)
    img = src.astype(np.int32)
    acc = np.zeros((height, width, src.shape[2]), np.int64)
    for j in (0, 1):
        rows = img[yi[j]]                                   # (height, w, C)
        for i in (0, 1):
            acc += rows[:, xi[i]] * (wy[j][:, None] * wx[i][None, :])[..., None]
    return np.clip((acc + (1 << (_COEF_BITS - 1))) >> _COEF_BITS, 0, 255).astype(np.uint8)


# ---- tf: tf.image.resize bilinear, half-pixel centres, float32 ------------------------------------------------
def _tf_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = np.float32(in_size) / np.float32(out_size)
    pos = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(pos)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(pos).astype(np.int64), in_size - 1)
    return lower, upper, (pos - floor).astype(np.float32)


def _tf_bilinear_half_pixel(src: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = src.shape[:2]
    y_lo, y_hi, y_lerp = _tf_axis(h, height)
    x_lo, x_hi, x_lerp = _tf_axis(w, width)
    img = src.astype(np.float32)
    xl = x_lerp[None, :, None]
    top_rows, bottom_rows = img[y_lo], img[y_hi]
    top = top_rows[:, x_lo] + (top_rows[:, x_hi] - top_rows[:, x_lo]) * xl
    bottom = bottom_rows[:, x_lo] + (bottom_rows[:, x_hi] - bottom_rows[:, x_lo]) * xl
    return (top + (bottom - top) * y_lerp[:, None, None]).astype(np.float32)


# ---- tflite-support: libyuv ARGBScale, kFilterBilinear ----------------------------------------------------------
# libyuv picks a code path from the sizes (ScaleFilterReduce, ScaleSlope and ScaleARGB's special cases); each is
# reproduced here because each rounds differently. Positions are 16.16 fixed point.
_NONE, _LINEAR, _BILINEAR = 0, 1, 2


def _filter_mode(sw: int, sh: int, dw: int, dh: int) -> int:
    mode = _BILINEAR
    if sh == 1 or dh == sh or dh * 3 == sh:
        mode = _LINEAR                          # no vertical blend needed
    if sw == 1:
        mode = _NONE
    if mode == _LINEAR and (dw == sw or dw * 3 == sw):
        mode = _NONE                            # no horizontal blend needed either
    return mode


def _slope(src: int, dst: int, blend: bool) -> tuple[int, int]:
    """(start, step) along one axis: blended axes start half a pixel early when shrinking and land on the
    first and last source pixels when growing; point-sampled axes sample the centre of each step."""
    if blend:
        if dst <= src:
            step = (src << 16) // dst
            return (step >> 1) - 32768, step
        if src > 1 and dst > 1:
            return 0, ((src << 16) - 0x00010001) // (dst - 1)
        return 0, 0
    step = (src << 16) // dst
    return step >> 1, step


def _blend_rows(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> np.ndarray:
    """InterpolateRow: 8-bit vertical blend, rounded (f = 0 copies the first row)."""
    f = f[:, None, None]
    return np.where(f == 0, a, (a * (256 - f) + b * f + 128) >> 8)


def _filter_cols(rows: np.ndarray, x: int, dx: int, width: int) -> np.ndarray:
    """ScaleARGBFilterCols: 7-bit horizontal blend with weights (127 ^ f, f), truncated (as libyuv's SSSE3)."""
    xs = x + dx * np.arange(width, dtype=np.int64)
    xi = xs >> 16
    xf = ((xs >> 9) & 0x7F)[None, :, None]
    right = np.minimum(xi + 1, rows.shape[1] - 1)
    return (rows[:, xi] * (0x7F ^ xf) + rows[:, right] * xf) >> 7


def _libyuv_bilinear(src: np.ndarray, height: int, width: int) -> np.ndarray:
    sh, sw = src.shape[:2]
    mode = _filter_mode(sw, sh, width, height)
    x, dx = _slope(sw, width, mode != _NONE)
    if mode == _LINEAR:                         # vertical point sampling, centred
        dy = (sh << 16) // height
        y = dy >> 1
    else:
        y, dy = _slope(sh, height, mode == _BILINEAR)
    img = src.astype(np.int64)
    cols = x + dx * np.arange(width, dtype=np.int64)
    lines = y + dy * np.arange(height, dtype=np.int64)

    if ((dx | dy) & 0xFFFF) == 0 and dx and dy:
        if not (dx & 0x10000) and not (dy & 0x10000):
            # even integer shrink (2x, 4x, …): a 2x2 box at each step, or one pixel when not filtering
            r, c = (lines >> 16)[:, None], (cols >> 16)[None, :]
            if mode == _NONE:
                out = img[r, c]
            else:
                # x86's SSE2 kernels average with pavgb twice (rows, then columns, rounding up each time);
                # libyuv's C and NEON (Arm) kernels round once, (a+b+c+d+2)>>2: ±1 level on these sizes.
                left = (img[r, c] + img[r + 1, c] + 1) >> 1
                right = (img[r, c + 1] + img[r + 1, c + 1] + 1) >> 1
                out = (left + right + 1) >> 1
            return out.astype(np.uint8)
        if (dx & 0x10000) and (dy & 0x10000):
            mode = _NONE                        # odd integer shrink (1x, 3x, …): point sampling
    if dx == 0x10000 and (x & 0xFFFF) == 0:
        # same width: rows only, with the last row one step short of the edge
        max_y = ((sh - 1) << 16) - 1 if sh > 1 else 0
        ys = np.minimum(lines, max_y)
        yi = ys >> 16
        f = (ys >> 8) & 255 if mode != _NONE else np.zeros_like(ys)
        cols_i = (x >> 16) + np.arange(width)
        out = _blend_rows(img[yi][:, cols_i], img[np.minimum(yi + 1, sh - 1)][:, cols_i], f)
        return out.astype(np.uint8)
    ys = np.minimum(lines, (sh - 1) << 16)
    yi = ys >> 16
    below = np.minimum(yi + 1, sh - 1)
    f = (ys >> 8) & 255
    if mode == _NONE:
        return img[yi][:, cols >> 16].astype(np.uint8)
    if dy < 65536:
        # growing vertically: each source row is scaled horizontally first, then rows are blended
        top, bottom = _filter_cols(img[yi], x, dx, width), _filter_cols(img[below], x, dx, width)
        out = top if mode == _LINEAR else _blend_rows(top, bottom, f)
    else:
        rows = img[yi] if mode == _LINEAR else _blend_rows(img[yi], img[below], f)
        out = _filter_cols(rows, x, dx, width)
    return out.astype(np.uint8)
