"""The model repository ``edgelite serve`` reads: TensorFlow Serving's and Triton's layout.

    REPO/<name>/<version>/model.tflite      numeric versions; the highest one is served (version policy "latest")

or a single ``model.tflite`` (served as name = file stem, version 1). Names are checked against
``NAME_PATTERN`` before they touch the file system, so a request's model name can never become a path
outside REPO. Every file is loaded through the crash-safe probe (a child process) before it is served.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgelite.core.errors import UserInputError
from edgelite.runtime.model import Model

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MODEL_FILE = "model.tflite"
MAX_MODELS = 256        # entries read from REPO (a hostile folder must not make the server load thousands)
MAX_VERSIONS = 1024     # version folders considered per model


@dataclass
class Served:
    """One loaded version of a model: the interpreter (``Model`` locks it per call) and where it came from."""

    name: str
    version: int
    path: Path
    model: Model
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def _versions(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for i, entry in enumerate(sorted(folder.iterdir())):
        if i >= MAX_VERSIONS:
            break
        if entry.is_dir() and entry.name.isdigit() and (entry / MODEL_FILE).is_file():
            found.append((int(entry.name), entry / MODEL_FILE))
    return sorted(found)


def scan(repo: Path) -> dict[str, list[tuple[int, Path]]]:
    """Model name → [(version, file)] ascending, for a repository folder or a single .tflite file."""
    if repo.is_file():
        if repo.suffix != ".tflite":
            raise UserInputError(f"{repo}: not a .tflite file; pass a model file or a repository folder "
                                 f"REPO/<name>/<version>/{MODEL_FILE}")
        name = repo.stem if valid_name(repo.stem) else "model"
        return {name: [(1, repo)]}
    if not repo.is_dir():
        raise UserInputError(f"{repo}: no such model repository; pass REPO/<name>/<version>/{MODEL_FILE} or a "
                             ".tflite file")
    models: dict[str, list[tuple[int, Path]]] = {}
    for i, entry in enumerate(sorted(repo.iterdir())):
        if i >= MAX_MODELS:
            break
        if entry.is_dir() and valid_name(entry.name):
            versions = _versions(entry)
            if versions:
                models[entry.name] = versions
    if not models:
        raise UserInputError(f"{repo}: no models found; expected REPO/<name>/<version>/{MODEL_FILE} with numeric "
                             "versions")
    return models


class Repository:
    """The models being served: the latest version of each, loaded and probed."""

    def __init__(self, root: Path, *, threads: int | None = None) -> None:
        self.root = Path(root)
        self.threads = threads
        self._served: dict[str, Served] = {}
        self.versions: dict[str, list[int]] = {}
        for name, versions in scan(self.root).items():
            version, path = versions[-1]
            self._served[name] = self._load(name, version, path)
            self.versions[name] = [v for v, _ in versions]

    def _load(self, name: str, version: int, path: Path) -> Served:
        model = Model.load(path, threads=self.threads, probe=True)
        return Served(name, version, path, model)

    def __iter__(self) -> Iterator[Served]:
        return iter(self._served.values())

    def get(self, name: str, version: str | None = None) -> Served:
        """The served model ``name`` (at ``version`` if given); ``LookupError`` with the reason otherwise."""
        if not valid_name(name) or name not in self._served:
            raise LookupError(f"unknown model {name!r}; served: {', '.join(sorted(self._served)) or 'none'}")
        served = self._served[name]
        if version is not None and (not version.isdigit() or int(version) != served.version):
            raise LookupError(f"model {name!r} has no loaded version {version!r}; serving version {served.version}")
        return served
