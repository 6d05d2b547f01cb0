"""Terminal tables for reports. Plain text, aligned columns, no colour codes (CI logs stay readable)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgelite.core.formatting import float_ops_line, ms, pct, size
from edgelite.runtime.tensors import io_line

if TYPE_CHECKING:   # renderers only read these; importing them here would load the converter for `run`
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.check.run import CheckReport
    from edgelite.converter.analyze import AnalyzeReport
    from edgelite.converter.distillation import DistillReport
    from edgelite.converter.qat import TrainReport
    from edgelite.converter.report import ConvertReport
    from edgelite.converter.scoring import Score
    from edgelite.runtime.bench import BenchReport
    from edgelite.runtime.compare import CompareReport, OutputFigures
    from edgelite.runtime.inspection import ModelInspection
    from edgelite.runtime.op_profile import OpProfile
    from edgelite.runtime.tasks.base import TaskFigures

# C0 and C1 control characters (ESC, BEL, backspace, CR, newline, …): text from a model file or a file name must
# not move the cursor, retitle the terminal or fake other lines in a human-readable table or message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: Any) -> str:
    """``str(value)`` with control characters shown as escapes (``\x1b``), so it stays one inert line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    cells = [[printable(c) for c in row] for row in ([header] if header else []) + list(rows)]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(len(r) for r in cells))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def spec_line(s: PreprocessSpec) -> str:
    return f"{s.height}x{s.width} {s.color} {s.resize}, mean {list(s.mean)} std {list(s.std)}"


# TF names a tensor after its MLIR location: ``loc(fused["StatefulPartitionedCall:0", "model/conv/Conv2D;…"])``
def convert_table(r: ConvertReport) -> str:
    cal = r.calibration
    rows: list[tuple[str, Any]] = [
        ("source", f"{r.source} ({r.source_kind}, {size(r.source_size_bytes)})"),
        ("output", f"{r.output} ({size(r.size_bytes)})"),
        ("mode / io", f"{r.mode} / {r.io_line()}" + (f" (--target {r.target})" if r.target != "litert" else "")),
    ]
    if r.source_export is not None:
        e = r.source_export
        rows.append(("route", f"{e.route}: {e.why}"))
        rows.append(("layout", f"{e.layout}; float export vs eager {e.float_max_abs_diff:.2g} max abs"))
    if r.spec:
        rows.append(("preprocess", spec_line(r.spec)))
    if cal.used:
        skipped = f", {cal.skipped_unreadable} unreadable skipped" if cal.skipped_unreadable else ""
        rows.append(("calibration", f"{cal.used} samples from {cal.source} (seed {cal.seed}{skipped})"))
    rows.append(("labels", r.labels_count or "-"))
    rows.append(("float ops", float_ops_line(r.float_ops)))
    if r.kept_float:
        names = ", ".join(f"{k.label} ({k.op})" for k in r.kept_float)
        rows.append(("kept float", f"{len(r.kept_float)}: {names}"))
        rows.append(("size cost", f"+{size(r.size_cost_bytes)} vs plain int8"))
    if r.budget:
        b, f = r.budget, r.budget.final
        verdict = r.budget_verdict()
        top1 = f", top-1 {f.top1:.2f} % vs float {b.float_top1:.2f} %" \
            if f.top1 is not None and b.float_top1 is not None else ""
        rows.append(("budget", f"{b.metric} ≤ {b.max_drop_pts:g}: {verdict}; final {f.loss_pts:.3f}"
                               f"{top1}, agreement {f.agreement:.4f}, {len(b.trials)} trials"))
    if r.evaluation:
        judged, held = r.evaluation, r.evaluation.figures
        lo, hi = held.loss_ci95
        rows.append(("evaluation", f"{judged.metric} {held.loss_pts:.3f} (95 % CI {lo:.2f} … {hi:.2f}) on "
                                   f"{held.samples} samples of {judged.data}; agreement {held.agreement:.4f}"))
        if held.task is not None:
            rows.append(("task", held.task.headline_line()))
    if r.optimize:
        o = r.optimize
        for s in o.steps:
            h = s.held_out
            figure = s.notice or (f"held out {h.loss_pts:.3f} ({h.loss_ci95[0]:.1f} … {h.loss_ci95[1]:.1f}), "
                                  f"search {s.search_loss_pts:.3f}, {size(s.size_bytes or 0)}" if h else "-")
            mark = " ← chosen" if s.step == o.chosen else ""
            rows.append((f"optimize: {s.step}", f"{figure}{mark}"))
        met = r.optimize_verdict()
        verdict = "" if met is None else f"; ≤ {o.max_drop_pts:g}: {met}"
        rows.append(("optimize", f"{o.metric} on {o.confirm_samples} held-out samples (decided on "
                                 f"{o.search_samples} others){verdict}"))
    if r.gpu:
        g = r.gpu
        rows.append(("GPU delegate", "all ops have GPU kernels" if g.fully_compatible else
                     f"{g.ops_on_cpu} of {g.ops_total} ops would run on the CPU"))
    rows.append(("time", f"{r.timings.get('total_s', 0):.1f} s (converter {r.timings.get('convert_s', 0):.1f} s)"))
    out = table(rows)
    for w in r.warnings:
        out += f"\nwarning: {w}"
    return out


