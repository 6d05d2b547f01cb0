"""``convert --optimize accuracy --eval SRC``: try the int8 accuracy methods in order of cost, keep what helps.

Ladder (each tier starts from the best model so far):

1. activation range methods: min-max, percentile, MSE, entropy (calibration/ranges.py);
2. bias correction (converter/bias_correction.py);
3. cross-layer equalization (converter/equalization.py; a notice when the model has no separable block);
4. minimal float fallback: the ``--max-drop`` search (converter/float_fallback.py), bounded by ``--max-size-growth``.

The evaluation data is split once into a search part and a held-out confirm part (whole source groups, as
``--max-drop`` does). Every decision — stop at the first step that meets ``--max-drop``, which variant a tier
keeps, which layers the fallback keeps float — is made on the search part; every figure reported as held out
is measured on the confirm part, which nothing chose anything on. Choosing by the confirm figure would make it
the maximum of several noisy measurements, i.e. optimistic (the winner's curse). The methods themselves tune
on the calibration data only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.float_fallback import HeldOut, held_out_figures, search
from edgelite.converter.judge import Judge
from edgelite.core.formatting import size
from edgelite.core.report import OMIT_NONE, Record

Log = Callable[[str], None]
RANGE_METHODS = ("minmax", "percentile", "mse", "entropy")
RANK_SAMPLES = 64   # calibration samples the fallback ranks layers on (as --max-drop)


@dataclass(frozen=True)
class Step(Record):
    """One model the ladder built: what it changed, its figure on the search part (used to decide) and on the
    held-out confirm part (reported), its size and what it cost."""

    step: str                       # e.g. "calibration mse", "+ bias correction", "+ float fallback"
    settings: dict[str, Any]        # calibration, bias_correction, equalize, float_layers
    search_loss_pts: float | None   # None: not applicable (see notice)
    held_out: HeldOut | None
    size_bytes: int | None
    seconds: float
    kept: bool = False              # the tier kept it as the base of the next one
    notice: str | None = field(default=None, metadata=OMIT_NONE)

    float_digits = 4


@dataclass(frozen=True)
class OptimizeReport(Record):
    """The ladder, its choice and the choice's held-out verdict."""

    goal: str                       # accuracy (--optimize accuracy) | calibration (--calibration auto)
    metric: str                     # top-1 drop (pts) | disagreement (pts)
    max_drop_pts: float | None
    max_size_growth: float
    search_samples: int
    confirm_samples: int
    steps: list[Step]
    chosen: str                     # the step name of the written model
    met: bool | None                # the choice's held-out loss ≤ max_drop (None without --max-drop)


@dataclass
class _Candidate:
    cal: Calibrated
    kept: list[Node]
    model: bytes
    loss: float
    noise: float        # mean squared output error on the search part: breaks ties of a coarse top-1 drop
    step: str

    @property
    def key(self) -> tuple[float, float, int]:
        return (self.loss, self.noise, len(self.model))


