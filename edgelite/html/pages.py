"""One self-contained HTML page per report kind: summary first, then the plots, then the numbers.

Pages read the typed report objects; a saved JSON report becomes one again with ``<Report>.from_json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from edgelite.core import formatting as fmt
from edgelite.core.version import __version__
from edgelite.html import svg
from edgelite.html import task as task_html

if TYPE_CHECKING:
    from edgelite.check.run import CheckedModel, CheckReport
    from edgelite.converter.analyze import AnalyzeReport
    from edgelite.runtime.bench import BenchReport, BenchResult
    from edgelite.runtime.compare import CompareReport
    from edgelite.runtime.device import DeviceInfo

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 960px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta { color: #666; font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 18px; } .card span { color: #666; font-size: 12px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; font-size: 16px; color: #fff; }
.verdict.pass { background: #2e7d32; } .verdict.fail { background: #c62828; }
table { border-collapse: collapse; background: #fff; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #e2e2e2; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fdecea; } tr.pass td.status { color: #2e7d32; font-weight: 600; }
tr.fail td.status { color: #c62828; font-weight: 700; } tr.skip td.status { color: #777; }
.chart { display: block; background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px;
         margin: 10px 0; max-width: 100%; height: auto; }
.warn { background: #fff8e1; border-left: 4px solid #f9a825; padding: 6px 10px; margin: 6px 0; }
code { font-size: 12px; background: #f0f0f0; padding: 1px 4px; border-radius: 3px; }
""" + task_html.CSS


def document(title: str, body: Sequence[str], *, device: DeviceInfo | None = None, version: str = "") -> str:
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = ""
    if device:
        where = f" · {escape(device.cpu_model)}, {device.cores or '?'} cores, {escape(device.arch)}"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may load from the network: no external scripts, styles, fonts or images.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<div class="meta">edgelite {escape(version or __version__)} · {created}{where}</div>',
        *body, "</main></body></html>", ""])


