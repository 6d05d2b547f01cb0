"""``run_check``: for every configured model, get the .tflite (convert it, or take the given one), evaluate it
against its float reference, time it next to the reference and the timing kernel, and judge the budgets.

Only conversion needs TensorFlow, and this package never imports it: the caller hands in a ``SourceConverter``
(the CLI passes the converter's), so a config of ready .tflite files (with .tflite references) runs on a board.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgelite.check import gate
from edgelite.check.baseline import Baseline, BaselineEntry, load_baseline
from edgelite.check.budgets import RULES, TASK_BUDGETS, BudgetRow
from edgelite.check.config import CheckConfig, ModelEntry
from edgelite.core.errors import UserInputError
from edgelite.core.options import ConvertOptions
from edgelite.core.report import Record, Report
from edgelite.core.version import __version__
from edgelite.runtime import device
from edgelite.runtime.compare import CompareReport, compare_on

Log = Callable[[str], None]


class SourceConverter(Protocol):
    """Converts a source model to ``output`` with a config entry's options (``converter.convert.convert_options``)."""

    def __call__(self, source: Path, output: Path, options: ConvertOptions, *, calib: Path | None,
                 labels: Path | None, log: Log) -> None: ...


@dataclass(frozen=True)
class CheckLatency(Record):
    """Interleaved rounds of candidate, timing kernel and (if any) float reference, medians in ms."""

    threads: int
    rounds: int
    candidate_ms: float
    kernel_ms: float
    reference_ms: float | None
    latency_per_kernel: float            # candidate / kernel, the figure the baseline keeps
    noise_pct: float                     # round-to-round spread of that ratio
    int8_over_float: float | None
    samples_ms: dict[str, list[float]]   # per model, every timed invoke
    round_medians_ms: dict[str, list[float]]


@dataclass(frozen=True)
class CheckedModel(Record):
    name: str
    candidate: str
    reference: str | None
    size_bytes: int
    quantized: bool
    reference_size_bytes: int | None
    accuracy: CompareReport | None       # int8 vs float on the model's eval data
    latency: CheckLatency
    baseline: BaselineEntry | None = None   # this model's entry in the baseline, if any
    budgets: list[BudgetRow] = field(default_factory=list)
    passed: bool = True


@dataclass(frozen=True)
class CheckReport(Report):
    kind = "check"
    schema_version = 1

    config: str
    baseline: str
    models: list[CheckedModel]
    passed: bool
    baseline_updated: bool = False
    warnings: list[str] = field(default_factory=list)
    device: device.DeviceInfo = field(default_factory=device.fingerprint)
    edgelite_version: str = __version__

    def rows(self) -> list[tuple[str, BudgetRow]]:
        return [(m.name, row) for m in self.models for row in m.budgets]

    def counts(self) -> dict[str, int]:
        return gate.count_statuses([row for m in self.models for row in m.budgets])

    def summary(self) -> str:
        """The verdict line: "PASS: n passed, n failed, n skipped[, n re-recorded]" (FAIL when a budget failed)."""
        counts = self.counts()
        return (f"{'PASS' if self.passed else 'FAIL'}: {counts['pass']} passed, {counts['fail']} failed, "
                f"{counts['skip']} skipped" + (f", {counts['info']} re-recorded" if counts["info"] else ""))

    def failure(self) -> str | None:
        """The failed budgets in one line (the CLI exits 1 with it), or None when the check passed."""
        if self.passed:
            return None
        failed = [f"{name}/{row.budget} ({row.message})" for name, row in self.rows() if row.status == gate.FAIL]
        return f"{len(failed)} budget(s) failed: {'; '.join(failed)}"


