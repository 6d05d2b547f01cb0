"""Budgets against measurements: one row per (model, budget) with pass / fail / skip and the numbers behind it.

Pure functions over plain dicts, so every rule is testable on its own; ``run.py`` does the measuring.
"""

from __future__ import annotations

from typing import Any

from edgelite.check.config import Budgets

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
# Budgets judged against the baseline (the rest are absolute or within the same run).
GROWTH = ("max_size_growth_pct", "max_latency_growth_pct")

DESCRIPTIONS = {
    "max_size_bytes": "size of the .tflite",
    "max_size_growth_pct": "size growth vs baseline",
    "max_latency_growth_pct": "latency growth vs baseline (per timing kernel, same rounds)",
    "max_top1_drop_pts": "top-1 drop int8 vs float (points)",
    "min_agreement": "top-1 agreement int8 vs float",
    "max_int8_over_float_latency": "int8 latency / float latency (same rounds)",
}


def _growth_pct(now: float, before: float) -> float:
    return (now / before - 1.0) * 100.0


def measured_value(budget: str, m: dict[str, Any], base: dict[str, Any] | None) -> tuple[float | None, Any]:
    """(the figure a budget limits, the baseline's figure) from a model's measurements."""
    if budget == "max_size_bytes":
        return m["size_bytes"], base and base["size_bytes"]
    if budget == "max_size_growth_pct":
        return (None if base is None else _growth_pct(m["size_bytes"], base["size_bytes"])), base and base["size_bytes"]
    if budget == "max_latency_growth_pct":
        now = m["latency"]["latency_per_kernel"]
        return (None if base is None else _growth_pct(now, base["latency_per_kernel"])), base and base["latency_per_kernel"]
    if budget == "max_top1_drop_pts":
        before = None if base is None or base["top1"] is None or base["top1_float"] is None else round(
            base["top1_float"] - base["top1"], 4)
        return m["accuracy"] and m["accuracy"]["top1_drop_pts"], before
    if budget == "min_agreement":
        return m["accuracy"] and m["accuracy"]["agreement"], base and base["agreement"]
    if budget == "max_int8_over_float_latency":
        return m["latency"]["int8_over_float"], base and base["int8_over_float"]
    raise KeyError(budget)


def judge(budgets: Budgets, m: dict[str, Any], base: dict[str, Any] | None, *, model: str,
          updating: bool = False) -> list[dict[str, Any]]:
    """One row per set budget. ``updating``: growth budgets are shown against the old baseline, not enforced."""
    rows = []
    for budget, limit in budgets.items():
        value, before = measured_value(budget, m, base)
        row = {"budget": budget, "limit": limit, "value": None if value is None else round(float(value), 6),
               "baseline": before, "status": PASS, "message": ""}
        if value is None and budget in GROWTH and updating:
            row["status"] = INFO
            row["message"] = "first baseline recorded by this run"
        elif value is None:
            row["status"] = SKIP
            row["message"] = (f"no baseline entry for {model!r}; record it with `edgelite check --update-baseline`"
                              if budget in GROWTH else "not measured")
        else:
            ok = value >= limit if budget == "min_agreement" else value <= limit
            if budget in GROWTH and updating:
                row["status"] = INFO
                row["message"] = "baseline re-recorded"
            elif not ok:
                row["status"] = FAIL
                row["message"] = fail_message(budget, value, limit, before)
        rows.append(row)
    return rows


def count_statuses(models: list[dict[str, Any]]) -> dict[str, int]:
    """How many (model, budget) rows have each status, over a check report's ``models``."""
    out = {s: 0 for s in (PASS, FAIL, SKIP, INFO)}
    for m in models:
        for row in m["budgets"]:
            out[row["status"]] += 1
    return out


def fail_message(budget: str, value: float, limit: float, before: Any) -> str:
    if budget == "max_size_bytes":
        return f"{value:,.0f} bytes > {limit:,.0f}"
    if budget == "max_size_growth_pct":
        return f"grew {value:+.2f} % (from {before:,} bytes) > {limit:g} %"
    if budget == "max_latency_growth_pct":
        return f"latency {value:+.1f} % vs baseline (kernel-normalized) > {limit:g} %"
    if budget == "max_top1_drop_pts":
        return f"top-1 dropped {value:.2f} pts > {limit:g}"
    if budget == "min_agreement":
        return f"agreement {value:.4f} < {limit:g}"
    return f"int8 is {value:.2f}x the float latency > {limit:g}x"


# budget -> (number format, unit) of its figure, for tables: one place decides how each figure reads
_FORMAT = {
    "max_size_bytes": (",.0f", " B"),
    "max_size_growth_pct": ("+.2f", " %"),
    "max_latency_growth_pct": ("+.2f", " %"),
    "max_top1_drop_pts": (".2f", " pts"),
    "min_agreement": (".4f", ""),
    "max_int8_over_float_latency": (".2f", "x"),
}


def format_value(budget: str, value: float | None) -> str:
    if value is None:
        return "-"
    spec, unit = _FORMAT[budget]
    return f"{value:{spec}}{unit}"


def format_limit(budget: str, limit: float) -> str:
    unit = _FORMAT[budget][1]
    sign = "≥" if budget == "min_agreement" else "≤"
    return f"{sign} {limit:{',.0f' if budget == 'max_size_bytes' else 'g'}}{unit}"
