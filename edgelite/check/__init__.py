"""``edgelite check``: the regression gate (config, baseline, budgets, JUnit/markdown output)."""

from edgelite.check.baseline import Baseline, load_baseline
from edgelite.check.config import Budgets, CheckConfig, ModelEntry, find_config, load_config
from edgelite.check.run import CheckReport, run_check

__all__ = ["Baseline", "Budgets", "CheckConfig", "CheckReport", "ModelEntry", "find_config", "load_baseline",
           "load_config", "run_check"]
