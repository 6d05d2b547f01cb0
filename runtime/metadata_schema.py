"""The standard TFLite model metadata (file identifier ``M001``, schema 1.5) as frozen value classes, with our own
flatbuffers encoder and decoder.

MediaPipe Tasks, the TFLite Task Library and Android Studio read this table from a model's ``TFLITE_METADATA``
entry. Each class below is one table of the published schema; ``_LAYOUT`` gives its fields in schema order,
which is what fixes each field's slot (a union is two fields, ``<name>_type`` then ``<name>``: files exist that
set the type without a value, so both are kept). A field left at
``None`` is absent from the buffer; an empty tuple is an empty vector, kept distinct so that a decoded table
encodes back to the same bytes.

``encode`` writes the tables in the order the flatbuffers object API packs them (children before parents, fields
in schema order, scalars equal to their default omitted), so a table decoded from a file written that way is
re-encoded byte for byte. Strings are decoded with ``surrogateescape`` so that even non-UTF-8 bytes round-trip.
"""

from __future__ import annotations

import enum
import sys
from typing import Any, ClassVar

from edgelite.runtime.flatbuf import CorruptFlatbuffer, View

IDENTIFIER = b"M001"
# Bounded resources: the metadata of a real model is a few KB (EfficientNet-lite0: 1,072 bytes, DeepLabV3: 968).
MAX_METADATA_BYTES = 1 << 20
MAX_DEPTH = 16  # tables nest at most 5 deep in the schema; a cycle in a hostile buffer stops here


if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10: type checkers just see a plain class
    def dataclass_transform(**_: Any):
        return lambda cls: cls


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Table:
    """Base of the metadata tables: frozen value objects with keyword fields, like frozen dataclasses.

    Not ``dataclasses`` because those build each method with ``exec``: 22 tables cost 28 ms to import that
    way, paid by every ``edgelite run`` on a board; these cost ~1 ms."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(cls.__dict__.get("__annotations__", {}))
        cls._defaults = {name: cls.__dict__.get(name) for name in cls._fields}

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        for name in self._fields:
            object.__setattr__(self, name, values.get(name, self._defaults[name]))
        self._check()

    def _check(self) -> None:
        """Hook for invariants (the union tables fill in their type field here)."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"


class AssociatedFileType(enum.IntEnum):
    UNKNOWN = 0
    DESCRIPTIONS = 1
    TENSOR_AXIS_LABELS = 2
    TENSOR_VALUE_LABELS = 3
    TENSOR_AXIS_SCORE_CALIBRATION = 4
    VOCABULARY = 5
    SCANN_INDEX_FILE = 6


class ColorSpaceType(enum.IntEnum):
    UNKNOWN = 0
    RGB = 1
    GRAYSCALE = 2


class BoundingBoxType(enum.IntEnum):
    UNKNOWN = 0
    BOUNDARIES = 1
    UPPER_LEFT = 2
    CENTER = 3


class CoordinateType(enum.IntEnum):
    RATIO = 0
    PIXEL = 1


class ScoreTransformationType(enum.IntEnum):
    IDENTITY = 0
    LOG = 1
    INVERSE_LOGISTIC = 2



class AssociatedFile(Table):
    name: str | None = None
    description: str | None = None
    type: int = AssociatedFileType.UNKNOWN
    locale: str | None = None
    version: str | None = None


class FeatureProperties(Table):
    """An empty table: the tensor holds features."""


class ImageSize(Table):
    width: int = 0
    height: int = 0


class ImageProperties(Table):
    color_space: int = ColorSpaceType.UNKNOWN
    default_size: ImageSize | None = None


class AudioProperties(Table):
    sample_rate: int = 0
    channels: int = 0


class BoundingBoxProperties(Table):
    index: tuple[int, ...] | None = None
    type: int = BoundingBoxType.UNKNOWN
    coordinate_type: int = CoordinateType.RATIO


class ValueRange(Table):
    min: int = 0
    max: int = 0


