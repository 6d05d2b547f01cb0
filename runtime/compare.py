"""``compare``: a reference (float) model against a candidate (int8) on the same inputs.

Accuracy (with labels), agreement, output error and latency in one report. Inputs are preprocessed once and
fed to both, so differences come from the models, not from the data path. The work is split as in
``runtime.runs`` and ``runtime.comparisons``: each model is run into a ``Run``, then ``compare_runs`` (pure)
turns two runs, live or saved, into the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.report import OMIT_NONE, LatencyStats, Record, Report, latency_stats
from edgelite.core.stats import PairedFigures
from edgelite.core.version import __version__
from edgelite.runtime import device
from edgelite.runtime.comparisons import (
    CLASS_SCORES,
    Accuracy,
    ClassifyFigures,
    ClassScores,
    OutputRole,
    TensorErrorFigures,
    match,
    metric,
)
from edgelite.runtime.comparisons import CONFUSION_MAX_CLASSES as CONFUSION_MAX_CLASSES
from edgelite.runtime.comparisons import ClassAccuracy as ClassAccuracy
from edgelite.runtime.comparisons import OutputError as OutputError
from edgelite.runtime.comparisons import output_error as output_error
from edgelite.runtime.comparisons import per_class as per_class
from edgelite.runtime.runs import Run, run_samples, sample_ids
from edgelite.runtime.runs import Runner as Runner
from edgelite.runtime.tensors import TensorSummary, io_line

if TYPE_CHECKING:
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.runtime.metadata import MetadataSummary  # imports Pillow: not at `import edgelite.runtime`
    from edgelite.runtime.op_profile import OpProfile
    from edgelite.runtime.tasks.base import TaskFigures
    from edgelite.runtime.tasks.spec import TaskRequest, TaskSpec

# int8 counted as "slower" only past this ratio, so run-to-run noise alone does not raise the flag.
SLOWER_MARGIN = 1.05
_INT8_DOT = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}   # VNNI on x86, dotprod on Arm


# Keys only an interpreter-run (.tflite) side has; a TensorFlow reference leaves them out of the JSON.
_TFLITE_ONLY = ("threads", "xnnpack", "delegates", "inputs", "outputs", "metadata")


@dataclass(frozen=True)
class CompareSide(Record):
    """One model of a comparison: what it is (``Runner.describe()``), its latency and its accuracy (on the
    primary class-score output)."""

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

    def io(self) -> str | None:
        """The file's I/O types (``int8``, or per tensor where they differ: ``int8 in / out: cls int8, box
        float32``); None for a side that is not a .tflite file."""
        if self.inputs is None or self.outputs is None:
            return None
        return io_line(self.inputs, self.outputs)

    def output_dtype(self, name: str) -> str | None:
        """The type of the output tensor ``name`` (None when the side does not list it)."""
        return next((t.dtype for t in self.outputs or () if t.name == name), None)


@dataclass(frozen=True)
class GroupError(Record):
    """The error of one channel group of a mixed-range output (``runtime.mixed_range``): what one per-tensor int8
    scale costs the narrow channels."""

    channels: str                           # "channels 4–84"
    low: float                              # the float model's measured range of the group
    high: float
    snr_db: float | None                    # None: identical
    max_abs_error: float


@dataclass(frozen=True)
class OutputFigures(Record):
    """One output pair of the report: what it is (class scores or a tensor, and why), its error figures, and
    for class scores the paired figures (agreement with its 95 % interval; with labels that index into it the
    top-1 drop and McNemar) and each side's accuracy."""

    name: str                               # the reference's output
    candidate_name: str                     # the candidate's (differs when matched by position or shape)
    shape: list[int]                        # one sample's
    kind: str                               # "class scores" or "tensor"
    basis: str                              # why (a guess says so)
    cosine_mean: float
    snr_db: float | None                    # None: identical
    max_abs_error: float
    paired: PairedFigures | None = None     # class scores only
    reference: Accuracy | None = None       # class scores on labelled samples only
    candidate: Accuracy | None = None
    groups: list[GroupError] | None = field(default=None, metadata=OMIT_NONE)   # mixed-range outputs only

    @property
    def agreement(self) -> float | None:
        return None if self.paired is None else self.paired.agreement

    @property
    def values(self) -> int:
        """Values per sample (1 for a score or presence output: its cosine is only the sign, ±1)."""
        return int(np.prod(self.shape)) if self.shape else 1


NO_CLASS_OUTPUT = "no class-score output; per-output error only"