def _convert(entry: ModelEntry, source: Path, output: Path, mode: str, log: Log,
             convert_source: SourceConverter | None) -> Path:
    if convert_source is None:
        raise UserInputError(f"[{entry.name}] {source}: converting a source model needs the converter; give a "
                             ".tflite (and a .tflite reference) or run `edgelite check`, which has it")
    float_ref = mode == "float32"
    options = entry.convert.as_float_reference() if float_ref else entry.convert
    log(f"[{entry.name}] converting {source} ({mode}) -> {output}")
    convert_source(source, output, options, calib=None if float_ref else entry.calib, labels=entry.labels,
                   log=lambda line: log(f"[{entry.name}]   {line}"))
    return output


def _paths(entry: ModelEntry, work_dir: Path, log: Log, convert_source: SourceConverter | None
           ) -> tuple[Path, Path | None]:
    """(candidate .tflite, float reference .tflite or None)."""
    folder = work_dir / entry.name
    if entry.tflite is not None:
        candidate = entry.tflite
    else:
        assert entry.source is not None
        folder.mkdir(parents=True, exist_ok=True)
        mode = entry.convert.mode
        assert mode is not None   # load_config resolves it from the target
        candidate = _convert(entry, entry.source, folder / f"{entry.name}_{mode}.tflite", mode, log,
                             convert_source)
    ref_source = entry.reference or entry.source
    if ref_source is None:
        return candidate, None
    if ref_source.suffix == ".tflite":
        return candidate, ref_source
    folder.mkdir(parents=True, exist_ok=True)
    return candidate, _convert(entry, ref_source, folder / f"{entry.name}_float32.tflite", "float32", log,
                                    convert_source)


def _measure(entry: ModelEntry, cfg: CheckConfig, log: Log, probe_cache: bool,
             convert_source: SourceConverter | None) -> CheckedModel:
    from edgelite.runtime import latency as lat
    from edgelite.runtime.model import Model

    candidate, reference = _paths(entry, cfg.work_dir, log, convert_source)

    def load(path: Path) -> Model:
        return Model.load(path, probe=True, backend=cfg.latency.backend, xnnpack=cfg.latency.xnnpack,
                          threads=cfg.latency.threads, probe_cache=probe_cache)

    cand = load(candidate)
    ref = load(reference) if reference is not None else None
    if ref is not None and cand.spec is None and ref.spec is not None:
        cand.with_spec(ref.spec)
    accuracy = None
    if entry.eval is not None and ref is not None:
        log(f"[{entry.name}] evaluating on {entry.eval}")
        report = compare_on(ref, cand, entry.eval, samples=entry.eval_samples, seed=entry.seed,
                            task=entry.task_request())
        if entry.budgets.max_top1_drop_pts is not None and not report.labelled:
            raise UserInputError(f"{cfg.path}: models[name={entry.name!r}].eval: {entry.eval} has no labels, so "
                                 "max_top1_drop_pts cannot be checked; use SRC/<class>/ folders or .npz with y, "
                                 "or budget min_agreement instead")
        _class_budgets_fit(entry, cfg, report)
        _task_budgets_fit(entry, cfg, report)
        accuracy = report
    log(f"[{entry.name}] timing: {cfg.latency.rounds} interleaved rounds, {cfg.latency.threads} thread(s)")
    kernel = lat.load_kernel(backend=cfg.latency.backend, xnnpack=cfg.latency.xnnpack, threads=cfg.latency.threads,
                             probe_cache=probe_cache)
    models = {"candidate": cand, lat.KERNEL: kernel}
    if ref is not None:
        models["reference"] = ref
    t = lat.paired_timing(models, rounds=cfg.latency.rounds, block_ms=cfg.latency.block_ms)
    latency = CheckLatency(
        threads=cfg.latency.threads, rounds=cfg.latency.rounds,
        candidate_ms=round(t.median_ms("candidate"), 4), kernel_ms=round(t.median_ms(lat.KERNEL), 4),
        reference_ms=round(t.median_ms("reference"), 4) if ref is not None else None,
        latency_per_kernel=round(t.ratio("candidate", lat.KERNEL), 6),
        noise_pct=round(t.ratio_spread("candidate", lat.KERNEL) * 100, 3),
        int8_over_float=round(t.ratio("candidate", "reference"), 4) if ref is not None else None,
        samples_ms=t.samples_ms, round_medians_ms=t.round_medians_ms)
    return CheckedModel(name=entry.name, candidate=str(candidate),
                        reference=None if reference is None else str(reference), size_bytes=cand.size_bytes,
                        quantized=cand.quantized, reference_size_bytes=None if ref is None else ref.size_bytes,
                        accuracy=accuracy, latency=latency)


