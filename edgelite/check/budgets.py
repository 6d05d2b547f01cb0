"""The budgets ``edgelite check`` knows, as one rule table: what each limits, which way, how it reads.

A budget is one ``Rule``: its figure (read from a model's measurements and the baseline's entry), whether the
limit is a maximum or a minimum, whether it is judged against the baseline or needs evaluation data, its fail
message and its number format. ``check.gate`` judges with it; the terminal, markdown, JUnit and HTML reports
format with it — so a new budget is one entry here plus one field in ``check.config.Budgets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from edgelite.check.baseline import BaselineEntry
from edgelite.core.report import Record

if TYPE_CHECKING:
    from edgelite.runtime.tasks.base import TaskFigures

PASS, FAIL, SKIP, INFO = "pass", "fail", "skip", "info"
STATUSES = (PASS, FAIL, SKIP, INFO)

class _Latency(Protocol):
    @property
    def latency_per_kernel(self) -> float: ...
    @property
    def int8_over_float(self) -> float | None: ...


class _Accuracy(Protocol):
    @property
    def top1_drop_pts(self) -> float | None: ...
    @property
    def agreement(self) -> float | None: ...   # None: the model has no class-score output
    @property
    def task(self) -> TaskFigures | None: ...   # the verdict in the model's own task (runtime/tasks)


class Measured(Protocol):
    """What the rules read of one checked model (``check.run.CheckedModel``)."""

    @property
    def size_bytes(self) -> int: ...
    @property
    def latency(self) -> _Latency: ...
    @property
    def accuracy(self) -> _Accuracy | None: ...


def _growth_pct(now: float, before: float) -> float:
    return (now / before - 1.0) * 100.0


Figures = tuple[float | None, float | None]   # (the model's figure, the baseline's figure)


def _size(m: Measured, base: BaselineEntry | None) -> Figures:
    return m.size_bytes, None if base is None else base.size_bytes


def _size_growth(m: Measured, base: BaselineEntry | None) -> Figures:
    if base is None:
        return None, None
    return _growth_pct(m.size_bytes, base.size_bytes), base.size_bytes


def _latency_growth(m: Measured, base: BaselineEntry | None) -> Figures:
    if base is None:
        return None, None
    return _growth_pct(m.latency.latency_per_kernel, base.latency_per_kernel), base.latency_per_kernel


def _top1_drop(m: Measured, base: BaselineEntry | None) -> Figures:
    return None if m.accuracy is None else m.accuracy.top1_drop_pts, None if base is None else base.top1_drop_pts


def _agreement(m: Measured, base: BaselineEntry | None) -> Figures:
    return None if m.accuracy is None else m.accuracy.agreement, None if base is None else base.agreement


def _int8_over_float(m: Measured, base: BaselineEntry | None) -> Figures:
    return m.latency.int8_over_float, None if base is None else base.int8_over_float


def _task(m: Measured) -> TaskFigures | None:
    return None if m.accuracy is None else m.accuracy.task


def _before(key: str, base: BaselineEntry | None) -> float | None:
    return None if base is None or base.task is None else base.task.get(key)


def _metric_drop(m: Measured, base: BaselineEntry | None) -> Figures:
    task = _task(m)
    return None if task is None else task.loss(), _before("max_metric_drop", base)


def _candidate(key: str, metric: str) -> Callable[[Measured, BaselineEntry | None], Figures]:
    """The figure of a task budget that bounds the candidate's own value of ``metric``."""
    def measure(m: Measured, base: BaselineEntry | None) -> Figures:
        task = _task(m)
        return None if task is None else task.value(metric), _before(key, base)
    return measure


def _miou_drop(m: Measured, base: BaselineEntry | None) -> Figures:
    """1 − mIoU vs float (vs the float's masks: the reference is 1) or the mIoU lost to the labels: −delta."""
    task = _task(m)
    miou = None if task is None else task.metrics.get("miou")
    value = None if miou is None or miou.delta is None else -miou.delta + 0.0
    return value, _before("max_miou_drop", base)


def _headline(m: Measured) -> str:
    """What ``max_metric_drop`` bounds on this model: the headline metric and its loss unit."""
    from edgelite.runtime.tasks.base import info

    task = _task(m)
    if task is None:
        return "task headline"
    i = info(task.headline)
    return f"{task.kind} headline {task.headline} ({i.label}), loss in {i.loss_unit}"