@dataclass(frozen=True)
class CompareReport(Report):
    """A comparison of two models (or two saved runs) on the same samples. The headline figures (agreement,
    top-1, drop, McNemar, per-class) are the primary class-score output's (``primary_output``); error figures
    at the top level are that output's too (the first output's when none is class scores); ``outputs`` has
    every output pair. A model with no class-score output has ``agreement`` None."""

    kind = "compare"
    schema_version = 2   # 2: 95 % intervals (Wilson; Newcombe for the paired drop) and the exact McNemar p
    lazy_types = ("edgelite.runtime.tasks.base",)

    reference: CompareSide
    candidate: CompareSide
    samples: int
    labelled: bool
    top1_drop_pts: float | None
    top5_drop_pts: float | None
    agreement: float | None                 # None: no class-score output
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
    output_errors: list[OutputError] | None = None   # every output pair's error figures
    outputs: list[OutputFigures] | None = None       # every output pair, in the reference's order
    primary_output: str | None = None                # the output the headline reads (None: no class scores)
    matching: str | None = None                      # how outputs were paired: name, position or shape
    notes: list[str] = field(default_factory=list)   # how outputs were paired and judged
    task: TaskFigures | None = field(default=None, metadata=OMIT_NONE)   # the verdict in the model's own task

    def verdict(self) -> str:
        """The headline in one line: the task's headline metric (a task other than classify and regress), else agreement
        (and the top-1 drop with labels) on the primary class-score output, or that there is none."""
        if self.task is not None and self.task.kind not in ("classify", "regress"):
            return self.task.headline_line()
        if self.agreement is None:
            return NO_CLASS_OUTPUT
        where = f" on {self.primary_output}" if self.outputs and len(self.outputs) > 1 else ""
        drop = "" if self.top1_drop_pts is None else f", top-1 drop {self.top1_drop_pts:+.2f} pts"
        return f"agreement {self.agreement * 100:.2f} %{drop}{where}"

    def class_outputs(self) -> list[OutputFigures]:
        """The output pairs judged class scores."""
        return [o for o in self.outputs or () if o.kind == CLASS_SCORES]


def compare(reference: Runner, candidate: Runner, x: np.ndarray, y: np.ndarray | None = None,
            *, candidate_is_int8: bool | None = None, class_names: Sequence[str] | None = None,
            task: TaskRequest | TaskSpec | None = None) -> CompareReport:
    """Run both models on float inputs ``x`` (N, ...) and labels ``y`` (N,) if known."""
    if len(x) == 0:
        raise UserInputError("no evaluation samples to compare on")
    ref_run = run_samples(reference, x, labels=y, class_names=class_names, progress="eval reference")
    cand_run = run_samples(candidate, x, labels=y, class_names=class_names, progress="eval candidate")
    # bool(): here the caller says whether the candidate is int8; None means no latency warning, as before
    return compare_runs(ref_run, cand_run, candidate_is_int8=bool(candidate_is_int8), class_names=class_names,
                        op_profile=_profiler(candidate), task=task)


