"""Budgets against measurements: one row per (model, budget) with pass / fail / skip and the numbers behind it.

A pure function, so every rule is testable on its own; ``run.py`` does the measuring and
``edgelite.check.budgets`` holds the rules (figure, direction, message, format).
"""

from __future__ import annotations

from edgelite.check.baseline import BaselineEntry
from edgelite.check.budgets import FAIL, GROWTH, INFO, PASS, RULES, SKIP, BudgetRow, Measured, count_statuses
from edgelite.check.config import Budgets

__all__ = ["FAIL", "GROWTH", "INFO", "PASS", "SKIP", "count_statuses", "judge"]


def judge(budgets: Budgets, m: Measured, base: BaselineEntry | None, *, model: str,
          updating: bool = False) -> list[BudgetRow]:
    """One row per set budget. ``updating``: growth budgets are shown against the old baseline, not enforced."""
    rows = []
    for budget, limit in budgets.items():
        rule = RULES[budget]
        value, before = rule.measure(m, base)
        status, message = PASS, ""
        if value is None and rule.growth and updating:
            status, message = INFO, "first baseline recorded by this run"
        elif value is None:
            status = SKIP
            message = (f"no baseline entry for {model!r}; record it with `edgelite check --update-baseline`"
                       if rule.growth else "not measured")
        elif rule.growth and updating:
            status, message = INFO, "baseline re-recorded"
        elif not rule.holds(value, limit):
            status, message = FAIL, rule.fail(value, limit, before)
        if rule.subject is not None and status in (PASS, FAIL):
            # a figure whose metric and unit depend on the model (max_metric_drop): the note names them
            message = f"{rule.subject(m)}: {message}" if message else rule.subject(m)
        rows.append(BudgetRow(budget=budget, limit=limit, value=None if value is None else round(float(value), 6),
                              baseline=before, status=status, message=message))
    return rows
