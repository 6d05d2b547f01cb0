"""Report plumbing shared by every report: typed parts (``Record``), the JSON round trip with a schema version
(``Report``), latency statistics.

Reports are frozen dataclasses all the way down, so a renderer reads ``r.candidate.latency_ms.median`` and a
typo is a type error, not a ``KeyError`` at run time. ``to_dict`` gives the JSON shape; ``from_json`` rebuilds
the same objects from it (``Report.from_json(r.to_json()) == r``).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from edgelite.core.errors import UserInputError

R = TypeVar("R", bound="Record")

# Field metadata: leave the key out of the JSON when the value is None (a part that some sources have and
# others do not, e.g. a TensorFlow reference has no interpreter threads). Keeps the JSON shape of each source.
OMIT_NONE = {"omit_none": True}


def _plain(value: Any) -> Any:
    """A report part as JSON-ready data: nested records through their own ``to_dict``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as type ``tp``: records field by field, lists and dicts item by item."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:                      # X | None
            return _build(options[0], value, where)
        records = [a for a in options if isinstance(a, type) and hasattr(a, "from_dict")]
        return _build(records[0], value, where) if records and isinstance(value, dict) else value
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp) or (Any,)
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        _, item = typing.get_args(tp) or (str, Any)
        return {k: _build(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and hasattr(tp, "from_dict"):
        if not isinstance(value, dict):
            raise UserInputError(f"{where}: expected an object, got {type(value).__name__}")
        return tp.from_dict(value)
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
            if value is None and f.metadata.get("omit_none"):
                continue
            if self.float_digits is not None and isinstance(value, float):
                value = round(value, self.float_digits)
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        localns: dict[str, Any] = {}
        for module in cls.lazy_types:
            localns.update(vars(importlib.import_module(module)))
        hints = typing.get_type_hints(cls, localns=localns)
        fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        missing = [f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                   if f.init and f.name not in data and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise UserInputError(f"{cls.__name__}: missing {', '.join(missing)}")
        return cls(**{k: _build(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items() if k in fields})


class Report(Record):
    """A top-level report: a ``Record`` with ``kind`` and ``schema_version``, written as JSON."""

    kind: ClassVar[str] = "report"
    schema_version: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "schema_version": self.schema_version, **super().to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=_jsonable)

    @classmethod
    def from_json(cls: type[R], text: str) -> R:
        data = json.loads(text)
        assert issubclass(cls, Report)
        if data.get("kind") != cls.kind:
            raise UserInputError(f"not a {cls.kind} report (kind={data.get('kind')!r})")
        if data.get("schema_version") != cls.schema_version:
            raise UserInputError(
                f"{cls.kind} report has schema_version {data.get('schema_version')}, this edgelite reads "
                f"{cls.schema_version}; re-create it with this version"
            )
        return cls.from_dict(data)


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