def compare_runs(reference: Run, candidate: Run, *, candidate_is_int8: bool | None = None,
                 class_names: Sequence[str] | None = None,
                 op_profile: Callable[[], OpProfile | None] | None = None,
                 task: TaskRequest | TaskSpec | None = None, crop_fraction: float = 1.0,
                 subset: bool = False) -> CompareReport:
    """The report of two runs over the same samples (live or loaded from files): the ``classify`` and
    ``tensor error`` metrics on every output pair, latency from the recorded per-invoke times.
    ``candidate_is_int8`` defaults to what the candidate run recorded; ``op_profile`` (called only when int8
    is slower) profiles the live candidate for the warning. ``task`` (a request, or a spec already resolved)
    chooses the task the verdict is in; None: the default (what the file records, else the guess)."""
    m = match(reference, candidate)
    if class_names is not None:
        m = dataclasses.replace(m, class_names=tuple(class_names))
    cls = metric("classify")(m)
    err = metric("tensor error")(m)
    assert isinstance(cls, ClassifyFigures) and isinstance(err, TensorErrorFigures)
    primary = cls.primary
    ref_side = _side(reference, primary.reference if primary else None)
    cand_side = _side(candidate, primary.candidate if primary else None)
    if candidate_is_int8 is None:
        candidate_is_int8 = candidate.quantized
    ref_dev, cand_dev = _device(reference), _device(candidate)
    warnings = []
    if ref_dev != cand_dev:
        warnings.append(f"the runs were recorded on different machines ({ref_dev.arch}, {ref_dev.cpu_model} vs "
                        f"{cand_dev.arch}, {cand_dev.cpu_model}): the latency ratio compares machines, not models")
    elif candidate_is_int8 and cand_side.latency_ms.median > ref_side.latency_ms.median * SLOWER_MARGIN:
        warnings.append(int8_slower_message(cand_side.latency_ms.median / ref_side.latency_ms.median, cand_dev,
                                            op_profile() if op_profile is not None else None))

    def drop(ref: float | None, cand: float | None) -> float | None:
        return round(ref - cand, 4) if ref is not None and cand is not None else None

    by_name = {c.name: c for c in cls.outputs}
    outputs = [_output(role, e, by_name.get(role.name)) for role, e in zip(cls.roles, err.outputs, strict=True)]
    outputs, mixed_notes = _mixed_ranges(m, outputs)
    # a guess is said where it is made; what decided the other outputs is in their `basis`
    notes = [*m.notes, *(f"output {o.name}: class scores, {o.basis}" for o in outputs
                         if o.kind == CLASS_SCORES and o.basis.startswith("guessed")), *cls.notes, *mixed_notes]
    headline = next((e for e in err.outputs if primary is not None and e.name == primary.name), err.outputs[0])
    p = primary.paired if primary is not None else None
    from edgelite.runtime.tasks.runs import judge_runs

    task_figs = judge_runs(task, m, None if primary is None else primary.name, crop_fraction=crop_fraction,
                           subset=subset)
    return CompareReport(
        reference=ref_side, candidate=cand_side, samples=reference.samples, labelled=m.labels is not None,
        top1_drop_pts=drop(ref_side.top1, cand_side.top1), top5_drop_pts=drop(ref_side.top5, cand_side.top5),
        agreement=None if p is None else round(p.agreement, 6), cosine_mean=headline.cosine_mean,
        snr_db=headline.snr_db, max_abs_error=headline.max_abs_error, warnings=warnings,
        classes=primary.classes if primary else None, agreement_ci95=None if p is None else p.agreement_ci95,
        top1_drop_ci95=None if p is None else p.top1_drop_ci95, mcnemar_p=None if p is None else p.mcnemar_p,
        discordant=None if p is None else p.discordant, output_errors=err.outputs, device=cand_dev,
        outputs=outputs, primary_output=None if primary is None else primary.name, matching=m.matching,
        notes=notes, task=task_figs)


def _mixed_ranges(m: Any, outputs: list[OutputFigures]) -> tuple[list[OutputFigures], list[str]]:
    """Outputs whose channel groups differ in range by ≥ 100× get each group's error (and a note): the narrow
    group shares one per-tensor int8 scale with the wide one, and the output's overall SNR hides its loss."""
    from edgelite.runtime.mixed_range import channel_ranges, group_errors, mixed_groups

    out, notes = [], []
    for o, (ref_name, cand_name) in zip(outputs, m.pairs, strict=True):
        ref, cand = m.reference.outputs[ref_name], m.candidate.outputs[cand_name]
        mixed = mixed_groups(channel_ranges(ref)) if ref.dtype.kind == "f" and ref.ndim >= 2 else None
        if mixed is None:
            out.append(o)
            continue
        groups = [GroupError(label, round(g.lo, 6), round(g.hi, 6), None if snr is None else round(snr, 3),
                             round(err, 6))
                  for (label, snr, err), g in zip(group_errors(ref, cand, mixed), mixed.groups, strict=True)]
        out.append(dataclasses.replace(o, groups=groups))
        notes.append(f"output {ref_name} mixes ranges {mixed.ratio:.0f}x apart under one int8 scale: " + "; ".join(
            f"{g.channels} ({g.low:.3g}…{g.high:.3g}) SNR {'identical' if g.snr_db is None else f'{g.snr_db:.1f} dB'}"
            for g in groups))
    return out, notes


def _output(role: OutputRole, err: OutputError, cls: ClassScores | None) -> OutputFigures:
    """One output pair's figures: its role, its error, its class-score figures if it has them."""
    return OutputFigures(name=role.name, candidate_name=role.candidate_name, shape=role.shape, kind=role.kind,
                         basis=role.basis, cosine_mean=err.cosine_mean, snr_db=err.snr_db,
                         max_abs_error=err.max_abs_error, paired=None if cls is None else cls.paired,
                         reference=None if cls is None else cls.reference,
                         candidate=None if cls is None else cls.candidate)


def _device(run: Run) -> device.DeviceInfo:
    """The machine a run was recorded on (this one for runs that do not say)."""
    if run.device is None:
        return device.fingerprint()
    try:
        return device.DeviceInfo.from_dict(run.device)
    except UserInputError as exc:
        raise UserInputError(f"{run.origin or run.path}: its device record is malformed ({exc}); re-create the "
                             "run with `edgelite run MODEL INPUT --save-run FILE.npz`") from None