def ci_pts(ci: Sequence[float] | None, *, signed: bool = False) -> str:
    """``[lo, hi]`` in points as "(95 % CI lo … hi)"; empty when there is none."""
    if not ci:
        return ""
    f = "+.2f" if signed else ".2f"
    return f"(95 % CI {format(ci[0], f)} … {format(ci[1], f)})"


def snr(v: float | None) -> str:
    return "identical" if v is None else f"{v:.2f} dB"


def _output_row(r: CompareReport, o: OutputFigures) -> tuple[str, str, str]:
    """One output pair of a multi-output comparison: its role and figures, agreement for class scores."""
    name = o.name if o.candidate_name == o.name else f"{o.name} → {o.candidate_name}"
    shape = "x".join(str(d) for d in o.shape) or "scalar"
    # one value per sample: its "cosine" is only the sign agreeing (±1), which reads as a similarity it is not
    cosine = f"cosine {o.cosine_mean:.6f}, " if o.values > 1 else ""
    errors = f"SNR {snr(o.snr_db)}, {cosine}max abs {o.max_abs_error:.6f}"
    types = [r.reference.output_dtype(o.name), r.candidate.output_dtype(o.candidate_name)]
    dtype = f" {types[1]}" if types[1] is not None else ""
    if o.paired is None:
        return (f"output {name}", f"tensor ({shape}{dtype})", errors)
    p = o.paired
    agree = f"agreement {pct(p.agreement * 100)} {ci_pts([v * 100 for v in p.agreement_ci95])}"
    if o.reference is not None and o.candidate is not None:
        agree += f", top-1 {pct(o.reference.top1)} → {pct(o.candidate.top1)}"
    return (f"output {name}", f"class scores ({shape}{dtype})", f"{agree}; {errors}")


def compare_table(r: CompareReport) -> str:
    ref, cand = r.reference, r.candidate
    ratio = cand.size_bytes / max(ref.size_bytes, 1)
    lat_ratio = cand.latency_ms.median / max(ref.latency_ms.median, 1e-9)
    rows = [
        ("model", ref.path, cand.path),
        ("backend", f"{ref.backend} {ref.backend_version}", f"{cand.backend} {cand.backend_version}"),
        ("size", size(ref.size_bytes), f"{size(cand.size_bytes)} ({ratio:.3f}x)"),
    ]
    if ref.io() is not None or cand.io() is not None:
        rows.append(("io", ref.io() or "-", cand.io() or "-"))
    if r.labelled and ref.top1 is not None and r.top1_drop_pts is not None:
        rows.append(("top-1", f"{pct(ref.top1)} {ci_pts(ref.top1_ci95)}", f"{pct(cand.top1)} {ci_pts(cand.top1_ci95)}"))
        rows.append(("top-1 drop", "", f"{r.top1_drop_pts:+.2f} pts {ci_pts(r.top1_drop_ci95, signed=True)}, "
                                       f"McNemar p = {r.mcnemar_p:.3g}"))
        if ref.top5 is not None:
            rows.append(("top-5", pct(ref.top5), f"{pct(cand.top5)} (drop {r.top5_drop_pts:+.2f} pts)"))
    several = len(r.outputs or ()) > 1
    agreement = r.verdict() if r.agreement is None else (
        f"{pct(r.agreement * 100)} "
        f"{ci_pts(None if r.agreement_ci95 is None else [v * 100 for v in r.agreement_ci95])}"
        + (f" (output {r.primary_output})" if several else ""))
    rows += [
        ("latency median", ms(ref.latency_ms.median), f"{ms(cand.latency_ms.median)} ({lat_ratio:.2f}x)"),
        ("latency p90", ms(ref.latency_ms.p90), ms(cand.latency_ms.p90)),
        ("agreement" if r.agreement is not None else "verdict", "", agreement.strip()),
    ]
    if several:   # every output on its own row; the headline's error figures are one of them
        rows += [_output_row(r, o) for o in r.outputs or ()]
    else:
        rows += [("cosine mean", "", f"{r.cosine_mean:.6f}"), ("SNR", "", snr(r.snr_db)),
                 ("max abs error", "", f"{r.max_abs_error:.6f}")]
    rows.append(("samples", "", str(r.samples) + ("" if r.labelled else " (unlabelled)")))
    text = table(rows, header=("", "reference", "candidate")) + "".join(f"\nnote: {printable(n)}" for n in r.notes)
    if r.task is not None and r.task.kind != "classify":   # classify's figures are the table above
        text += "\n\n" + task_table(r.task)
    return text


