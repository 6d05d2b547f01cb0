"""Decoder files (``--decoder FILE``): TOML with ``[anchors]``, ``[decode]`` and optional ``[nms]`` tables whose
keys are MediaPipe's option names, so values pasted from a graph config work.

    [anchors]    # SsdAnchorsCalculatorOptions
    num_layers = 4
    strides = [8, 16, 16, 16]
    ...
    [decode]     # TensorsToDetectionsCalculatorOptions
    num_boxes = 896
    ...
    [nms]        # NonMaxSuppressionCalculatorOptions
    algorithm = "WEIGHTED"

Every error is one ``UserInputError`` line naming the file, the table and the key.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.decoders.detection import DetectionArrays
from edgelite.runtime.decoders.nms import ALGORITHMS, OVERLAP_TYPES, NmsOptions, non_max_suppression
from edgelite.runtime.decoders.ssd import BOX_FORMATS, TensorsToDetectionsOptions, decode_ssd
from edgelite.runtime.decoders.ssd_anchors import SsdAnchorOptions, anchor_count, ssd_anchors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_BYTES = 64 * 1024  # a decoder file is a few dozen lines; anything bigger is the wrong file
# BlazeFace has 896 anchors (full range 2304), SSD MobileNet ~2k, YOLO 8400; a million (16 MB as float32) is far
# above any real detector and keeps a hostile file's [anchors] from asking for gigabytes.
MAX_ANCHORS = 1_000_000
T = TypeVar("T")
_ENUMS = {"overlap_type": OVERLAP_TYPES, "algorithm": ALGORITHMS, "box_format": BOX_FORMATS}
# MediaPipe option names edgelite knows but does not implement: refused by name rather than as unknown keys.
_NOT_SUPPORTED = {
    "decode": {
        "tensor_mapping": "edgelite finds the box and score outputs by their shapes",
        "box_boundaries_indices": "MediaPipe itself uses it only for models that end in a post-processing op",
    },
    "anchors": {
        "fixed_anchors": "give fixed_anchors as a top-level list of [x_center, y_center, w, h] instead of [anchors]",
    },
}
# Required unless multiscale_anchor_generation (MediaPipe's multiscale path reads only the input size of these)
_ANCHORS_REQUIRED = ("num_layers", "min_scale", "max_scale", "input_size_height", "input_size_width")
_MULTISCALE_REQUIRED = ("input_size_height", "input_size_width")
MAX_LEVEL = 30   # stride 2**30: far past any pyramid; keeps 2**level an ordinary number


@dataclass(frozen=True)
class SsdDecoderConfig:
    """One SSD-anchor decoder: anchors, box decoding, optional NMS."""

    anchors: SsdAnchorOptions | None
    decode: TensorsToDetectionsOptions
    nms: NmsOptions | None = None
    # An explicit anchor list (x_center, y_center, w, h), used instead of ``anchors`` (MediaPipe's
    # SsdAnchorsCalculatorOptions.fixed_anchors: what a file's detector metadata carries).
    fixed_anchors: tuple[tuple[float, float, float, float], ...] | None = None

    def decoder(self) -> SsdDecoder:
        return SsdDecoder(self)


class SsdDecoder:
    """Anchors computed once; call with the box and score tensors of one image."""

    def __init__(self, config: SsdDecoderConfig) -> None:
        self.config = config
        self.anchors = _anchors(config)

    def __call__(self, raw_boxes: np.ndarray, raw_scores: np.ndarray) -> DetectionArrays:
        dets = decode_ssd(raw_boxes, raw_scores, self.anchors, self.config.decode)
        return dets if self.config.nms is None else non_max_suppression(dets, self.config.nms)


def _anchors(config: SsdDecoderConfig) -> np.ndarray:
    if config.fixed_anchors is not None:
        return np.asarray(config.fixed_anchors, np.float32).reshape(-1, 4)
    assert config.anchors is not None   # config_from_dict requires one of the two
    return ssd_anchors(config.anchors)


def read_decoder_config(path: str | Path) -> SsdDecoderConfig:
    """Read and validate a decoder TOML file."""
    return config_from_dict(read_tables(path), str(path))


def read_tables(path: str | Path) -> dict[str, Any]:
    """A decoder file's parsed tables (not yet validated), capped at ``MAX_BYTES``."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserInputError(f"decoder file {p}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise UserInputError(f"decoder file {p}: larger than {MAX_BYTES // 1024} KB; is it the right file?")
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserInputError(f"decoder file {p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"decoder file {p}: not valid TOML ({exc})") from None
    return data


def config_from_dict(data: dict[str, Any], source: str = "decoder config") -> SsdDecoderConfig:
    """Validate parsed tables (from TOML, or later from file metadata)."""
    unknown = sorted(set(data) - {"anchors", "fixed_anchors", "decode", "nms"})
    if unknown:
        raise UserInputError(f"{source}: unknown table or key {unknown[0]!r}; tables are [anchors], [decode], [nms]"
                             " (or fixed_anchors instead of [anchors])")
    if ("anchors" in data) == ("fixed_anchors" in data):
        raise UserInputError(f"{source}: give either [anchors] or fixed_anchors" if "anchors" in data
                             else f"{source}: missing table [anchors]")
    if "decode" not in data:
        raise UserInputError(f"{source}: missing table [decode]")
    anchors, fixed = None, None
    if "anchors" in data:
        anchors = _build(SsdAnchorOptions, data["anchors"], source, "anchors")
        required = _MULTISCALE_REQUIRED if anchors.multiscale_anchor_generation else _ANCHORS_REQUIRED
        for key in required:
            if key not in data["anchors"]:
                raise UserInputError(f"{source}: [anchors] missing key {key!r}")
    else:
        fixed = _fixed_anchors(data["fixed_anchors"], source)
    decode = _build(TensorsToDetectionsOptions, data["decode"], source, "decode")
    nms = _build(NmsOptions, data["nms"], source, "nms") if "nms" in data else None
    if anchors is not None:
        _check_anchors(anchors, source)
    _check_decode(decode, source)
    if nms is not None:
        _check_nms(nms, source)
    if anchors is not None:
        # counted, not generated: 30000 × 30000 at stride 1 would be gigabytes before any check could run
        count, what = anchor_count(anchors), "[anchors] makes"
        if count > MAX_ANCHORS:
            raise UserInputError(f"{source}: [anchors] makes {count} anchors, over the limit of {MAX_ANCHORS}; "
                                 "check input_size_height/width, strides and feature_map_height/width")
    else:
        assert fixed is not None
        count, what = len(fixed), "fixed_anchors lists"
    if count != decode.num_boxes:
        raise UserInputError(f"{source}: {what} {count} anchors but [decode] num_boxes = {decode.num_boxes}")
    return SsdDecoderConfig(anchors, decode, nms, fixed)


def _fixed_anchors(value: Any, source: str) -> tuple[tuple[float, float, float, float], ...]:
    if not isinstance(value, list):
        raise UserInputError(f"{source}: fixed_anchors must be a list of [x_center, y_center, w, h]")
    out = []
    for i, a in enumerate(value):
        row = _convert(a, tuple[float, ...], f"{source}: fixed_anchors[{i}]")
        if len(row) != 4 or not all(np.isfinite(row)):
            raise UserInputError(f"{source}: fixed_anchors[{i}] must be 4 finite numbers "
                                 f"[x_center, y_center, w, h], got {a!r}")
        out.append(row)
    return tuple(out)


def _build(cls: type[T], table: Any, source: str, name: str) -> T:
    if not isinstance(table, dict):
        raise UserInputError(f"{source}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key in _NOT_SUPPORTED.get(name, {}):
            raise UserInputError(f"{source}: [{name}] {key} is MediaPipe's option but not supported yet "
                                 f"({_NOT_SUPPORTED[name][key]})")
        if key not in fields:
            raise UserInputError(f"{source}: [{name}] unknown key {key!r}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for key, f in fields.items():
        if key not in table:
            if f.default is dataclasses.MISSING:
                raise UserInputError(f"{source}: [{name}] missing key {key!r}")
            continue
        values[key] = _convert(table[key], hints[key], f"{source}: [{name}] {key}")
        if key in _ENUMS and values[key] not in _ENUMS[key]:
            raise UserInputError(f"{source}: [{name}] {key} = {values[key]!r}; one of {', '.join(_ENUMS[key])}")
    return cls(**values)


def _convert(value: Any, hint: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if type(None) in args:  # X | None: TOML has no null, so a present key is always the X
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise UserInputError(f"{where} must be a list, got {type(value).__name__}")
        return tuple(_scalar(v, typing.get_args(hint)[0], f"{where}[{i}]") for i, v in enumerate(value))
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: Any, where: str) -> Any:
    # bool is an int subclass in Python; TOML keeps them apart, and so do we
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise UserInputError(f"{where} must be {getattr(hint, '__name__', hint)}, got {value!r}")
    return value


def _check_anchors(a: SsdAnchorOptions, source: str) -> None:
    where = f"{source}: [anchors]"
    if a.multiscale_anchor_generation:
        _check_multiscale(a, where)
        return
    if a.num_layers < 1:
        raise UserInputError(f"{where} num_layers must be ≥ 1, got {a.num_layers}")
    if len(a.strides) != a.num_layers:
        raise UserInputError(f"{where} strides has {len(a.strides)} entries for num_layers = {a.num_layers}")
    if any(s < 1 for s in a.strides):
        raise UserInputError(f"{where} strides must be ≥ 1, got {list(a.strides)}")
    for key in ("feature_map_height", "feature_map_width"):
        n = len(getattr(a, key))
        if n and n != a.num_layers:
            raise UserInputError(f"{where} {key} has {n} entries for num_layers = {a.num_layers}")
    if len(a.feature_map_height) != len(a.feature_map_width):
        raise UserInputError(f"{where} feature_map_height and feature_map_width differ in length")
    if any(v < 1 for v in a.feature_map_height + a.feature_map_width):
        raise UserInputError(f"{where} feature_map_height and feature_map_width must be ≥ 1")
    if a.input_size_height < 1 or a.input_size_width < 1:
        raise UserInputError(f"{where} input_size_height and input_size_width must be ≥ 1")
    if any(r <= 0 for r in a.aspect_ratios):
        raise UserInputError(f"{where} aspect_ratios must be > 0, got {list(a.aspect_ratios)}")


def _check_multiscale(a: SsdAnchorOptions, where: str) -> None:
    if not 0 <= a.min_level <= a.max_level <= MAX_LEVEL:
        raise UserInputError(f"{where} min_level = {a.min_level}, max_level = {a.max_level}; need "
                             f"0 ≤ min_level ≤ max_level ≤ {MAX_LEVEL}")
    levels = a.layer_count
    if a.feature_map_height or a.feature_map_width:
        if len(a.feature_map_height) != levels or len(a.feature_map_width) != levels:
            raise UserInputError(f"{where} feature_map_height and feature_map_width need {levels} entries (one per "
                                 f"level {a.min_level}..{a.max_level}), got {len(a.feature_map_height)} and "
                                 f"{len(a.feature_map_width)}")
        if any(v < 1 for v in a.feature_map_height + a.feature_map_width):
            raise UserInputError(f"{where} feature_map_height and feature_map_width must be ≥ 1")
    elif len(a.strides) != levels:
        raise UserInputError(f"{where} strides has {len(a.strides)} entries for levels {a.min_level}..{a.max_level} "
                             f"({levels}); give one per level, or feature_map_height/width")
    if any(s < 1 for s in a.strides):
        raise UserInputError(f"{where} strides must be ≥ 1, got {list(a.strides)}")
    if a.input_size_height < 1 or a.input_size_width < 1:
        raise UserInputError(f"{where} input_size_height and input_size_width must be ≥ 1")
    if a.scales_per_octave < 1:
        raise UserInputError(f"{where} scales_per_octave must be ≥ 1, got {a.scales_per_octave}")
    if not (a.anchor_scale > 0 and np.isfinite(a.anchor_scale)):
        raise UserInputError(f"{where} anchor_scale must be a finite number > 0, got {a.anchor_scale}")
    if any(r <= 0 for r in a.aspect_ratios):
        raise UserInputError(f"{where} aspect_ratios must be > 0, got {list(a.aspect_ratios)}")


def _check_decode(d: TensorsToDetectionsOptions, source: str) -> None:
    where = f"{source}: [decode]"
    for key in ("num_classes", "num_boxes", "num_coords"):
        if getattr(d, key) < 1:
            raise UserInputError(f"{where} {key} must be ≥ 1, got {getattr(d, key)}")
    for key in ("x_scale", "y_scale", "w_scale", "h_scale"):
        if not getattr(d, key) > 0:
            raise UserInputError(f"{where} {key} must be > 0 (MediaPipe divides by it), got {getattr(d, key)}")
    if d.box_coord_offset < 0 or d.box_coord_offset + 4 > d.num_coords:
        raise UserInputError(f"{where} box_coord_offset = {d.box_coord_offset} leaves no 4 box values in "
                             f"num_coords = {d.num_coords}")
    if d.num_keypoints:
        end = d.keypoint_coord_offset + d.num_keypoints * d.num_values_per_keypoint
        if d.keypoint_coord_offset < 0 or d.num_values_per_keypoint < 2 or end > d.num_coords:
            raise UserInputError(f"{where} keypoints need coordinates {d.keypoint_coord_offset}..{end - 1} but "
                                 f"num_coords = {d.num_coords}")
    if d.ignore_classes and d.allow_classes:
        raise UserInputError(f"{where} ignore_classes and allow_classes are both set; MediaPipe refuses the pair, "
                             "give one of them")
    if not d.class_allowed().any():
        lists = "allow_classes" if d.allow_classes else "ignore_classes"
        raise UserInputError(f"{where} {lists} leaves no class of num_classes = {d.num_classes} to report")
    if d.max_results == 0:
        raise UserInputError(f"{where} max_results = 0 would report nothing (MediaPipe refuses it); -1 = all")
    if d.box_format == "UNSPECIFIED" and d.reverse_output_order:
        raise UserInputError(f"{where} box_format = 'UNSPECIFIED' with reverse_output_order = true: MediaPipe then "
                             "ignores reverse_output_order and reads y, x, h, w; drop box_format to read x, y, w, h, "
                             "or write box_format = 'YXHW'")
    if d.max_classes_per_detection < 1:
        raise UserInputError(f"{where} max_classes_per_detection must be ≥ 1, got {d.max_classes_per_detection}")


def _check_nms(n: NmsOptions, source: str) -> None:
    where = f"{source}: [nms]"
    if n.max_num_detections == 0:
        raise UserInputError(f"{where} max_num_detections = 0 would keep nothing (MediaPipe refuses it); -1 = all")
    if n.num_detection_streams < 1:
        raise UserInputError(f"{where} num_detection_streams must be ≥ 1 (MediaPipe's check), got "
                             f"{n.num_detection_streams}")


def check_fits(config: SsdDecoderConfig, output_shapes: Sequence[Sequence[int]], source: str = "decoder config"
               ) -> tuple[int, int]:
    """Indices of (box tensor, score tensor) among the model's outputs, or one UserInputError line saying which
    numbers disagree. The box tensor has num_coords values per row, the score tensor num_classes; when both are
    equal, output order decides (boxes first, as MediaPipe takes them)."""
    d = config.decode
    shapes = [tuple(int(v) for v in s) for s in output_shapes]
    listed = ", ".join(str(list(s)) for s in shapes)
    three = [i for i, s in enumerate(shapes) if len(s) == 3 and s[0] == 1]
    if len(three) < 2:
        raise UserInputError(f"{source}: an SSD decoder needs a box and a score output [1, rows, values]; "
                             f"the model has {listed}")
    rows = {shapes[i][1] for i in three}
    if d.num_boxes not in rows:
        raise UserInputError(f"{source}: num_boxes = {d.num_boxes} but the model's outputs have "
                             f"{' or '.join(str(r) for r in sorted(rows))} rows ({listed})")
    same = [i for i in three if shapes[i][1] == d.num_boxes]
    boxes = [i for i in same if shapes[i][2] == d.num_coords]
    if not boxes:
        raise UserInputError(f"{source}: num_coords = {d.num_coords} but no output has {d.num_coords} values per "
                             f"row ({listed})")
    scores = [i for i in same if shapes[i][2] == d.num_classes and i != boxes[0]]
    if not scores:
        raise UserInputError(f"{source}: num_classes = {d.num_classes} but no other output has {d.num_classes} "
                             f"values per row ({listed})")
    return boxes[0], scores[0]
