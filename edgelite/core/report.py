"""Report plumbing shared by every report: JSON round trip with a schema version, latency statistics."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, Sequence, TypeVar

import numpy as np

from edgelite.core.errors import UserInputError

R = TypeVar("R", bound="Report")


class Report:
    """Mixin for frozen report dataclasses: ``to_dict``/``to_json``/``from_json`` with ``schema_version``."""

    kind: ClassVar[str] = "report"
    schema_version: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {"kind": self.kind, "schema_version": self.schema_version, **body}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=_jsonable)

    @classmethod
    def from_json(cls: type[R], text: str) -> R:
        data = json.loads(text)
        if data.get("kind") != cls.kind:
            raise UserInputError(f"not a {cls.kind} report (kind={data.get('kind')!r})")
        if data.get("schema_version") != cls.schema_version:
            raise UserInputError(
                f"{cls.kind} report has schema_version {data.get('schema_version')}, this edgelite reads "
                f"{cls.schema_version}; re-create it with this version"
            )
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in fields})


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Milliseconds: min, median, mean, p90, p99, std over per-run times."""
    if len(seconds) == 0:
        return {k: float("nan") for k in ("min", "median", "mean", "p90", "p99", "std")}
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {
        "min": round(float(ms.min()), 4),
        "median": round(float(np.median(ms)), 4),
        "mean": round(float(ms.mean()), 4),
        "p90": round(float(np.percentile(ms, 90)), 4),
        "p99": round(float(np.percentile(ms, 99)), 4),
        "std": round(float(ms.std()), 4),
    }