def _metric_value(v: float | None, unit: str, rate: bool) -> str:
    if v is None:
        return "-"
    return f"{v * 100:.2f} %" if rate else f"{v:.4g}{' ' + unit if unit else ''}"


def _regress_label(t: TaskFigures, name: str, label: str) -> str:
    """A regress metric's label with the output it measures when there are several ("mean absolute error
    (classificators)"): ``mae[NAME]`` names it, the bare ``mae`` is the first of ``details.outputs``."""
    outputs = (t.details or {}).get("outputs")
    if not isinstance(outputs, list) or len(outputs) < 2:
        return label
    base, sep, rest = name.partition("[")
    if base not in ("mae", "rmse"):
        return label
    output = rest[:-1] if sep else str(outputs[0])
    return f"{label} ({printable(output)})"


def task_table(t: TaskFigures) -> str:
    """The task section: each metric (float, int8, the change with its paired 95 % interval), the headline
    marked, then how they were computed and the worst samples."""
    from edgelite.runtime.tasks.base import info

    rows = []
    for name, m in t.metrics.items():
        i = info(name)
        label = _regress_label(t, name, i.label) if t.kind == "regress" else i.label
        ref = "(vs float)" if m.reference is None else _metric_value(m.reference, i.unit, i.rate)
        scale = 100.0 if i.rate else 1.0
        unit = " pts" if i.rate else (f" {i.unit}" if i.unit else "")
        delta = "-" if m.delta is None else f"{m.delta * scale:+.2f}{unit}"
        ci = "" if m.delta_ci95 is None else f" [{m.delta_ci95[0] * scale:+.2f}, {m.delta_ci95[1] * scale:+.2f}]"
        rows.append((("* " if name == t.headline else "  ") + label, ref,
                     _metric_value(m.candidate, i.unit, i.rate), delta + ci))
    head = f"task: {t.kind} ({printable(t.basis)}); * = headline, bounded by --max-drop / max_metric_drop\n"
    text = head + table(rows, header=("metric", "reference", "candidate", "change [95 % CI]"))
    text += f"\nmethod: {printable(t.method)}"
    text += "".join(f"\nnote: {printable(n)}" for n in t.notes)
    if t.worst:
        text += "\nworst: " + ", ".join(f"{printable(w.id)} ({w.loss:.3g})" for w in t.worst[:5])
    return text


def bench_table(r: BenchReport) -> str:
    sides = [(r.model, r.results)] + ([(r.reference.model, r.reference.results)] if r.reference else [])
    rows = []
    for name, results in sides:
        for res in results:
            lat = res.latency_ms
            rows.append((name, res.threads, "on" if res.xnnpack else "off", ms(lat.median), ms(lat.p90),
                         ms(lat.p99), ms(lat.min), f"{lat.std:.3f}", res.runs, ms(res.init_ms),
                         ms(res.first_invoke_ms), f"{res.peak_rss_mb:.0f} MB"))
    dev = r.device
    delegates = f", delegates: {', '.join(r.delegates)}" if r.delegates else ""
    load = "" if r.library_load_ms is None else f" (library load {ms(r.library_load_ms)}, once per process)"
    head = (f"{r.model} ({size(r.size_bytes)}, input {r.input_dtype}) on {r.backend} {r.backend_version}{load}"
            f"{delegates}\n"
            f"{dev.cpu_model}, {dev.cores} cores, {dev.arch}, simd: {' '.join(dev.simd) or '-'}\n")
    text = head + table(rows, header=("model", "threads", "xnnpack", "median", "p90", "p99", "min", "std ms", "runs",
                                      "init", "1st invoke", "peak RSS"))
    for name, prof in ((r.model, r.ops), (r.reference.model, r.reference.ops) if r.reference else ("", None)):
        if prof:
            text += "\n\n" + ops_table(name, prof)
    return text


