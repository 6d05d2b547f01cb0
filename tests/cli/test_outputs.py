"""Outputs never replace inputs or device nodes, and an unusable output is refused before any work starts."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from edgelite.core.files import atomic_write_text

from .test_errors import assert_user_error


@pytest.fixture
def models(example_models, tmp_path):
    """Copies, so that a defect here could not damage the session's models."""
    out = {}
    for name in ("int8", "float32"):
        out[name] = tmp_path / f"{name}.tflite"
        shutil.copy(example_models[name], out[name])
    return out


def _unchanged(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before, f"{path} was modified"


def test_report_outputs_may_not_be_inputs(run_cli, models, example, tmp_path):
    int8, f32 = models["int8"], models["float32"]
    before = {p: p.read_bytes() for p in (int8, f32)}
    data = example / "eval"
    cases = [
        (("bench", int8, "--runs", "2", "--json", int8), "would overwrite the input"),
        (("bench", int8, "--runs", "2", "--reference", f32, "--html", f32), "would overwrite the input"),
        (("compare", f32, int8, "--data", data, "--samples", "4", "--json", f32), "would overwrite the input"),
        (("compare", f32, int8, "--data", data, "--samples", "4", "--html", tmp_path / ".." / tmp_path.name
          / "int8.tflite"), "would overwrite the input"),
        (("bench", int8, "--runs", "2", "--json", tmp_path / "r", "--html", tmp_path / "r"), "given to both"),
    ]
    link = tmp_path / "link.json"
    link.symlink_to(int8)
    cases.append((("bench", int8, "--runs", "2", "--json", link), "would overwrite the input"))
    for argv, needle in cases:
        assert_user_error(run_cli(*argv), needle)
    for p, b in before.items():
        _unchanged(p, b)


def test_a_folder_as_output_is_one_line(run_cli, models, tmp_path):
    (tmp_path / "out").mkdir()
    assert_user_error(run_cli("bench", models["int8"], "--runs", "2", "--html", tmp_path / "out"), "is a folder")


def test_device_nodes_are_written_not_replaced(run_cli, models):
    code, _, err = run_cli("bench", models["int8"], "--runs", "2", "--json", "/dev/null")
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_output_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    atomic_write_text(fifo, '{"ok": true}\n')
    assert reader.communicate(timeout=10)[0] == b'{"ok": true}\n'
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def _unwritable(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root (immutable flag); False when that is not possible here."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def test_unwritable_output_folder_is_refused_before_the_work(run_cli, models, example, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    target = Path("/sys/edgelite.json")  # sysfs: not writable even for root
    if _unwritable(locked):
        target = locked / "report.json"
    try:
        for argv in (("bench", models["int8"], "--runs", "2", "--json", target),
                     ("convert", example / "model.keras", "-o", tmp_path / "m.tflite", "--calib", example / "calib",
                      "--json", target)):
            assert_user_error(run_cli(*argv), "cannot write in")
        assert not (tmp_path / "m.tflite").exists()  # refused before the conversion, not after it
    finally:
        if os.geteuid() == 0 and shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(locked)], capture_output=True)
        locked.chmod(0o755)
