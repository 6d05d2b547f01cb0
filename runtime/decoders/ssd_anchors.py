"""SSD anchors as MediaPipe's SsdAnchorsCalculator generates them, field names kept so the values in MediaPipe's
graph configs paste as they are.

Anchors are (x_center, y_center, w, h), normalized. Layers with equal consecutive strides share one feature map:
their anchors are interleaved per grid cell, which is the order the model's output rows follow. With
``multiscale_anchor_generation`` (RetinaNet / EfficientDet-style) each pyramid level min_level..max_level has
stride 2**level and scales_per_octave × aspect_ratios anchors per cell, as MediaPipe's multiscale path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SsdAnchorOptions:
    """MediaPipe's ``SsdAnchorsCalculatorOptions`` (defaults as in its .proto; the config reader requires
    num_layers, min_scale, max_scale and the input size unless ``multiscale_anchor_generation``, which needs only
    the input size)."""

    num_layers: int = 0
    min_scale: float = 0.0
    max_scale: float = 0.0
    input_size_height: int = 0
    input_size_width: int = 0
    strides: tuple[int, ...] = ()
    feature_map_height: tuple[int, ...] = ()   # when given, used instead of strides (as MediaPipe does)
    feature_map_width: tuple[int, ...] = ()
    aspect_ratios: tuple[float, ...] = ()
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    reduce_boxes_in_lowest_layer: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False
    # multiscale path only (MediaPipe ignores num_layers, min/max_scale, anchor offsets, the lowest-layer,
    # interpolated and fixed-size options there)
    multiscale_anchor_generation: bool = False
    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    scales_per_octave: int = 2
    normalize_coordinates: bool = True

    @property
    def layer_count(self) -> int:
        """MediaPipe's GetNumLayers: the pyramid levels when multiscale, else num_layers."""
        if self.multiscale_anchor_generation:
            return self.max_level - self.min_level + 1
        return self.num_layers


def _scale(options: SsdAnchorOptions, index: int, count: int) -> float:
    if count == 1:
        return (options.min_scale + options.max_scale) * 0.5
    return options.min_scale + (options.max_scale - options.min_scale) * index / (count - 1.0)


def _grid(options: SsdAnchorOptions, layer: int) -> tuple[int, int]:
    if options.feature_map_height:
        return options.feature_map_height[layer], options.feature_map_width[layer]
    stride = options.strides[layer]
    return math.ceil(options.input_size_height / stride), math.ceil(options.input_size_width / stride)


def _check_layers(options: SsdAnchorOptions) -> None:
    n_layers = options.layer_count
    if options.feature_map_height:
        if len(options.feature_map_height) != n_layers or len(options.feature_map_width) != n_layers:
            raise ValueError("feature_map_height/width need one entry per layer")
    elif len(options.strides) != n_layers:
        raise ValueError("strides need one entry per layer")


def _maps(options: SsdAnchorOptions) -> Iterator[tuple[int, list[float], list[float]]]:
    """Per feature map: its first layer, and the (aspect ratio, scale) of each anchor of one cell. Layers with
    equal consecutive strides are merged into one map, as MediaPipe does."""
    _check_layers(options)
    n_layers = options.num_layers
    # The scale index runs over strides (MediaPipe divides by strides_size, not num_layers).
    n_strides = len(options.strides) if options.strides else n_layers
    layer = 0
    while layer < n_layers:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n_layers and _same_map(options, last, layer):
            scale = _scale(options, last, n_strides)
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                ratios += list(options.aspect_ratios)
                scales += [scale] * len(options.aspect_ratios)
                if options.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == n_strides - 1 else _scale(options, last + 1, n_strides)
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(options.interpolated_scale_aspect_ratio)
            last += 1
        yield layer, ratios, scales
        layer = last


def anchor_count(options: SsdAnchorOptions) -> int:
    """How many anchors ``ssd_anchors`` makes, by arithmetic alone (nothing allocated per anchor), so a count
    from an untrusted file can be checked before the anchors are built. Raises ValueError as ``ssd_anchors``."""
    if options.multiscale_anchor_generation:
        _check_layers(options)
        per_cell = len(options.aspect_ratios) * options.scales_per_octave
        return sum(max(r, 0) * max(c, 0) * per_cell for r, c in (_grid(options, i)
                                                              for i in range(options.layer_count)))
    total = 0
    for layer, ratios, _ in _maps(options):
        rows, cols = _grid(options, layer)
        total += max(rows, 0) * max(cols, 0) * len(ratios)
    return total


