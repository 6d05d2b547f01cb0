"""Report plumbing shared by every report: typed parts (``Record``), the JSON round trip with a schema version
(``Report``), latency statistics.

Reports are frozen dataclasses all the way down, so a renderer reads ``r.candidate.latency_ms.median`` and a
typo is a type error, not a ``KeyError`` at run time. ``to_dict`` gives the JSON shape; ``from_json`` rebuilds
the same objects from it (``Report.from_json(r.to_json()) == r``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from edgelite.core import validate
from edgelite.core.errors import UserInputError

R = TypeVar("R", bound="Record")

# Field metadata: leave the key out of the JSON when the value is None (a part that some sources have and
# others do not, e.g. a TensorFlow reference has no interpreter threads). Keeps the JSON shape of each source.
OMIT_NONE = {"omit_none": True}
# Field metadata: never in the JSON (what only a live report carries, e.g. the arrays an HTML page draws).
NOT_IN_JSON = {"json": False}


def _plain(value: Any) -> Any:
    """A report part as JSON-ready data: nested records through their own ``to_dict``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Record:
    """Mixin for the frozen dataclasses reports are made of: ``to_dict``/``from_dict``, typed all the way down.

    A record whose field types live in a module it must not import eagerly (start-up time) names that module
    in ``lazy_types``; ``from_dict`` imports it then, to resolve the annotations."""

    lazy_types: ClassVar[tuple[str, ...]] = ()
    # Round float fields to this many decimals in the JSON (figures measured on samples carry no more).
    float_digits: ClassVar[int | None] = None

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if (value is None and f.metadata.get("omit_none")) or f.metadata.get("json") is False:
                continue
            if self.float_digits is not None and isinstance(value, float):
                value = round(value, self.float_digits)
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """The record of parsed JSON ``data``, strictly: an unknown key, a missing one or a wrong type is a
        one-line ``UserInputError`` naming the key path (``edgelite.core.validate``)."""
        return validate.build(cls, data)


class Report(Record):
    """A top-level report: a ``Record`` with ``kind`` and ``schema_version``, written as JSON."""

    kind: ClassVar[str] = "report"
    schema_version: ClassVar[int] = 1
    json_extra_keys: ClassVar[tuple[str, ...]] = ("kind", "schema_version")   # in the JSON, not fields

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "schema_version": self.schema_version, **super().to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=_jsonable)

    @classmethod
    def from_json(cls: type[R], text: str, *, file: str | Path | None = None) -> R:
        """The report saved as ``text`` (read from ``file``, named in every error)."""
        where = f"{file}: " if file is not None else ""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{where}not a JSON report ({exc})") from None
        assert issubclass(cls, Report)
        if not isinstance(data, dict) or data.get("kind") != cls.kind:
            got = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise UserInputError(f"{where}not a {cls.kind} report (kind={got!r})")
        if data.get("schema_version") != cls.schema_version:
            raise UserInputError(
                f"{where}{cls.kind} report has schema_version {data.get('schema_version')}, this edgelite reads "
                f"{cls.schema_version}; re-create it with this version"
            )
        return validate.build(cls, data, file=file)


@dataclass(frozen=True)
class LatencyStats(Record):
    """Milliseconds over per-run times."""

    min: float
    median: float
    mean: float
    p90: float
    p99: float
    std: float


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def latency_stats(seconds: Sequence[float]) -> LatencyStats:
    """Milliseconds: min, median, mean, p90, p99, std over per-run times (NaN for no runs)."""
    if len(seconds) == 0:
        nan = float("nan")
        return LatencyStats(nan, nan, nan, nan, nan, nan)
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return LatencyStats(
        min=round(float(ms.min()), 4), median=round(float(np.median(ms)), 4), mean=round(float(ms.mean()), 4),
        p90=round(float(np.percentile(ms, 90)), 4), p99=round(float(np.percentile(ms, 99)), 4),
        std=round(float(ms.std()), 4))
