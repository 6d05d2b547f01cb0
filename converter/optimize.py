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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgelite.calibration.multi_input import Samples
from edgelite.calibration.ranges import METHODS as RANGE_METHODS
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.float_fallback import HeldOut, held_out_figures, search
from edgelite.converter.scoring import Scorer
from edgelite.core.formatting import size
from edgelite.core.recipe import Recipe
from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime.tasks.spec import TaskSpec

Log = Callable[[str], None]
RANK_SAMPLES = 64   # calibration samples the fallback ranks layers on (as --max-drop)


@dataclass(frozen=True)
class Step(Record):
    """One model the ladder built: what it changed, its figure on the search part (used to decide) and on the
    held-out confirm part (reported), its size and what it cost."""

    step: str                       # e.g. "calibration mse", "+ bias correction", "+ float fallback"
    settings: Recipe                # the recipe of this step's model (of the model it would build on, if skipped)
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

    def chosen_recipe(self) -> Recipe:
        """The recipe of the written model: what ``convert --recipe`` replays."""
        return next(s.settings for s in self.steps if s.step == self.chosen)


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


@dataclass
class _Ladder:
    """What every tier shares: the two evaluation parts, the steps so far and the goal."""

    scorer: Scorer
    confirm: Scorer
    max_drop: float | None
    max_size_growth: float
    forced: list[Node]
    max_float_layers: int | None
    log: Log
    steps: list[Step] = field(default_factory=list)
    plain_size: int = 0

    def ok(self, loss: float) -> bool:
        return self.max_drop is not None and loss <= self.max_drop + 1e-9

    def measure(self, name: str, variant: Calibrated, kept: list[Node], t0: float,
                model: bytes | None = None) -> _Candidate:
        data = model if model is not None else variant.quantize(kept)
        score = self.scorer.score(data)
        held = held_out_figures(self.confirm, data)
        settings = variant.recipe(kept)
        self.steps.append(Step(name, settings, round(score.loss_pts, 4), held, len(data),
                               round(time.perf_counter() - t0, 3)))
        lo, hi = held.loss_ci95
        self.log(f"  {name:<24} search {score.loss_pts:7.3f}   held out {held.loss_pts:7.3f} ({lo:.1f} … {hi:.1f})   "
                 f"{size(len(data))}")
        return _Candidate(variant, kept, data, score.loss_pts, score.noise, name)

    def keep(self, c: _Candidate) -> _Candidate:
        i = next(k for k, s in enumerate(self.steps) if s.step == c.step)
        self.steps[i] = dataclasses.replace(self.steps[i], kept=True)
        return c

    def skip(self, name: str, note: str, base: _Candidate, t0: float) -> None:
        self.steps.append(Step(name, base.cal.recipe(base.kept), None, None, None,
                               round(time.perf_counter() - t0, 3), notice=note))
        self.log(f"  {name:<24} {note}")


# A tier: from the best candidate so far, try its method; return the new best and whether the goal is met.
Tier = Callable[[_Ladder, _Candidate], tuple[_Candidate, bool]]


def _range_tier(ladder: _Ladder, best: _Candidate) -> tuple[_Candidate, bool]:
    """Every other range method from the same histograms (one pass over the calibration data, shared)."""
    done, base = ladder.ok(best.loss), best.cal
    for method in RANGE_METHODS[1:]:
        if done:
            break
        t0 = time.perf_counter()
        c = ladder.measure(f"calibration {method}", base.variant(calibration=method), list(ladder.forced), t0)
        done = ladder.ok(c.loss)
        best = best if best.key <= c.key else c
    return ladder.keep(best), done


def _bias_tier(ladder: _Ladder, best: _Candidate) -> tuple[_Candidate, bool]:
    t0 = time.perf_counter()
    c = ladder.measure("+ bias correction", best.cal.variant(bias_correction=True), list(ladder.forced), t0)
    return (ladder.keep(c) if c.key < best.key else best), ladder.ok(c.loss)


