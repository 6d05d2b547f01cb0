"""Comparisons of two runs: pure functions of a reference ``Run`` and a candidate ``Run`` over the same samples,
each returning a typed record, registered by name so task metrics (detect, landmarks, segment, embed) plug in
beside the built-in ones:

* ``classify``: top-1/top-5 of each side (with labels), agreement and the paired figures, per-class accuracy.
* ``tensor error``: SNR, mean cosine similarity and max abs error of every output pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgelite.core import metrics, stats
from edgelite.core.errors import UserInputError
from edgelite.core.report import Record
from edgelite.runtime.runs import Run, same_samples

# Past this many classes the confusion matrix is left out of reports (1000 classes would be a million cells).
CONFUSION_MAX_CLASSES = 50


@dataclass(frozen=True)
class Matched:
    """Two runs over the same samples, their outputs paired (by name when both name them alike, else by
    position), and the labels either run knows."""

    reference: Run
    candidate: Run
    pairs: list[tuple[str, str]]        # (reference output, candidate output)
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None

    def arrays(self, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Output pair ``k`` as (N, values) rows of both runs."""
        ref_name, cand_name = self.pairs[k]
        ref, cand = self.reference.outputs[ref_name], self.candidate.outputs[cand_name]
        return ref.reshape(len(ref), -1), cand.reshape(len(cand), -1)


def match(reference: Run, candidate: Run) -> Matched:
    """Pair two runs' samples and outputs, or say in one line why they cannot be compared."""
    same_samples(reference, candidate)
    ref_names, cand_names = list(reference.outputs), list(candidate.outputs)
    if set(ref_names) == set(cand_names):
        pairs = [(n, n) for n in ref_names]
    elif len(ref_names) == len(cand_names):   # e.g. Keras layer names vs TFLite tensor names: by position
        pairs = list(zip(ref_names, cand_names, strict=True))
    else:
        raise UserInputError(f"{reference.path} has {len(ref_names)} outputs ({', '.join(ref_names)}) but "
                             f"{candidate.path} has {len(cand_names)} ({', '.join(cand_names)}); compare two "
                             "versions of the same model")
    for r, c in pairs:
        a, b = reference.outputs[r], candidate.outputs[c]
        if a.shape != b.shape:
            raise UserInputError(f"the models' outputs differ in shape: {a.shape[1:]} vs {b.shape[1:]}")
    labels = reference.labels if reference.labels is not None else candidate.labels
    if reference.labels is not None and candidate.labels is not None and \
            not np.array_equal(reference.labels, candidate.labels):
        raise UserInputError(f"{reference.origin or reference.path} and {candidate.origin or candidate.path} "
                             "record different labels for the same samples; record both runs on the same data")
    return Matched(reference, candidate, pairs, labels, reference.class_names or candidate.class_names)


# ---- records -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassAccuracy(Record):
    """Per-class top-1 of both models (None for classes without samples) and the candidate's confusion matrix
    (rows: true class, columns: predicted; None past ``CONFUSION_MAX_CLASSES``)."""

    names: list[str]
    support: list[int]
    reference: list[float | None]
    candidate: list[float | None]
    confusion: list[list[int]] | None = None


@dataclass(frozen=True)
class Accuracy(Record):
    """One side's accuracy on labelled samples: top-1 and top-5 (more than 5 classes) in %, Wilson 95 %."""

    top1: float
    top1_ci95: list[float]
    top5: float | None = None


@dataclass(frozen=True)
class ClassifyFigures(Record):
    """The ``classify`` metric: accuracy per side (labelled data only), the paired figures, per-class."""

    paired: stats.PairedFigures
    reference: Accuracy | None = None
    candidate: Accuracy | None = None
    classes: ClassAccuracy | None = None


@dataclass(frozen=True)
class OutputError(Record):
    """How far the candidate's output is from the reference's: mean cosine similarity of the rows, SNR in dB
    (None when identical), max abs error."""

    name: str
    cosine_mean: float
    snr_db: float | None
    max_abs_error: float


@dataclass(frozen=True)
class TensorErrorFigures(Record):
    """The ``tensor error`` metric: one ``OutputError`` per output pair, in the reference's output order."""

    outputs: list[OutputError]