class Content(Table):
    content_properties_type: int = 0  # 0 = none; derived from content_properties when left 0
    content_properties: FeatureProperties | ImageProperties | BoundingBoxProperties | AudioProperties | None = None
    range: ValueRange | None = None

    def _check(self) -> None:
        _set_union_type(self, "content_properties")


class NormalizationOptions(Table):
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


class ScoreCalibrationOptions(Table):
    score_transformation: int = ScoreTransformationType.IDENTITY
    default_score: float = 0.0


class ScoreThresholdingOptions(Table):
    global_score_threshold: float = 0.0


class BertTokenizerOptions(Table):
    vocab_file: tuple[AssociatedFile, ...] | None = None


class SentencePieceTokenizerOptions(Table):
    sentence_piece_model: tuple[AssociatedFile, ...] | None = None
    vocab_file: tuple[AssociatedFile, ...] | None = None


class RegexTokenizerOptions(Table):
    delim_regex_pattern: str | None = None
    vocab_file: tuple[AssociatedFile, ...] | None = None


class ProcessUnit(Table):
    options_type: int = 0  # 0 = none; derived from options when left 0
    options: (NormalizationOptions | ScoreCalibrationOptions | ScoreThresholdingOptions | BertTokenizerOptions
              | SentencePieceTokenizerOptions | RegexTokenizerOptions | None) = None

    def _check(self) -> None:
        _set_union_type(self, "options")


class Stats(Table):
    max: tuple[float, ...] | None = None
    min: tuple[float, ...] | None = None


class TensorGroup(Table):
    name: str | None = None
    tensor_names: tuple[str, ...] | None = None


class TensorMetadata(Table):
    name: str | None = None
    description: str | None = None
    dimension_names: tuple[str, ...] | None = None
    content: Content | None = None
    process_units: tuple[ProcessUnit, ...] | None = None
    stats: Stats | None = None
    associated_files: tuple[AssociatedFile, ...] | None = None


class CustomMetadata(Table):
    name: str | None = None
    data: bytes | None = None


class SubGraphMetadata(Table):
    name: str | None = None
    description: str | None = None
    input_tensor_metadata: tuple[TensorMetadata, ...] | None = None
    output_tensor_metadata: tuple[TensorMetadata, ...] | None = None
    associated_files: tuple[AssociatedFile, ...] | None = None
    input_process_units: tuple[ProcessUnit, ...] | None = None
    output_process_units: tuple[ProcessUnit, ...] | None = None
    input_tensor_groups: tuple[TensorGroup, ...] | None = None
    output_tensor_groups: tuple[TensorGroup, ...] | None = None
    custom_metadata: tuple[CustomMetadata, ...] | None = None


class ModelMetadata(Table):
    name: str | None = None
    description: str | None = None
    version: str | None = None
    subgraph_metadata: tuple[SubGraphMetadata, ...] | None = None
    author: str | None = None
    license: str | None = None
    associated_files: tuple[AssociatedFile, ...] | None = None
    min_parser_version: str | None = None


def _set_union_type(obj: Any, union: str) -> None:
    """Fill ``<union>_type`` from the value's class, or refuse a type that contradicts the value."""
    value = getattr(obj, union)
    if value is None:
        return
    derived = _UNIONS[union].index(type(value)) + 1
    declared = getattr(obj, union + "_type")
    if declared not in (0, derived):
        raise ValueError(f"{type(obj).__name__}.{union}_type is {declared} but the value is a "
                         f"{type(value).__name__}")
    object.__setattr__(obj, union + "_type", derived)


# ---- layout ---------------------------------------------------------------------------------------------------
# Field kinds: a struct code for scalars ("b" int8, "I" uint32, "i" int32, "f" float32), or one of these.
STR, STRS, TABLE, TABLES, UNION, F32S, U32S, U8S = "str", "strs", "table", "tables", "union", "f32s", "u32s", "u8s"
CONTENT_PROPERTIES = (FeatureProperties, ImageProperties, BoundingBoxProperties, AudioProperties)
PROCESS_UNIT_OPTIONS = (NormalizationOptions, ScoreCalibrationOptions, ScoreThresholdingOptions,
                        BertTokenizerOptions, SentencePieceTokenizerOptions, RegexTokenizerOptions)
