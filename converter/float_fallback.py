"""Accuracy budget: keep the fewest layers float so that int8 loses at most ``max_drop`` points.

Search (deterministic for a given calibration seed; every step re-quantizes the one calibration):

1. plain int8 (plus any ``--keep-float`` layers): within budget → done;
2. rank every candidate layer from one paired pass over calibration samples by the noise its int8 weights
   add (``analyze.layer_errors``), then re-rank the first ``MEASURED`` by the share of output error each
   removes when it alone stays float — 16 quantizations, not one per layer;
3. the shortest prefix of that ranking that meets the budget: keep the first 1, 2, 4, 8, … layers float until
   one meets it, then bisect between the last two (each step one re-quantization, so ~2·log2(n) of them instead
   of n); when no such prefix meets it but the best missed by at most two samples' worth, every prefix of the
   measured part is tried in turn (a top-1 metric on a few dozen samples is not monotonic in the number of
   float layers);
4. prune: drop each chosen layer again (least useful first) while the budget still holds.

When the budget cannot be met even with every candidate float, the best model found (lowest loss, then
smallest) is returned with ``met=False``; the caller writes it and reports the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edgelite.calibration.multi_input import Samples
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.scoring import Score, Scorer
from edgelite.core.report import OMIT_NONE, Record
from edgelite.runtime.tasks.base import TaskFigures

Log = Callable[[str], None]
MEASURED = 16   # layers whose single-layer fallback the search measures before it ranks (the rest: estimated)


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
        return cls(step=step, float_layers=float_layers, loss_pts=s.loss_pts, agreement=s.agreement, top1=s.top1,
                   noise=s.noise, snr_db=s.snr_db, size_bytes=s.size_bytes)

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
    task: TaskFigures | None = field(default=None, metadata=OMIT_NONE)   # a task's figures, with its intervals


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


def search(cal: Calibrated, scorer: Scorer, max_drop: float, *, forced: Sequence[Node] = (),
           max_layers: int | None = None, log: Log = lambda line: None,
           rank_x: Samples | None = None, max_bytes: int | None = None) -> BudgetResult:
    """Find the fewest float layers (beyond ``forced``) that keep ``scorer``'s loss ≤ ``max_drop`` points,
    adding at most ``max_layers`` (None: every candidate may stay float) and stopping before the model
    grows past ``max_bytes`` (None: no size bound).

    Layers are ranked on ``rank_x`` (default ``scorer``'s samples), by continuous signals that generalize
    better than top-1 flips on a handful of images: every layer by the noise its int8 weights add (one pass),
    then the ``MEASURED`` first of those by the share of output error each removes when it alone stays float
    (one re-quantization each; the estimate alone ranks poorly: Spearman 0.16 against the measured share on
    fer's 33 layers)."""
    from edgelite.converter.analyze import by_weight_noise, contributions, layer_errors, rank

    trials: list[Trial] = []
    cache: dict[tuple[int, ...], tuple[bytes, Score]] = {}

    def trial(step: str, kept: Sequence[Node], detail: str = "") -> tuple[bytes, Score]:
        key = tuple(sorted(n.index for n in kept))
        if key not in cache:
            data = cal.quantize(kept)
            cache[key] = (data, scorer.score(data))
        data, s = cache[key]
        trials.append(Trial.of(step, [n.label for n in kept], s))
        log(_step_line(step, kept, s, scorer.metric_name, detail))
        return data, s

    def ok(s: Score) -> bool:
        return s.loss_pts <= max_drop + 1e-9

    kept = list(forced)
    data, s = trial("int8", kept)
    best = (data, s, list(kept))
    if ok(s):
        return BudgetResult(data, kept, s, True, max_drop, scorer.metric_name, trials)

    others = [n for n in cal.candidates if n.index not in {k.index for k in forced}]
    x = scorer.x if rank_x is None else rank_x
    log(f"  ranking {len(others)} layers by the noise their int8 weights add (one pass), the first "
        f"{min(MEASURED, len(others))} by the output error each removes, on {len(x)} samples …")
    float_bytes = cal.float_model()
    found = layer_errors(cal, float_bytes, data, x, others)
    first = by_weight_noise(others, found.weight_noise)
    rank_scorer = scorer.on(x, None) if scorer.task is not None else Scorer(float_bytes, x, None)
    alone = contributions(cal, rank_scorer, first[:MEASURED], desc="ranking")
    for n in first[:MEASURED]:  # the single-layer trials are real trials: record them
        trials.append(Trial.of("rank", [*(k.label for k in forced), n.label], alone[n.index]))
    ranked = [*rank(first[:MEASURED], rank_scorer.score(data), alone, by_loss=scorer.task is not None),
              *first[MEASURED:]][:max_layers]

    met_at: int | None = None
    tried: dict[int, tuple[bytes, Score]] = {}

    def prefix(k: int, how: str) -> tuple[bytes, Score] | None:
        """Top-``k`` float; None when it is past the size bound."""
        nonlocal best
        if k not in tried:
            tried[k] = trial(f"+{k}", kept + ranked[:k], how)
        got = tried[k]
        if max_bytes is not None and got[1].size_bytes > max_bytes:
            return None
        if (got[1].loss_pts, got[1].size_bytes) < (best[1].loss_pts, best[1].size_bytes):
            best = (got[0], got[1], kept + ranked[:k])
        return got

    lo, k = 0, 1   # lo: the largest prefix known not to meet the budget
    while ranked:
        k = min(k, len(ranked))
        got = prefix(k, f"first {k} of the ranking")
        if got is None:
            assert max_bytes is not None   # only the size bound refuses a prefix
            log(f"  stop: {tried[k][1].size_bytes / 1024:.1f} KB is past the size bound of {max_bytes / 1024:.1f} KB")
            hi_bound = k   # a prefix this long is too big: bisect below it for the smallest one that meets
            while hi_bound - lo > 1:
                mid = (lo + hi_bound) // 2
                got = prefix(mid, "bisect")
                if got is None:
                    hi_bound = mid
                elif ok(got[1]):
                    met_at, hi_bound = mid, mid
                else:
                    lo = mid
            break
        if ok(got[1]):
            met_at = k
            while met_at - lo > 1:
                mid = (lo + met_at) // 2
                got = prefix(mid, "bisect")
                if got is not None and ok(got[1]):
                    met_at = mid
                else:
                    lo = mid
            break
        if k == len(ranked):
            break
        lo, k = k, 2 * k
    # A top-1 metric on a few dozen samples is not monotonic in k (one argmax tie flips): when the best prefix
    # missed by at most two samples' worth, try every prefix of the measured part of the ranking (where the order
    # is the most trustworthy) before giving up; a wider miss no single flip can close.
    near = 2 * 100.0 / max(len(scorer.x), 1)
    if met_at is None and best[1].loss_pts <= max_drop + near:
        for k in range(1, min(MEASURED, len(ranked)) + 1):
            if k in tried:
                continue
            got = prefix(k, "scan")
            if got is None:
                break
            if ok(got[1]):
                met_at = k
                break
    if met_at is None:
        data, s, chosen = best
        return BudgetResult(data, chosen, s, False, max_drop, scorer.metric_name, trials)

    added = ranked[:met_at]
    data, s = tried[met_at]
    best = (data, s, kept + added)
    for node in reversed(added[:-1]):  # the last one added was needed to cross the line
        fewer = [n for n in best[2] if n.index != node.index]
        data, s = trial("prune", fewer, f"without {node.label}")
        if ok(s):
            best = (data, s, fewer)
    data, s, chosen = best
    return BudgetResult(data, chosen, s, True, max_drop, scorer.metric_name, trials)


def held_out_figures(scorer: Scorer, model_bytes: bytes) -> HeldOut:
    """The budget metric on ``scorer``'s samples with its 95 % interval (paired for top-1 drops; with a task,
    the task's own seeded paired bootstrap)."""
    from edgelite.converter.scoring import run_all
    from edgelite.core import stats

    _, outs = run_all(model_bytes, scorer.x)
    p = stats.paired(scorer.ref.argmax(1), outs[0].reshape(len(scorer.x), -1).argmax(1), scorer.y)
    a_lo, a_hi = p.agreement_ci95
    figs = None
    if scorer.task is not None:
        figs = scorer.judge(outs, resamples=scorer.task.resamples)
        task_loss = figs.loss()
        loss = float("inf") if task_loss is None else task_loss
        ci = figs.loss_ci95() or [loss, loss]
    elif p.top1_drop_pts is not None and p.top1_drop_ci95 is not None:
        loss, ci = round(p.top1_drop_pts, 4), p.top1_drop_ci95
    else:
        loss, ci = round(100.0 * (1 - p.agreement), 4), [round(100 * (1 - a_hi), 4), round(100 * (1 - a_lo), 4)]
    return HeldOut(samples=len(scorer.x), agreement=round(p.agreement, 6), agreement_ci95=p.agreement_ci95,
                   loss_pts=loss, loss_ci95=ci, task=figs)
