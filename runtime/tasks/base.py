"""What every task shares: the metric catalogue (name, unit, direction), the JSON record of one metric
(``TaskMetric``), the record of one task's figures (``TaskFigures``), the evaluation context, and the one rule
that turns a task's headline metric into the loss ``--max-drop`` and ``max_metric_drop`` bound.

The loss rule (issue "Judged by the task"): a loss of X in the headline metric — points (× 100) for rates,
the metric's own unit otherwise, a rise for errors. For a vs-reference metric (judged against the float model's
own outputs) the reference side is the reference judged against itself, so ``delta`` is the whole loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgelite.core.report import NOT_IN_JSON, OMIT_NONE, Record

TASKS = ("classify", "detect", "landmarks", "segment", "embed", "regress")
# A model's outputs over the evaluation samples: output name → (N, ...) array, in the model's output order.
Outputs = Mapping[str, np.ndarray]
DIGITS = 6   # figures measured on images carry no more


@dataclass(frozen=True)
class MetricInfo:
    """How one metric reads: its label, unit, direction, and whether it is a rate (a fraction in [0, 1])."""

    label: str
    unit: str = ""
    higher_is_better: bool = True
    rate: bool = False

    def loss(self, delta: float) -> float:
        """The loss that ``delta`` (candidate − reference) is: points for rates, else the metric's own unit;
        positive when the candidate is worse."""
        worse = -delta if self.higher_is_better else delta
        return 100.0 * worse if self.rate else worse

    @property
    def loss_unit(self) -> str:
        return "pts" if self.rate else (self.unit or "units")


METRICS: dict[str, MetricInfo] = {
    # classify
    "top1": MetricInfo("top-1 accuracy", rate=True),
    "agreement": MetricInfo("top-1 agreement with float", rate=True),
    # detect, with COCO annotations
    "map50_95": MetricInfo("mAP@0.5:0.95", rate=True),
    "map50": MetricInfo("mAP@0.5", rate=True),
    "ar100": MetricInfo("AR@100", rate=True),
    # detect, vs the float model's own detections
    "detections_kept": MetricInfo("float detections kept", rate=True),
    "detections_added_per_image": MetricInfo("detections added per image", "/image", higher_is_better=False),
    "matched_iou": MetricInfo("IoU of kept detections", rate=True),
    "score_drift": MetricInfo("score drift of kept detections", higher_is_better=False),
    "keypoint_error_px": MetricInfo("keypoint error of kept detections", "px", higher_is_better=False),
    "keypoint_error_per_box_size": MetricInfo("keypoint error / box size", higher_is_better=False),
    # landmarks
    "landmark_error_px": MetricInfo("mean landmark error", "px", higher_is_better=False),
    "landmark_nme": MetricInfo("normalised mean landmark error", higher_is_better=False, rate=True),
    "landmark_failure_rate": MetricInfo("samples with NME > 10 %", higher_is_better=False, rate=True),
    # landmarks, with COCO keypoint annotations
    "oks_ap": MetricInfo("OKS AP@0.5:0.95", rate=True),
    "oks_ap50": MetricInfo("OKS AP@0.5", rate=True),
    # segment
    "miou": MetricInfo("mIoU", rate=True),
    "pixel_agreement": MetricInfo("pixel agreement", rate=True),
    # embed
    "cosine": MetricInfo("mean cosine similarity", rate=True),
    "knn_overlap10": MetricInfo("k-NN overlap@10", rate=True),
    # regress
    "mae": MetricInfo("mean absolute error", higher_is_better=False),
    "rmse": MetricInfo("root mean square error", higher_is_better=False),
    # the user's own metric (higher is better, its own unit)
    "metric": MetricInfo("user metric"),
}


def info(name: str) -> MetricInfo:
    """The catalogue entry of ``name``; a per-output variant (``mae[box]``) reads as its base metric."""
    return METRICS[name.split("[", 1)[0]]


def figure(value: float | None) -> float | None:
    """A figure as reports keep it: rounded to ``DIGITS`` (so a record equals its own JSON round trip), None
    where it is not finite (undefined: no float boxes, no matches)."""
    if value is None:
        return None
    value = float(value)
    return round(value, DIGITS) if math.isfinite(value) else None


@dataclass(frozen=True)
class TaskMetric(Record):
    """One task metric as the JSON contract writes it: ``reference`` (null for a vs-reference metric),
    ``candidate``, ``delta`` = candidate − reference (for vs-reference metrics, − the reference judged against
    itself) and its paired 95 % interval; null where undefined."""

    reference: float | None
    candidate: float | None
    delta: float | None
    delta_ci95: list[float] | None

    @classmethod
    def of(cls, reference: float | None, candidate: float | None, delta: float | None,
           ci: tuple[float, float] | list[float] | None) -> TaskMetric:
        lo, hi = (figure(v) for v in ci) if ci is not None else (None, None)
        return cls(reference=figure(reference), candidate=figure(candidate), delta=figure(delta),
                   delta_ci95=[lo, hi] if lo is not None and hi is not None else None)

    @classmethod
    def vs_reference(cls, figures: object) -> TaskMetric:
        """The record of a vs-reference ``BootstrapFigures``: the reference side is the reference judged
        against itself, which says nothing, so it is written as null."""
        return cls.of(None, figures.candidate, figures.delta, figures.delta_ci95)  # type: ignore[attr-defined]

    @classmethod
    def paired(cls, figures: object) -> TaskMetric:
        """The record of a ``BootstrapFigures`` where both sides are measured (mAP with labels, a user metric)."""
        return cls.of(figures.reference, figures.candidate, figures.delta,  # type: ignore[attr-defined]
                      figures.delta_ci95)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SampleScore(Record):
    """One evaluation sample's headline figure (the candidate's loss on it in the headline's terms), for the
    reports' worst-first lists."""

    id: str
    loss: float


