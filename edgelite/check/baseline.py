"""The committed baseline that ``edgelite check`` compares against: one entry per model name.

Latency is stored as a ratio to the shipped timing kernel (``latency_per_kernel``), measured in the same rounds,
so a baseline recorded on a quiet laptop still means something on a busy CI runner; the milliseconds are kept
for people, not for the gate. Reading is strict: a wrong type or an unknown key is a one-line error naming
the key and the file, and a baseline of another schema version is refused with what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_write_text
from edgelite.core.version import __version__

KIND = "edgelite-baseline"
SCHEMA_VERSION = 1

# Per-model figures: name -> may it be null. Everything is a number (int for sizes) or null.
MODEL_KEYS = {
    "size_bytes": False, "latency_ms": False, "kernel_ms": False, "latency_per_kernel": False,
    "int8_over_float": True, "top1": True, "top1_float": True, "agreement": True,
}


@dataclass(frozen=True)
class Baseline:
    models: dict[str, dict[str, Any]]
    kernel_sha256: str
    threads: int
    device: dict[str, Any] = field(default_factory=dict)
    updated: str = ""
    edgelite_version: str = __version__

    def to_json(self) -> str:
        body = {"kind": KIND, "schema_version": SCHEMA_VERSION, "edgelite_version": self.edgelite_version,
                "updated": self.updated, "kernel_sha256": self.kernel_sha256, "threads": self.threads,
                "device": self.device, "models": {k: self.models[k] for k in sorted(self.models)}}
        return json.dumps(body, indent=2) + "\n"

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())


def _number(value: Any, where: str, *, nullable: bool, integer: bool = False) -> None:
    if value is None and nullable:
        return
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise UserInputError(f"{where}: expected {kind}{' or null' if nullable else ''}, got {value!r}")


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; ``UserInputError`` (exit 2) for anything malformed."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"{path}: no baseline yet; record one with `edgelite check --update-baseline` and "
                             "commit it") from None
    except IsADirectoryError:
        raise UserInputError(f"{path}: is a folder; the baseline is a JSON file (edgelite-baseline.json)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path}: not a baseline JSON file ({exc}); re-create it with "
                             "`edgelite check --update-baseline`") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        got = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise UserInputError(f"{path}: kind: expected {KIND!r}, got {got!r} (is this a report instead of a baseline?)")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserInputError(f"{path}: schema_version: expected an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise UserInputError(f"{path}: schema_version {version} was written by a newer edgelite "
                             f"({data.get('edgelite_version', '?')}); this one ({__version__}) reads "
                             f"{SCHEMA_VERSION}: upgrade edgelite")
    if version < SCHEMA_VERSION:
        raise UserInputError(f"{path}: schema_version {version} is older than this edgelite reads ({SCHEMA_VERSION}) "
                             "and cannot be migrated; re-record it with `edgelite check --update-baseline`")
    known = {"kind", "schema_version", "edgelite_version", "updated", "kernel_sha256", "threads", "device", "models"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserInputError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    for key in ("kernel_sha256", "threads", "models"):
        if key not in data:
            raise UserInputError(f"{path}: {key}: required key missing")
    if not isinstance(data["kernel_sha256"], str):
        raise UserInputError(f"{path}: kernel_sha256: expected a string, got {data['kernel_sha256']!r}")
    _number(data["threads"], f"{path}: threads", nullable=False, integer=True)
    if not isinstance(data["models"], dict):
        raise UserInputError(f"{path}: models: expected a table of model name -> figures, got {data['models']!r}")
    for name, figures in data["models"].items():
        where = f"{path}: models.{name}"
        if not isinstance(figures, dict):
            raise UserInputError(f"{where}: expected a table of figures, got {figures!r}")
        for key in sorted(set(figures) - set(MODEL_KEYS)):
            raise UserInputError(f"{where}.{key}: unknown key (known: {', '.join(MODEL_KEYS)})")
        for key, nullable in MODEL_KEYS.items():
            if key not in figures:
                raise UserInputError(f"{where}.{key}: required key missing")
            _number(figures[key], f"{where}.{key}", nullable=nullable, integer=key == "size_bytes")
    device = data.get("device", {})
    if not isinstance(device, dict):
        raise UserInputError(f"{path}: device: expected a table, got {device!r}")
    return Baseline(models=data["models"], kernel_sha256=data["kernel_sha256"], threads=data["threads"],
                    device=device, updated=str(data.get("updated", "")),
                    edgelite_version=str(data.get("edgelite_version", "")))
