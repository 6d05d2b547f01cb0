"""Budget rules on measured figures: direction, edges, baseline growth, missing baseline entries, updates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgelite.check import gate
from edgelite.check.baseline import BaselineEntry
from edgelite.check.config import Budgets


def _measured(size=1000, per_kernel=0.05, ratio=1.5, drop=0.4, agreement=0.995) -> SimpleNamespace:
    """The figures the rules read of a checked model (``check.budgets.Measured``)."""
    return SimpleNamespace(size_bytes=size,
                           latency=SimpleNamespace(latency_per_kernel=per_kernel, int8_over_float=ratio),
                           accuracy=SimpleNamespace(top1_drop_pts=drop, agreement=agreement))


BASE = BaselineEntry(size_bytes=1000, latency_ms=0.1, kernel_ms=2.0, latency_per_kernel=0.05, int8_over_float=1.5,
                     top1=97.0, top1_float=97.5, agreement=0.995)


def _status(budgets: Budgets, m: SimpleNamespace, base: BaselineEntry | None = BASE, **kw) -> dict[str, str]:
    return {r.budget: r.status for r in gate.judge(budgets, m, base, model="m", **kw)}


ALL = Budgets(max_size_bytes=1000, max_size_growth_pct=2.0, max_latency_growth_pct=10.0, max_top1_drop_pts=0.5,
              min_agreement=0.99, max_int8_over_float_latency=1.5)


def test_limits_are_inclusive_and_unchanged_figures_pass():
    assert set(_status(ALL, _measured()).values()) == {"pass"}


@pytest.mark.parametrize("change, budget", [
    ({"size": 1001}, "max_size_bytes"),
    ({"size": 1021}, "max_size_growth_pct"),           # +2.1 %
    ({"per_kernel": 0.0551}, "max_latency_growth_pct"),  # +10.2 %
    ({"drop": 0.51}, "max_top1_drop_pts"),
    ({"agreement": 0.989}, "min_agreement"),            # a minimum: lower is worse
    ({"ratio": 1.51}, "max_int8_over_float_latency"),
])
def test_each_budget_fails_alone_just_past_its_limit(change, budget):
    budgets = Budgets(**{**dict(ALL.items()), "max_size_bytes": 2000})
    if budget == "max_size_bytes":
        budgets = ALL
    status = _status(budgets, _measured(**change))
    assert status[budget] == "fail" and sum(s == "fail" for s in status.values()) == 1, status
    row = next(r for r in gate.judge(budgets, _measured(**change), BASE, model="m") if r.budget == budget)
    assert row.message and "\n" not in row.message


def test_growth_without_baseline_entry_is_skipped_with_the_fix():
    rows = gate.judge(ALL, _measured(), None, model="mnist")
    skipped = [r for r in rows if r.status == "skip"]
    assert {r.budget for r in skipped} == set(gate.GROWTH)
    assert all("--update-baseline" in r.message and "'mnist'" in r.message for r in skipped)


def test_updating_shows_growth_without_enforcing_it():
    status = _status(ALL, _measured(size=1500), updating=True)
    assert status["max_size_growth_pct"] == "info" and status["max_size_bytes"] == "fail"
    assert _status(ALL, _measured(), None, updating=True)["max_latency_growth_pct"] == "info"


def test_only_set_budgets_are_listed_and_baseline_drop_is_a_drop():
    rows = gate.judge(Budgets(max_top1_drop_pts=1.0), _measured(), BASE, model="m")
    assert [r.budget for r in rows] == ["max_top1_drop_pts"] and rows[0].baseline == 0.5