@dataclass(frozen=True)
class Rule:
    key: str                 # the TOML key under [budgets]
    description: str
    measure: Callable[[Measured, BaselineEntry | None], Figures]   # (figure, the baseline's figure)
    fail: Callable[[float, float, float | None], str]              # (value, limit, before) -> message
    number: str              # format spec of the figure
    unit: str
    minimum: bool = False    # the limit is a floor (higher is better), else a ceiling
    growth: bool = False     # judged against the baseline
    needs_eval: bool = False  # measured on evaluation data
    tasks: tuple[str, ...] = ()   # a task budget: the tasks that measure its figure; ("*",): any task
    metric: str | None = None     # the task metric it reads (None: the headline)
    needs_annotations: bool = False   # measured against labelled boxes (COCO annotations)
    subject: Callable[[Measured], str] | None = None   # what the figure is on this model (its note and message)

    @property
    def task_budget(self) -> bool:
        return bool(self.tasks)

    def measures(self, kind: str) -> bool:
        """Whether a model judged as task ``kind`` has this budget's figure."""
        return "*" in self.tasks or kind in self.tasks

    def needs(self) -> str:
        """What a task budget needs, for refusals: "task detect", "task detect with annotations"."""
        what = "a task verdict" if "*" in self.tasks else f"task {' or '.join(self.tasks)}"
        labelled = "COCO keypoints" if self.tasks == ("landmarks",) else "COCO boxes"
        return f"{what} with annotations ({labelled})" if self.needs_annotations else what

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
    # task budgets (runtime/tasks): the model judged by its task, int8 vs float on the same samples
    Rule("max_metric_drop", "task headline loss int8 vs float (pts for rates, else the metric's unit)",
         _metric_drop, lambda v, lim, b: f"lost {v:.2f} > {lim:g}", ".2f", "", needs_eval=True, tasks=("*",),
         subject=_headline),
    Rule("min_detections_kept", "share of float detections the int8 model keeps",
         _candidate("min_detections_kept", "detections_kept"),
         lambda v, lim, b: f"kept {v:.4f} of the float detections < {lim:g}", ".4f", "", minimum=True,
         needs_eval=True, tasks=("detect",), metric="detections_kept"),
    Rule("max_detections_added", "detections the int8 model adds per image (unmatched in float)",
         _candidate("max_detections_added", "detections_added_per_image"),
         lambda v, lim, b: f"added {v:.3f} detections per image > {lim:g}", ".3f", "/image", needs_eval=True,
         tasks=("detect",), metric="detections_added_per_image"),
    Rule("max_landmark_error_px", "mean landmark error int8 vs float (px)",
         _candidate("max_landmark_error_px", "landmark_error_px"),
         lambda v, lim, b: f"landmarks off by {v:.2f} px > {lim:g}", ".2f", " px", needs_eval=True,
         tasks=("landmarks",), metric="landmark_error_px"),
    Rule("max_keypoint_error_px", "keypoint error of the kept detections int8 vs float (px)",
         _candidate("max_keypoint_error_px", "keypoint_error_px"),
         lambda v, lim, b: f"detection keypoints off by {v:.2f} px > {lim:g}", ".2f", " px", needs_eval=True,
         tasks=("detect",), metric="keypoint_error_px"),
    Rule("max_landmark_nme", "normalised mean landmark error int8 vs float (fraction)",
         _candidate("max_landmark_nme", "landmark_nme"),
         lambda v, lim, b: f"landmark NME {v:.4f} > {lim:g}", ".4f", "", needs_eval=True, tasks=("landmarks",),
         metric="landmark_nme"),
    Rule("min_oks_ap", "int8 OKS AP@0.5:0.95 on the keypoint annotations", _candidate("min_oks_ap", "oks_ap"),
         lambda v, lim, b: f"OKS AP@0.5:0.95 {v:.4f} < {lim:g}", ".4f", "", minimum=True, needs_eval=True,
         tasks=("landmarks",), metric="oks_ap", needs_annotations=True),
    Rule("max_miou_drop", "mIoU lost int8 vs float (fraction, 1 − mIoU vs the float's masks)", _miou_drop,
         lambda v, lim, b: f"mIoU dropped {v:.4f} > {lim:g}", ".4f", "", needs_eval=True, tasks=("segment",),
         metric="miou"),
    Rule("min_map50_95", "int8 mAP@0.5:0.95 on the annotations", _candidate("min_map50_95", "map50_95"),
         lambda v, lim, b: f"mAP@0.5:0.95 {v:.4f} < {lim:g}", ".4f", "", minimum=True, needs_eval=True,
         tasks=("detect",), metric="map50_95", needs_annotations=True),
)}

GROWTH = tuple(k for k, r in RULES.items() if r.growth)
TASK_BUDGETS = tuple(k for k, r in RULES.items() if r.task_budget)
FRACTIONS = ("min_agreement", "min_detections_kept", "max_miou_drop", "min_map50_95", "max_landmark_nme",
             "min_oks_ap")   # limits in [0, 1]


@dataclass(frozen=True)
class BudgetRow(Record):
    """One judged budget of one model."""

    budget: str                  # a RULES key
    limit: float
    value: float | None          # None: not measured, or no baseline to grow from
    baseline: float | None       # the baseline's figure, for reference
    status: str                  # PASS, FAIL, SKIP or INFO
    message: str = ""

    @property
    def rule(self) -> Rule:
        return RULES[self.budget]

    def cells(self) -> tuple[str, str, str, str]:
        """(description, limit, value, baseline) as every report shows them."""
        r = self.rule
        return (r.description, r.format_limit(self.limit), r.format_value(self.value),
                "-" if self.baseline is None else f"{self.baseline:g}")


def count_statuses(rows: list[BudgetRow]) -> dict[str, int]:
    """How many budget rows have each status."""
    out = dict.fromkeys(STATUSES, 0)
    for row in rows:
        out[row.status] += 1
    return out
