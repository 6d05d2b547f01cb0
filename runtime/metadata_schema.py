"""The standard TFLite model metadata (file identifier ``M001``, schema 1.5) as frozen value classes; our own
flatbuffers decoder and encoder for them are in ``metadata_codec.py``.

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

IDENTIFIER = b"M001"
# Bounded resources: the metadata of a real model is a few KB (EfficientNet-lite0: 1,072 bytes, DeepLabV3: 968).
MAX_METADATA_BYTES = 1 << 20
MAX_DEPTH = 16  # tables nest at most 5 deep in the schema; a cycle in a hostile buffer stops here


if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10: type checkers just see a plain class
    def dataclass_transform(**_: Any) -> Any:
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
        return isinstance(other, Table) and type(self) is type(other) and self._values() == other._values()

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

_LAYOUT: dict[type[Table], tuple[tuple[str, str, Any], ...]] = {
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
