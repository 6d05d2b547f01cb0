"""Everything in the repository is written here: no tracked file is a byte-for-byte copy of a file shipped in the
installed ai_edge_litert, mediapipe or tensorflow packages (their schema modules are the tempting ones)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ai_edge_litert", "mediapipe", "tensorflow")
# Tiny files (an empty __init__.py, a one-line marker) are identical by accident, not by copying.
MIN_BYTES = 128


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copies(tracked: list[Path], packages: tuple[str, ...] = PACKAGES) -> tuple[list[str], int]:
    """(tracked files byte-identical to a package file, package files scanned)."""
    by_size: dict[int, list[Path]] = {}
    for path in tracked:
        size = path.stat().st_size
        if size >= MIN_BYTES:
            by_size.setdefault(size, []).append(path)
    ours: dict[Path, str] = {}  # hashed lazily: only files whose size matches a package file's
    copies, scanned = [], 0
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"{package} is installed by make setup"
        for folder, _, names in os.walk(spec.submodule_search_locations[0]):
            for name in names:
                theirs = Path(folder, name)
                try:
                    size = theirs.stat().st_size
                except OSError:
                    continue
                scanned += 1
                for mine in by_size.get(size, ()):
                    if mine not in ours:
                        ours[mine] = _sha(mine)
                    if ours[mine] == _sha(theirs):
                        copies.append(f"{mine} == {theirs}")
    return copies, scanned


def test_no_tracked_file_is_a_copy_of_an_installed_package_file():
    tracked = _tracked()
    assert len(tracked) > 100  # the listing worked
    copies, scanned = _copies(tracked)
    assert scanned > 1000  # the packages were really walked
    assert not copies, "copied third-party files:\n" + "\n".join(copies)


def test_the_check_finds_a_copy(tmp_path):
    """A vendored schema module (what runtime/_schema held until issue 12) is reported."""
    spec = importlib.util.find_spec("ai_edge_litert")
    copy = tmp_path / "tflite_schema_py_generated.py"
    copy.write_bytes((Path(spec.submodule_search_locations[0]) / "schema_py_generated.py").read_bytes())
    mine = tmp_path / "ours.py"
    mine.write_text("# written here\n" * 20)
    copies, _ = _copies([copy, mine], ("ai_edge_litert",))
    assert len(copies) == 1 and copies[0].startswith(str(copy))
