"""Comparisons of two runs: pure functions of a reference ``Run`` and a candidate ``Run`` over the same samples,
each returning a typed record, registered by name so task metrics (detect, landmarks, segment, embed) plug in
beside the built-in ones:

* ``classify``: for every output that holds class scores (``roles``: labels fit it, or its rows are probability
  vectors), top-1/top-5 of each side (with labels), agreement and the paired figures, per-class accuracy.
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


# How an output's rows must look to be taken for class scores without labels: a probability vector. Float
# softmax rows sum to 1 within ~1e-6; an int8 softmax (steps of 1/256) within a few steps, so the tolerance is
# loose enough for a quantized reference and still far from what boxes, landmarks or embeddings give.
PROBABILITY_SUM_TOLERANCE = 0.02
CLASS_SCORES, TENSOR = "class scores", "tensor"


@dataclass(frozen=True)
class Matched:
    """Two runs over the same samples, their outputs paired (by name when both name them alike, else by
    position or by shape), the labels either run knows, and notes on how the outputs were paired."""

    reference: Run
    candidate: Run
    pairs: list[tuple[str, str]]        # (reference output, candidate output), in the reference's order
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    matching: str = "name"              # "name", "position" or "shape"
    notes: tuple[str, ...] = ()

    def arrays(self, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Output pair ``k`` as (N, values) rows of both runs."""
        ref_name, cand_name = self.pairs[k]
        ref, cand = self.reference.outputs[ref_name], self.candidate.outputs[cand_name]
        return ref.reshape(len(ref), -1), cand.reshape(len(cand), -1)

    def shape(self, k: int) -> tuple[int, ...]:
        """One sample's shape of output pair ``k``."""
        return tuple(int(d) for d in self.reference.outputs[self.pairs[k][0]].shape[1:])