_UNIONS = {"content_properties": CONTENT_PROPERTIES, "options": PROCESS_UNIT_OPTIONS}

_LAYOUT: dict[type, tuple[tuple[str, str, Any], ...]] = {
    AssociatedFile: (("name", STR, None), ("description", STR, None), ("type", "b", None),
                     ("locale", STR, None), ("version", STR, None)),
    FeatureProperties: (),
    ImageSize: (("width", "I", None), ("height", "I", None)),
    ImageProperties: (("color_space", "b", None), ("default_size", TABLE, ImageSize)),
    AudioProperties: (("sample_rate", "I", None), ("channels", "I", None)),
    BoundingBoxProperties: (("index", U32S, None), ("type", "b", None), ("coordinate_type", "b", None)),
    ValueRange: (("min", "i", None), ("max", "i", None)),
    Content: (("content_properties_type", "B", None), ("content_properties", UNION, CONTENT_PROPERTIES),
              ("range", TABLE, ValueRange)),
    NormalizationOptions: (("mean", F32S, None), ("std", F32S, None)),
    ScoreCalibrationOptions: (("score_transformation", "b", None), ("default_score", "f", None)),
    ScoreThresholdingOptions: (("global_score_threshold", "f", None),),
    BertTokenizerOptions: (("vocab_file", TABLES, AssociatedFile),),
    SentencePieceTokenizerOptions: (("sentence_piece_model", TABLES, AssociatedFile),
                                    ("vocab_file", TABLES, AssociatedFile)),
    RegexTokenizerOptions: (("delim_regex_pattern", STR, None), ("vocab_file", TABLES, AssociatedFile)),
    ProcessUnit: (("options_type", "B", None), ("options", UNION, PROCESS_UNIT_OPTIONS),),
    Stats: (("max", F32S, None), ("min", F32S, None)),
    TensorGroup: (("name", STR, None), ("tensor_names", STRS, None)),
    TensorMetadata: (("name", STR, None), ("description", STR, None), ("dimension_names", STRS, None),
                     ("content", TABLE, Content), ("process_units", TABLES, ProcessUnit), ("stats", TABLE, Stats),
                     ("associated_files", TABLES, AssociatedFile)),
    CustomMetadata: (("name", STR, None), ("data", U8S, None)),
    SubGraphMetadata: (("name", STR, None), ("description", STR, None),
                       ("input_tensor_metadata", TABLES, TensorMetadata),
                       ("output_tensor_metadata", TABLES, TensorMetadata),
                       ("associated_files", TABLES, AssociatedFile), ("input_process_units", TABLES, ProcessUnit),
                       ("output_process_units", TABLES, ProcessUnit),
                       ("input_tensor_groups", TABLES, TensorGroup), ("output_tensor_groups", TABLES, TensorGroup),
                       ("custom_metadata", TABLES, CustomMetadata)),
    ModelMetadata: (("name", STR, None), ("description", STR, None), ("version", STR, None),
                    ("subgraph_metadata", TABLES, SubGraphMetadata), ("author", STR, None),
                    ("license", STR, None), ("associated_files", TABLES, AssociatedFile),
                    ("min_parser_version", STR, None)),
}
_ALIGN = {(CustomMetadata, "data"): 16}  # the schema's force_align


_SLOTS = {cls: [(slot, *f) for slot, f in enumerate(lay)] for cls, lay in _LAYOUT.items()}
assert all(list(cls._fields) == [n for n, _, _ in lay] for cls, lay in _LAYOUT.items())