# ---- the metric registry -------------------------------------------------------------------------------------
Metric = Callable[[Matched], Record]
METRICS: dict[str, Metric] = {}


def register(name: str) -> Callable[[Metric], Metric]:
    """Register a metric under ``name`` (a decorator)."""

    def add(fn: Metric) -> Metric:
        METRICS[name] = fn
        return fn

    return add


def metric(name: str) -> Metric:
    """The metric registered as ``name``."""
    try:
        return METRICS[name]
    except KeyError:
        raise UserInputError(f"unknown metric {name!r}; choose one of {', '.join(sorted(METRICS))}") from None


# ---- built-in metrics ----------------------------------------------------------------------------------------
def output_error(ref: np.ndarray, cand: np.ndarray, name: str = "output") -> OutputError:
    """``OutputError`` of two (N, values) arrays."""
    ref, cand = (a if a.dtype.kind == "f" else a.astype(np.float32) for a in (ref, cand))  # int8 would wrap
    noise = float(np.sum((ref - cand) ** 2, dtype=np.float64))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    snr = metrics.snr_db(signal, noise)
    return OutputError(name=name, cosine_mean=round(float(np.mean(metrics.cosine_rows(ref, cand))), 6),
                       snr_db=None if snr is None else round(snr, 3),
                       max_abs_error=round(float(np.max(np.abs(ref - cand))), 6))


@register("tensor error")
def tensor_error(m: Matched) -> TensorErrorFigures:
    return TensorErrorFigures([output_error(*m.arrays(k), name=m.pairs[k][0]) for k in range(len(m.pairs))])


def per_class(ref_out: np.ndarray, cand_out: np.ndarray, y: np.ndarray,
              class_names: Sequence[str] | None = None) -> ClassAccuracy:
    """Per-class top-1 accuracy of both models (None for classes with no samples) and the candidate's
    confusion matrix (rows: true class, columns: predicted)."""
    n = ref_out.shape[1]
    y = np.asarray(y, dtype=np.int64)
    support = np.bincount(y, minlength=n)[:n]

    def accuracy(out: np.ndarray) -> list[float | None]:
        hit = np.bincount(y[out.argmax(1) == y], minlength=n)[:n]
        return [round(float(h / s * 100.0), 4) if s else None for h, s in zip(hit, support, strict=True)]

    names = list(class_names) if class_names is not None and len(class_names) == n else [str(i) for i in range(n)]
    confusion = None
    if n <= CONFUSION_MAX_CLASSES:
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (y, cand_out.argmax(1)), 1)
        confusion = matrix.tolist()
    return ClassAccuracy(names=names, support=support.tolist(), reference=accuracy(ref_out),
                         candidate=accuracy(cand_out), confusion=confusion)


def _accuracy(out: np.ndarray, y: np.ndarray) -> Accuracy:
    lo, hi = stats.wilson(int(np.sum(out.argmax(1) == y)), len(out))
    return Accuracy(top1=round(metrics.topk_accuracy_pct(out, y, 1), 4), top1_ci95=[round(lo * 100, 4),
                                                                                    round(hi * 100, 4)],
                    top5=round(metrics.topk_accuracy_pct(out, y, 5), 4) if out.shape[1] > 5 else None)


@register("classify")
def classify(m: Matched) -> ClassifyFigures:
    """Top-k on the first output pair: class scores, one row per sample."""
    ref, cand = m.arrays(0)
    y = m.labels
    if y is not None and len(y) and (int(np.max(y)) >= ref.shape[1] or int(np.min(y)) < 0):
        raise UserInputError(f"labels run from {int(np.min(y))} to {int(np.max(y))} but the models have "
                             f"{ref.shape[1]} outputs; check the evaluation data's classes")
    fig = stats.paired(ref.argmax(1), cand.argmax(1), y)
    if y is None:
        return ClassifyFigures(paired=fig)
    return ClassifyFigures(paired=fig, reference=_accuracy(ref, y), candidate=_accuracy(cand, y),
                           classes=per_class(ref, cand, y, m.class_names))
