"""Writing the metadata that travels inside a .tflite (the reader is ``runtime/metadata.py``): the standard
TFLite metadata entry, edgelite's own JSON entry and the labels zip, and re-packing the flatbuffer with them.

Re-packing uses the generated object API of the TFLite schema module (ai-edge-litert's, else TensorFlow's); only
the converter writes models, so the board install never needs it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from typing import Any

import numpy as np

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.core.errors import MissingDependencyError
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime.metadata import (
    EDGELITE_ENTRY,
    EDGELITE_SCHEMA_VERSION,
    LABELS_FILE,
    MIN_PARSER_VERSION,
    STANDARD_ENTRY,
)
from edgelite.runtime.tflite_file import BUFFER_ALIGNMENT, TFLITE_IDENTIFIER


def schema() -> Any:
    """The generated TFLite schema module of the installed LiteRT (object API, for re-packing a model).

    ai-edge-litert ships one; tflite-runtime does not (there, writing a model needs ai-edge-litert or
    TensorFlow, both present wherever edgelite converts). Imported only when called: it costs ~0.36 s."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated
        except ImportError:
            raise MissingDependencyError("re-packing a .tflite needs the TFLite schema module of ai-edge-litert "
                                         "or TensorFlow: pip install ai-edge-litert") from None
    return schema_py_generated


def with_metadata(data: bytes, entries: dict[str, bytes], *, remove: Iterable[str] = ()) -> bytes:
    """A new model flatbuffer with ``entries`` added to (or replacing) ``Model.metadata``, ``remove`` dropped.

    A replaced entry reuses its buffer; a removed one leaves an empty buffer (renumbering buffers would touch
    every tensor). Anything appended after the flatbuffer (an associated-files zip) is dropped; the caller
    appends its own.
    """
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffers = model.buffers or []
    kept = []
    for m in model.metadata or []:
        name = m.name.decode()
        if name in remove:
            buffers[m.buffer].data = None
        elif name in entries:
            buffers[m.buffer].data = np.frombuffer(entries[name], dtype=np.uint8)
            kept.append(m)
        else:
            kept.append(m)
    present = {m.name.decode() for m in kept}
    for name, payload in entries.items():
        if name in present:
            continue
        md = s.MetadataT()
        md.name = name.encode()
        md.buffer = len(buffers)
        buf = s.BufferT()
        buf.data = np.frombuffer(payload, dtype=np.uint8)
        buffers.append(buf)
        kept.append(md)
    model.metadata = kept
    model.buffers = [_AlignedBuffer(b) for b in buffers]
    builder = flatbuffers.Builder(max(1024, len(data) + 4096))
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


class _AlignedBuffer:
    """Packs a ``BufferT`` with its data vector aligned to ``BUFFER_ALIGNMENT`` (the schema's force_align)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def Pack(self, builder: Any) -> int:
        s = schema()
        data = self.inner.data
        vec = None
        if data is not None and len(data):
            payload = np.asarray(data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            vec = builder.EndVector(len(payload))
        s.BufferStart(builder)
        if vec is not None:
            s.BufferAddData(builder, vec)
        s.BufferAddOffset(builder, self.inner.offset)
        s.BufferAddSize(builder, self.inner.size)
        return int(s.BufferEnd(builder))



def _io_tensors(model_bytes: bytes) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[str, tuple[int, ...]]]]:
    """(name, shape) of the model's inputs and outputs, in subgraph order (what tensor metadata lines up with)."""
    from edgelite.runtime.tflite_file import io_tensors

    inputs, outputs = io_tensors(model_bytes)
    return [(t.name, t.shape) for t in inputs], [(t.name, t.shape) for t in outputs]


def _image_input(spec: PreprocessSpec, name: str = "image") -> Any:
    lo, hi = spec.value_range()
    color = ms.ColorSpaceType.GRAYSCALE if spec.color == "gray" else ms.ColorSpaceType.RGB
    return ms.TensorMetadata(
        name=name,
        description=f"Input image {spec.height}x{spec.width}, {spec.color.upper()}; value = (pixel - mean) / std.",
        content=ms.Content(content_properties=ms.ImageProperties(color_space=color)),
        process_units=(ms.ProcessUnit(options=ms.NormalizationOptions(mean=tuple(map(float, spec.mean)),
                                                                      std=tuple(map(float, spec.std)))),),
        stats=ms.Stats(max=tuple(float(v) for v in hi), min=tuple(float(v) for v in lo)),
    )


def _standard_metadata(spec: PreprocessSpec | None, labels: tuple[str, ...] | None, name: str, description: str,
                       version: str, io: tuple[list[tuple[str, tuple[int, ...]]], list[tuple[str, tuple[int, ...]]]]
                       | None = None) -> bytes:
    """The standard entry: one tensor metadata per input and per output, in subgraph order (parsers such as
    MediaPipe's refuse a count that differs). The spec describes the image inputs (``is_image_input``); the
    labels attach to the output with one value per label."""
    inputs, outputs = io if io is not None else ([("input", ())], [("output", ())])
    single_in, single_out = len(inputs) == 1, len(outputs) == 1
    from edgelite.calibration.multi_input import spec_for

    in_meta = []
    for tensor, shape in inputs:
        one = spec if single_in else spec_for(spec, shape[1:])
        if one is not None:
            in_meta.append(_image_input(one, "image" if single_in else tensor))
        else:
            in_meta.append(ms.TensorMetadata(name="input" if single_in else tensor))
    labelled = 0 if single_out else next((k for k, (_, shape) in enumerate(outputs)
                                          if labels and shape and shape[-1] == len(labels)), None)
    out_meta = []
    for k, (tensor, _) in enumerate(outputs):
        files = None
        if labels and k == labelled:
            files = (ms.AssociatedFile(name=LABELS_FILE, description="Labels for the output classes, one per line.",
                                       type=ms.AssociatedFileType.TENSOR_AXIS_LABELS),)
        shown = ("probability" if files else "output") if single_out else tensor
        out_meta.append(ms.TensorMetadata(name=shown, description="Scores per class." if files else "Model output.",
                                          content=ms.Content(content_properties=ms.FeatureProperties()),
                                          associated_files=files))
    meta = ms.ModelMetadata(
        name=name, description=description, version=version, author="edgelite",
        subgraph_metadata=(ms.SubGraphMetadata(input_tensor_metadata=tuple(in_meta),
                                               output_tensor_metadata=tuple(out_meta)),),
        min_parser_version=MIN_PARSER_VERSION,
    )
    return codec.encode(meta)


def embed(model_bytes: bytes, *, spec: PreprocessSpec | None, labels: tuple[str, ...] | None,
          provenance: dict[str, Any], name: str = "edgelite model", description: str = "") -> bytes:
    """Return ``model_bytes`` with standard + edgelite metadata and the labels zip appended."""
    standard = _standard_metadata(spec, labels, name, description or "Converted by edgelite.",
                                  str(provenance.get("edgelite_version", "")), io=_io_tensors(model_bytes))
    own = {
        "schema_version": EDGELITE_SCHEMA_VERSION,
        "spec": spec.to_dict() if spec else None,
        "provenance": provenance,
    }
    data = with_metadata(
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
