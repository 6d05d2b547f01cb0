"""Accuracy budget: keep the fewest layers float so that int8 loses at most ``max_drop`` points.

Search (deterministic for a given calibration seed; every step re-quantizes the one calibration):

1. plain int8 (plus any ``--keep-float`` layers): within budget → done;
2. each candidate layer alone kept float → rank by the share of output noise it removes (``analyze``);
3. greedy: add layers in rank order until the budget holds;
4. prune: drop each chosen layer again (least useful first) while the budget still holds.

When the budget cannot be met even with every candidate float, the best model found (lowest loss, then
smallest) is returned with ``met=False``; the caller writes it and reports the gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edgelite.converter.analyze import contributions, rank
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.judge import Judge, Score
from edgelite.core.report import OMIT_NONE, Record

Log = Callable[[str], None]


@dataclass(frozen=True)
class Trial(Record):
    """One model the search scored: the step, the layers it kept float, and its ``Score`` figures."""

    step: str                 # int8 | rank | +N | prune
    float_layers: list[str]
    loss_pts: float
    agreement: float
    top1: float | None
    noise: float
    snr_db: float | None
    size_bytes: int

    @classmethod
    def of(cls, step: str, float_layers: list[str], s: Score) -> Trial:
        return cls(step=step, float_layers=float_layers, **dataclasses.asdict(s))

    float_digits = 6


@dataclass(frozen=True)
class HeldOut(Record):
    """The budget metric on one part of the evaluation data, with its 95 % interval."""

    samples: int
    agreement: float
    agreement_ci95: list[float]
    loss_pts: float
    loss_ci95: list[float]
    plain_int8_loss_pts: float | None = field(default=None, metadata=OMIT_NONE)   # confirm part only
    met: bool | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class BudgetReport(Record):
    """``--max-drop``: the search, its figures on the search part, and the verdict on the held-out part."""

    max_drop_pts: float
    metric: str
    met: bool                      # on the confirm part when there is one, else on the search part
    gap_pts: float
    float_layers: list[Node]
    final: Score
    trials: list[Trial]
    float_top1: float | None
    search: HeldOut
    search_met: bool
    confirm: HeldOut | None


@dataclass
class BudgetResult:
    model: bytes
    kept: list[Node]
    score: Score
    met: bool
    max_drop: float
    metric: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def gap_pts(self) -> float:
        return 0.0 if self.met else round(self.score.loss_pts - self.max_drop, 4)


def _step_line(step: str, kept: Sequence[Node], s: Score, metric: str, detail: str) -> str:
    return (f"  {step:<6} float layers {len(kept):>3}  size {s.size_bytes / 1024:9.1f} KB  "
            f"{metric} {s.loss_pts:7.3f}  agreement {s.agreement:.4f}  {detail}").rstrip()


def search(cal: Calibrated, judge: Judge, max_drop: float, *, forced: Sequence[Node] = (),
           max_layers: int | None = None, log: Log = lambda line: None,
           rank_judge: Judge | None = None, max_bytes: int | None = None) -> BudgetResult:
    """Find the fewest float layers (beyond ``forced``) that keep ``judge``'s loss ≤ ``max_drop`` points,
    adding at most ``max_layers`` (None: every candidate may stay float) and stopping before the model
    grows past ``max_bytes`` (None: no size bound).

    Layers are ranked by ``rank_judge`` (default ``judge``): the share of output error (MSE) each removes,
    a continuous signal that generalizes better than top-1 flips on a handful of images."""
    rank_judge = rank_judge or judge
    trials: list[Trial] = []
    cache: dict[tuple[int, ...], tuple[bytes, Score]] = {}

    def trial(step: str, kept: Sequence[Node], detail: str = "") -> tuple[bytes, Score]:
        key = tuple(sorted(n.index for n in kept))
        if key not in cache:
            data = cal.quantize(kept)
            cache[key] = (data, judge.score(data))
        data, s = cache[key]
        trials.append(Trial.of(step, [n.label for n in kept], s))
        log(_step_line(step, kept, s, judge.metric_name, detail))
        return data, s

    def ok(s: Score) -> bool:
        return s.loss_pts <= max_drop + 1e-9

    kept = list(forced)
    data, s = trial("int8", kept)
    best = (data, s, list(kept))
    if ok(s):
        return BudgetResult(data, kept, s, True, max_drop, judge.metric_name, trials)

    others = [n for n in cal.candidates if n.index not in {k.index for k in forced}]
    log(f"  ranking {len(others)} layers by the output error each one causes on {len(rank_judge.x)} samples …")
    alone = contributions(cal, rank_judge, others, desc="ranking")
    for n in others:  # the single-layer trials are real trials: record them
        trials.append(Trial.of("rank", [*(k.label for k in forced), n.label], alone[n.index]))
    base = s if rank_judge is judge else rank_judge.score(data)
    ranked = rank(others, base, alone)[:max_layers]

    added: list[Node] = []
    met = False
    for node in ranked:
        added.append(node)
        data, s = trial(f"+{len(added)}", kept + added, f"added {node.label}")
        if max_bytes is not None and s.size_bytes > max_bytes:
            log(f"  stop: {s.size_bytes / 1024:.1f} KB is past the size bound of {max_bytes / 1024:.1f} KB")
            added.pop()
            break
        if (s.loss_pts, s.size_bytes) < (best[1].loss_pts, best[1].size_bytes):
            best = (data, s, kept + added)
        if ok(s):
            met = True
            break
    if not met:
        data, s, chosen = best
        return BudgetResult(data, chosen, s, False, max_drop, judge.metric_name, trials)

    best = (data, s, kept + added)
    for node in reversed(added[:-1]):  # the last one added was needed to cross the line
        fewer = [n for n in best[2] if n.index != node.index]
        data, s = trial("prune", fewer, f"without {node.label}")
        if ok(s):
            best = (data, s, fewer)
    data, s, chosen = best
    return BudgetResult(data, chosen, s, True, max_drop, judge.metric_name, trials)


def held_out_figures(judge: Judge, model_bytes: bytes) -> HeldOut:
    """The budget metric on ``judge``'s samples with its 95 % interval (paired for top-1 drops)."""
    from edgelite.converter.judge import run_outputs
    from edgelite.core import stats

    p = stats.paired_figures(judge.ref.argmax(1), run_outputs(model_bytes, judge.x).argmax(1), judge.y)
    a_lo, a_hi = p["agreement_ci95"]
    if judge.y is not None:
        loss, ci = round(p["top1_drop_pts"], 4), p["top1_drop_ci95"]
    else:
        loss, ci = round(100.0 * (1 - p["agreement"]), 4), [round(100 * (1 - a_hi), 4), round(100 * (1 - a_lo), 4)]
    return HeldOut(samples=len(judge.x), agreement=round(p["agreement"], 6), agreement_ci95=p["agreement_ci95"],
                   loss_pts=loss, loss_ci95=ci)
