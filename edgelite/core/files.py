"""Small shared helpers: atomic writes, hashing, lazy imports of optional dependencies."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from edgelite.core.errors import MissingDependencyError, UserInputError


def _special_target(target: Path) -> bool:
    """True for an existing character device or FIFO (``/dev/null``, ``/dev/stdout``, a pipe): written in
    place, never renamed over. Any other existing non-regular path is refused."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
    raise UserInputError(f"{target}: output path is {kind}; give a file path")


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows: Linux (4.7+) shows it in
    ``/proc/self/status``. Elsewhere it is set and restored at once (``os.umask`` is the only portable reader);
    the lock keeps our own threads from interleaving there."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give a new file under the caller's umask (0644
    under 022, 0640 under 027). Temp files (``mkstemp``, ``NamedTemporaryFile``) are 0600 whatever the umask,
    so an output renamed into place from one must be given this mode first."""
    return 0o666 & ~current_umask()


def _mode_for(target: Path) -> int:
    """What ``open(target, "w")`` would leave: an existing file keeps its permission bits, a new one gets
    ``default_file_mode()``."""
    try:
        st = os.stat(target)
    except OSError:
        return default_file_mode()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else default_file_mode()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename, so readers never see half.
    The file gets the mode ``open()`` would give it (see ``atomic_path``), not the temp file's 0600.
    A character device or FIFO is written directly (a rename would replace the device node)."""
    target = Path(path)
    if _special_target(target):
        with open(target, "wb") as fh:
            fh.write(data)
        return
    with atomic_path(target, suffix=".tmp") as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """A temp file's path beside ``path`` for writers that want a file name (``model.save``). When the block
    ends normally the temp file gets the mode ``open()`` would give ``path`` (an existing file's own, else
    ``default_file_mode()``) and is renamed over ``path``; on any error or interruption it is removed and
    ``path`` is left as it was. ``suffix`` defaults to ``path``'s own, for writers that choose a format by
    extension (``.keras``, ``.h5``)."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UserInputError(f"{target}: output folder {parent} does not exist; create it first")
    import tempfile  # here: a board command that writes nothing should not pay for it

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix if suffix is None else suffix,
                               dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        # Leave nothing half-written behind, whatever interrupted us; the error itself propagates.
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: dict[str, str | os.PathLike[str] | None],
                  inputs: Iterable[Any]) -> None:
    """Before any work: refuse an output (``{flag: path}``) that is one of the inputs or another output, a
    folder or another non-regular path (devices and FIFOs are allowed: written in place), or whose folder is
    missing or not writable (tried with a temp file: permissions, read-only mounts and immutable folders all
    show up here instead of after a long conversion)."""
    import tempfile

    given = [(flag, Path(p)) for flag, p in outputs.items() if p is not None and str(p) != ""]
    flat: list[Any] = []
    for p in inputs:   # a multi-input model's data flag is {input: path}
        flat.extend(p.values() if isinstance(p, dict) else [p])
    sources = [Path(p) for p in flat if p is not None and str(p) != ""]
    for k, (flag, out) in enumerate(given):
        special = _special_target(out)
        for src in sources:
            if _same(out, src):
                raise UserInputError(f"{out}: {flag} would overwrite the input {src}; choose another path")
        for other_flag, other in given[:k]:
            if _same(out, other):
                raise UserInputError(f"{out}: given to both {other_flag} and {flag}; choose two paths")
        if special:
            continue
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            raise UserInputError(f"{out}: output folder {parent} does not exist; create it first")
        try:
            tempfile.TemporaryFile(dir=parent).close()
        except OSError as exc:
            raise UserInputError(f"{out}: cannot write in {parent} ({exc.strerror or exc}); "
                                 f"choose a writable folder for {flag}") from None


def sha256_path(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or of a folder's files (sorted relative paths and contents) for SavedModels."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def path_size(path: str | os.PathLike[str]) -> int:
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


CONVERT_EXTRA = "pip install 'edgelite[convert]'"


def lazy_import(name: str, *, install: str = CONVERT_EXTRA) -> ModuleType:
    """Import an optional heavy module, or say which ``pip install`` brings it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(f"{name} is not installed ({exc}); install it with: {install}") from None


# fd 2 is process-wide: one redirection at a time, across threads (runtime/native_log.py takes it too); the same
# thread may nest them (a capture inside a capture restores in order).
STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[Path]:
    """Send C++ logging written straight to fd 2 (TensorFlow, the TFLite converter) to a temp file.

    Yields the file's path so a failure can show what the native code said; the file is removed afterwards.
    Threads take turns (``STDERR_LOCK``): interleaved redirections could leave fd 2 on a deleted file.
    """
    import tempfile

    with STDERR_LOCK:
        fd, name = tempfile.mkstemp(prefix="edgelite-native-", suffix=".log")
        saved = os.dup(2)
        try:
            os.dup2(fd, 2)
            yield Path(name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(fd)
            Path(name).unlink(missing_ok=True)
