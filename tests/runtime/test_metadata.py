"""Metadata written into the .tflite: standard TFLite metadata + labels zip + the edgelite entry."""

import io
import zipfile

import numpy as np
import pytest

from edgelite.converter import metadata_writer
from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, PreprocessSpec, tflite_file
from edgelite.runtime import metadata as md
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms


def _strip(path):
    """The converter's own flatbuffer without any metadata entries or trailing zip."""
    data = path.read_bytes()
    return metadata_writer.with_metadata(data, {}, remove=tflite_file.metadata_entries(data))


def test_round_trip_spec_labels_provenance(example_models):
    data = example_models["int8"].read_bytes()
    meta = md.read(data)
    assert meta.source == "edgelite"
    assert meta.spec == PreprocessSpec(28, 28, color="gray")
    assert meta.labels == tuple(str(i) for i in range(10))
    prov = meta.provenance
    assert prov["mode"] == "int8" and prov["calibration_samples"] == 200 and prov["calibration_seed"] == 0
    assert len(prov["source_sha256"]) == 64 and prov["created_utc"].endswith("Z")


def test_standard_metadata_fields(example_models):
    """What MediaPipe/Android tooling read: M001 identifier, normalization, color space, labels file."""
    data = example_models["int8"].read_bytes()
    raw = tflite_file.metadata_entries(data)["TFLITE_METADATA"]
    assert raw[4:8] == b"M001"
    meta = codec.decode(raw)
    inp = meta.subgraph_metadata[0].input_tensor_metadata[0]
    norm = inp.process_units[0].options
    assert list(norm.mean) == [0.0] and list(norm.std) == [255.0]
    assert inp.content.content_properties.color_space == ms.ColorSpaceType.GRAYSCALE
    out = meta.subgraph_metadata[0].output_tensor_metadata[0]
    assert out.associated_files[0].type == ms.AssociatedFileType.TENSOR_AXIS_LABELS
    assert out.associated_files[0].name == "labels.txt"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("labels.txt").decode().split() == [str(i) for i in range(10)]
    assert meta.min_parser_version == "1.0.0"


def test_embedding_keeps_outputs_identical_and_buffers_aligned(example_models, tmp_path):
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_strip(example_models["int8"]))
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    a = Model.load(bare).predict(x)
    b = Model.load(example_models["int8"]).predict(x)
    np.testing.assert_array_equal(a, b)
    data = example_models["int8"].read_bytes()
    starts = tflite_file.data_offsets(data)
    assert starts and all(s % tflite_file.BUFFER_ALIGNMENT == 0 for s in starts)


def test_re_embedding_replaces_entries(example_models):
    data = example_models["int8"].read_bytes()
    spec = PreprocessSpec(28, 28, color="gray", mean=(127.5,), std=(127.5,))
    again = metadata_writer.embed(data, spec=spec, labels=("a",) * 10, provenance={"edgelite_version": "x"})
    entries = tflite_file.metadata_entries(again)
    assert list(entries).count("edgelite") == 1
    meta = md.read(again)
    assert meta.spec == spec and meta.labels == ("a",) * 10


def test_third_party_standard_metadata_is_used(example_models):
    """A model with only standard metadata (as Model Maker writes) gets its normalization and labels."""
    data = example_models["float32"].read_bytes()
    std_only = metadata_writer.with_metadata(data, {}, remove=["edgelite"])
    zipped = io.BytesIO(std_only)
    zipped.seek(0, 2)
    with zipfile.ZipFile(zipped, "a") as zf:
        zf.writestr("labels.txt", "\n".join(f"digit{i}" for i in range(10)))
    meta = md.read(zipped.getvalue(), input_hw=(28, 28))
    assert meta.source == "standard"
    assert meta.spec == PreprocessSpec(28, 28, color="gray", mean=(0.0,), std=(255.0,))
    assert meta.labels[3] == "digit3"


def test_corrupt_entries_are_clear_errors(example_models):
    data = example_models["int8"].read_bytes()
    bad_json = metadata_writer.with_metadata(data, {"edgelite": b"{not json"})
    with pytest.raises(UserInputError, match="not valid JSON"):
        md.read(bad_json, where="m.tflite")
    bad_std = metadata_writer.with_metadata(data, {"TFLITE_METADATA": b"garbage!"})
    with pytest.raises(UserInputError, match="M001"):
        md.read(bad_std, where="m.tflite")
    newer = metadata_writer.with_metadata(data, {"edgelite": b'{"schema_version": 99}'})
    with pytest.raises(UserInputError, match="newer edgelite"):
        md.read(newer, where="m.tflite")


def test_labels_file_errors(tmp_path):
    empty = tmp_path / "labels.txt"
    empty.write_text("\n\n")
    with pytest.raises(UserInputError, match="empty"):
        md.read_labels_file(empty)
    with pytest.raises(UserInputError, match="not found"):
        md.read_labels_file(tmp_path / "nope.txt")


def test_re_embedding_does_not_grow_the_file(example_models):
    data = example_models["int8"].read_bytes()
    provenance = md.read(data).provenance
    spec = md.read(data).spec
    labels = md.read(data).labels
    once = metadata_writer.embed(data, spec=spec, labels=labels, provenance=provenance)
    twice = metadata_writer.embed(once, spec=spec, labels=labels, provenance=provenance)
    assert len(twice) == len(once)
