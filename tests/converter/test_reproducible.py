"""Same seed → byte-identical .tflite (timestamp pinned by SOURCE_DATE_EPOCH); the seed really matters."""

import pytest

from edgelite.converter import ConvertConfig, convert, metadata_writer
from edgelite.runtime import Model

pytestmark = pytest.mark.slow


def _cfg(example, out, seed):
    return ConvertConfig(example / "model.keras", out, calib=example / "calib", samples=20, seed=seed,
                         labels=example / "labels.txt")


def test_same_seed_is_byte_identical(example, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    convert(_cfg(example, a, 7))
    convert(_cfg(example, b, 7))
    assert a.read_bytes() == b.read_bytes()
    assert Model.load(a).metadata.provenance["created_utc"] == "2026-01-01T00:00:00Z"


def test_without_pinned_time_only_the_timestamp_differs(example, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    convert(_cfg(example, a, 7))
    convert(_cfg(example, b, 7))
    bare = [metadata_writer.with_metadata(p.read_bytes(), {}, remove=["edgelite"]) for p in (a, b)]
    assert bare[0] == bare[1]


def test_other_seed_gives_other_calibration(example, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    convert(_cfg(example, a, 1))
    convert(_cfg(example, b, 2))
    strip = lambda p: metadata_writer.with_metadata(p.read_bytes(), {}, remove=["edgelite", "TFLITE_METADATA"])  # noqa
    assert strip(a) != strip(b)  # different samples → different activation ranges
