"""``compare``: a reference (float) model against a candidate (int8) on the same inputs.

Accuracy (with labels), agreement, output error and latency in one report. Inputs are preprocessed once and
fed to both, so differences come from the models, not from the data path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgelite.core import metrics, stats
from edgelite.core.errors import UserInputError
from edgelite.core.report import LatencyStats, Record, Report, latency_stats
from edgelite.core.version import __version__
from edgelite.runtime import device
from edgelite.runtime.tensors import TensorSummary

if TYPE_CHECKING:
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.runtime.metadata import MetadataSummary  # imports Pillow: not at `import edgelite.runtime`

# int8 counted as "slower" only past this ratio, so run-to-run noise alone does not raise the flag.
SLOWER_MARGIN = 1.05


class Runner(Protocol):
    """What compare needs of a model: run one float sample, time the model's own compute."""

    last_invoke_s: float
    size_bytes: int

    def run_one(self, sample: np.ndarray) -> list[np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...


# Keys only an interpreter-run (.tflite) side has; a TensorFlow reference leaves them out of the JSON.
_TFLITE_ONLY = ("threads", "xnnpack", "delegates", "inputs", "outputs", "metadata")


@dataclass(frozen=True)
class CompareSide(Record):
    """One model of a comparison: what it is (``Runner.describe()``), its latency and its accuracy."""

    lazy_types = ("edgelite.runtime.metadata",)

    path: str
    kind: str                               # "tflite", or the source kind of a TensorFlow reference
    size_bytes: int
    backend: str
    backend_version: str
    latency_ms: LatencyStats
    latency_samples_ms: list[float]
    top1: float | None = None               # % with labels
    top5: float | None = None               # % with labels and more than 5 classes
    top1_ci95: list[float] | None = None    # Wilson, %
    threads: int | None = None
    xnnpack: bool | None = None
    delegates: list[str] | None = None
    inputs: list[TensorSummary] | None = None
    outputs: list[TensorSummary] | None = None
    metadata: MetadataSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.kind != "tflite":
            for key in _TFLITE_ONLY:
                out.pop(key)
        # key order as before: what the model is, then latency, then accuracy
        first = ("path", "kind", "size_bytes", "backend", "backend_version", *_TFLITE_ONLY)
        return {**{k: out[k] for k in first if k in out}, **{k: v for k, v in out.items() if k not in first}}


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
class CompareReport(Report):
    kind = "compare"
    schema_version = 2   # 2: 95 % intervals (Wilson; Newcombe for the paired drop) and the exact McNemar p

    reference: CompareSide
    candidate: CompareSide
    samples: int
    labelled: bool
    top1_drop_pts: float | None
    top5_drop_pts: float | None
    agreement: float
    cosine_mean: float
    snr_db: float | None
    max_abs_error: float
    warnings: list[str] = field(default_factory=list)
    classes: ClassAccuracy | None = None    # labelled data only
    agreement_ci95: list[float] | None = None      # Wilson, fraction
    top1_drop_ci95: list[float] | None = None      # Newcombe paired, points
    mcnemar_p: float | None = None                 # exact, on float-right/int8-wrong vs the reverse
    discordant: dict[str, int] | None = None       # {"reference_only": b, "candidate_only": c}
    device: device.DeviceInfo = field(default_factory=device.fingerprint)
    edgelite_version: str = __version__


def _run_all(runner: Runner, x: np.ndarray, label: str) -> tuple[np.ndarray, list[float]]:
    from tqdm import tqdm  # imported here: it costs ~45 ms and only evaluation loops show progress

    outs, times = [], []
    for sample in tqdm(x, desc=f"eval {label}", unit="img", leave=False, disable=None):
        outs.append(runner.run_one(sample)[0].reshape(-1))
        times.append(runner.last_invoke_s)
    return np.stack(outs), times


def output_error(ref: np.ndarray, cand: np.ndarray) -> dict[str, float | None]:
    """Agreement (argmax), mean cosine similarity, SNR in dB (None when identical), max abs error."""
    noise = float(np.sum((ref - cand) ** 2, dtype=np.float64))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    snr = metrics.snr_db(signal, noise)
    return {
        "agreement": round(metrics.agreement(ref, cand), 6),
        "cosine_mean": round(float(np.mean(metrics.cosine_rows(ref, cand))), 6),
        "snr_db": None if snr is None else round(snr, 3),
        "max_abs_error": round(float(np.max(np.abs(ref - cand))), 6),
    }


# Past this many classes the confusion matrix is left out of reports (1000 classes would be a million cells).
CONFUSION_MAX_CLASSES = 50


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


def compare(reference: Runner, candidate: Runner, x: np.ndarray, y: np.ndarray | None = None,
            *, candidate_is_int8: bool | None = None, class_names: Sequence[str] | None = None) -> CompareReport:
    """Run both models on float inputs ``x`` (N, ...) and labels ``y`` (N,) if known."""
    if len(x) == 0:
        raise UserInputError("no evaluation samples to compare on")
    ref_out, ref_t = _run_all(reference, x, "reference")
    cand_out, cand_t = _run_all(candidate, x, "candidate")
    if ref_out.shape != cand_out.shape:
        raise UserInputError(f"the models' outputs differ in shape: {ref_out.shape[1:]} vs {cand_out.shape[1:]}")
    if y is not None and len(y) and (int(np.max(y)) >= ref_out.shape[1] or int(np.min(y)) < 0):
        raise UserInputError(f"labels run from {int(np.min(y))} to {int(np.max(y))} but the models have "
                             f"{ref_out.shape[1]} outputs; check the evaluation data's classes")

    ref_side, cand_side = (_side(runner, out, times, y) for runner, out, times in
                           ((reference, ref_out, ref_t), (candidate, cand_out, cand_t)))
    warnings = []
    if candidate_is_int8 and cand_side.latency_ms.median > ref_side.latency_ms.median * SLOWER_MARGIN:
        warnings.append(int8_slower_message(cand_side.latency_ms.median / ref_side.latency_ms.median))

    def drop(ref: float | None, cand: float | None) -> float | None:
        return round(ref - cand, 4) if ref is not None and cand is not None else None

    fig = stats.paired_figures(ref_out.argmax(1), cand_out.argmax(1), y)
    paired = {k: fig[k] for k in ("agreement_ci95", "top1_drop_ci95", "mcnemar_p", "discordant") if k in fig}
    return CompareReport(
        **paired,
        reference=ref_side, candidate=cand_side, samples=int(len(x)), labelled=y is not None,
        top1_drop_pts=drop(ref_side.top1, cand_side.top1), top5_drop_pts=drop(ref_side.top5, cand_side.top5),
        warnings=warnings, classes=None if y is None else per_class(ref_out, cand_out, y, class_names),
        **output_error(ref_out, cand_out),  # type: ignore[arg-type]
    )


def _side(runner: Runner, out: np.ndarray, times: list[float], y: np.ndarray | None) -> CompareSide:
    top1 = top5 = ci = None
    if y is not None:
        top1 = round(metrics.topk_accuracy_pct(out, y, 1), 4)
        lo, hi = stats.wilson(int(np.sum(out.argmax(1) == y)), len(out))
        ci = [round(lo * 100, 4), round(hi * 100, 4)]
        if out.shape[1] > 5:
            top5 = round(metrics.topk_accuracy_pct(out, y, 5), 4)
    return CompareSide(**runner.describe(), latency_ms=latency_stats(times),
                       latency_samples_ms=[round(t * 1e3, 4) for t in times], top1=top1, top5=top5, top1_ci95=ci)


def int8_slower_message(ratio: float) -> str:
    fp = device.fingerprint()
    why = ("this CPU has no int8 dot-product instructions (VNNI/dotprod), so XNNPACK's float kernels win"
           if not device.has_int8_dot_product() else "check threads and XNNPACK settings")
    return (f"int8 is {ratio:.2f}x the float latency on this machine ({fp.arch}, {fp.cpu_model}): {why}. "
            "On Arm cores with dot-product instructions (Pi 5, recent phones) int8 is usually faster; "
            "measure on the target board.")


def compare_on(reference: Any, candidate: Any, data: str | os.PathLike[str], *, samples: int | None = None,
               seed: int = 0, spec: PreprocessSpec | None = None) -> CompareReport:
    """Compare ``reference`` (a ``Model`` or the converter's ``TFReference``) and ``candidate`` (a ``Model``) on
    ``data`` (image folder, .npy or .npz): what ``compare`` and ``check`` both run.

    ``spec`` defaults to the candidate's embedded preprocessing; ``samples`` takes a seeded subset.
    """
    from edgelite.calibration import collect, open_source

    ref_shape = tuple(reference.sample_shape)
    if ref_shape != tuple(candidate.sample_shape):
        raise UserInputError(f"{reference.path} takes {ref_shape} but "
                             f"{candidate.path} takes {tuple(candidate.sample_shape)}; compare two versions of "
                             "the same model")
    source = open_source(data, class_names=candidate.labels)
    got = collect(source, spec if spec is not None else candidate.spec, candidate.sample_shape, samples, seed,
                  desc="eval data", shuffle=samples is not None)
    names = candidate.labels or source.class_names
    report = compare(reference, candidate, got.x, got.y, candidate_is_int8=candidate.quantized, class_names=names)
    if got.skipped:
        report = dataclasses.replace(report, warnings=report.warnings + [
            f"{len(got.skipped)} unreadable image(s) skipped in {data}, e.g. {got.skipped[0]}"])
    return report