def _arrow(pairs: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{r}→{c}" for r, c in pairs)


def _by_shape(reference: Run, candidate: Run) -> list[tuple[str, str]] | None:
    """Pairs by per-sample shape when every shape occurs once on each side and both sides have the same
    shapes (the converter may reorder outputs, and then their positions disagree but their shapes do not)."""
    ref = {a.shape[1:]: n for n, a in reference.outputs.items()}
    cand = {a.shape[1:]: n for n, a in candidate.outputs.items()}
    if len(ref) != len(reference.outputs) or len(cand) != len(candidate.outputs) or set(ref) != set(cand):
        return None
    return [(n, cand[a.shape[1:]]) for n, a in reference.outputs.items()]


def match(reference: Run, candidate: Run) -> Matched:
    """Pair two runs' samples and outputs, or say in one line why they cannot be compared.

    By name when the names agree; when only some agree, those, with a note naming the rest (not compared);
    when none agree and the counts do, by position, or by shape where positions pair different shapes and
    shapes tell the outputs apart — with a note saying so (one output on each side needs no note)."""
    same_samples(reference, candidate)
    ref_names, cand_names = list(reference.outputs), list(candidate.outputs)
    common = [n for n in ref_names if n in candidate.outputs]
    notes: list[str] = []
    matching = "name"
    if common:
        pairs = [(n, n) for n in common]
        only_ref = [n for n in ref_names if n not in candidate.outputs]
        only_cand = [n for n in cand_names if n not in reference.outputs]
        if only_ref or only_cand:
            notes.append(f"outputs matched by name: {', '.join(common)}; not compared (no output of that name "
                         f"in the other model): reference {', '.join(only_ref) or '-'}, candidate "
                         f"{', '.join(only_cand) or '-'}")
    elif len(ref_names) == len(cand_names):   # e.g. Keras layer names vs TFLite tensor names
        pairs = list(zip(ref_names, cand_names, strict=True))
        matching = "position"
        if any(reference.outputs[r].shape != candidate.outputs[c].shape for r, c in pairs):
            shaped = _by_shape(reference, candidate)
            if shaped is not None:
                pairs, matching = shaped, "shape"
        if len(pairs) > 1:
            notes.append(f"outputs matched by {matching}: {_arrow(pairs)}")
    else:
        raise UserInputError(f"{reference.path} has {len(ref_names)} outputs ({', '.join(ref_names)}) but "
                             f"{candidate.path} has {len(cand_names)} ({', '.join(cand_names)}); compare two "
                             "versions of the same model")
    for r, c in pairs:
        a, b = reference.outputs[r], candidate.outputs[c]
        if a.shape != b.shape:
            pair = f"output {r!r}" if r == c else f"outputs {r!r} and {c!r} (matched by {matching})"
            raise UserInputError(f"the models' outputs differ in shape: {pair} is {a.shape[1:]} in {reference.path} "
                                 f"but {b.shape[1:]} in {candidate.path}; compare two versions of the same model")
    labels = reference.labels if reference.labels is not None else candidate.labels
    if reference.labels is not None and candidate.labels is not None and \
            not np.array_equal(reference.labels, candidate.labels):
        raise UserInputError(f"{reference.origin or reference.path} and {candidate.origin or candidate.path} "
                             "record different labels for the same samples; record both runs on the same data")
    return Matched(reference, candidate, pairs, labels, reference.class_names or candidate.class_names,
                   matching, tuple(notes))


def is_probability_rows(rows: np.ndarray) -> bool:
    """Every row a probability vector: at least 2 values, none negative, summing to 1 (within
    ``PROBABILITY_SUM_TOLERANCE``)."""
    if rows.ndim != 2 or rows.shape[1] < 2 or not len(rows) or rows.dtype.kind not in "fiu":
        return False
    r = rows.astype(np.float64)
    return bool(np.all(np.isfinite(r)) and np.all(r >= -1e-6)
                and np.all(np.abs(r.sum(axis=1) - 1.0) <= PROBABILITY_SUM_TOLERANCE))


def labels_fit(size: int, labels: np.ndarray | None) -> bool:
    """Integer sample labels that index into an output of ``size`` values (at least 2)."""
    return labels is not None and size >= 2 and len(labels) > 0 and int(np.min(labels)) >= 0 \
        and int(np.max(labels)) < size


def class_basis(rows: np.ndarray, *, class_names: Sequence[str] | None = None, file_labels: int = 0,
                labels: np.ndarray | None = None, labels_decide: bool = True) -> str | None:
    """Why output ``rows`` (N, values) are class scores, or None when nothing says so: label names that fit its
    size (from the data or the model's label file), labels the model file carries for that size, rows that
    are probability vectors (a guess unless the samples' labels index into it, and the reason says so), or —
    when ``labels_decide`` — the samples' integer labels indexing into it."""
    size = rows.shape[1] if rows.ndim == 2 else 0
    if size < 2:
        return None
    if class_names is not None and len(class_names) == size:
        return f"its {size} values fit the {len(class_names)} labels"
    if file_labels == size:
        return f"its {size} values fit the {file_labels} labels in the model file"
    fit = labels_fit(size, labels)
    if is_probability_rows(rows):
        if fit:
            return f"its rows are probability vectors and the samples' labels index its {size} values"
        unknown = "unlabelled" if labels is None else "the samples' labels do not index it"
        return f"guessed: {unknown}, but every reference row is a probability vector (≥ 0, sums to 1)"
    if fit and labels_decide:
        return f"the samples' labels index its {size} values"
    return None


@dataclass(frozen=True)
class OutputRole(Record):
    """What one output pair is for the report: class scores (agreement, top-k, accuracy) or a tensor (error
    figures only), and why."""

    name: str                # the reference's output
    candidate_name: str
    shape: list[int]         # one sample's
    kind: str                # CLASS_SCORES or TENSOR
    basis: str


def _file_labels(run: Run) -> int:
    """How many labels a run's model file carries (its description's metadata), 0 when none or unknown."""
    meta = run.description.get("metadata")
    count = meta.get("labels_count") if isinstance(meta, dict) else 0
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def roles(m: Matched) -> list[OutputRole]:
    """``OutputRole`` of every output pair, in the reference's order.

    Names, the file's labels and probability rows decide. Bare integer labels (no names that fit) decide only
    for a model with one output, as before outputs were judged one by one: on a multi-output model labels
    small enough to index into landmarks or boxes would make them "class scores"."""
    file_labels = max(_file_labels(m.reference), _file_labels(m.candidate))
    rows = [m.arrays(k)[0] for k in range(len(m.pairs))]
    bases = [class_basis(r, class_names=m.class_names, file_labels=file_labels, labels=m.labels,
                         labels_decide=len(rows) == 1) for r in rows]
    out = []
    for k, (r, c) in enumerate(m.pairs):
        basis, size = bases[k], rows[k].shape[1]
        why = "one value per sample" if size < 2 else \
            f"{size} values, no labels fit it and its rows are not probability vectors"
        out.append(OutputRole(name=r, candidate_name=c, shape=list(m.shape(k)),
                              kind=CLASS_SCORES if basis else TENSOR, basis=basis or why))
    return out


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
class ClassScores(Record):
    """``classify`` on one class-score output: the paired figures (agreement; with labels that index into it
    also the top-1 drop and McNemar), accuracy per side and per class (labelled data only)."""

    name: str                # the reference's output
    paired: stats.PairedFigures
    reference: Accuracy | None = None
    candidate: Accuracy | None = None
    classes: ClassAccuracy | None = None


@dataclass(frozen=True)
class ClassifyFigures(Record):
    """The ``classify`` metric: what every output pair is (``roles``), one ``ClassScores`` per class-score
    output in the reference's order, and notes for the report."""

    roles: list[OutputRole]
    outputs: list[ClassScores]
    notes: list[str]

    @property
    def primary(self) -> ClassScores | None:
        """The output headline figures read: the first with accuracy (labels index into it), else the first
        class-score output; None when no output is class scores."""
        labelled = [o for o in self.outputs if o.reference is not None]
        return next(iter(labelled or self.outputs), None)


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
    """Top-k figures on every output pair that holds class scores (``roles``), one row per sample."""
    found = roles(m)
    y = m.labels
    if y is not None and len(y) and len(m.pairs) == 1:
        size = m.arrays(0)[0].shape[1]
        if int(np.max(y)) >= size or int(np.min(y)) < 0:
            raise UserInputError(f"labels run from {int(np.min(y))} to {int(np.max(y))} but the models have "
                                 f"{size} outputs; check the evaluation data's classes")
    outputs, notes = [], []
    for k, role in enumerate(found):
        if role.kind != CLASS_SCORES:
            continue
        ref, cand = m.arrays(k)
        y_k = y if labels_fit(ref.shape[1], y) else None
        fig = stats.paired(ref.argmax(1), cand.argmax(1), y_k)
        if y_k is None:
            outputs.append(ClassScores(name=role.name, paired=fig))
        else:
            outputs.append(ClassScores(name=role.name, paired=fig, reference=_accuracy(ref, y_k),
                                       candidate=_accuracy(cand, y_k),
                                       classes=per_class(ref, cand, y_k, m.class_names)))
    if y is not None and outputs and all(o.reference is None for o in outputs):
        notes.append(f"the samples' labels (0 to {int(np.max(y))}) index no class-score output "
                     f"({', '.join(o.name for o in outputs)}): no accuracy figures")
    return ClassifyFigures(roles=found, outputs=outputs, notes=notes)