def cards(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                                           for k, v in items) + "</div>"


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, row_class: Callable[[int], str] | None = None,
               numeric: Sequence[int] = ()) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i)}"' if row_class else ""
        cells = []
        for j, c in enumerate(row):
            attr = ' class="num"' if j in numeric else (' class="status"' if header[j] == "status" else "")
            cells.append(f"<td{attr}>{escape('-' if c is None else str(c))}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def warnings(items: Sequence[str]) -> list[str]:
    return [f'<div class="warn">⚠ {escape(w)}</div>' for w in items]


# ---- compare -------------------------------------------------------------------------------------------------
def accuracy_section(r: CompareReport, *, ref_name: str = "float", cand_name: str = "int8") -> list[str]:
    ref, cand = r.reference, r.candidate
    colors = {ref_name: svg.PALETTE["float"], cand_name: svg.PALETTE["int8"]}
    out = []
    labels: list[str] = []
    ref_v: list[float | None] = []
    cand_v: list[float | None] = []
    for label, ref_fig, cand_fig in (("top-1 %", ref.top1, cand.top1), ("top-5 %", ref.top5, cand.top5)):
        if ref_fig is not None:
            labels.append(label)
            ref_v.append(ref_fig)
            cand_v.append(cand_fig)
    if r.agreement is not None:
        labels.append("agreement with float %")
        ref_v.append(100.0)
        cand_v.append(r.agreement * 100)
    if labels:
        on = f" (output {r.primary_output})" if len(r.outputs or ()) > 1 else ""
        out.append(svg.bars("accuracy", f"Accuracy on {r.samples} samples: float vs int8{on}", labels,
                            {ref_name: ref_v, cand_name: cand_v}, colors, x_max=100.0, fmt=lambda v: f"{v:.2f}"))
    else:
        out.append(f"<p>{escape(r.verdict())}.</p>")
    classes = r.classes
    if classes:
        out.append(svg.bars("per-class", "Per-class top-1 accuracy (%)", classes.names,
                            {ref_name: classes.reference, cand_name: classes.candidate}, colors, x_max=100.0,
                            fmt=lambda v: f"{v:.1f}", bar=8))
        if classes.confusion is not None:
            out.append(svg.heatmap("confusion", f"Confusion of the {cand_name} model (rows: true class)",
                                   classes.confusion, classes.names))
    return out


def outputs_section(r: CompareReport) -> list[str]:
    """Every output pair: what it is, why, its error figures, and agreement for class scores."""
    rows = []
    for o in r.outputs or ():
        p = o.paired
        agree = "-" if p is None else f"{p.agreement:.4f}" + fmt.ci95(p.agreement_ci95, ".4f", "")
        top1 = "-" if o.reference is None or o.candidate is None else \
            f"{o.reference.top1:.2f} → {o.candidate.top1:.2f} %"
        dtypes = " / ".join(t or "-" for t in (r.reference.output_dtype(o.name),
                                               r.candidate.output_dtype(o.candidate_name)))
        name = o.name if o.name == o.candidate_name else f"{o.name} → {o.candidate_name}"
        rows.append((name, "x".join(map(str, o.shape)), dtypes, f"{o.kind}: {o.basis}", agree, top1,
                     fmt.number(o.snr_db, ".2f", " dB") if o.snr_db is not None else "identical",
                     f"{o.cosine_mean:.6f}" if o.values > 1 else "-", f"{o.max_abs_error:.6g}"))
    return [html_table(("output", "shape", "types (ref / cand)", "judged as", "agreement", "top-1", "SNR",
                        "cosine", "max abs error"), rows, numeric=(6, 7, 8))]


def compare_page(r: CompareReport) -> str:
    ref, cand = r.reference, r.candidate
    top = [("samples", str(r.samples))]
    if r.top1_drop_pts is not None:
        top += [("top-1 float → int8", f"{fmt.number(ref.top1, '.2f')} → {fmt.number(cand.top1, '.2f')} %"),
                ("top-1 drop", f"{r.top1_drop_pts:.2f} pts" + fmt.ci95(r.top1_drop_ci95, "+.2f", " pts")),
                ("McNemar p (exact)", fmt.number(r.mcnemar_p, ".3g"))]
    top += [("agreement", r.verdict() if r.agreement is None
             else f"{r.agreement:.4f}" + fmt.ci95(r.agreement_ci95, ".4f", "")),
            ("output SNR", fmt.number(r.snr_db, ".1f", " dB")),
            ("size", f"{fmt.size(ref.size_bytes)} → {fmt.size(cand.size_bytes)}"),
            ("median latency", f"{ref.latency_ms.median:.3f} → {cand.latency_ms.median:.3f} ms")]
    body = [f'<p><code>{escape(ref.path)}</code> (reference) vs <code>{escape(cand.path)}</code> '
            "(candidate)</p>", cards(top), *warnings(r.warnings)]
    # the verdict in the model's own task comes before the generic output figures it refines
    body += task_html.task_section(r.task, r.samples)
    body.append("<h2>Accuracy</h2>")
    body += accuracy_section(r)
    if r.outputs and len(r.outputs) > 1:
        body.append("<h2>Outputs</h2>")
        body += outputs_section(r)
    body += [f"<p>{escape(n)}</p>" for n in r.notes]
    body.append("<h2>Latency and size</h2>")
    groups = [(f"float · {fmt.file_name(ref.path)}", ref.latency_samples_ms, svg.PALETTE["float"]),
              (f"int8 · {fmt.file_name(cand.path)}", cand.latency_samples_ms, svg.PALETTE["int8"])]
    if any(g[1] for g in groups):
        body.append(svg.distributions("latency", "Per-sample latency during the evaluation (ms)", groups))
    body.append(svg.bars("size", "Model size (KB)", [fmt.file_name(ref.path), fmt.file_name(cand.path)],
                         {"size": [ref.size_bytes / 1e3, cand.size_bytes / 1e3]},
                         {"size": svg.PALETTE["float"]}, fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    rows: list[tuple[str, str, str]] = [("top1", fmt.number(ref.top1, ".2f"), fmt.number(cand.top1, ".2f")),
                                        ("top5", fmt.number(ref.top5, ".2f"), fmt.number(cand.top5, ".2f"))]
    rows += [(f"latency {k} ms", f"{getattr(ref.latency_ms, k):.4f}", f"{getattr(cand.latency_ms, k):.4f}")
             for k in ("min", "median", "p90", "p99")]
    rows += [("size bytes", f"{ref.size_bytes:,}", f"{cand.size_bytes:,}")]
    body.append(html_table(("figure", "reference", "candidate"), rows, numeric=(1, 2)))
    return document("edgelite compare", body, device=r.device, version=r.edgelite_version)


# ---- bench ---------------------------------------------------------------------------------------------------
def _config_name(res: BenchResult) -> str:
    return f"{res.threads} thread(s), XNNPACK {'on' if res.xnnpack else 'off'}"


def bench_page(r: BenchReport) -> str:
    ref = r.reference
    name = fmt.file_name(r.model)
    best = min(r.results, key=lambda res: res.latency_ms.median)
    top = [("model", f"{name} ({fmt.size(r.size_bytes)})"), ("backend", f"{r.backend} {r.backend_version}"),
           ("best median", f"{best.latency_ms.median:.3f} ms"), ("at", _config_name(best))]
    if r.library_load_ms is not None:
        top.append(("library load", f"{r.library_load_ms:.1f} ms (once per process)"))
    body = [cards(top), *warnings(r.warnings)]
    color = svg.PALETTE["int8"] if r.quantized else svg.PALETTE["float"]
    groups = [(f"{name} · {_config_name(res)}", res.samples_ms, color) for res in r.results]
    if ref:
        groups += [(f"{fmt.file_name(ref.model)} · {_config_name(res)}", res.samples_ms, svg.PALETTE["float"])
                   for res in ref.results]
    body.append("<h2>Latency</h2>")
    if any(g[1] for g in groups):
        body.append(svg.distributions("latency", "Latency distribution per configuration (ms per invoke)", groups))
    labels = [_config_name(res) for res in r.results]
    series: dict[str, list[float | None]] = {name: [res.latency_ms.median for res in r.results]}
    colors = {name: color}
    sizes = {name: r.size_bytes}
    if ref:
        ref_name = fmt.file_name(ref.model) + " (reference)"
        series[ref_name] = [res.latency_ms.median for res in ref.results]
        colors[ref_name] = svg.PALETTE["float"]
        sizes[ref_name] = ref.size_bytes
    body.append(svg.bars("latency-median", "Median latency (ms)", labels, series, colors, fmt=lambda v: f"{v:.3f}"))
    body.append("<h2>Size</h2>")
    body.append(svg.bars("size", "Model size (KB)", ["file size"], {k: [v / 1e3] for k, v in sizes.items()},
                         colors, fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    sides = [(r.model, r.results)] + ([(ref.model, ref.results)] if ref else [])
    rows = [(fmt.file_name(m), _config_name(res), f"{res.latency_ms.median:.4f}", f"{res.latency_ms.p90:.4f}",
             f"{res.latency_ms.p99:.4f}", f"{res.init_ms:.2f}", f"{res.first_invoke_ms:.3f}", res.runs)
            for m, results in sides for res in results]
    body.append(html_table(("model", "configuration", "median ms", "p90 ms", "p99 ms", "init ms", "1st invoke ms",
                            "runs"), rows, numeric=(2, 3, 4, 5, 6, 7)))
    return document(f"edgelite bench: {name}", body, device=r.device, version=r.edgelite_version)


# ---- analyze -------------------------------------------------------------------------------------------------
def analyze_page(r: AnalyzeReport, limit: int = 40) -> str:
    i = r.int8
    top = [("samples", str(r.samples)), ("layers", str(len(r.layers))),
           ("int8 agreement", f"{i.agreement:.4f}"), ("output SNR", fmt.number(i.snr_db, ".1f", " dB"))]
    if r.float_top1 is not None:
        top.insert(2, ("top-1 float → int8", f"{r.float_top1:.2f} → {fmt.number(i.top1, '.2f')} %"))
    layers = r.layers[:limit]
    labels = [f"{row.rank}. {row.label[:38]}" for row in layers]
    body = [f"<p><code>{escape(r.source)}</code>, evaluated on <code>{escape(r.evaluated_on)}</code></p>",
            cards(top), *warnings(r.preflight)]
    body.append("<h2>Per-layer error</h2>")
    body.append(svg.bars("layer-contribution", "Share of the output error removed by keeping the layer float (%)",
                         labels, {"contribution": [row.contribution_pct for row in layers]},
                         {"contribution": svg.PALETTE["int8"]}, fmt=lambda v: f"{v:.1f}", bar=10))
    snr = [row.error.snr_db if row.error else None for row in layers]
    body.append(svg.bars("layer-snr", "int8 vs float SNR of each layer's output (dB, higher is better)", labels,
                         {"SNR dB": snr}, {"SNR dB": svg.PALETTE["float"]}, fmt=lambda v: f"{v:.1f}", bar=10))
    rows = [(row.rank, row.op, labels[k].split(". ", 1)[1],
             fmt.number(row.error.rmse_per_scale if row.error else None, ".2f"), fmt.number(snr[k], ".1f"),
             fmt.number(row.contribution_pct, ".1f"), fmt.number(row.loss_pts_if_float, ".2f"))
            for k, row in enumerate(layers)]
    body.append(html_table(("#", "op", "layer", "rmse/scale", "SNR dB", "contribution %", "loss if float (pts)"),
                           rows, numeric=(0, 3, 4, 5, 6)))
    if len(r.layers) > limit:
        body.append(f"<p class='meta'>{len(r.layers) - limit} more layers in the JSON report.</p>")
    return document(f"edgelite analyze: {fmt.file_name(r.source)}", body, version=r.edgelite_version)


# ---- check ---------------------------------------------------------------------------------------------------
def check_page(r: CheckReport) -> str:
    counts = r.counts()
    verdict = (f'<div class="verdict pass">PASS · {counts["pass"]} budget(s) met</div>' if r.passed else
               f'<div class="verdict fail">FAIL · {counts["fail"]} budget(s) broken</div>')
    body = [verdict, f'<p class="meta">config <code>{escape(r.config)}</code> · baseline '
                     f'<code>{escape(r.baseline)}</code>{" (updated)" if r.baseline_updated else ""}</p>',
            *warnings(r.warnings)]
    models = r.models
    names = [m.name for m in models]

    def base(m: CheckedModel, key: str, scale: float = 1.0) -> float | None:
        value = getattr(m.baseline, key) if m.baseline is not None else None
        return None if value is None else value / scale

    body.append("<h2>Overview</h2>")
    size_series: dict[str, list[float | None]] = {"now": [m.size_bytes / 1e3 for m in models],
                   "baseline": [base(m, "size_bytes", 1e3) for m in models]}
    body.append(svg.bars("size", "Size now vs baseline (KB)", names, size_series,
                         {"now": svg.PALETTE["int8"], "baseline": svg.PALETTE["baseline"]},
                         fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    lat_series: dict[str, list[float | None]] = {"now": [m.latency.latency_per_kernel for m in models],
                  "baseline": [base(m, "latency_per_kernel") for m in models]}
    body.append(svg.bars("latency-normalized", "Latency in timing kernels (model ms / kernel ms, same rounds)", names,
                         lat_series, {"now": svg.PALETTE["int8"], "baseline": svg.PALETTE["baseline"]},
                         fmt=lambda v: f"{v:.4f}"))
    for m in models:
        body += _check_model(m)
    return document("edgelite check", body, device=r.device, version=r.edgelite_version)


def _check_model(m: CheckedModel) -> list[str]:
    lat, acc = m.latency, m.accuracy
    status = "pass" if m.passed else "FAIL"
    out = [f"<h2>{escape(m.name)} · {status}</h2>",
           f"<p><code>{escape(m.candidate)}</code>"
           + (f" vs float <code>{escape(m.reference)}</code>" if m.reference else "") + "</p>"]
    items = [("size", fmt.size(m.size_bytes)), ("latency", f"{lat.candidate_ms:.3f} ms"),
             ("timing kernel", f"{lat.kernel_ms:.3f} ms"), ("in timing kernels", f"{lat.latency_per_kernel:.4f}"),
             ("round-to-round noise", f"±{lat.noise_pct:.1f} %")]
    if lat.int8_over_float is not None:
        items.append(("int8 / float latency", f"{lat.int8_over_float:.2f}x"))
    if acc is not None:
        if acc.top1_drop_pts is not None:
            items.append(("top-1 drop", f"{acc.top1_drop_pts:.2f} pts"))
        items.append(("agreement", acc.verdict() if acc.agreement is None else f"{acc.agreement:.4f}"))
    out.append(cards(items))
    rows = [(*row.cells(), row.status, row.message) for row in m.budgets]
    if rows:
        out.append(html_table(("budget", "limit", "value", "baseline", "status", "note"), rows,
                              row_class=lambda i: m.budgets[i].status, numeric=(2,)))
    groups = [("candidate", lat.samples_ms.get("candidate", []), svg.PALETTE["int8"])]
    if lat.samples_ms.get("reference"):
        groups.append(("float reference", lat.samples_ms["reference"], svg.PALETTE["float"]))
    # The kernel (about 1 ms) is left out: on one axis it would squash a small model's distribution.
    out.append(svg.distributions("latency", f"Latency per invoke, {lat.threads} thread(s), "
                                            f"{lat.rounds} interleaved rounds (ms)", groups))
    medians = lat.round_medians_ms
    if medians.get("candidate") and medians.get("timing-kernel"):
        ratios = [c / k for c, k in zip(medians["candidate"], medians["timing-kernel"], strict=True)]
        growth = next((row for row in m.budgets if row.budget == "max_latency_growth_pct"), None)
        refs = []
        before = m.baseline.latency_per_kernel if m.baseline is not None else None
        if before is not None:
            refs.append(("baseline", before))
            if growth:
                refs.append((f"limit (+{growth.limit:g} %)", before * (1 + growth.limit / 100)))
        out.append(svg.line("latency-rounds", "Candidate / kernel latency per round (the gate uses the median)",
                            {"candidate / kernel": ratios}, references=refs, fmt=lambda v: f"{v:.4f}"))
    if acc is not None:
        out += accuracy_section(acc)
    return out
