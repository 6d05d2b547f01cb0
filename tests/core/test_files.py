"""edgelite/core/files.py: atomic writes give outputs the mode a plain ``open()`` would (issue 24 #10: every
file edgelite wrote was 0600, the temp file's mode, whatever the umask)."""

from __future__ import annotations

import builtins
import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgelite.core import files


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


UMASKS = [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)]


@pytest.mark.parametrize("mask, expected", UMASKS, ids=lambda v: f"{v:04o}")
def test_atomic_write_gives_a_new_file_the_umask_mode(tmp_path, mask, expected):
    target = tmp_path / "report.json"
    with umask(mask):
        files.atomic_write_text(target, "{}\n")
        plain = tmp_path / "plain.json"
        with open(plain, "w") as fh:   # what the user compares us with
            fh.write("{}\n")
    assert mode(target) == expected == mode(plain)
    assert target.read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json", "report.json"]  # no temp file left


@pytest.mark.parametrize("before", [0o600, 0o664], ids=lambda v: f"{v:04o}")
def test_an_existing_file_keeps_its_mode(tmp_path, before):
    """open(path, "w") keeps an existing file's bits: a user's private 0600 report stays private."""
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old")
    target.chmod(before)
    with umask(0o022):
        files.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == before


@pytest.mark.parametrize("mask, expected", UMASKS, ids=lambda v: f"{v:04o}")
def test_atomic_path_gives_the_umask_mode_and_keeps_the_suffix(tmp_path, mask, expected):
    target = tmp_path / "student.keras"
    with umask(mask), files.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".keras" and tmp != target
        tmp.write_bytes(b"saved")   # a writer that reuses the temp file, as model.save does
        assert not target.exists()
    assert target.read_bytes() == b"saved" and mode(target) == expected


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "pruned.h5"
    target.write_bytes(b"previous")

    def interrupted_save() -> None:
        with files.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted_save()
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["pruned.h5"]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002], ids=lambda v: f"{v:04o}")
def test_current_umask_reads_it_without_changing_it(mask):
    with umask(mask):
        assert files.current_umask() == mask
        assert files.default_file_mode() == 0o666 & ~mask
        assert os.umask(mask) == mask  # still set: os.umask returns the previous value


def test_current_umask_without_proc(monkeypatch):
    """Where /proc/self/status is missing (macOS, a sandbox), the set-and-restore fallback gives the same."""
    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    with umask(0o027):
        assert files.current_umask() == 0o027
        assert os.umask(0o027) == 0o027


def _cli_under_umask(mask: str, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process whose umask the shell sets, as a user's would be."""
    script = f'umask {mask} && exec "$0" -m edgelite "$@"'
    return subprocess.run(["sh", "-c", script, sys.executable, *map(str, argv)], capture_output=True, text=True,
                          timeout=300)


def test_bench_reports_get_the_users_umask_mode(example_models, tmp_path):
    json_out, html_out = tmp_path / "bench.json", tmp_path / "bench.html"
    proc = _cli_under_umask("022", "bench", example_models["int8"], "--runs", "2", "--json", json_out,
                            "--html", html_out)
    assert proc.returncode == 0, proc.stderr
    assert mode(json_out) == 0o644 and mode(html_out) == 0o644


@pytest.mark.slow
def test_a_converted_model_gets_the_users_umask_mode(example, tmp_path):
    out, report = tmp_path / "m.tflite", tmp_path / "m.json"
    proc = _cli_under_umask("027", "convert", example / "model.keras", "-o", out, "--mode", "float32",
                            "--json", report)
    assert proc.returncode == 0, proc.stderr
    assert mode(out) == 0o640 and mode(report) == 0o640