@dataclass(frozen=True, eq=False)
class SampleView:
    """One evaluation sample's decoded results, to draw: ``reference``/``candidate`` are ``Detections`` (detect),
    (P, 2) normalised x, y points (landmarks) or (H, W) class masks (segment); ``image`` the model's input
    (H, W, C) as the candidate got it, filled in by ``compare_on`` (None for saved runs)."""

    id: str
    loss: float
    reference: Any
    candidate: Any
    image: np.ndarray | None = None


@dataclass(frozen=True)
class TaskFigures(Record):
    """One task's verdict: its kind, why that task (``basis``), the headline metric ``--max-drop`` bounds, every
    metric by name (``TaskMetric``), how they were computed (``method``), notes, and the samples worst first."""

    kind: str
    headline: str
    metrics: dict[str, TaskMetric]
    basis: str
    method: str
    notes: list[str] = field(default_factory=list)
    worst: list[SampleScore] = field(default_factory=list)
    details: dict[str, object] | None = field(default=None, metadata=OMIT_NONE)   # per-class AP, per output, …
    # what the HTML page draws for the worst samples (decoded results of both sides): a live report's only
    views: list[SampleView] = field(default_factory=list, metadata=NOT_IN_JSON, compare=False)

    def loss(self, name: str | None = None) -> float | None:
        """The loss in metric ``name`` (default: the headline), in its loss unit; None where undefined."""
        name = name or self.headline
        m = self.metrics.get(name)
        if m is None or m.delta is None:
            return None
        return round(info(name).loss(m.delta), 4) + 0.0   # + 0.0: no "-0.00"

    def loss_ci95(self, name: str | None = None) -> list[float] | None:
        """The 95 % interval of ``loss(name)`` (the delta's interval, turned the loss's way)."""
        name = name or self.headline
        m = self.metrics.get(name)
        if m is None or m.delta_ci95 is None:
            return None
        a, b = (round(info(name).loss(v), 4) + 0.0 for v in m.delta_ci95)
        return [min(a, b), max(a, b)]

    def value(self, name: str) -> float | None:
        """The candidate's figure ``name`` (None when the task did not measure it)."""
        m = self.metrics.get(name)
        return None if m is None else m.candidate

    def headline_line(self) -> str:
        """The headline in one line: "detect: float detections kept 98.21 %, loss +1.79 pts (95 % CI …)"."""
        m = self.metrics.get(self.headline)
        i = info(self.headline)
        if m is None or m.candidate is None:
            return f"{self.kind}: {i.label} undefined on these samples"

        def shown(v: float) -> str:
            return f"{v * 100:.2f} %" if i.rate else f"{v:.4g}{' ' + i.unit if i.unit else ''}"

        loss, ci = self.loss(), self.loss_ci95()
        ref = "" if m.reference is None else f" (float {shown(m.reference)})"
        ci_s = f" (95 % CI {ci[0]:+.2f}…{ci[1]:+.2f})" if ci is not None else ""
        lost = "" if loss is None else f", loss {loss:+.2f} {i.loss_unit}{ci_s}"
        return f"{self.kind}: {i.label} {shown(m.candidate)}{ref}{lost}"


@dataclass(frozen=True)
class EvalContext:
    """What a task needs besides the outputs: the sample ids, labels (class ids per sample, if any), the model's
    input size in pixels (width, height), and the bootstrap's resamples and seed (0 resamples: point figures
    only, as the ``--max-drop`` search scores each trial)."""

    ids: tuple[str, ...]
    labels: np.ndarray | None = None
    input_size: tuple[int, int] | None = None
    resamples: int = 1000
    seed: int = 0
    class_names: tuple[str, ...] | None = None
    crop_fraction: float = 1.0   # the central fraction of each image the model saw (boxes map back through it)
    # the ids are part of the evaluation data (a --samples subset, the search or confirm part of --max-drop):
    # labelled images outside them are left out, not refused
    subset: bool = False


def worst_first(ids: tuple[str, ...], losses: np.ndarray, keep: int = 20) -> list[SampleScore]:
    """The ``keep`` samples with the highest loss, worst first (ties by id order)."""
    losses = np.asarray(losses, np.float64)
    order = np.lexsort((np.arange(len(losses)), -np.nan_to_num(losses, nan=-np.inf)))[:keep]
    return [SampleScore(ids[i], round(float(losses[i]), DIGITS)) for i in order if np.isfinite(losses[i])]
