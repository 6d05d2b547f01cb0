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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.core.errors import UserInputError
from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime import tflite_file
from edgelite.runtime.tflite_file import CORRUPT_ERRORS

if TYPE_CHECKING:
    import zipfile

STANDARD_ENTRY = "TFLITE_METADATA"
EDGELITE_ENTRY = "edgelite"
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
# Highest metadata-schema feature we write (NormalizationOptions, ImageProperties, associated files): 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
EDGELITE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetadataSummary(Record):
    """What reports carry of a model's metadata."""

    source: str                      # "edgelite", "standard" or "none"
    name: str | None
    spec: PreprocessSpec | None
    labels_count: int
    # Written by whoever made the file (edgelite's converter writes its own fields; others may write
    # anything): kept as the file has it, not typed.
    provenance: dict[str, Any]
    # A task the file's standard metadata names (MediaPipe's detector metadata; a TFLite detector's or segmenter's
    # output content): {"kind", "decoder" (MediaPipe only), "source"}.
    task: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)


# The provenance key ``convert`` records the task under (``runtime.tasks.spec.RECORD_KEY``): {"kind", "decoder"}.
TASK_KEY = "task"


@dataclass(frozen=True)
class ModelMetadata:
    """What edgelite knows about a model from its own file."""

    spec: PreprocessSpec | None = None
    labels: tuple[str, ...] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = "none"  # "edgelite", "standard" (third-party TFLite metadata) or "none"
    name: str | None = None
    description: str | None = None
    task: dict[str, Any] | None = None   # see MetadataSummary.task

    def recorded_task(self) -> dict[str, Any] | None:
        """The task the file records: the one ``edgelite convert`` wrote (its provenance entry), else the one its
        standard metadata names (``task``: MediaPipe's detector metadata, a TFLite detector's or segmenter's
        output content). A MediaPipe decoder that cannot be read is left out here, so what needs no decoder
        (``run``'s outputs, ``serve``) still works; ``compare`` and ``check`` read ``task`` and refuse it."""
        rec = self.provenance.get(TASK_KEY) if isinstance(self.provenance, dict) else None
        if isinstance(rec, dict):
            return rec
        decoder = self.task.get("decoder") if self.task is not None else None
        if isinstance(decoder, dict) and decoder.get("kind") == "invalid":
            return None
        return self.task

    def summary(self) -> MetadataSummary:
        return MetadataSummary(source=self.source, name=self.name, spec=self.spec,
                               labels_count=len(self.labels) if self.labels else 0, provenance=self.provenance,
                               task=self.task)

    def to_dict(self) -> dict[str, Any]:
        return self.summary().to_dict()


