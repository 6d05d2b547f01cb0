"""The committed baseline that ``edgelite check`` compares against: one entry per model name.

Latency is stored as a ratio to the shipped timing kernel (``latency_per_kernel``), measured in the same rounds,
so a baseline recorded on a quiet laptop still means something on a busy CI runner; the milliseconds are kept
for people, not for the gate. Each model's figures are one ``BaselineEntry``. Reading is strict
(``edgelite.core.validate``): a wrong type or an unknown key is a one-line error naming the key and the file,
and a baseline of another schema version is refused with what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgelite.core import validate
from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_write_text
from edgelite.core.report import OMIT_NONE, Record
from edgelite.core.version import __version__

KIND = "edgelite-baseline"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BaselineEntry(Record):
    """One model's figures in the baseline: written by ``check --update-baseline``, read by the budgets.
    The fields are the file's keys, in the file's order; all are required, the nullable ones are null when
    the model was not evaluated (no accuracy) or has no float reference (no int8-over-float). ``task`` alone is
    optional (baselines from before task budgets have none)."""

    size_bytes: int
    latency_ms: float
    kernel_ms: float
    latency_per_kernel: float          # what max_latency_growth_pct compares (candidate / timing kernel)
    int8_over_float: float | None
    top1: float | None
    top1_float: float | None
    agreement: float | None
    # the task budgets' figures (budget key → figure), for the reports' baseline column; absent: none measured
    task: dict[str, float] | None = field(default=None, metadata=OMIT_NONE)

    @property
    def top1_drop_pts(self) -> float | None:
        """Float minus int8 top-1 when both were measured."""
        return None if self.top1 is None or self.top1_float is None else round(self.top1_float - self.top1, 4)


@dataclass(frozen=True)
class Baseline(Record):
    models: dict[str, BaselineEntry]
    kernel_sha256: str
    threads: int
    device: dict[str, Any] = field(default_factory=dict)
    updated: str = ""
    edgelite_version: str = __version__

    json_extra_keys: ClassVar[tuple[str, ...]] = ("kind", "schema_version")

    def to_json(self) -> str:
        body = {"kind": KIND, "schema_version": SCHEMA_VERSION, "edgelite_version": self.edgelite_version,
                "updated": self.updated, "kernel_sha256": self.kernel_sha256, "threads": self.threads,
                "device": self.device, "models": {k: self.models[k].to_dict() for k in sorted(self.models)}}
        return json.dumps(body, indent=2) + "\n"

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())


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
    return validate.build(Baseline, data, file=path)
