"""The budgets ``edgelite check`` knows, as one rule table: what each limits, which way, how it reads.

A budget is one ``Rule``: its figure (read from a model's measurements and the baseline's entry), whether the
limit is a maximum or a minimum, whether it is judged against the baseline or needs evaluation data, its fail
message and its number format. ``check.gate`` judges with it; the terminal, markdown, JUnit and HTML reports
format with it — so a new budget is one entry here plus one field in ``check.config.Budgets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
STATUSES = (PASS, FAIL, SKIP, INFO)

Figures = Mapping[str, Any]          # one model's measurements (check report) or baseline entry


def _growth_pct(now: float, before: float) -> float:
    return (now / before - 1.0) * 100.0


def _size(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    return m["size_bytes"], base and base["size_bytes"]


def _size_growth(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    if base is None:
        return None, None
    return _growth_pct(m["size_bytes"], base["size_bytes"]), base["size_bytes"]


def _latency_growth(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    if base is None:
        return None, None
    return _growth_pct(m["latency"]["latency_per_kernel"], base["latency_per_kernel"]), base["latency_per_kernel"]


def _top1_drop(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    before = None if base is None or base["top1"] is None or base["top1_float"] is None else round(
        base["top1_float"] - base["top1"], 4)
    return m["accuracy"] and m["accuracy"]["top1_drop_pts"], before


def _agreement(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    return m["accuracy"] and m["accuracy"]["agreement"], base and base["agreement"]


def _int8_over_float(m: Figures, base: Figures | None) -> tuple[float | None, Any]:
    return m["latency"]["int8_over_float"], base and base["int8_over_float"]


@dataclass(frozen=True)
class Rule:
    key: str                 # the TOML key under [budgets]
    description: str
    measure: Callable[[Figures, Figures | None], tuple[float | None, Any]]   # (figure, the baseline's figure)
    fail: Callable[[float, float, Any], str]                                  # (value, limit, before) -> message
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


def count_statuses(rows: list[Mapping[str, Any]]) -> dict[str, int]:
    """How many budget rows have each status."""
    out = {s: 0 for s in STATUSES}
    for row in rows:
        out[row["status"]] += 1
    return out


def cells(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(description, limit, value, baseline) of one judged budget row, as every report shows them."""
    rule = RULES[row["budget"]]
    base = row["baseline"]
    return (rule.description, rule.format_limit(row["limit"]), rule.format_value(row["value"]),
            "-" if base is None else f"{base:g}")
