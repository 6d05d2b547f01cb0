"""``compare``: a reference (float) model against a candidate (int8) on the same inputs.

Accuracy (with labels), agreement, output error and latency in one report. Inputs are preprocessed once and
fed to both, so differences come from the models, not from the data path.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from edgelite.core.version import __version__
from edgelite.core.errors import UserInputError
from edgelite.core import metrics, stats
from edgelite.runtime import device
from edgelite.core.report import Report, latency_stats

if TYPE_CHECKING:
    from edgelite.calibration.preprocess import PreprocessSpec

# int8 counted as "slower" only past this ratio, so run-to-run noise alone does not raise the flag.
SLOWER_MARGIN = 1.05


class Runner(Protocol):
    """What compare needs of a model: run one float sample, time the model's own compute."""

    last_invoke_s: float
    size_bytes: int

    def run_one(self, sample: np.ndarray) -> list[np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CompareReport(Report):
    kind = "compare"
    schema_version = 2   # 2: 95 % intervals (Wilson; Newcombe for the paired drop) and the exact McNemar p

    reference: dict[str, Any]
    candidate: dict[str, Any]
    samples: int
    labelled: bool
    top1_drop_pts: float | None
    top5_drop_pts: float | None
    agreement: float
    cosine_mean: float
    snr_db: float | None
    max_abs_error: float
    warnings: list[str] = field(default_factory=list)
    classes: dict[str, Any] | None = None   # per-class accuracy and the candidate's confusion (labelled data)
    agreement_ci95: list[float] | None = None      # Wilson, fraction
    top1_drop_ci95: list[float] | None = None      # Newcombe paired, points
    mcnemar_p: float | None = None                 # exact, on float-right/int8-wrong vs the reverse
    discordant: dict[str, int] | None = None       # {"reference_only": b, "candidate_only": c}
    device: dict[str, Any] = field(default_factory=device.fingerprint)
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
              class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-class top-1 accuracy of both models (None for classes with no samples) and the candidate's
    confusion matrix (rows: true class, columns: predicted)."""
    n = ref_out.shape[1]
    y = np.asarray(y, dtype=np.int64)
    support = np.bincount(y, minlength=n)[:n]

    def accuracy(out: np.ndarray) -> list[float | None]:
        hit = np.bincount(y[out.argmax(1) == y], minlength=n)[:n]
        return [round(float(h / s * 100.0), 4) if s else None for h, s in zip(hit, support)]

    names = list(class_names) if class_names is not None and len(class_names) == n else [str(i) for i in range(n)]
    result: dict[str, Any] = {"names": names, "support": support.tolist(),
                              "reference": accuracy(ref_out), "candidate": accuracy(cand_out), "confusion": None}
    if n <= CONFUSION_MAX_CLASSES:
        confusion = np.zeros((n, n), dtype=np.int64)
        np.add.at(confusion, (y, cand_out.argmax(1)), 1)
        result["confusion"] = confusion.tolist()
    return result


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

    n = len(x)
    sides = []
    for runner, out, times in ((reference, ref_out, ref_t), (candidate, cand_out, cand_t)):
        side = dict(runner.describe())
        side["latency_ms"] = latency_stats(times)
        side["latency_samples_ms"] = [round(t * 1e3, 4) for t in times]
        side["top1"] = side["top5"] = side["top1_ci95"] = None
        if y is not None:
            side["top1"] = round(metrics.topk_accuracy_pct(out, y, 1), 4)
            lo, hi = stats.wilson(int(np.sum(out.argmax(1) == y)), n)
            side["top1_ci95"] = [round(lo * 100, 4), round(hi * 100, 4)]
            if out.shape[1] > 5:
                side["top5"] = round(metrics.topk_accuracy_pct(out, y, 5), 4)
        sides.append(side)
    ref_side, cand_side = sides

    warnings = []
    if candidate_is_int8 and cand_side["latency_ms"]["median"] > ref_side["latency_ms"]["median"] * SLOWER_MARGIN:
        ratio = cand_side["latency_ms"]["median"] / ref_side["latency_ms"]["median"]
        warnings.append(int8_slower_message(ratio))

    drop = lambda key: (round(ref_side[key] - cand_side[key], 4)  # noqa: E731
                        if ref_side[key] is not None and cand_side[key] is not None else None)
    fig = stats.paired_figures(ref_out.argmax(1), cand_out.argmax(1), y)
    paired = {k: fig[k] for k in ("agreement_ci95", "top1_drop_ci95", "mcnemar_p", "discordant") if k in fig}
    return CompareReport(
        **paired,
        reference=ref_side, candidate=cand_side, samples=int(len(x)), labelled=y is not None,
        top1_drop_pts=drop("top1"), top5_drop_pts=drop("top5"), warnings=warnings,
        classes=None if y is None else per_class(ref_out, cand_out, y, class_names),
        **output_error(ref_out, cand_out),  # type: ignore[arg-type]
    )


def int8_slower_message(ratio: float) -> str:
    fp = device.fingerprint()
    why = ("this CPU has no int8 dot-product instructions (VNNI/dotprod), so XNNPACK's float kernels win"
           if not device.has_int8_dot_product() else "check threads and XNNPACK settings")
    return (f"int8 is {ratio:.2f}x the float latency on this machine ({fp['arch']}, {fp['cpu_model']}): {why}. "
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
