"""The standard TFLite metadata of a file in readable form: what MediaPipe Tasks, the Task Library and Android
Studio read (name, version, author, license, per-tensor content, normalization, associated files with their
sizes in the appended zip). ``edgelite inspect`` shows it; keys absent from the file are absent from the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime import tflite_file
from edgelite.runtime.metadata import STANDARD_ENTRY, associated_file_sizes, decode_standard


@dataclass(frozen=True)
class FileDoc(Record):
    name: str | None
    type: str                        # AssociatedFileType name, e.g. TENSOR_AXIS_LABELS


@dataclass(frozen=True)
class Normalization(Record):
    mean: list[float]
    std: list[float]


@dataclass(frozen=True)
class Range(Record):
    min: list[float]
    max: list[float]


@dataclass(frozen=True)
class TensorDoc(Record):
    name: str | None
    description: str | None
    content: str | None = field(default=None, metadata=OMIT_NONE)          # ImageProperties, FeatureProperties…
    color_space: str | None = field(default=None, metadata=OMIT_NONE)      # images only
    normalization: Normalization | None = field(default=None, metadata=OMIT_NONE)
    range: Range | None = field(default=None, metadata=OMIT_NONE)
    associated_files: list[FileDoc] = field(default_factory=list)


@dataclass(frozen=True)
class StandardSummary(Record):
    name: str | None
    version: str | None
    description: str | None
    author: str | None
    license: str | None
    min_parser_version: str | None
    inputs: list[TensorDoc]
    outputs: list[TensorDoc]
    associated_files: list[FileDoc]
    packed_files: dict[str, int]     # file name in the appended zip -> bytes


def _enum_name(enum_cls: Any, value: int) -> str:
    try:
        return str(enum_cls(value).name)
    except ValueError:
        return str(value)


def _content_name(content: ms.Content) -> str:
    props = content.content_properties
    if props is not None:
        return type(props).__name__
    members = ms.CONTENT_PROPERTIES
    t = content.content_properties_type
    return members[t - 1].__name__ if 0 < t <= len(members) else str(t)


def _files_summary(files: tuple[ms.AssociatedFile, ...] | None) -> list[FileDoc]:
    return [FileDoc(name=f.name, type=_enum_name(ms.AssociatedFileType, f.type)) for f in files or ()]


def _tensor_summary(t: ms.TensorMetadata) -> TensorDoc:
    content = color = norm = rng = None
    if t.content is not None:
        content = _content_name(t.content)
        props = t.content.content_properties
        if isinstance(props, ms.ImageProperties):
            color = _enum_name(ms.ColorSpaceType, props.color_space)
    for unit in t.process_units or ():
        if isinstance(unit.options, ms.NormalizationOptions):
            norm = Normalization(mean=list(unit.options.mean or ()), std=list(unit.options.std or ()))
    if t.stats is not None and (t.stats.min is not None or t.stats.max is not None):
        rng = Range(min=list(t.stats.min or ()), max=list(t.stats.max or ()))
    return TensorDoc(name=t.name or None, description=t.description or None, content=content, color_space=color,
                     normalization=norm, range=rng, associated_files=_files_summary(t.associated_files))


def standard_summary(data: bytes, where: str = "model") -> StandardSummary | None:
    """The standard TFLite metadata in readable form (what MediaPipe / Task Library / Android Studio read):
    name, version, author, license, min parser version, per-tensor content, normalization, associated files
    (with their sizes in the appended zip). None when the file has no ``TFLITE_METADATA``."""
    raw = tflite_file.metadata_entries(data).get(STANDARD_ENTRY)
    if raw is None:
        return None
    meta = decode_standard(raw, where)
    files = associated_file_sizes(data, where)
    subs = meta.subgraph_metadata or ()
    sub = subs[0] if subs else None
    return StandardSummary(
        name=meta.name or None, version=meta.version or None, description=meta.description or None,
        author=meta.author or None, license=meta.license or None,
        min_parser_version=meta.min_parser_version or None,
        inputs=[_tensor_summary(t) for t in (sub.input_tensor_metadata or ())] if sub else [],
        outputs=[_tensor_summary(t) for t in (sub.output_tensor_metadata or ())] if sub else [],
        associated_files=_files_summary(meta.associated_files), packed_files=files)