def ops_table(name: str, p: OpProfile, top: int = 10) -> str:
    """The op types that take the time (each op run alone), most first, and whether a delegate took them."""
    rows = [(t.op, t.count, ms(t.total_ms), pct(t.share_pct), t.delegated) for t in p.top(top)]
    rest = p.op_types[top:]
    if rest:
        rows.append((f"{len(rest)} more types", sum(t.count for t in rest), ms(sum(t.total_ms for t in rest)),
                     pct(sum(t.share_pct for t in rest)), ""))
    threads = "default threads" if p.threads is None else f"threads={p.threads}"
    head = (f"{name}: op types, each op timed alone ({threads}, xnnpack {'on' if p.xnnpack else 'off'}, "
            f"median of {p.runs}): {p.nodes} ops sum {ms(p.ops_ms)}, whole model {ms(p.whole_ms)}; "
            f"profile took {p.profile_s:.2f} s\n")
    if p.unmeasured:
        more = " …" if len(p.unmeasured) > 8 else ""
        head += f"could not run alone (counted 0): {', '.join(p.unmeasured[:8])}{more}\n"
    return head + table(rows, header=("op type", "count", "time", "share", "delegated"))


def _top_k(top: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['label']} {t['score']:.3f}" for t in top)


def _tensor_summary(out: dict[str, Any], first: int = 4) -> str:
    """A tensor output in one cell: its shape and type, then its values when few, else min/max/mean and the
    first few values."""
    flat: list[float] = []
    stack = [out["values"]]
    while stack:   # nested lists of any depth, in order
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            flat.append(float(v))
    shape = "x".join(str(d) for d in out["shape"]) or "scalar"
    head = f"{shape} {out['dtype']}"
    if len(flat) <= first:
        return f"{head}: " + ", ".join(f"{v:.4g}" for v in flat)
    return (f"{head}: min {out['min']:.4g}, max {out['max']:.4g}, mean {out['mean']:.4g}; "
            + ", ".join(f"{v:.4g}" for v in flat[:first]) + ", …")


def run_table(results: list[dict[str, Any]]) -> str:
    """``edgelite run``: one row per input for a lone class-score output (top-k), else one row per output."""
    lone = all(len(res["outputs"]) == 1 and "top_k" in res for res in results)
    if lone:
        return table([(res["input"], _top_k(res["top_k"]), ms(res["latency_ms"])) for res in results],
                     header=("input", "top-k (label score)", "invoke"))
    rows = []
    for res in results:
        for k, (name, out) in enumerate(res["outputs"].items()):
            shown = f"top-k {_top_k(out['top_k'])}" if out["kind"] == "class scores" else _tensor_summary(out)
            rows.append((res["input"] if k == 0 else "", name, shown, ms(res["latency_ms"]) if k == 0 else ""))
    return table(rows, header=("input", "output", "top-k (label score) or values", "invoke"))