def ssd_anchors(options: SsdAnchorOptions) -> np.ndarray:
    """(num_anchors, 4) float32: x_center, y_center, w, h. Raises ValueError on inconsistent layer counts (the
    config reader reports those as user errors first)."""
    if options.multiscale_anchor_generation:
        return _multiscale(options)
    blocks: list[np.ndarray] = []
    for layer, ratios, scales in _maps(options):
        root = np.sqrt(np.asarray(ratios, np.float64))
        sizes_w = np.asarray(scales, np.float64) * root
        sizes_h = np.asarray(scales, np.float64) / root
        rows, cols = _grid(options, layer)
        k = len(ratios)
        # Row-major grid cells, then the k anchors of a cell: the model's output order.
        ys, xs = np.meshgrid((np.arange(rows) + options.anchor_offset_y) / rows,
                             (np.arange(cols) + options.anchor_offset_x) / cols, indexing="ij")
        block = np.empty((rows, cols, k, 4), np.float64)
        block[..., 0] = xs[..., None]
        block[..., 1] = ys[..., None]
        if options.fixed_anchor_size:
            block[..., 2:] = 1.0
        else:
            block[..., 2] = sizes_w
            block[..., 3] = sizes_h
        blocks.append(block.reshape(-1, 4))
    if not blocks:
        return np.zeros((0, 4), np.float32)
    return np.concatenate(blocks).astype(np.float32)


def _same_map(options: SsdAnchorOptions, a: int, b: int) -> bool:
    """MediaPipe merges consecutive layers with equal strides (only strides: with feature maps given it still
    compares strides, and without strides every layer is its own map)."""
    if a >= len(options.strides):
        return a == b
    return options.strides[a] == options.strides[b]


def _multiscale(options: SsdAnchorOptions) -> np.ndarray:
    """MediaPipe's GenerateMultiScaleAnchors: level i (min_level..max_level) has stride 2**i (in pixels; only the
    grid size comes from strides[i] or feature_map_height/width[i]), base size stride · anchor_scale, scales
    2**(k / scales_per_octave); cells row-major, then aspect ratios, then scales. The centre is offset by half a
    stride only along an axis whose input size 2**i divides (or is 1)."""
    _check_layers(options)
    ratios = np.sqrt(np.asarray(options.aspect_ratios, np.float64))
    scales = 2.0 ** (np.arange(options.scales_per_octave) / options.scales_per_octave)
    blocks: list[np.ndarray] = []
    for i, level in enumerate(range(options.min_level, options.max_level + 1)):
        stride = 2.0 ** level
        base = stride * options.anchor_scale
        denominator = 2 ** level
        off_y = stride / 2 if options.input_size_height % denominator == 0 or options.input_size_height == 1 else 0.0
        off_x = stride / 2 if options.input_size_width % denominator == 0 or options.input_size_width == 1 else 0.0
        rows, cols = _grid(options, i)
        # (aspect ratio, scale) pairs of one cell, scale fastest
        h = (scales[None, :] * base / ratios[:, None]).reshape(-1)
        w = (scales[None, :] * base * ratios[:, None]).reshape(-1)
        ys, xs = np.meshgrid(np.arange(rows) * stride + off_y, np.arange(cols) * stride + off_x, indexing="ij")
        block = np.empty((rows, cols, h.size, 4), np.float64)
        block[..., 0] = xs[..., None]
        block[..., 1] = ys[..., None]
        block[..., 2] = w
        block[..., 3] = h
        if options.normalize_coordinates:
            block[..., [0, 2]] /= options.input_size_width
            block[..., [1, 3]] /= options.input_size_height
        blocks.append(block.reshape(-1, 4))
    if not blocks:
        return np.zeros((0, 4), np.float32)
    return np.concatenate(blocks).astype(np.float32)
