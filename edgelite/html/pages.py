"""One self-contained HTML page per report kind: summary first, then the plots, then the numbers.

Reports are read as their ``to_dict()`` form, so a page can also be rebuilt from a saved JSON report.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any, Callable, Sequence

from edgelite.core.version import __version__
from edgelite.core import formatting as fmt
from edgelite.html import svg

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
"""


def document(title: str, body: Sequence[str], *, device: dict[str, Any] | None = None, version: str = "") -> str:
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = ""
    if device:
        where = (f" · {escape(str(device.get('cpu_model', '?')))}, {device.get('cores', '?')} cores, "
                 f"{escape(str(device.get('arch', '?')))}")
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
def accuracy_section(r: dict[str, Any], *, ref_name: str = "float", cand_name: str = "int8") -> list[str]:
    ref, cand = r["reference"], r["candidate"]
    colors = {ref_name: svg.PALETTE["float"], cand_name: svg.PALETTE["int8"]}
    out = []
    labels, ref_v, cand_v = [], [], []
    for key, label in (("top1", "top-1 %"), ("top5", "top-5 %")):
        if ref.get(key) is not None:
            labels.append(label)
            ref_v.append(ref[key])
            cand_v.append(cand[key])
    labels.append("agreement with float %")
    ref_v.append(100.0)
    cand_v.append(r["agreement"] * 100)
    out.append(svg.bars("accuracy", f"Accuracy on {r['samples']} samples: float vs int8", labels,
                        {ref_name: ref_v, cand_name: cand_v}, colors, x_max=100.0, fmt=lambda v: f"{v:.2f}"))
    classes = r.get("classes")
    if classes:
        out.append(svg.bars("per-class", "Per-class top-1 accuracy (%)", classes["names"],
                            {ref_name: classes["reference"], cand_name: classes["candidate"]}, colors, x_max=100.0,
                            fmt=lambda v: f"{v:.1f}", bar=8))
        if classes.get("confusion") is not None:
            out.append(svg.heatmap("confusion", f"Confusion of the {cand_name} model (rows: true class)",
                                   classes["confusion"], classes["names"]))
    return out


