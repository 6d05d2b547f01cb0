"""The budgets ``edgelite check`` knows, as one rule table: what each limits, which way, how it reads.

A budget is one ``Rule``: its figure (read from a model's measurements and the baseline's entry), whether the
limit is a maximum or a minimum, whether it is judged against the baseline or needs evaluation data, its fail
message and its number format. ``check.gate`` judges with it; the terminal, markdown, JUnit and HTML reports
format with it — so a new budget is one entry here plus one field in ``check.config.Budgets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edgelite.check.baseline import BaselineEntry
from edgelite.core.report import Record

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
STATUSES = (PASS, FAIL, SKIP, INFO)

class _Latency(Protocol):
    @property
    def latency_per_kernel(self) -> float: ...
    @property
    def int8_over_float(self) -> float | None: ...


class _Accuracy(Protocol):
    @property
    def top1_drop_pts(self) -> float | None: ...
    @property
    def agreement(self) -> float | None: ...   # None: the model has no class-score output


class Measured(Protocol):
    """What the rules read of one checked model (``check.run.CheckedModel``)."""

    @property
    def size_bytes(self) -> int: ...
    @property
    def latency(self) -> _Latency: ...
    @property
    def accuracy(self) -> _Accuracy | None: ...


def _growth_pct(now: float, before: float) -> float:
    return (now / before - 1.0) * 100.0


Figures = tuple[float | None, float | None]   # (the model's figure, the baseline's figure)


def _size(m: Measured, base: BaselineEntry | None) -> Figures:
    return m.size_bytes, None if base is None else base.size_bytes


def _size_growth(m: Measured, base: BaselineEntry | None) -> Figures:
    if base is None:
        return None, None
    return _growth_pct(m.size_bytes, base.size_bytes), base.size_bytes


def _latency_growth(m: Measured, base: BaselineEntry | None) -> Figures:
    if base is None:
        return None, None
    return _growth_pct(m.latency.latency_per_kernel, base.latency_per_kernel), base.latency_per_kernel


def _top1_drop(m: Measured, base: BaselineEntry | None) -> Figures:
    return None if m.accuracy is None else m.accuracy.top1_drop_pts, None if base is None else base.top1_drop_pts


def _agreement(m: Measured, base: BaselineEntry | None) -> Figures:
    return None if m.accuracy is None else m.accuracy.agreement, None if base is None else base.agreement


def _int8_over_float(m: Measured, base: BaselineEntry | None) -> Figures:
    return m.latency.int8_over_float, None if base is None else base.int8_over_float


@dataclass(frozen=True)
class Rule:
    key: str                 # the TOML key under [budgets]
    description: str
    measure: Callable[[Measured, BaselineEntry | None], Figures]   # (figure, the baseline's figure)
    fail: Callable[[float, float, float | None], str]              # (value, limit, before) -> message
    number: str              # format spec of the figure
    unit: str
    minimum: bool = False    # the limit is a floor (higher is better), else a ceiling
    growth: bool = False     # judged against the baseline
    needs_eval: bool = False  # measured on evaluation data

    def holds(self, value: float, limit: float) -> bool:
        """Limits are inclusive: a figure exactly at its limit passes."""
        return value >= limit if self.minimum else value <= limit

    def format_value(self, value: float | None) -> str:
        return "-" if value is None else f"{value:{self.number}}{self.unit}"

    def format_limit(self, limit: float) -> str:
        number = ",.0f" if self.number == ",.0f" else "g"
        return f"{'≥' if self.minimum else '≤'} {limit:{number}}{self.unit}"


RULES: dict[str, Rule] = {r.key: r for r in (
    Rule("max_size_bytes", "size of the .tflite", _size,
         lambda v, lim, b: f"{v:,.0f} bytes > {lim:,.0f}", ",.0f", " B"),
    Rule("max_size_growth_pct", "size growth vs baseline", _size_growth,
         lambda v, lim, b: f"grew {v:+.2f} % (from {b:,} bytes) > {lim:g} %", "+.2f", " %", growth=True),
    Rule("max_latency_growth_pct", "latency growth vs baseline (per timing kernel, same rounds)", _latency_growth,
         lambda v, lim, b: f"latency {v:+.1f} % vs baseline (kernel-normalized) > {lim:g} %", "+.2f", " %",
         growth=True),
    Rule("max_top1_drop_pts", "top-1 drop int8 vs float (points)", _top1_drop,
         lambda v, lim, b: f"top-1 dropped {v:.2f} pts > {lim:g}", ".2f", " pts", needs_eval=True),
    Rule("min_agreement", "top-1 agreement int8 vs float", _agreement,
         lambda v, lim, b: f"agreement {v:.4f} < {lim:g}", ".4f", "", minimum=True, needs_eval=True),
    Rule("max_int8_over_float_latency", "int8 latency / float latency (same rounds)", _int8_over_float,
         lambda v, lim, b: f"int8 is {v:.2f}x the float latency > {lim:g}x", ".2f", "x"),
)}

GROWTH = tuple(k for k, r in RULES.items() if r.growth)


@dataclass(frozen=True)
class BudgetRow(Record):
    """One judged budget of one model."""

    budget: str                  # a RULES key
    limit: float
    value: float | None          # None: not measured, or no baseline to grow from
    baseline: float | None       # the baseline's figure, for reference
    status: str                  # PASS, FAIL, SKIP or INFO
    message: str = ""

    @property
    def rule(self) -> Rule:
        return RULES[self.budget]

    def cells(self) -> tuple[str, str, str, str]:
        """(description, limit, value, baseline) as every report shows them."""
        r = self.rule
        return (r.description, r.format_limit(self.limit), r.format_value(self.value),
                "-" if self.baseline is None else f"{self.baseline:g}")


def count_statuses(rows: list[BudgetRow]) -> dict[str, int]:
    """How many budget rows have each status."""
    out = dict.fromkeys(STATUSES, 0)
    for row in rows:
        out[row.status] += 1
    return out
