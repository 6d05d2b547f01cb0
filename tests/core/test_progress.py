"""Progress on a terminal's stderr while a long step runs, none with --quiet or off a terminal."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time

import pytest

from edgelite.core import progress
from edgelite.core.files import native_stderr_captured


def _on_a_terminal(step, monkeypatch, quiet: bool) -> str:
    """What ``step`` writes to fd 2 when fd 2 is a pseudo-terminal."""
    if quiet:
        monkeypatch.setenv(progress.QUIET_ENV, "1")
    else:
        monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    master, slave = os.openpty()
    # a terminal 100 columns wide (a fresh pty is 0x0, where tqdm draws an empty bar)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    saved = os.dup(2)
    try:
        os.dup2(slave, 2)
        step()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    os.set_blocking(master, False)
    try:   # read while the terminal's other end is open (Linux answers EIO once it is closed)
        return os.read(master, 65536).decode(errors="replace")
    except BlockingIOError:
        return ""
    finally:
        os.close(slave)
        os.close(master)


def _long_native_step() -> None:
    # what run_tf does: the ticking line outside, the converter's fd-2 logging captured inside
    with progress.working("float32 conversion"), native_stderr_captured():
        os.write(2, b"native converter noise\n")
        time.sleep(3 * progress.TICK_S)


def test_a_long_call_shows_its_name_while_native_logging_is_captured(monkeypatch):
    shown = _on_a_terminal(_long_native_step, monkeypatch, quiet=False)
    assert "float32 conversion: 00:0" in shown
    assert "native converter noise" not in shown


def test_quiet_shows_nothing(monkeypatch):
    assert _on_a_terminal(_long_native_step, monkeypatch, quiet=True) == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_loop_bars_follow_quiet(monkeypatch, quiet):
    def loop() -> None:
        import sys

        # tqdm writes to sys.stderr: point it at the terminal fd for this test
        with open(2, "w", closefd=False) as tty:
            old, sys.stderr = sys.stderr, tty
            try:
                for _ in progress.bar(range(3), desc="range histograms", unit="img"):
                    time.sleep(0.01)
            finally:
                sys.stderr = old

    shown = _on_a_terminal(loop, monkeypatch, quiet=quiet)
    assert ("range histograms" in shown) is not quiet