# ---- decoding -------------------------------------------------------------------------------------------------
def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def _decode(cls: type, view: View, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CorruptFlatbuffer("metadata tables nest too deep")
    values: dict[str, Any] = {}
    for slot, name, kind, arg in _SLOTS[cls]:
        if kind == STR:
            values[name] = _text(view.string(slot))
        elif kind == STRS:
            values[name] = tuple(_text(s) for s in view.strings(slot)) if view.has(slot) else None
        elif kind == TABLE:
            child = view.table(slot)
            values[name] = None if child is None else _decode(arg, child, depth + 1)
        elif kind == TABLES:
            values[name] = (tuple(_decode(arg, v, depth + 1) for v in view.iter_tables(slot))
                            if view.has(slot) else None)
        elif kind == UNION:
            type_id = values[name + "_type"]
            child = view.union(slot)
            # A member newer than this schema keeps its type id; its value cannot be read.
            known = 0 < type_id <= len(arg)
            values[name] = _decode(arg[type_id - 1], child, depth + 1) if known and child is not None else None
        elif kind in (F32S, U32S):
            arr = view.numbers(slot, "f4" if kind == F32S else "u4")
            values[name] = None if arr is None else tuple(arr.tolist())
        elif kind == U8S:
            span = view.vector(slot, 1)
            values[name] = None if span is None else bytes(view.buf[span[0] : span[0] + span[1]])
        else:
            values[name] = view.scalar(slot, kind)
    return cls(**values)


def decode(raw: bytes) -> ModelMetadata:
    """A ``TFLITE_METADATA`` buffer as a ``ModelMetadata`` (``CorruptFlatbuffer`` when it is not one)."""
    if len(raw) > MAX_METADATA_BYTES:
        raise CorruptFlatbuffer(f"metadata of {len(raw)} bytes is over the {MAX_METADATA_BYTES}-byte cap")
    return _decode(ModelMetadata, View.root(raw, IDENTIFIER), 0)


# ---- encoding -------------------------------------------------------------------------------------------------
_PREPEND_SLOT = {"b": "PrependInt8Slot", "B": "PrependUint8Slot", "I": "PrependUint32Slot",
                 "i": "PrependInt32Slot", "f": "PrependFloat32Slot"}


def _string(builder: Any, s: str) -> int:
    return builder.CreateString(s.encode("utf-8", "surrogateescape"))


def _offsets_vector(builder: Any, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _encode(builder: Any, obj: Any) -> int:
    cls = type(obj)
    refs: dict[str, int] = {}
    # Children first, in field order (a flatbuffer is built back to front).
    for _, name, kind, arg in _SLOTS[cls]:
        value = getattr(obj, name)
        if value is None or kind not in (STR, STRS, TABLE, TABLES, UNION, F32S, U32S, U8S):
            continue
        if kind == STR:
            refs[name] = _string(builder, value)
        elif kind == STRS:
            refs[name] = _offsets_vector(builder, [_string(builder, s) for s in value])
        elif kind in (TABLE, UNION):
            refs[name] = _encode(builder, value)
        elif kind == TABLES:
            refs[name] = _offsets_vector(builder, [_encode(builder, v) for v in value])
        elif kind in (F32S, U32S):
            builder.StartVector(4, len(value), 4)
            prepend = builder.PrependFloat32 if kind == F32S else builder.PrependUint32
            for v in reversed(value):
                prepend(v)
            refs[name] = builder.EndVector()
        else:  # U8S
            data = bytes(value)
            builder.StartVector(1, len(data), _ALIGN.get((cls, name), 1))
            builder.head -= len(data)
            builder.Bytes[builder.head : builder.head + len(data)] = data
            refs[name] = builder.EndVector()
    builder.StartObject(len(_LAYOUT[cls]))
    for slot, name, kind, arg in _SLOTS[cls]:
        value = getattr(obj, name)
        if name in refs:
            builder.PrependUOffsetTRelativeSlot(slot, refs[name], 0)
        elif kind in _PREPEND_SLOT:
            getattr(builder, _PREPEND_SLOT[kind])(slot, value, 0)
    return builder.EndObject()


def encode(meta: ModelMetadata) -> bytes:
    """``meta`` as a ``TFLITE_METADATA`` buffer (root ``ModelMetadata``, identifier ``M001``)."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(_encode(builder, meta), file_identifier=IDENTIFIER)
    return bytes(builder.Output())