def _side(run: Run, acc: Accuracy | None) -> CompareSide:
    """A report side from a run's description and times (a saved run's description is plain JSON)."""
    times = [float(t) for t in run.times_s]
    data = {**run.description, "latency_ms": latency_stats(times).to_dict(),
            "latency_samples_ms": [round(t * 1e3, 4) for t in times]}
    if acc is not None:
        data.update(top1=acc.top1, top5=acc.top5, top1_ci95=acc.top1_ci95)
    try:
        return CompareSide.from_dict(data)
    except UserInputError as exc:
        raise UserInputError(f"{run.origin or run.path}: its description does not fit a report ({exc}); re-create "
                             "the run with `edgelite run MODEL INPUT --save-run FILE.npz`") from None


def int8_slower_message(ratio: float, where: device.DeviceInfo | None = None,
                        profile: OpProfile | None = None) -> str:
    """The int8-is-slower warning for this machine, or for ``where`` (the machine a saved run was made on).
    With the int8 model's ``profile`` (measured on this machine) it names the op types that take the time and
    says whether XNNPACK took them, with the fix for those it did not."""
    from edgelite.runtime.op_profile import slow_ops_clause

    fp = where or device.fingerprint()
    # the flags device.has_int8_dot_product() reads, applied to the recorded machine's
    dot = device.has_int8_dot_product() if where is None else bool(set(fp.simd) & _INT8_DOT)
    ops = slow_ops_clause(profile) if profile is not None else None
    left = profile is not None and profile.xnnpack and bool(profile.not_delegated())
    why = [ops] if ops else []
    if not dot:
        why.append(("also, " if left else "") + "this CPU has no int8 dot-product instructions (VNNI/dotprod), "
                   f"so XNNPACK's float kernels win{' on the ops it takes' if left else ''}")
    elif not left:
        why.append("check threads and XNNPACK settings")
    machine = "this machine" if where is None or where == device.fingerprint() else "the machine of the runs"
    board = ("XNNPACK leaves the same ops on Arm boards, so the fix holds there too; measure on the target board."
             if left else "On Arm cores with dot-product instructions (Pi 5, recent phones) int8 is usually faster; "
             "measure on the target board.")
    return f"int8 is {ratio:.2f}x the float latency on {machine} ({fp.arch}, {fp.cpu_model}): {'; '.join(why)}. {board}"


def _profiler(candidate: Any) -> Callable[[], OpProfile | None] | None:
    """The lazy op profile of a live candidate (a ``Model``); None for anything else."""
    from edgelite.runtime.model import Model

    if not isinstance(candidate, Model):
        return None
    from edgelite.runtime.op_profile import profile_of

    return lambda: profile_of(candidate)


