"""``ConvertReport``: what a conversion did, as JSON and as a terminal table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgelite import __version__
from edgelite.runtime.reports import Report


@dataclass(frozen=True)
class ConvertReport(Report):
    kind = "convert"
    schema_version = 1

    source: str
    source_kind: str
    source_sha256: str
    source_size_bytes: int
    output: str
    size_bytes: int
    mode: str
    io: str
    spec: dict[str, Any] | None
    labels_count: int
    calibration: dict[str, Any]
    float_ops: list[dict[str, Any]]
    layers: int
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    edgelite_version: str = __version__