def compare_page(r: dict[str, Any]) -> str:
    ref, cand = r["reference"], r["candidate"]
    top = [("samples", str(r["samples"]))]
    if r["top1_drop_pts"] is not None:
        top += [("top-1 float → int8", f"{ref['top1']:.2f} → {cand['top1']:.2f} %"),
                ("top-1 drop", f"{r['top1_drop_pts']:.2f} pts" + fmt.ci95(r.get("top1_drop_ci95"), "+.2f", " pts")),
                ("McNemar p (exact)", fmt.number(r.get("mcnemar_p"), ".3g"))]
    agree_ci = r.get("agreement_ci95")
    top += [("agreement", f"{r['agreement']:.4f}" + fmt.ci95(agree_ci, ".4f", "")), ("output SNR", fmt.number(r["snr_db"], ".1f", " dB")),
            ("size", f"{fmt.size(ref['size_bytes'])} → {fmt.size(cand['size_bytes'])}"),
            ("median latency", f"{ref['latency_ms']['median']:.3f} → {cand['latency_ms']['median']:.3f} ms")]
    body = [f'<p><code>{escape(ref["path"])}</code> (reference) vs <code>{escape(cand["path"])}</code> '
            "(candidate)</p>", cards(top), *warnings(r.get("warnings", []))]
    body.append("<h2>Accuracy</h2>")
    body += accuracy_section(r)
    body.append("<h2>Latency and size</h2>")
    groups = [(f"float · {fmt.file_name(ref['path'])}", ref.get("latency_samples_ms", []), svg.PALETTE["float"]),
              (f"int8 · {fmt.file_name(cand['path'])}", cand.get("latency_samples_ms", []), svg.PALETTE["int8"])]
    if any(g[1] for g in groups):
        body.append(svg.distributions("latency", "Per-sample latency during the evaluation (ms)", groups))
    body.append(svg.bars("size", "Model size (KB)", [fmt.file_name(ref["path"]), fmt.file_name(cand["path"])],
                         {"size": [ref["size_bytes"] / 1e3, cand["size_bytes"] / 1e3]},
                         {"size": svg.PALETTE["float"]}, fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    rows = [(k, fmt.number(ref.get(k), ".2f"), fmt.number(cand.get(k), ".2f")) for k in ("top1", "top5")]
    rows += [(f"latency {k} ms", f"{ref['latency_ms'][k]:.4f}", f"{cand['latency_ms'][k]:.4f}")
             for k in ("min", "median", "p90", "p99")]
    rows += [("size bytes", f"{ref['size_bytes']:,}", f"{cand['size_bytes']:,}")]
    body.append(html_table(("figure", "reference", "candidate"), rows, numeric=(1, 2)))
    return document("edgelite compare", body, device=r.get("device"), version=r.get("edgelite_version", ""))


# ---- bench ---------------------------------------------------------------------------------------------------
def _config_name(res: dict[str, Any]) -> str:
    return f"{res['threads']} thread(s), XNNPACK {'on' if res['xnnpack'] else 'off'}"


def bench_page(r: dict[str, Any]) -> str:
    ref = r.get("reference")
    name = fmt.file_name(r["model"])
    best = min(r["results"], key=lambda res: res["latency_ms"]["median"])
    top = [("model", f"{name} ({fmt.size(r['size_bytes'])})"), ("backend", f"{r['backend']} {r['backend_version']}"),
           ("best median", f"{best['latency_ms']['median']:.3f} ms"), ("at", _config_name(best))]
    if r.get("library_load_ms") is not None:
        top.append(("library load", f"{r['library_load_ms']:.1f} ms (once per process)"))
    body = [cards(top), *warnings(r.get("warnings", []))]
    groups = []
    for res in r["results"]:
        groups.append((f"{name} · {_config_name(res)}", res.get("samples_ms", []), svg.PALETTE["int8"]
                       if r.get("quantized") else svg.PALETTE["float"]))
    if ref:
        for res in ref["results"]:
            groups.append((f"{fmt.file_name(ref['model'])} · {_config_name(res)}", res.get("samples_ms", []),
                           svg.PALETTE["float"]))
    body.append("<h2>Latency</h2>")
    if any(g[1] for g in groups):
        body.append(svg.distributions("latency", "Latency distribution per configuration (ms per invoke)", groups))
    labels = [_config_name(res) for res in r["results"]]
    series = {name: [res["latency_ms"]["median"] for res in r["results"]]}
    colors = {name: svg.PALETTE["int8"] if r.get("quantized") else svg.PALETTE["float"]}
    sizes = {name: r["size_bytes"]}
    if ref:
        ref_name = fmt.file_name(ref["model"]) + " (reference)"
        series[ref_name] = [res["latency_ms"]["median"] for res in ref["results"]]
        colors[ref_name] = svg.PALETTE["float"]
        sizes[ref_name] = ref["size_bytes"]
    body.append(svg.bars("latency-median", "Median latency (ms)", labels, series, colors, fmt=lambda v: f"{v:.3f}"))
    body.append("<h2>Size</h2>")
    body.append(svg.bars("size", "Model size (KB)", ["file size"], {k: [v / 1e3] for k, v in sizes.items()},
                         colors, fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    rows = [(fmt.file_name(m), _config_name(res), f"{res['latency_ms']['median']:.4f}", f"{res['latency_ms']['p90']:.4f}",
             f"{res['latency_ms']['p99']:.4f}", f"{res['init_ms']:.2f}", f"{res['first_invoke_ms']:.3f}", res["runs"])
            for m, results in [(r["model"], r["results"])] + ([(ref["model"], ref["results"])] if ref else [])
            for res in results]
    body.append(html_table(("model", "configuration", "median ms", "p90 ms", "p99 ms", "init ms", "1st invoke ms",
                            "runs"), rows, numeric=(2, 3, 4, 5, 6, 7)))
    return document(f"edgelite bench: {name}", body, device=r.get("device"), version=r.get("edgelite_version", ""))


# ---- analyze -------------------------------------------------------------------------------------------------
def analyze_page(r: dict[str, Any], limit: int = 40) -> str:
    i = r["int8"]
    top = [("samples", str(r["samples"])), ("layers", str(len(r["layers"]))),
           ("int8 agreement", f"{i['agreement']:.4f}"), ("output SNR", fmt.number(i.get("snr_db"), ".1f", " dB"))]
    if r.get("float_top1") is not None:
        top.insert(2, ("top-1 float → int8", f"{r['float_top1']:.2f} → {i['top1']:.2f} %"))
    layers = r["layers"][:limit]
    labels = [f"{row['rank']}. {(row.get('layer') or row['tensor'].split(';')[0])[:38]}" for row in layers]
    body = [f"<p><code>{escape(r['source'])}</code>, evaluated on <code>{escape(r['evaluated_on'])}</code></p>",
            cards(top), *warnings(r.get("preflight", []))]
    body.append("<h2>Per-layer error</h2>")
    body.append(svg.bars("layer-contribution", "Share of the output error removed by keeping the layer float (%)",
                         labels, {"contribution": [row["contribution_pct"] for row in layers]},
                         {"contribution": svg.PALETTE["int8"]}, fmt=lambda v: f"{v:.1f}", bar=10))
    body.append(svg.bars("layer-snr", "int8 vs float SNR of each layer's output (dB, higher is better)", labels,
                         {"SNR dB": [row.get("snr_db") for row in layers]}, {"SNR dB": svg.PALETTE["float"]},
                         fmt=lambda v: f"{v:.1f}", bar=10))
    rows = [(row["rank"], row["op"], labels[k].split(". ", 1)[1], fmt.number(row.get("rmse_per_scale"), ".2f"),
             fmt.number(row.get("snr_db"), ".1f"), f"{row['contribution_pct']:.1f}", f"{row['loss_pts_if_float']:.2f}")
            for k, row in enumerate(layers)]
    body.append(html_table(("#", "op", "layer", "rmse/scale", "SNR dB", "contribution %", "loss if float (pts)"),
                           rows, numeric=(0, 3, 4, 5, 6)))
    if len(r["layers"]) > limit:
        body.append(f"<p class='meta'>{len(r['layers']) - limit} more layers in the JSON report.</p>")
    return document(f"edgelite analyze: {fmt.file_name(r['source'])}", body, version=r.get("edgelite_version", ""))


# ---- check ---------------------------------------------------------------------------------------------------
def check_page(r: dict[str, Any]) -> str:
    from edgelite.core.budgets import count_statuses

    counts = count_statuses([row for m in r["models"] for row in m["budgets"]])
    verdict = (f'<div class="verdict pass">PASS · {counts["pass"]} budget(s) met</div>' if r["passed"] else
               f'<div class="verdict fail">FAIL · {counts["fail"]} budget(s) broken</div>')
    body = [verdict, f'<p class="meta">config <code>{escape(r["config"])}</code> · baseline '
                     f'<code>{escape(r["baseline"])}</code>{" (updated)" if r.get("baseline_updated") else ""}</p>',
            *warnings(r.get("warnings", []))]
    models = r["models"]
    names = [m["name"] for m in models]
    body.append("<h2>Overview</h2>")
    size_series = {"now": [m["size_bytes"] / 1e3 for m in models],
                   "baseline": [m["baseline"]["size_bytes"] / 1e3 if m.get("baseline") else None for m in models]}
    body.append(svg.bars("size", "Size now vs baseline (KB)", names, size_series,
                         {"now": svg.PALETTE["int8"], "baseline": svg.PALETTE["baseline"]},
                         fmt=lambda v: f"{v:,.1f}", unit=" KB"))
    lat_series = {"now": [m["latency"]["latency_per_kernel"] for m in models],
                  "baseline": [m["baseline"]["latency_per_kernel"] if m.get("baseline") else None for m in models]}
    body.append(svg.bars("latency-normalized", "Latency in timing kernels (model ms / kernel ms, same rounds)", names,
                         lat_series, {"now": svg.PALETTE["int8"], "baseline": svg.PALETTE["baseline"]},
                         fmt=lambda v: f"{v:.4f}"))
    for m in models:
        body += _check_model(m)
    return document("edgelite check", body, device=r.get("device"), version=r.get("edgelite_version", ""))


def _check_model(m: dict[str, Any]) -> list[str]:
    from edgelite.core.budgets import cells

    lat, acc = m["latency"], m["accuracy"]
    status = "pass" if m["passed"] else "FAIL"
    out = [f"<h2>{escape(m['name'])} · {status}</h2>",
           f"<p><code>{escape(m['candidate'])}</code>"
           + (f" vs float <code>{escape(m['reference'])}</code>" if m.get("reference") else "") + "</p>"]
    items = [("size", fmt.size(m["size_bytes"])), ("latency", f"{lat['candidate_ms']:.3f} ms"),
             ("timing kernel", f"{lat['kernel_ms']:.3f} ms"), ("in timing kernels", f"{lat['latency_per_kernel']:.4f}"),
             ("round-to-round noise", f"±{lat['noise_pct']:.1f} %")]
    if lat.get("int8_over_float") is not None:
        items.append(("int8 / float latency", f"{lat['int8_over_float']:.2f}x"))
    if acc is not None:
        if acc.get("top1_drop_pts") is not None:
            items.append(("top-1 drop", f"{acc['top1_drop_pts']:.2f} pts"))
        items.append(("agreement", f"{acc['agreement']:.4f}"))
    out.append(cards(items))
    rows = [(*cells(row), row["status"], row["message"]) for row in m["budgets"]]
    if rows:
        out.append(html_table(("budget", "limit", "value", "baseline", "status", "note"), rows,
                              row_class=lambda i: m["budgets"][i]["status"], numeric=(2,)))
    groups = [("candidate", lat["samples_ms"].get("candidate", []), svg.PALETTE["int8"])]
    if lat["samples_ms"].get("reference"):
        groups.append(("float reference", lat["samples_ms"]["reference"], svg.PALETTE["float"]))
    # The kernel (about 1 ms) is left out: on one axis it would squash a small model's distribution.
    out.append(svg.distributions("latency", f"Latency per invoke, {lat['threads']} thread(s), "
                                            f"{lat['rounds']} interleaved rounds (ms)", groups))
    medians = lat.get("round_medians_ms", {})
    if medians.get("candidate") and medians.get("timing-kernel"):
        ratios = [c / k for c, k in zip(medians["candidate"], medians["timing-kernel"])]
        base = m.get("baseline")
        growth = next((row for row in m["budgets"] if row["budget"] == "max_latency_growth_pct"), None)
        refs = []
        if base:
            refs.append(("baseline", base["latency_per_kernel"]))
            if growth:
                refs.append((f"limit (+{growth['limit']:g} %)", base["latency_per_kernel"] * (1 + growth["limit"] / 100)))
        out.append(svg.line("latency-rounds", "Candidate / kernel latency per round (the gate uses the median)",
                            {"candidate / kernel": ratios}, references=refs, fmt=lambda v: f"{v:.4f}"))
    if acc is not None:
        out += accuracy_section(acc)
    return out
