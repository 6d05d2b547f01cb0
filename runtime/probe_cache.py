"""Remember which model files already probed clean, so a board does not start a second interpreter process on
every command (the probe costs 0.3–0.6 s on x86, more on a Pi).

A record is an empty file named by a sha256 over the model's **content** and everything the probe's outcome
depends on (backend and its version, XNNPACK on/off, Python version, CPU architecture). It is written only after
a probe passed, so a file that crashes is never recorded; a path, size or mtime never enters the key, so a file
changed in place probes again. Files with external delegates are never cached (the outcome depends on a
library we do not hash).

Where: ``$EDGELITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgelite/probed``, else ``~/.cache/edgelite/probed``.
Off: ``EDGELITE_NO_CACHE=1`` or the CLI's ``--no-cache``. Bounded: at most ``MAX_ENTRIES`` records (0-byte
files, one disk block each); past that the oldest are removed. Two processes racing write the same name
through a temp file and ``os.replace``, so a reader never sees a half-written record; a cache folder that
cannot be written is used read-only, and one that cannot be read is ignored (the probe then runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

MAX_ENTRIES = 1024
ENV_DIR = "EDGELITE_CACHE_DIR"
ENV_OFF = "EDGELITE_NO_CACHE"
STALE_TEMP_NS = 3600 * 10**9  # a temp file this old belongs to a writer that died
# Bumped when what a probe checks changes, so older records stop counting.
PROBE_VERSION = 1


def enabled() -> bool:
    return os.environ.get(ENV_OFF, "").strip().lower() in ("", "0", "false", "no")


def cache_dir() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgelite" / "probed"


def key(content: bytes, *, backend: str, backend_version: str, xnnpack: bool) -> str:
    """The record name for this model content under this probe configuration."""
    context = json.dumps({"probe": PROBE_VERSION, "backend": backend, "backend_version": backend_version,
                          "xnnpack": xnnpack, "python": sys.version_info[:2], "machine": platform.machine()},
                         sort_keys=True)
    h = hashlib.sha256(content)
    h.update(b"\0" + context.encode())
    return h.hexdigest()


def is_trusted(k: str, folder: Path | None = None) -> bool:
    try:
        return (folder or cache_dir()).joinpath(k).is_file()
    except OSError:
        return False


def remember(k: str, folder: Path | None = None) -> bool:
    """Record a clean probe; False when the cache folder cannot be written (nothing else happens then)."""
    folder = folder or cache_dir()
    tmp = folder / f".{k}.{os.urandom(6).hex()}.tmp"  # unique per writer, process or thread
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.touch()
        os.replace(tmp, folder / k)
        _prune(folder)
    except OSError:
        with contextlib.suppress(OSError):   # the folder itself is not writable: there is no temp file to remove
            tmp.unlink(missing_ok=True)
        return False
    return True


def _prune(folder: Path) -> None:
    """Keep the newest ``MAX_ENTRIES`` records and drop temp files a killed writer left behind (another process
    may be pruning too: files that vanish meanwhile are fine)."""
    records = []
    stale_before = time.time_ns() - STALE_TEMP_NS
    with os.scandir(folder) as it:
        for entry in it:
            try:
                mtime = entry.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if len(entry.name) == 64 and not entry.name.startswith("."):
                records.append((mtime, entry.name))
            elif entry.name.endswith(".tmp") and mtime < stale_before:
                (folder / entry.name).unlink(missing_ok=True)
    if len(records) <= MAX_ENTRIES:
        return
    records.sort()
    for _, name in records[: len(records) - MAX_ENTRIES]:
        (folder / name).unlink(missing_ok=True)

