"""Exit codes and what reaches the terminal: a bug is exit 3 with one line and a traceback file (never 1),
SIGTERM cleans up like SIGINT, and text from files cannot drive the terminal."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import numpy as np

from edgelite.cli import commands, render
from edgelite.converter import metadata_writer
from edgelite.runtime import metadata as md


def test_a_bug_is_exit_3_with_the_traceback_in_a_file(run_cli, monkeypatch, example_models):
    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(commands, "dispatch", broken)
    code, out, err = run_cli("inspect", example_models["int8"])
    assert code == 3 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("edgelite: internal error (TypeError: unsupported operand") and "please report" in line
    path = Path(re.search(r"traceback \((.+)\)$", line).group(1))
    try:
        text = path.read_text()
        assert "Traceback (most recent call last)" in text and "def broken" not in text and "broken" in text
    finally:
        path.unlink()


def test_sigterm_during_the_final_write_leaves_no_temp_file(run_cli, monkeypatch, example_models, tmp_path):
    """SIGTERM arrives while the JSON report is being written (at fsync): exit 143, no output, no temp file."""
    real_fsync = os.fsync

    def fsync_then_sigterm(fd):
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "fsync", fsync_then_sigterm)
    code, _, err = run_cli("bench", example_models["int8"], "--runs", "2", "--json", tmp_path / "b.json")
    assert code == 143 and err.strip().endswith("edgelite: terminated")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the CLI's handler is removed again


def test_control_characters_from_a_model_are_escaped(run_cli, example_models, tmp_path, example):
    """Labels from a downloaded model with ESC/BEL/backspace/CR are shown escaped by run and inspect."""
    data = example_models["int8"].read_bytes()
    meta = md.read(data)
    evil = ["\x1b]0;owned\x07", "\x1b[2J\x1b[Hfake prompt $", "ok\x1b[1Aover", "\x08\x08x"]
    evil += [str(i) for i in range(4, 10)]
    path = tmp_path / "evil.tflite"
    bare = metadata_writer.with_metadata(data, {}, remove=["edgelite", "TFLITE_METADATA"])
    path.write_bytes(metadata_writer.embed(bare, spec=meta.spec, labels=tuple(evil), provenance=meta.provenance))
    x = np.zeros((1, 28, 28, 1), np.uint8)
    np.save(tmp_path / "x.npy", x)
    for argv in (("run", path, tmp_path / "x.npy", "--top-k", "10"), ("inspect", path)):
        code, out, err = run_cli(*argv)
        assert code == 0, err
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err), argv
    assert "\\x1b]0;owned\\x07" in run_cli("run", path, tmp_path / "x.npy", "--top-k", "10")[1]


def test_printable_keeps_ordinary_text():
    assert render.printable("chat égyptien ≤ 0.5 — ok") == "chat égyptien ≤ 0.5 — ok"
    assert render.printable("a\nb\x9bc") == "a\\nb\\x9bc"


def test_run_on_arrays_names_the_file(run_cli, example_models, tmp_path):
    from .test_errors import assert_user_error

    np.save(tmp_path / "shape.npy", np.zeros((2, 32, 32, 3), np.float32))
    np.save(tmp_path / "nan.npy", np.full((1, 28, 28, 1), np.nan, np.float32))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    for name, needle in (("shape.npy", "does not fit"), ("nan.npy", "NaN"), ("text.npy", "<U1 array")):
        assert_user_error(run_cli("run", example_models["int8"], tmp_path / name), f"{tmp_path / name}: ", needle)