def optimize(cal: Calibrated, x_search: Any, y_search: Any, x_confirm: Any, y_confirm: Any, *,
             max_drop: float | None, max_size_growth: float, forced: list[Node], max_float_layers: int | None,
             log: Log = lambda line: None, ranges_only: bool = False
             ) -> tuple[bytes, Calibrated, list[Node], OptimizeReport]:
    """Run the ladder from ``cal`` (its own settings are ignored: the ladder sets them); return the chosen
    model, the ``Calibrated`` variant and float layers it came from, and the report. ``ranges_only``
    (``--calibration auto``): only the range-method tier, keeping ``cal``'s bias-correction and equalization
    settings."""
    float_bytes = cal.float_model()
    judge = Judge(float_bytes, x_search, y_search)
    confirm = Judge(float_bytes, x_confirm, y_confirm)
    steps: list[Step] = []

    def ok(loss: float) -> bool:
        return max_drop is not None and loss <= max_drop + 1e-9

    def measure(name: str, variant: Calibrated, kept: list[Node], t0: float, model: bytes | None = None) -> _Candidate:
        data = model if model is not None else variant.quantize(kept)
        score = judge.score(data)
        loss = score.loss_pts
        held = held_out_figures(confirm, data)
        settings = {"calibration": variant.cfg.calibration, "bias_correction": variant.cfg.bias_correction,
                    "equalize": variant.cfg.equalize, "float_layers": [n.label for n in kept]}
        steps.append(Step(name, settings, round(loss, 4), held, len(data), round(time.perf_counter() - t0, 3)))
        lo, hi = held.loss_ci95
        log(f"  {name:<24} search {loss:7.3f}   held out {held.loss_pts:7.3f} ({lo:.1f} … {hi:.1f})   "
            f"{size(len(data))}")
        return _Candidate(variant, kept, data, loss, score.noise, name)

    def keep(c: _Candidate) -> _Candidate:
        i = next(k for k, s in enumerate(steps) if s.step == c.step)
        steps[i] = dataclasses.replace(steps[i], kept=True)
        return c

    def better(a: _Candidate, b: _Candidate) -> _Candidate:
        return a if a.key <= b.key else b

    def skip(name: str, note: str, t0: float) -> None:
        steps.append(Step(name, {}, None, None, None, round(time.perf_counter() - t0, 3), notice=note))
        log(f"  {name:<24} {note}")

    what = "calibration auto" if ranges_only else "optimize accuracy"
    log(f"{what}: {judge.metric_name} decided on {len(judge.x)} search samples, reported on "
        f"{len(confirm.x)} held-out samples")
    base = cal.variant(calibration="minmax") if ranges_only else \
        cal.variant(calibration="minmax", bias_correction=False, equalize=None)
    t0 = time.perf_counter()
    best = measure("calibration minmax", base, list(forced), t0)
    plain_size = len(best.model)
    done = ok(best.loss)
    for method in RANGE_METHODS[1:]:
        if done:
            break
        t0 = time.perf_counter()
        c = measure(f"calibration {method}", base.variant(calibration=method), list(forced), t0)
        best, done = better(best, c), ok(c.loss)
    best = keep(best)

    if ranges_only:
        done = True
    if not done:
        t0 = time.perf_counter()
        c = measure("+ bias correction", best.cal.variant(bias_correction=True), list(forced), t0)
        if c.key < best.key:
            best = keep(c)
        done = ok(c.loss)
    if not done:
        t0 = time.perf_counter()
        variant = best.cal.variant(equalize="activations")
        eq = variant.equalization
        if eq is None or eq.pairs == 0:
            skip("+ equalization", "not applicable: no depthwise-separable block (a depthwise conv next to a conv)",
                 t0)
        else:
            c = measure("+ equalization", variant, list(forced), t0)
            if c.key < best.key:
                best = keep(c)
            done = ok(c.loss)
    target = max_drop if max_drop is not None else 0.0
    if not done and best.loss <= target:
        skip("+ float fallback", f"not needed: the search part already loses ≤ {target:g} pts", time.perf_counter())
    elif not done:
        t0 = time.perf_counter()
        bound = int(plain_size * max_size_growth)
        rank_judge = Judge(float_bytes, best.cal._x[:RANK_SAMPLES], None)
        result = search(best.cal, judge, target, forced=forced, max_layers=max_float_layers, rank_judge=rank_judge,
                        max_bytes=bound)
        c = measure("+ float fallback", best.cal, result.kept, t0, result.model)
        if c.key < best.key and len(c.model) <= bound:
            best = keep(c)

    held = next(s.held_out for s in steps if s.step == best.step)
    assert held is not None
    met = None if max_drop is None else held.loss_pts <= max_drop + 1e-9
    log(f"{what}: chose {best.step!r}: held out {held.loss_pts:.3f} "
        f"({held.loss_ci95[0]:.1f} … {held.loss_ci95[1]:.1f}) on {held.samples} samples"
        + ("" if met is None else f"; budget {'met' if met else 'NOT met'}"))
    report = OptimizeReport(goal="calibration" if ranges_only else "accuracy", metric=judge.metric_name,
                            max_drop_pts=max_drop, max_size_growth=max_size_growth, search_samples=len(judge.x),
                            confirm_samples=len(confirm.x), steps=steps, chosen=best.step, met=met)
    return best.model, best.cal, best.kept, report