def _equalization_tier(ladder: _Ladder, best: _Candidate) -> tuple[_Candidate, bool]:
    t0 = time.perf_counter()
    variant = best.cal.variant(equalize="activations")
    eq = variant.equalization
    if eq is None or eq.pairs == 0:
        ladder.skip("+ equalization", "not applicable: no depthwise-separable block (a depthwise conv next to a "
                    "conv)", best, t0)
        return best, False
    c = ladder.measure("+ equalization", variant, list(ladder.forced), t0)
    return (ladder.keep(c) if c.key < best.key else best), ladder.ok(c.loss)


def _fallback_tier(ladder: _Ladder, best: _Candidate) -> tuple[_Candidate, bool]:
    target = ladder.max_drop if ladder.max_drop is not None else 0.0
    if best.loss <= target:
        ladder.skip("+ float fallback", f"not needed: the search part already loses ≤ {target:g} pts", best,
                    time.perf_counter())
        return best, False
    t0 = time.perf_counter()
    bound = int(ladder.plain_size * ladder.max_size_growth)
    x: Samples = best.cal._x[:RANK_SAMPLES]
    result = search(best.cal, ladder.scorer, target, forced=ladder.forced, max_layers=ladder.max_float_layers,
                    rank_x=x, max_bytes=bound)
    c = ladder.measure("+ float fallback", best.cal, result.kept, t0, result.model)
    if c.key < best.key and len(c.model) <= bound:
        best = ladder.keep(c)
    return best, ladder.ok(c.loss)


# The ladder, in order of cost; ``--calibration auto`` runs the first tier only.
TIERS: dict[str, Tier] = {
    "ranges": _range_tier,
    "bias correction": _bias_tier,
    "equalization": _equalization_tier,
    "float fallback": _fallback_tier,
}


def optimize(cal: Calibrated, x_search: Any, y_search: Any, x_confirm: Any, y_confirm: Any, *,
             max_drop: float | None, max_size_growth: float, forced: list[Node], max_float_layers: int | None,
             log: Log = lambda line: None, ranges_only: bool = False, task: TaskSpec | None = None,
             ids: tuple[Sequence[str], Sequence[str]] | None = None, crop_fraction: float = 1.0,
             ) -> tuple[bytes, Calibrated, list[Node], OptimizeReport]:
    """Run the ladder from ``cal`` (its own settings are ignored: the ladder sets them); return the chosen
    model, the ``Calibrated`` variant and float layers it came from, and the report. ``ranges_only``
    (``--calibration auto``): only the range-method tier, keeping ``cal``'s bias-correction and equalization
    settings."""
    float_bytes = cal.float_model()
    scorer = Scorer(float_bytes, x_search, y_search, task=task, ids=None if ids is None else ids[0],
                    crop_fraction=crop_fraction)
    ladder = _Ladder(scorer, scorer.on(x_confirm, y_confirm, None if ids is None else ids[1]), max_drop,
                     max_size_growth, list(forced), max_float_layers, log)
    what = "calibration auto" if ranges_only else "optimize accuracy"
    log(f"{what}: {ladder.scorer.metric_name} decided on {len(x_search)} search samples, reported on "
        f"{len(x_confirm)} held-out samples")
    base = cal.variant(calibration="minmax") if ranges_only else \
        cal.variant(calibration="minmax", bias_correction=False, equalize=None)
    best = ladder.measure("calibration minmax", base, list(forced), time.perf_counter())
    ladder.plain_size = len(best.model)
    done = False
    for tier in TIERS.values():
        best, done = tier(ladder, best)
        if done or ranges_only:
            break

    held = next(s.held_out for s in ladder.steps if s.step == best.step)
    assert held is not None
    met = None if max_drop is None else held.loss_pts <= max_drop + 1e-9
    log(f"{what}: chose {best.step!r}: held out {held.loss_pts:.3f} "
        f"({held.loss_ci95[0]:.1f} … {held.loss_ci95[1]:.1f}) on {held.samples} samples"
        + ("" if met is None else f"; budget {'met' if met else 'NOT met'}"))
    report = OptimizeReport(goal="calibration" if ranges_only else "accuracy", metric=ladder.scorer.metric_name,
                            max_drop_pts=max_drop, max_size_growth=max_size_growth, search_samples=len(x_search),
                            confirm_samples=len(x_confirm), steps=ladder.steps, chosen=best.step, met=met)
    return best.model, best.cal, best.kept, report
