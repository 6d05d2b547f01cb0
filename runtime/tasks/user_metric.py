"""A user's own metric: ``--metric package.module:function`` or ``--metric path/to/file.py:function``.

**It runs user code**: the module is imported (the file executed) only when ``--metric`` names it. It is called
as ``function(outputs, reference=..., labels=...)``: ``outputs`` and ``reference`` are dicts of output name →
array stacked over the evaluation samples (``reference`` the float model's outputs, ``None`` when the reference
itself is scored), ``labels`` the labels or ``None``. It returns a float, higher is better, or
``(float, per_sample_values)`` as NNCF's accuracy control takes it.

Intervals: with per-sample values whose mean is the metric (an accuracy, a mean error), the paired bootstrap of
that mean; otherwise (no per-sample values, or a metric such as F1 that is not their mean) the function is called
again on each of ``RECOMPUTED`` resamples of the samples (the metric recomputed per resample), both seeded.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, Outputs, TaskMetric

RECOMPUTED = 200   # resamples on which a metric without per-sample values is called again


@dataclass(frozen=True)
class UserMetric:
    """A loaded user metric: its reference as given and the function."""

    name: str
    function: Callable[..., Any]

    def score(self, outputs: Outputs, reference: Outputs | None, labels: np.ndarray | None
              ) -> tuple[float, np.ndarray | None]:
        """(value, per-sample values or None); a raise or a non-finite value is a one-line error."""
        try:
            got = self.function(dict(outputs), reference=None if reference is None else dict(reference),
                                labels=labels)
        except Exception as exc:  # noqa: BLE001 - user code: whatever it raises is the user's to fix, in one line
            raise UserInputError(f"--metric {self.name} raised {type(exc).__name__}: {exc}") from None
        per = None
        if isinstance(got, tuple) and len(got) == 2:
            got, raw = got
            try:
                per = np.asarray(raw, np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise UserInputError(f"--metric {self.name}: per-sample values must be a sequence of floats, got "
                                     f"{type(raw).__name__}") from None
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise UserInputError(f"--metric {self.name} returned {type(got).__name__}; return a float (higher is "
                                 "better) or (float, per_sample_values)") from None
        if not math.isfinite(value):
            raise UserInputError(f"--metric {self.name} returned {value}; return a finite float")
        n = len(next(iter(outputs.values())))
        if per is not None and (per.shape != (n,) or not np.all(np.isfinite(per))):
            what = f"{per.shape[0]} values" if per.shape != (n,) else "non-finite values"
            raise UserInputError(f"--metric {self.name}: per-sample values must be {n} finite floats, got {what}")
        return value, per


def load_metric(ref: str) -> UserMetric:
    """Import ``module:function`` or ``file.py:function``; one line when it cannot."""
    where, sep, func = ref.rpartition(":")
    if not sep or not where or not func:
        raise UserInputError(f"--metric {ref!r}: give package.module:function or path/to/file.py:function")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise UserInputError(f"--metric {ref}: no file {path}")
            name = f"edgelite_user_metric_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except UserInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - importing user code: whatever it raises, in one line
        raise UserInputError(f"--metric {ref}: importing {where} raised {type(exc).__name__}: {exc}") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise UserInputError(f"--metric {ref}: {where} has no function {func!r}")
    return UserMetric(ref, fn)


def _is_mean(value: float, per: np.ndarray) -> bool:
    """Whether ``value`` is the mean of its per-sample values (to float precision)."""
    return bool(abs(float(per.mean()) - value) <= 1e-6 * max(1.0, abs(value)))


def _subset(outputs: Outputs, idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[idx] for k, v in outputs.items()}


def metric_figures(metric: UserMetric, reference: Outputs, candidate: Outputs, ctx: EvalContext
                   ) -> tuple[TaskMetric, np.ndarray | None, str]:
    """The ``metric`` record (both sides measured), the candidate's per-sample loss (when the metric gives
    per-sample values) and a method line."""
    labels = ctx.labels
    ref_v, ref_per = metric.score(reference, None, labels)
    cand_v, cand_per = metric.score(candidate, reference, labels)
    if ctx.resamples == 0:
        return TaskMetric.of(ref_v, cand_v, cand_v - ref_v, None), None, "the user metric on all samples"
    # per-sample values give the interval only when their mean is the metric (an accuracy, a mean error); for
    # F1 or mAP they rank samples (the worst-first list) and the metric is recomputed on resamples instead
    if ref_per is not None and cand_per is not None and _is_mean(ref_v, ref_per) and _is_mean(cand_v, cand_per):
        figs = bootstrap.paired_bootstrap({"v": ref_per}, {"v": cand_per}, bootstrap.mean("v"),
                                          resamples=ctx.resamples, seed=ctx.seed)
        ci = figs.delta_ci95
        return (TaskMetric.of(ref_v, cand_v, cand_v - ref_v, ci), ref_per - cand_per,
                f"--metric {metric.name}; interval: paired bootstrap of its per-sample values ({ctx.resamples} "
                f"resamples, seed {ctx.seed})")
    deltas = []
    n = len(ctx.ids)
    per_loss = None if ref_per is None or cand_per is None else ref_per - cand_per
    for idx in bootstrap.resample_indices(n, min(RECOMPUTED, ctx.resamples), ctx.seed):
        for row in idx:
            sub_ref = _subset(reference, row)
            sub_labels = None if labels is None else np.asarray(labels)[row]
            r, _ = metric.score(sub_ref, None, sub_labels)
            c, _ = metric.score(_subset(candidate, row), sub_ref, sub_labels)
            deltas.append(c - r)
    lo, hi = (float(v) for v in np.percentile(deltas, [2.5, 97.5]))
    return (TaskMetric.of(ref_v, cand_v, cand_v - ref_v, (lo, hi)), per_loss,
            f"--metric {metric.name}; interval: the metric recomputed on {len(deltas)} paired resamples (seed "
            f"{ctx.seed})")