def inspect_table(info: ModelInspection) -> str:
    rows: list[tuple[str, Any]] = [
        ("file", f"{info.path} ({size(info.size_bytes)})"),
        ("quantized", "yes (integer activations)" if info.quantized else "no (float activations)"),
        ("io", io_line(info.inputs, info.outputs))]
    for kind, tensors in (("input", info.inputs), ("output", info.outputs)):
        for t in tensors:
            q = f" scale {t.scale:.6g} zero-point {t.zero_point}" if t.scale else ""
            rows.append((kind, f"{t.name} {t.shape} {t.dtype}{q}"))
    rows.append(("ops", ", ".join(f"{k} x{v}" for k, v in info.ops.items())))
    if info.quantized:
        rows.append(("float ops", ", ".join(f"{f.op}@{f.tensor}" for f in info.float_ops) or "none"))
    else:
        rows.append(("float ops", f"all {len(info.float_ops)} compute ops (float model)"))
    meta = info.metadata
    rows.append(("metadata", meta.source))
    if meta.spec:
        rows.append(("preprocess", spec_line(meta.spec)))
    labels = info.labels
    rows.append(("labels", f"{len(labels)}: {', '.join(labels[:10])}{' …' if len(labels) > 10 else ''}"
                 if labels else "-"))
    for k, v in (meta.provenance or {}).items():
        rows.append((f"  {k}", v))
    std = info.standard_metadata
    if std:
        rows.append(("TFLite metadata", f"{std.name or '-'} (version {std.version or '-'}, author "
                                        f"{std.author or '-'}, min parser {std.min_parser_version or '-'})"))
        if std.description:
            rows.append(("  description", std.description[:110] + ("…" if len(std.description) > 110 else "")))
        for kind, docs in (("input", std.inputs), ("output", std.outputs)):
            for doc in docs:
                bits = [doc.content or "", doc.color_space or ""]
                if doc.normalization:
                    bits.append(f"normalize (x - {doc.normalization.mean}) / {doc.normalization.std}")
                files = ", ".join(f"{f.name} ({f.type})" for f in doc.associated_files)
                rows.append((f"  {kind} {doc.name or '?'}", " ".join(b for b in bits if b)
                             + (f"; files {files}" if files else "")))
        packed = std.packed_files
        rows.append(("  packed files", ", ".join(f"{k} ({size(v)})" for k, v in packed.items()) or "none"))
    g = info.gpu
    if g:
        rows.append(("GPU delegate", f"{g.ops_total - g.ops_on_cpu} of {g.ops_total} ops on the GPU, "
                                     f"{g.ops_on_cpu} on the CPU ({g.cpu_fraction:.0%}), "
                                     f"{g.gpu_partitions} GPU partition(s)"))
        for u in g.unsupported:
            rows.append((f"  op {u.index}", f"{u.op} ({u.tensor[:50]}): {u.reason}"))
    return table(rows)