def read_labels_file(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """One label per line; blank trailing lines ignored."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_LABELS_BYTES + 1)
        if len(raw) > MAX_LABELS_BYTES:
            raise UserInputError(f"{path}: labels file is over the {MAX_LABELS_BYTES:,}-byte cap; one label per "
                                 "line, for the model's classes")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: labels file not found") from None
    except IsADirectoryError:
        raise UserInputError(f"{path}: is a folder; --labels takes a text file, one label per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read labels file as UTF-8 text ({exc})") from None
    labels = tuple(line.strip() for line in text.splitlines())
    while labels and not labels[-1]:
        labels = labels[:-1]
    if not labels:
        raise UserInputError(f"{path}: labels file is empty; write one label per line")
    return labels


# ---- reading ------------------------------------------------------------------------------------------------


# Bounded resources: the labels file is read with this cap (ImageNet-21k's 21,843 labels are ~300 KB), and only
# the member the metadata names is inflated; a member's size is taken from the zip directory, never by reading.
MAX_LABELS_BYTES = 4 * 1024 * 1024
MAX_ASSOCIATED_FILES = 256


def _zip(data: bytes, where: str) -> zipfile.ZipFile | None:
    import zipfile  # only for files with associated files: its import (lzma, bz2, shutil) is ~5 ms of a run

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        if zipfile.is_zipfile(io.BytesIO(data)):
            raise UserInputError(f"{where}: the associated-files zip (labels) is corrupt; "
                                 "re-create the model") from None
        return None
    except CORRUPT_ERRORS as exc:
        raise UserInputError(f"{where}: the associated-files zip (labels) is corrupt ({exc}); "
                             "re-create the model") from None
    if len(zf.infolist()) > MAX_ASSOCIATED_FILES:
        zf.close()
        raise UserInputError(f"{where}: {len(zf.infolist())} associated files, over the cap of "
                             f"{MAX_ASSOCIATED_FILES}; the file is not a model edgelite can read")
    return zf


def associated_file_sizes(data: bytes, where: str = "model") -> dict[str, int]:
    """Name → declared size of the files in the zip appended to a .tflite (none are inflated)."""
    zf = _zip(data, where)
    if zf is None:
        return {}
    with zf:
        return {i.filename: i.file_size for i in zf.infolist()}


def read_associated_file(data: bytes, name: str, where: str = "model", cap: int = MAX_LABELS_BYTES) -> bytes | None:
    """One appended file, at most ``cap`` bytes once inflated (None when the zip or the member is absent)."""
    zf = _zip(data, where)
    if zf is None:
        return None
    import zipfile  # imported by _zip already

    with zf:
        try:
            info = zf.getinfo(name)
        except KeyError:
            return None
        if info.file_size > cap:
            raise UserInputError(f"{where}: associated file {name} inflates to {info.file_size:,} bytes, over the "
                                 f"{cap:,}-byte cap for a labels file; the file is not a model edgelite can read")
        try:
            with zf.open(info) as fh:
                return fh.read(cap)  # zipfile never inflates past the declared size checked above
        except (zipfile.BadZipFile, *CORRUPT_ERRORS) as exc:
            raise UserInputError(f"{where}: associated file {name} is corrupt ({exc}); re-create the model") from None


def _labels_from_standard(meta: ms.ModelMetadata, data: bytes, where: str) -> tuple[str, ...] | None:
    for sub in meta.subgraph_metadata or ():
        for tensor in sub.output_tensor_metadata or ():
            for f in tensor.associated_files or ():
                if f.type == ms.AssociatedFileType.TENSOR_AXIS_LABELS and f.name:
                    raw = read_associated_file(data, f.name, where)
                    if raw is not None:
                        lines = raw.decode("utf-8", "replace").splitlines()
                        return tuple(x.strip() for x in lines if x.strip())
    return None


def _spec_from_standard(meta: ms.ModelMetadata, input_hw: tuple[int, int] | None) -> PreprocessSpec | None:
    subs = meta.subgraph_metadata or ()
    if not subs or not subs[0].input_tensor_metadata or input_hw is None:
        return None
    tensor = subs[0].input_tensor_metadata[0]
    props = tensor.content.content_properties if tensor.content is not None else None
    color = "gray" if isinstance(props, ms.ImageProperties) and props.color_space == ms.ColorSpaceType.GRAYSCALE \
        else "rgb"
    for unit in tensor.process_units or ():
        if isinstance(unit.options, ms.NormalizationOptions):
            return PreprocessSpec(height=input_hw[0], width=input_hw[1], color=color,
                                  mean=tuple(unit.options.mean or ()), std=tuple(unit.options.std or ()))
    return None


def decode_standard(raw: bytes, where: str = "model") -> ms.ModelMetadata:
    """A ``TFLITE_METADATA`` entry decoded, or a one-line error naming ``where``."""
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        raise UserInputError(f"{where}: TFLITE_METADATA entry is corrupt (no M001 identifier)")
    try:
        return codec.decode(raw)
    except CORRUPT_ERRORS as exc:
        raise UserInputError(f"{where}: TFLITE_METADATA entry is corrupt ({exc}); "
                             "re-create the model or strip its metadata") from None


# MediaPipe's object-detector metadata, a custom metadata entry of TFLITE_METADATA (runtime/decoders/)
DETECTOR_METADATA = "DETECTOR_METADATA"
# Where a task named by the TFLite Support metadata itself comes from (the ``source`` of its record).
STANDARD_TASK_SOURCE = "the file's TFLite metadata"


def _task_from_standard(meta: ms.ModelMetadata) -> dict[str, Any] | None:
    """The task the TFLite Support metadata names by its output content, as the Task Library reads it: an output
    of ``BoundingBoxProperties`` is an object detector's boxes (``ObjectDetector``: the post-processed four,
    decoded by shape and the metadata's tensor names), a GRAYSCALE ``ImageProperties`` output with class labels a
    segmenter's mask (``ImageSegmenter``: one score per class and pixel). None for anything else (a classifier's
    labels decide classify; an RGB image output is an image-to-image model, an unlabelled GRAYSCALE one a depth
    map, not a mask)."""
    for sub in meta.subgraph_metadata or ():
        for tensor in sub.output_tensor_metadata or ():
            props = tensor.content.content_properties if tensor.content is not None else None
            name = tensor.name or "?"
            if isinstance(props, ms.BoundingBoxProperties):
                # the metadata names the outputs in output order: what tells the classes from the scores
                roles = [t.name or "" for t in sub.output_tensor_metadata or ()]
                return {"kind": "detect", "decoder": {"kind": "postprocess", "names": roles},
                        "source": f"{STANDARD_TASK_SOURCE} (output {name!r}: BoundingBoxProperties)"}
            labelled = any(f.type == ms.AssociatedFileType.TENSOR_AXIS_LABELS for f in tensor.associated_files or ())
            if isinstance(props, ms.ImageProperties) and props.color_space == ms.ColorSpaceType.GRAYSCALE \
                    and labelled:   # a depth map is a GRAYSCALE image too, but names no classes
                return {"kind": "segment", "source": f"{STANDARD_TASK_SOURCE} (output {name!r}: a GRAYSCALE "
                                                     "image, a segmenter's mask)"}
    return None


def read(data: bytes, *, input_hw: tuple[int, int] | None = None, where: str = "model") -> ModelMetadata:
    """Read edgelite metadata, else standard TFLite metadata (third-party models), else nothing."""
    entries = tflite_file.metadata_entries(data)
    standard, labels, name, description, task = None, None, None, None, None
    if STANDARD_ENTRY in entries:
        standard = decode_standard(entries[STANDARD_ENTRY], where)
        labels = _labels_from_standard(standard, data, where)
        name, description = standard.name, standard.description
        if any(c.name == DETECTOR_METADATA for sub in standard.subgraph_metadata or ()
               for c in sub.custom_metadata or ()):
            # only a detector pays for the decoder modules (a classifier's cold start on a board does not)
            from edgelite.runtime.decoders.mediapipe_metadata import task_from_metadata

            task = task_from_metadata(standard, where)
        else:
            task = _task_from_standard(standard)

    if EDGELITE_ENTRY in entries:
        try:
            own = json.loads(entries[EDGELITE_ENTRY].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(f"{where}: edgelite metadata entry is not valid JSON ({exc})") from None
        version = own.get("schema_version", 0) if isinstance(own, dict) else None
        shaped = (isinstance(own, dict) and isinstance(version, int) and not isinstance(version, bool)
                  and isinstance(own.get("spec"), (dict, type(None)))
                  and isinstance(own.get("provenance"), (dict, type(None))))
        if not shaped:
            raise UserInputError(f"{where}: edgelite metadata entry is not an edgelite object (schema_version, spec, "
                                 "provenance); re-convert the model or strip the entry")
        assert isinstance(version, int)
        if version > EDGELITE_SCHEMA_VERSION:
            raise UserInputError(
                f"{where}: written by a newer edgelite (metadata schema {own.get('schema_version')}); upgrade edgelite"
            )
        try:
            spec = PreprocessSpec.from_dict(own["spec"]) if own.get("spec") else None
        except (TypeError, AttributeError) as exc:
            raise UserInputError(f"{where}: edgelite metadata has an invalid spec ({exc})") from None
        except UserInputError as exc:
            raise UserInputError(f"{where}: the preprocessing stored in the file is invalid ({exc}); re-convert "
                                 "it, or override with the preprocessing flags") from None
        return ModelMetadata(spec, labels, dict(own.get("provenance") or {}), "edgelite", name, description, task)
    if standard is not None:
        try:
            spec = _spec_from_standard(standard, input_hw)
        except (TypeError, ValueError, UserInputError) as exc:
            raise UserInputError(f"{where}: TFLITE_METADATA normalization is invalid ({exc})") from None
        return ModelMetadata(spec, labels, {}, "standard", name, description, task)
    return ModelMetadata()


def labels_match_output(labels: tuple[str, ...] | None, output_shape: tuple[int, ...]) -> bool:
    return labels is not None and len(labels) > 0 and len(output_shape) >= 1 \
        and int(np.prod(output_shape[1:] or (1,))) == len(labels)
