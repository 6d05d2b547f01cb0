"""Keep LiteRT's one informational line off stderr without hiding anything else it prints.

LiteRT's native logger writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to file descriptor 2
the first time a process applies XNNPACK (in ``allocate_tensors``), and neither ai-edge-litert 2.3 nor
tflite-runtime 2.14 exports a way to raise the log threshold (``TF_CPP_MIN_LOG_LEVEL`` does not reach it,
measured). So while an interpreter is built, fd 2 points at an in-memory file; afterwards every captured line
except that one is written back to the real stderr, in order. Python's own ``sys.stderr`` is flushed first
and is not redirected (its writes go through fd 2 too, so they are kept and replayed like native ones).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from edgelite.core.files import STDERR_LOCK

NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
# fd 2 is process-wide: one redirection at a time, shared with core.files.native_stderr_captured.
_LOCK = STDERR_LOCK


def _capture_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("edgelite-native-stderr")
    import tempfile

    fd, name = tempfile.mkstemp(prefix="edgelite-stderr-")
    os.unlink(name)
    return fd


def without_noise(data: bytes) -> bytes:
    return b"".join(line for line in data.splitlines(keepends=True) if line.rstrip(b"\r\n") not in NOISE)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Run the body with native stderr captured; replay all of it but ``NOISE`` lines afterwards."""
    with _LOCK:
        try:
            sys.stderr.flush()
            capture = _capture_file()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            # No fd 2 to redirect (a closed stderr, an embedded interpreter): run unfiltered.
            yield
            return
        os.dup2(capture, 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            os.lseek(capture, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(capture, 1 << 16):
                chunks.append(chunk)
            os.close(capture)
            kept = without_noise(b"".join(chunks))
            if kept:
                os.write(2, kept)