def _class_budgets_fit(entry: ModelEntry, cfg: CheckConfig, report: CompareReport) -> None:
    """Top-1 budgets need an output of class scores; a model without one (landmarks, boxes, embeddings) is
    refused in one line instead of being judged on an argmax over coordinates."""
    used = [k for k in ("max_top1_drop_pts", "min_agreement") if getattr(entry.budgets, k) is not None]
    if not used or report.agreement is not None:
        return
    outputs = ", ".join(f"{o.name} ({o.kind}: {o.basis})" for o in report.outputs or ())
    raise UserInputError(f"{cfg.path}: models[name={entry.name!r}].budgets.{used[0]}: {report.candidate.path} has "
                         f"no class-score output ({outputs}), so top-1 budgets cannot be checked; remove "
                         f"{' and '.join(used)} for this model (check has no per-output error budget yet; "
                         "`edgelite compare` reports every output's SNR, cosine and max error)")


def _task_budgets_fit(entry: ModelEntry, cfg: CheckConfig, report: CompareReport) -> None:
    """A task budget whose figure the model's task does not measure is refused in one line naming the budget
    and the task, instead of being skipped as "not measured" (the config alone cannot always tell the task)."""
    where = f"{cfg.path}: models[name={entry.name!r}].budgets"
    task = report.task
    for name in entry.budgets.task_budgets:
        rule = RULES[name]
        if task is None:
            raise UserInputError(f"{where}.{name}: needs {rule.needs()}; {report.candidate.path} was judged by no "
                                 "task; name it with task = ... (and decoder = ... for a detector)")
        if not rule.measures(task.kind):
            raise UserInputError(f"{where}.{name}: needs {rule.needs()}; this model's task is {task.kind} "
                                 f"({task.basis})")
        if rule.metric is not None and rule.metric not in task.metrics:
            raise UserInputError(f"{where}.{name}: needs {rule.needs()}; this {task.kind} verdict has no "
                                 f"{rule.metric} (it measured {', '.join(task.metrics)})")


def _task_figures(m: CheckedModel) -> dict[str, float] | None:
    """The task budgets' figures the baseline keeps (each that was measured), keyed by budget."""
    out = {}
    for name in TASK_BUDGETS:
        value, _ = RULES[name].measure(m, None)
        if value is not None:
            out[name] = round(float(value), 6)
    return out or None


def _baseline_entry(m: CheckedModel) -> BaselineEntry:
    acc, latency = m.accuracy, m.latency
    return BaselineEntry(
        size_bytes=m.size_bytes, latency_ms=latency.candidate_ms, kernel_ms=latency.kernel_ms,
        latency_per_kernel=latency.latency_per_kernel, int8_over_float=latency.int8_over_float,
        top1=None if acc is None else acc.candidate.top1, top1_float=None if acc is None else acc.reference.top1,
        agreement=None if acc is None else acc.agreement, task=_task_figures(m))


def _usable_baseline(cfg: CheckConfig, update: bool) -> Baseline | None:
    """The baseline to compare with; None when there is none and nothing needs one."""
    from edgelite.runtime.latency import kernel_sha256

    needs = any(e.budgets.needs_baseline for e in cfg.models)
    if not cfg.baseline.exists() and (update or not needs):
        return None
    base = load_baseline(cfg.baseline)
    if any(e.budgets.max_latency_growth_pct is not None for e in cfg.models) and not update:
        if base.kernel_sha256 != kernel_sha256():
            raise UserInputError(f"{cfg.baseline}: kernel_sha256: recorded against another timing kernel (another "
                                 "edgelite version), so its latency is not comparable; re-record it with "
                                 "`edgelite check --update-baseline`")
        if base.threads != cfg.latency.threads:
            raise UserInputError(f"{cfg.baseline}: threads: recorded with {base.threads} thread(s), the config "
                                 f"times with {cfg.latency.threads}; re-record it with "
                                 "`edgelite check --update-baseline`")
    return base