def analyze_table(r: AnalyzeReport, limit: int = 20) -> str:
    i = r.int8
    head = [f"{r.source}: {r.samples} samples of {r.evaluated_on}"]
    snr = "-" if i.snr_db is None else f"{i.snr_db:.1f} dB"
    loss_header = "loss if float"
    if r.metric is None:
        top1 = f"top-1 float {r.float_top1:.2f} % → int8 {i.top1:.2f} %, " \
            if r.float_top1 is not None and i.top1 is not None else ""
        head.append(f"plain int8: {top1}agreement {i.agreement:.4f}, output SNR {snr}, size {size(i.size_bytes)}")
    else:
        # judged by a task: the first output's argmax agreement says nothing (a detector's coordinates); the
        # plain int8 model's headline loss in the task's metric, as the layers are ranked by it
        metric = printable(r.metric)
        loss = f"{i.loss_pts:.2f}" if abs(i.loss_pts) < float("inf") else "undefined"   # NaN, inf: undefined
        name, sep, tail = metric.rpartition(" (")
        unit = tail[:-1] if sep and tail.endswith(")") else metric   # "pts", "px"; a user metric's name
        user = name == "" or (i.task is not None and i.task.headline == "metric")
        shown = f"{metric} {loss}" if user else f"{name} {loss} {unit}"   # "float detections kept loss 1.79 pts"
        task = f" (task {i.task.kind}, {printable(i.task.basis)})" if i.task is not None else ""
        head.append(f"plain int8: {shown}{task}, output SNR {snr}, size {size(i.size_bytes)}")
        loss_header = f"loss if float ({unit})"   # the line above names the whole metric

    def num(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    rows = []
    for row in r.layers[:limit]:
        e = row.error
        rows.append((row.rank, row.op, row.label[:40],
                     num(e.rmse if e else None, ".4g"), num(e.rmse_per_scale if e else None, ".2f"),
                     num(e.snr_db if e else None, ".1f"), num(e.max_abs_error if e else None, ".4g"),
                     num(row.contribution_pct, ".1f") + (" %" if row.contribution_pct is not None else ""),
                     num(row.loss_pts_if_float, ".2f")))
    body = table(rows, ("#", "op", "layer", "rmse", "rmse/scale", "snr dB", "max abs", "contribution",
                        loss_header))
    more = f"\n… {len(r.layers) - limit} more layers in the JSON report" if len(r.layers) > limit else ""
    notes = "".join(f"\nwarning: {w}" for w in r.preflight)
    return "\n".join(head) + "\n" + body + more + notes


def train_table(r: TrainReport) -> str:
    def score(sc: Score | None) -> str:
        if not sc:
            return "-"
        top1 = f"top-1 {sc.top1:.2f} %, " if sc.top1 is not None else ""
        return f"{top1}agreement {sc.agreement:.4f}"

    plain = r.plain_int8
    rows = [
        ("source", f"{r.source}{' (Keras 3, rebuilt in tf_keras: outputs verified)' if r.keras_bridge else ''}"),
        ("method", f"{r.method}, {r.epochs} epoch(s) on {r.train_samples} samples"),
        ("output", f"{r.output} ({size(r.size_bytes)}, gzip {size(r.gzip_size_bytes)})"),
        ("plain int8", f"{size(plain.size_bytes)}, gzip {size(plain.gzip_size_bytes)}"),
    ]
    if r.sparsity:
        sp = r.sparsity
        zero = "-" if sp.int8_weights_zero is None else f"{sp.int8_weights_zero:.4f}"
        rows.append(("sparsity", f"requested {sp.requested:.2f}, kernels {sp.achieved:.4f}, int8 weights zero {zero}"))
    if r.pruned_model:
        rows.append(("pruned float", r.pruned_model))
    if r.evaluated_on:
        ftop1 = f"top-1 {r.float_top1:.2f} %" if r.float_top1 is not None else "reference"
        rows.append(("eval", r.evaluated_on))
        rows.append(("float", ftop1))
        rows.append(("plain int8", score(plain.score)))
        rows.append((r.method, score(r.result)))
    rows.append(("time", f"{r.timings.get('total_s', 0):.1f} s (training {r.timings.get('train_s', 0):.1f} s)"))
    return table(rows) + "".join(f"\nwarning: {w}" for w in r.warnings)


def distill_table(r: DistillReport) -> str:
    labels = f"labels weighted {r.hard_weight:g}" if r.labels_used else "no labels"
    loss = r.history.get("loss", [])
    losses = f"{loss[0]:.4f} → {loss[-1]:.4f}" if loss else "-"
    head = table([
        ("teacher", r.teacher), ("student", f"{r.student} → {r.student_model} (float), {r.output} (int8)"),
        ("training", f"{r.epochs} epoch(s) on {r.train_samples} samples, temperature {r.temperature:g}, {labels}; "
                     f"loss {losses}"),
        ("judged on", f"{r.evaluated_on}: {r.eval_samples} held-out samples (agreement with the float teacher)"),
    ])
    rows = []
    for m in r.models:
        h = m.held_out
        rows.append((m.name, size(m.size_bytes), ms(m.latency_ms),
                     f"{100 * h.agreement:.2f} % ({100 * h.agreement_ci95[0]:.1f}–{100 * h.agreement_ci95[1]:.1f})",
                     "-" if m.top1 is None else f"{m.top1:.2f} %"))
    body = table(rows, ("model", "size", "latency (1 thread)", "agreement (95 % CI)", "top-1"))
    chosen = f"\nint8 student: --optimize accuracy chose {r.chosen_int8!r}" if r.chosen_int8 else ""
    return head + "\n" + body + chosen + "".join(f"\nwarning: {w}" for w in r.warnings)


def check_table(r: CheckReport) -> str:
    from edgelite.check.budgets import FAIL

    rows = []
    for m in r.models:
        for row in m.budgets:
            rows.append((m.name, *row.cells(), row.status.upper() if row.status == FAIL else row.status, row.message))
    lines = []
    for m in r.models:
        lat = m.latency
        ratio = "" if lat.int8_over_float is None else f", {lat.int8_over_float:.2f}x float"
        lines.append(f"{m.name}: {m.candidate} ({size(m.size_bytes)}), {ms(lat.candidate_ms)} at "
                     f"{lat.threads} thread(s){ratio}, {lat.latency_per_kernel:.4f} timing kernels "
                     f"(±{lat.noise_pct:.1f} % round-to-round)")
    summary = r.summary()
    body = table(rows, ("model", "budget", "limit", "value", "baseline", "status", "note")) if rows else \
        "(no budgets set: figures only)"
    return "\n".join(lines + ["", body, "", summary])
