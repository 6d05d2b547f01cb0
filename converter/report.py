"""``ConvertReport``: what a conversion did, as JSON and as a terminal table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgelite.core.version import __version__
from edgelite.core.report import Report


@dataclass(frozen=True)
class ConvertReport(Report):
    kind = "convert"
    schema_version = 3  # 2: kept_float, size_cost_bytes, budget; 3: target, target_notes, gpu

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
    kept_float: list[dict[str, Any]] = field(default_factory=list)   # ops left float on purpose
    size_cost_bytes: int = 0                                          # their size cost vs plain int8
    budget: dict[str, Any] | None = None                              # the --max-drop search, if run
    target: str = "litert"                                            # --target
    target_notes: list[str] = field(default_factory=list)             # what the target picked
    gpu: dict[str, Any] | None = None                                 # GPU-delegate check (--target gpu)
    edgelite_version: str = __version__