def _sample_warnings(entry: ModelEntry, acc: CompareReport | None) -> list[str]:
    """Budgets tighter than the 95 % interval of what they are checked on (core/stats.py)."""
    from edgelite.core.stats import too_few_samples
    from edgelite.runtime.tasks.base import info

    if not acc:
        return []
    out = []
    b = entry.budgets
    if b.max_top1_drop_pts is not None and acc.top1_drop_ci95:
        lo, hi = acc.top1_drop_ci95
        out.append(too_few_samples("the top-1 drop", b.max_top1_drop_pts, (lo, hi), acc.samples))
    if b.min_agreement is not None and acc.agreement_ci95:
        lo, hi = acc.agreement_ci95
        out.append(too_few_samples("agreement", (1 - b.min_agreement) * 100, (lo * 100, hi * 100), acc.samples))
    task = acc.task
    rate = task is not None and info(task.headline).rate   # too_few_samples speaks in points
    if b.max_metric_drop is not None and task is not None and rate and (ci := task.loss_ci95()) is not None:
        out.append(too_few_samples(f"the {task.headline} loss", b.max_metric_drop, (ci[0], ci[1]), acc.samples))
    return [w for w in out if w]


def run_check(cfg: CheckConfig, *, update_baseline: bool = False, log: Log = lambda _: None,
              probe_cache: bool = True, convert_source: SourceConverter | None = None) -> CheckReport:
    """Measure every model and judge its budgets; ``convert_source`` converts the entries given as a source
    model (None: every entry must be a .tflite). With ``update_baseline``, rewrite the baseline (atomically)
    when every budget that does not depend on the baseline passes. ``probe_cache=False`` probes every model
    file in a child process even when it probed clean before."""
    from edgelite.runtime.latency import kernel_sha256

    base = _usable_baseline(cfg, update_baseline)
    warnings: list[str] = []
    if base is not None and base.device.get("cpu_model") not in (None, device.fingerprint().cpu_model):
        warnings.append(f"the baseline was recorded on {base.device.get('cpu_model')!r}, this is "
                        f"{device.fingerprint().cpu_model!r}: latency is compared per timing kernel, "
                        "which tracks CPU speed but not every difference between CPUs")
    results = []
    for entry in cfg.models:
        m = _measure(entry, cfg, log, probe_cache, convert_source)
        before = base.models.get(entry.name) if base is not None else None
        rows = gate.judge(entry.budgets, m, before, model=entry.name, updating=update_baseline)
        m = dataclasses.replace(m, baseline=before, budgets=rows, passed=all(r.status != gate.FAIL for r in rows))
        warnings.extend(f"{entry.name}: {w}" for w in _sample_warnings(entry, m.accuracy))
        results.append(m)
        log(f"[{entry.name}] {'pass' if m.passed else 'FAIL'}")
    passed = all(m.passed for m in results)
    updated = False
    if update_baseline:
        if passed:
            new = Baseline(models={m.name: _baseline_entry(m) for m in results}, kernel_sha256=kernel_sha256(),
                           threads=cfg.latency.threads, device=device.fingerprint().to_dict(),
                           updated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
            new.save(cfg.baseline)
            updated = True
            stale = sorted(set(base.models) - set(new.models)) if base is not None else []
            if stale:
                warnings.append(f"dropped baseline entries of models no longer in the config: {', '.join(stale)}")
        else:
            warnings.append(f"baseline not updated: a budget failed, and {cfg.baseline} keeps its last good figures")
    return CheckReport(config=str(cfg.path), baseline=str(cfg.baseline), models=results, passed=passed,
                       baseline_updated=updated, warnings=warnings)