def compare_on(reference: Any, candidate: Any, data: Any, *, samples: int | None = None,
               seed: int = 0, spec: PreprocessSpec | None = None,
               reference_spec: PreprocessSpec | None = None,
               task: TaskRequest | TaskSpec | None = None) -> CompareReport:
    """Compare ``reference`` (a ``Model`` or the converter's ``TFReference``) and ``candidate`` (a ``Model``) on
    ``data`` (image folder, .npy or .npz; ``{input: path}`` for a multi-input model): what ``compare`` and
    ``check`` both run. ``samples`` takes a seeded subset.

    Each model gets its own preprocessing, as the client that deploys it would: the candidate its embedded
    spec (``spec`` overrides it), the reference ``reference_spec``, else its own embedded spec (a .tflite with
    metadata), else the candidate's. A difference between the two is said in a warning — a candidate calibrated
    on the wrong range then shows up as disagreement instead of hiding behind the same wrong inputs.
    """
    from edgelite.calibration import bind, collect, open_source
    from edgelite.calibration.sources import describe

    cand_spec = spec if spec is not None else candidate.spec
    ref_spec = reference_spec or getattr(reference, "spec", None) or cand_spec
    source = open_source(data, class_names=candidate.labels)
    cand_source = bind(source, _slots(candidate, cand_spec), model=str(candidate.path))
    got = collect(cand_source, cand_spec, _sample_shape(candidate, cand_spec), samples, seed, desc="eval data",
                  shuffle=samples is not None)
    ref_x = got.x
    differences = spec_differences(ref_spec, cand_spec)
    if differences:
        # same rows (same seeded order over the same files), each model's own preprocessing
        ref_source = bind(source, _slots(reference, ref_spec), model=str(reference.path))
        ref_got = collect(ref_source, ref_spec, _sample_shape(reference, ref_spec), samples, seed,
                          desc="eval data (reference)", shuffle=samples is not None)
        if not np.array_equal(ref_got.indices, got.indices):
            raise UserInputError(f"{describe(data)}: images readable with one model's preprocessing but not the "
                                 "other's; remove the unreadable files")
        ref_x = ref_got.x
    else:
        _same_input_shapes(reference, candidate)
    ref_x, by_position = _for_reference(reference, ref_x)
    # the file's labels even when they fit no output whole: a segmenter's name its score map's channels
    names = candidate.labels or source.class_names or getattr(candidate.metadata, "labels", None)
    ids = sample_ids(cand_source, got.indices)
    ref_run = run_samples(reference, ref_x, ids, labels=got.y, class_names=names, progress="eval reference")
    cand_run = run_samples(candidate, got.x, ids, labels=got.y, class_names=names, progress="eval candidate")
    from edgelite.runtime.tasks.runs import with_images

    report = compare_runs(ref_run, cand_run, candidate_is_int8=candidate.quantized, class_names=names,
                          op_profile=_profiler(candidate), task=task,
                          crop_fraction=cand_spec.crop_fraction if cand_spec else 1.0, subset=samples is not None)
    report = with_images(report, got.x, ids)
    extra = [by_position] if by_position else []
    if differences:
        extra.append(f"the models preprocess differently ({'; '.join(differences)}): each got its own "
                     "(reference vs candidate)")
    if got.skipped:
        extra.append(f"{len(got.skipped)} unreadable image(s) skipped in {describe(data)}, e.g. {got.skipped[0]}")
    if extra:
        report = dataclasses.replace(report, warnings=report.warnings + extra)
    return report


def _for_reference(reference: Any, x: Any) -> tuple[Any, str | None]:
    """The candidate's samples for the reference: as they are when the reference's inputs carry the same names
    (a converted file keeps its source's), else by position with a note saying which fed which."""
    from edgelite.calibration.multi_input import Inputs, match_inputs

    slots = getattr(reference, "slots", None)
    if not isinstance(x, Inputs) or not slots:
        return x, None
    names = [s.name for s in slots]
    try:
        match_inputs(names, x.names)
        return x, None
    except UserInputError:
        if len(names) != len(x.names):
            raise
    pairs = ", ".join(f"{a}→{b}" for a, b in zip(x.names, names, strict=True))
    return (Inputs(tuple(f"x{k}" for k in range(len(names))), x.arrays),
            f"inputs matched by position (the models name them differently): {pairs}")


def spec_differences(a: PreprocessSpec | None, b: PreprocessSpec | None) -> list[str]:
    """What differs between two preprocessing specs, field by field ("mean (127.5,) vs (0.0,)")."""
    if a is None or b is None or a == b:
        return []
    da, db = a.to_dict(), b.to_dict()
    return [f"{k} {_shown(da.get(k))} vs {_shown(db.get(k))}" for k in da if da.get(k) != db.get(k)]


def _shown(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) for i in v) \
        else str(tuple(v) if isinstance(v, list) else v)


def _slots(model: Any, spec: PreprocessSpec | None) -> tuple[Any, ...]:
    """The model's inputs for data binding, with ``spec`` on its image inputs (``multi_input.is_image_input``)."""
    import dataclasses as dc

    from edgelite.calibration.multi_input import InputSlot

    slots = getattr(model, "slots", None)
    if not slots:
        return (InputSlot("input", _sample_shape(model, spec), spec),)
    if len(slots) == 1:
        return (dc.replace(slots[0], spec=spec, shape=_sample_shape(model, spec)),)
    from edgelite.calibration.multi_input import spec_for

    sized = [spec_for(spec, t.shape) for t in slots]
    return tuple(dc.replace(t, spec=one, shape=one.input_shape if one is not None else t.shape)
                 for t, one in zip(slots, sized, strict=True))


def _sample_shape(model: Any, spec: PreprocessSpec | None) -> tuple[int, ...]:
    shape = tuple(model.sample_shape)
    if spec is not None and len(shape) == 3 and any(d <= 0 for d in shape):   # a dynamic image input
        return spec.input_shape
    return shape


def _same_input_shapes(reference: Any, candidate: Any) -> None:
    ref_shape = tuple(reference.sample_shape)
    if ref_shape != tuple(candidate.sample_shape):
        raise UserInputError(f"{reference.path} takes {ref_shape} but "
                             f"{candidate.path} takes {tuple(candidate.sample_shape)}; compare two versions of "
                             "the same model")
