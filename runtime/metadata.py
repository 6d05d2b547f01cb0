"""Metadata that travels inside the .tflite file.

Two entries in the flatbuffer's ``Model.metadata`` list:
- ``TFLITE_METADATA``: the standard TFLite metadata (file identifier ``M001``) that MediaPipe Tasks, the TFLite
  Task Library and Android Studio read: input normalization and color space, output labels as a
  ``TENSOR_AXIS_LABELS`` associated file. Associated files are a zip appended to the flatbuffer.
- ``edgelite``: JSON with what the standard has no field for (resize method, crop, layout, provenance).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

from edgelite.errors import UserInputError
from edgelite.runtime import tflite_file
from edgelite.runtime.tflite_file import CORRUPT_ERRORS
from edgelite.runtime._schema import metadata_schema_py_generated as mds
from edgelite.runtime.preprocess import PreprocessSpec

STANDARD_ENTRY = "TFLITE_METADATA"
EDGELITE_ENTRY = "edgelite"
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
# Highest metadata-schema feature we write (NormalizationOptions, ImageProperties, associated files): 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
EDGELITE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelMetadata:
    """What edgelite knows about a model from its own file."""

    spec: PreprocessSpec | None = None
    labels: tuple[str, ...] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = "none"  # "edgelite", "standard" (third-party TFLite metadata) or "none"
    name: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "name": self.name,
            "spec": self.spec.to_dict() if self.spec else None,
            "labels_count": len(self.labels) if self.labels else 0,
            "provenance": self.provenance,
        }


def read_labels_file(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """One label per line; blank trailing lines ignored."""
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise UserInputError(f"{path}: labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read labels file as UTF-8 text ({exc})") from None
    labels = tuple(line.strip() for line in text.splitlines())
    while labels and not labels[-1]:
        labels = labels[:-1]
    if not labels:
        raise UserInputError(f"{path}: labels file is empty; write one label per line")
    return labels


# ---- writing ------------------------------------------------------------------------------------------------
def _standard_metadata(spec: PreprocessSpec | None, labels: tuple[str, ...] | None, name: str, description: str,
                       version: str) -> bytes:
    inp = mds.TensorMetadataT()
    inp.name = "image" if spec else "input"
    if spec is not None:
        inp.description = f"Input image {spec.height}x{spec.width}, {spec.color.upper()}; value = (pixel - mean) / std."
        content = mds.ContentT()
        content.contentPropertiesType = mds.ContentProperties.ImageProperties
        props = mds.ImagePropertiesT()
        props.colorSpace = mds.ColorSpaceType.GRAYSCALE if spec.color == "gray" else mds.ColorSpaceType.RGB
        content.contentProperties = props
        inp.content = content
        norm = mds.NormalizationOptionsT()
        norm.mean, norm.std = list(spec.mean), list(spec.std)
        unit = mds.ProcessUnitT()
        unit.optionsType = mds.ProcessUnitOptions.NormalizationOptions
        unit.options = norm
        inp.processUnits = [unit]
        lo, hi = spec.value_range()
        stats = mds.StatsT()
        stats.min, stats.max = [float(v) for v in lo], [float(v) for v in hi]
        inp.stats = stats

    out = mds.TensorMetadataT()
    out.name = "probability" if labels else "output"
    out.description = "Scores per class." if labels else "Model output."
    content = mds.ContentT()
    content.contentPropertiesType = mds.ContentProperties.FeatureProperties
    content.contentProperties = mds.FeaturePropertiesT()
    out.content = content
    if labels:
        assoc = mds.AssociatedFileT()
        assoc.name = LABELS_FILE
        assoc.description = "Labels for the output classes, one per line."
        assoc.type = mds.AssociatedFileType.TENSOR_AXIS_LABELS
        out.associatedFiles = [assoc]

    sub = mds.SubGraphMetadataT()
    sub.inputTensorMetadata = [inp]
    sub.outputTensorMetadata = [out]
    meta = mds.ModelMetadataT()
    meta.name = name
    meta.description = description
    meta.version = version
    meta.author = "edgelite"
    meta.subgraphMetadata = [sub]
    meta.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(1024)
    builder.Finish(meta.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def embed(model_bytes: bytes, *, spec: PreprocessSpec | None, labels: tuple[str, ...] | None,
          provenance: dict[str, Any], name: str = "edgelite model", description: str = "") -> bytes:
    """Return ``model_bytes`` with standard + edgelite metadata and the labels zip appended."""
    standard = _standard_metadata(spec, labels, name, description or "Converted by edgelite.",
                                  str(provenance.get("edgelite_version", "")))
    own = {
        "schema_version": EDGELITE_SCHEMA_VERSION,
        "spec": spec.to_dict() if spec else None,
        "provenance": provenance,
    }
    data = tflite_file.with_metadata(
        model_bytes,
        {STANDARD_ENTRY: standard, EDGELITE_ENTRY: json.dumps(own, sort_keys=True).encode("utf-8")},
    )
    if not labels:
        return data
    # Same layout as the TFLite metadata populator: a zip appended to the flatbuffer, offsets from file start.
    out = io.BytesIO(data)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, mode="a", compression=zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(LABELS_FILE, date_time=(1980, 1, 1, 0, 0, 0))  # fixed time: reproducible bytes
        zf.writestr(info, "\n".join(labels) + "\n")
    return out.getvalue()


# ---- reading ------------------------------------------------------------------------------------------------


def associated_files(data: bytes, where: str = "model") -> dict[str, bytes]:
    """Files in the zip appended to a .tflite (empty when there is none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        if zipfile.is_zipfile(io.BytesIO(data)):
            raise UserInputError(f"{where}: the associated-files zip (labels) is corrupt; re-create the model") from None
        return {}
    except CORRUPT_ERRORS as exc:
        raise UserInputError(f"{where}: the associated-files zip (labels) is corrupt ({exc}); "
                             "re-create the model") from None


def _labels_from_standard(meta: Any, files: dict[str, bytes]) -> tuple[str, ...] | None:
    for sub in meta.subgraphMetadata or []:
        for tensor in sub.outputTensorMetadata or []:
            for f in tensor.associatedFiles or []:
                if f.type == mds.AssociatedFileType.TENSOR_AXIS_LABELS and f.name:
                    raw = files.get(f.name.decode())
                    if raw is not None:
                        lines = raw.decode("utf-8", "replace").splitlines()
                        return tuple(x.strip() for x in lines if x.strip())
    return None


def _spec_from_standard(meta: Any, input_hw: tuple[int, int] | None) -> PreprocessSpec | None:
    subs = meta.subgraphMetadata or []
    if not subs or not subs[0].inputTensorMetadata or input_hw is None:
        return None
    tensor = subs[0].inputTensorMetadata[0]
    color = "rgb"
    content = tensor.content
    if content is not None and content.contentPropertiesType == mds.ContentProperties.ImageProperties:
        if content.contentProperties.colorSpace == mds.ColorSpaceType.GRAYSCALE:
            color = "gray"
    for unit in tensor.processUnits or []:
        if unit.optionsType == mds.ProcessUnitOptions.NormalizationOptions:
            opts = unit.options
            return PreprocessSpec(height=input_hw[0], width=input_hw[1], color=color,
                                  mean=tuple(opts.mean), std=tuple(opts.std))
    return None


def read(data: bytes, *, input_hw: tuple[int, int] | None = None, where: str = "model") -> ModelMetadata:
    """Read edgelite metadata, else standard TFLite metadata (third-party models), else nothing."""
    entries = tflite_file.metadata_entries(data)
    files = associated_files(data, where) if (EDGELITE_ENTRY in entries or STANDARD_ENTRY in entries) else {}
    standard, labels, name, description = None, None, None, None
    if STANDARD_ENTRY in entries:
        raw = entries[STANDARD_ENTRY]
        if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
            raise UserInputError(f"{where}: TFLITE_METADATA entry is corrupt (no M001 identifier)")
        try:
            standard = mds.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0)
            labels = _labels_from_standard(standard, files)
            name = standard.name.decode() if standard.name else None
            description = standard.description.decode() if standard.description else None
        except CORRUPT_ERRORS as exc:
            raise UserInputError(f"{where}: TFLITE_METADATA entry is corrupt ({type(exc).__name__}); "
                                 "re-create the model or strip its metadata") from None

    if EDGELITE_ENTRY in entries:
        try:
            own = json.loads(entries[EDGELITE_ENTRY].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(f"{where}: edgelite metadata entry is not valid JSON ({exc})") from None
        if own.get("schema_version", 0) > EDGELITE_SCHEMA_VERSION:
            raise UserInputError(
                f"{where}: written by a newer edgelite (metadata schema {own.get('schema_version')}); upgrade edgelite"
            )
        try:
            spec = PreprocessSpec.from_dict(own["spec"]) if own.get("spec") else None
        except (TypeError, AttributeError) as exc:
            raise UserInputError(f"{where}: edgelite metadata has an invalid spec ({exc})") from None
        return ModelMetadata(spec, labels, dict(own.get("provenance") or {}), "edgelite", name, description)
    if standard is not None:
        try:
            spec = _spec_from_standard(standard, input_hw)
        except CORRUPT_ERRORS as exc:
            raise UserInputError(f"{where}: TFLITE_METADATA normalization is invalid ({exc})") from None
        return ModelMetadata(spec, labels, {}, "standard", name, description)
    return ModelMetadata()


def _enum_name(enum_cls: Any, value: int) -> str:
    return next((k for k, v in vars(enum_cls).items() if not k.startswith("_") and v == value), str(value))


def _text(b: bytes | None) -> str | None:
    return b.decode("utf-8", "replace") if b else None


def _tensor_summary(t: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _text(t.name), "description": _text(t.description)}
    content = t.content
    if content is not None:
        out["content"] = _enum_name(mds.ContentProperties, content.contentPropertiesType)
        if content.contentPropertiesType == mds.ContentProperties.ImageProperties:
            out["color_space"] = _enum_name(mds.ColorSpaceType, content.contentProperties.colorSpace)
    for unit in t.processUnits or []:
        if unit.optionsType == mds.ProcessUnitOptions.NormalizationOptions:
            out["normalization"] = {"mean": [float(v) for v in unit.options.mean],
                                    "std": [float(v) for v in unit.options.std]}
    if t.stats is not None and (t.stats.min is not None or t.stats.max is not None):
        out["range"] = {"min": [float(v) for v in t.stats.min or []], "max": [float(v) for v in t.stats.max or []]}
    out["associated_files"] = [{"name": _text(f.name), "type": _enum_name(mds.AssociatedFileType, f.type)}
                               for f in t.associatedFiles or []]
    return out


def standard_summary(data: bytes, where: str = "model") -> dict[str, Any] | None:
    """The standard TFLite metadata in readable form (what MediaPipe / Task Library / Android Studio read):
    name, version, author, license, min parser version, per-tensor content, normalization, associated files
    (with their sizes in the appended zip). None when the file has no ``TFLITE_METADATA``."""
    raw = tflite_file.metadata_entries(data).get(STANDARD_ENTRY)
    if raw is None:
        return None
    try:
        meta = mds.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0)
    except CORRUPT_ERRORS as exc:
        raise UserInputError(f"{where}: TFLITE_METADATA entry is corrupt ({type(exc).__name__})") from None
    files = associated_files(data, where)
    subs = meta.subgraphMetadata or []
    sub = subs[0] if subs else None
    return {
        "name": _text(meta.name), "version": _text(meta.version), "description": _text(meta.description),
        "author": _text(meta.author), "license": _text(meta.license), "min_parser_version": _text(meta.minParserVersion),
        "inputs": [_tensor_summary(t) for t in (sub.inputTensorMetadata or [])] if sub else [],
        "outputs": [_tensor_summary(t) for t in (sub.outputTensorMetadata or [])] if sub else [],
        "associated_files": [{"name": _text(f.name), "type": _enum_name(mds.AssociatedFileType, f.type)}
                             for f in meta.associatedFiles or []],
        "packed_files": {name: len(content) for name, content in files.items()},
    }


def labels_match_output(labels: tuple[str, ...] | None, output_shape: tuple[int, ...]) -> bool:
    return bool(labels) and len(output_shape) >= 1 and int(np.prod(output_shape[1:] or (1,))) == len(labels)
