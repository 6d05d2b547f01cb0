"""The committed baseline: atomic round trip, strict reading, other schema versions refused with the fix."""

from __future__ import annotations

import json
import re

import pytest

from edgelite.check.baseline import SCHEMA_VERSION, Baseline, BaselineEntry, load_baseline
from edgelite.core.errors import UserInputError

FIGURES = {"size_bytes": 1000, "latency_ms": 0.1, "kernel_ms": 2.0, "latency_per_kernel": 0.05,
           "int8_over_float": None, "top1": 97.0, "top1_float": 97.5, "agreement": 0.995}


def _good(tmp_path):
    path = tmp_path / "baseline.json"
    Baseline(models={"m": BaselineEntry(**FIGURES)}, kernel_sha256="ab", threads=1, device={"cpu_model": "x"}
             ).save(path)
    return path


def test_round_trip(tmp_path):
    path = _good(tmp_path)
    b = load_baseline(path)
    assert b.models == {"m": BaselineEntry(**FIGURES)} and b.threads == 1 and b.kernel_sha256 == "ab"
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert json.loads(path.read_text())["models"] == {"m": FIGURES}   # the file keeps the keys and values
    assert b.to_json() == path.read_text()                            # and reads back to the same bytes
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["models"]["m"].update(size_bytes="big"), "models.m.size_bytes: expected an integer"),
    (lambda d: d["models"]["m"].update(agreement="0.9"), "models.m.agreement: expected a number or null"),
    (lambda d: d["models"]["m"].update(latency_per_kernel=None), "models.m.latency_per_kernel: expected a number,"),
    (lambda d: d["models"]["m"].update(speed=1), "models.m.speed: unknown key"),
    (lambda d: d["models"]["m"].pop("top1"), "models.m.top1: required key missing"),
    (lambda d: d.update(models=[1]), "models: expected a table"),
    (lambda d: d.update(threads="1"), "threads: expected an integer"),
    (lambda d: d.pop("kernel_sha256"), "kernel_sha256: required key missing"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d.update(kind="check"), "kind: expected 'edgelite-baseline', got 'check'"),
    (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "written by a newer edgelite"),
    (lambda d: d.update(schema_version=0), "older than this edgelite reads"),
    (lambda d: d.update(schema_version="1"), "schema_version: expected an integer"),
])
def test_malformed_baselines_are_one_line_errors_naming_the_key(tmp_path, edit, words):
    path = _good(tmp_path)
    _edit(path, edit)
    with pytest.raises(UserInputError) as err:
        load_baseline(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg and "\n" not in msg, msg


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(UserInputError, match="no baseline yet; record one with `edgelite check --update-baseline`"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not a baseline JSON file"):
        load_baseline(tmp_path / "bad.json")


def test_a_committed_baseline_of_before_the_typed_entries_loads_and_rewrites_byte_for_byte(example):
    """examples/mnist/edgelite-baseline.json was written with the per-model entries as plain dicts."""
    path = example / "edgelite-baseline.json"
    b = load_baseline(path)
    assert set(b.models) == {"mnist-int8"} and b.models["mnist-int8"].size_bytes > 0
    assert b.to_json() == path.read_text()


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["models"]["m"].update(size_bytes=True), "models.m.size_bytes: expected an integer, got True"),
    (lambda d: d["models"]["m"].update(top1=[97]), "models.m.top1: expected a number or null, got [97]"),
    (lambda d: d.update(device=[]), "device: expected a table"),
    (lambda d: d.update(updated=3), "updated: expected a string"),
])
def test_every_field_is_typed(tmp_path, edit, words):
    path = _good(tmp_path)
    _edit(path, edit)
    with pytest.raises(UserInputError, match=re.escape(f"{path}: {words}")):
        load_baseline(path)
