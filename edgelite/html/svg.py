"""Inline SVG charts for the HTML reports: grouped bars, latency distributions, a heatmap, a line.

Plain strings, no plotting library: the board install has no matplotlib, and a report must open with no
network. Every chart is ``<svg class="chart" data-chart=KIND>`` with ``<title>`` tooltips on its marks.
Values that are None or not finite are left out instead of drawn as NaN (which browsers reject).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

import numpy as np

PALETTE = {"float": "#4c78a8", "int8": "#f58518", "baseline": "#9d9d9d", "kernel": "#72b7b2",
           "pass": "#2e7d32", "fail": "#c62828"}
_CYCLE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#ff9da6"]
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def color(i: int) -> str:
    return _CYCLE[i % len(_CYCLE)]


def _ok(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _f(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = _nice_max((hi - lo) / n)
    start = math.ceil(lo / step) * step
    return [start + k * step for k in range(int((hi - start) / step + 1e-9) + 1)]


def _open(kind: str, title: str, w: int, h: int) -> list[str]:
    return [f'<svg class="chart" data-chart="{kind}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img" aria-label="{escape(title)}" {FONT}>',
            f'<text x="0" y="14" font-weight="600" font-size="13">{escape(title)}</text>']


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, col in series:
        out.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" fill="{col}"/>'
                   f'<text x="{_f(x + 14)}" y="{_f(y)}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def bars(kind: str, title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
         colors: dict[str, str] | None = None, *, fmt: Callable[[float], str] = _f, unit: str = "",
         x_max: float | None = None, width: int = 720, bar: int = 12) -> str:
    """Horizontal grouped bars: one group per label, one bar per series."""
    colors = colors or {name: color(i) for i, name in enumerate(series)}
    values = [v for vs in series.values() for v in vs if v is not None and _ok(v)]
    lo = min(0.0, min(values, default=0.0))
    hi = x_max if x_max is not None else _nice_max(max(values, default=1.0))
    label_w = min(260, 16 + 7 * max((len(str(lab)) for lab in labels), default=4))
    plot_w = width - label_w - 70
    group_h = bar * len(series) + 8
    top = 40
    h = top + group_h * len(labels) + 34
    scale = plot_w / (hi - lo) if hi > lo else 1.0
    x0 = label_w + (-lo) * scale
    out = _open(kind, title, width, h)
    out += _legend([(name, colors[name]) for name in series], label_w, 30)
    for t in _ticks(lo, hi):
        x = label_w + (t - lo) * scale
        out.append(f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{h - 28}" stroke="#e3e3e3"/>'
                   f'<text x="{_f(x)}" y="{h - 14}" text-anchor="middle" fill="#555">{escape(fmt(t))}</text>')
    for g, lab in enumerate(labels):
        y = top + g * group_h
        out.append(f'<text x="{label_w - 6}" y="{_f(y + group_h / 2 + 3)}" text-anchor="end">{escape(str(lab))}</text>')
        for s, (name, vs) in enumerate(series.items()):
            v = vs[g]
            if v is None or not _ok(v):
                continue
            x_a, x_b = sorted((x0, label_w + (min(v, hi) - lo) * scale))
            yb = y + s * bar + 4
            out.append(f'<rect class="mark" x="{_f(x_a)}" y="{_f(yb)}" width="{_f(max(x_b - x_a, 0.5))}" '
                       f'height="{bar - 2}" fill="{colors[name]}"><title>{escape(f"{lab} · {name}: {fmt(v)}{unit}")}'
                       f'</title></rect>')
            out.append(f'<text x="{_f(x_b + 4)}" y="{_f(yb + bar - 3)}" fill="#333" font-size="10">'
                       f'{escape(fmt(v))}{escape(unit)}</text>')
    out.append(f'<line x1="{_f(x0)}" y1="{top}" x2="{_f(x0)}" y2="{h - 28}" stroke="#888"/>')
    out.append("</svg>")
    return "\n".join(out)


def distributions(kind: str, title: str, groups: Sequence[tuple[str, Sequence[float], str]], *, unit: str = "ms",
                  width: int = 720, max_points: int = 250) -> str:
    """Box plots (whiskers p5–p95, box p25–p75, median line) with a seeded strip of the runs behind them."""
    arrays = [(lab, np.asarray([v for v in vs if _ok(v)], dtype=np.float64), col) for lab, vs, col in groups]
    arrays = [g for g in arrays if g[1].size]
    allv = np.concatenate([g[1] for g in arrays]) if arrays else np.asarray([1.0])
    hi = _nice_max(float(np.percentile(allv, 99.5)) * 1.05)
    lo = 0.0
    label_w = min(300, 16 + 7 * max((len(g[0]) for g in arrays), default=4))
    plot_w = width - label_w - 20
    row_h, top = 34, 28
    h = top + row_h * len(arrays) + 34
    scale = plot_w / (hi - lo)
    X = lambda v: label_w + (min(v, hi) - lo) * scale  # noqa: E731
    out = _open(kind, title, width, h)
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{_f(X(t))}" y1="{top}" x2="{_f(X(t))}" y2="{h - 28}" stroke="#e3e3e3"/>'
                   f'<text x="{_f(X(t))}" y="{h - 14}" text-anchor="middle" fill="#555">{_f(t)} {unit}</text>')
    rng = np.random.default_rng(0)
    for i, (lab, v, col) in enumerate(arrays):
        yc = top + i * row_h + row_h / 2
        p5, p25, p50, p75, p95 = np.percentile(v, [5, 25, 50, 75, 95])
        pts = v if v.size <= max_points else rng.choice(v, max_points, replace=False)
        jitter = rng.uniform(-7, 7, size=pts.size)
        out.append(f'<text x="{label_w - 6}" y="{_f(yc + 4)}" text-anchor="end">{escape(lab)}</text>')
        out.extend(f'<circle cx="{_f(X(p))}" cy="{_f(yc + j)}" r="1.6" fill="{col}" fill-opacity="0.35"/>'
                   for p, j in zip(pts, jitter, strict=True))
        tip = escape(f"{lab}: median {p50:.4g} {unit}, p25–p75 {p25:.4g}–{p75:.4g}, p5–p95 {p5:.4g}–{p95:.4g}, "
                     f"{v.size} runs")
        out.append(f'<g class="mark"><title>{tip}</title>'
                   f'<line x1="{_f(X(p5))}" y1="{_f(yc)}" x2="{_f(X(p95))}" y2="{_f(yc)}" stroke="#333"/>'
                   f'<rect x="{_f(X(p25))}" y="{_f(yc - 9)}" width="{_f(max(X(p75) - X(p25), 1))}" height="18" '
                   f'fill="{col}" fill-opacity="0.45" stroke="#333"/>'
                   f'<line x1="{_f(X(p50))}" y1="{_f(yc - 11)}" x2="{_f(X(p50))}" y2="{_f(yc + 11)}" stroke="#000" '
                   f'stroke-width="2"/></g>')
    out.append("</svg>")
    return "\n".join(out)


def heatmap(kind: str, title: str, matrix: Sequence[Sequence[int]], labels: Sequence[str], *,
            x_title: str = "predicted", y_title: str = "true", cell: int = 0) -> str:
    """A confusion matrix: rows true class, columns predicted, shade by row share, counts in the cells."""
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    cell = cell or max(14, min(40, 480 // max(n, 1)))
    label_w = min(160, 16 + 7 * max((len(s) for s in labels), default=2))
    top = 40
    w = label_w + n * cell + 60
    h = top + n * cell + 40
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    out = _open(kind, title, max(w, 320), h)
    for i in range(n):
        out.append(f'<text x="{label_w - 4}" y="{_f(top + i * cell + cell / 2 + 4)}" text-anchor="end">'
                   f'{escape(labels[i])}</text>')
        out.append(f'<text x="{_f(label_w + i * cell + cell / 2)}" y="{top - 6}" text-anchor="middle" '
                   f'font-size="10">{escape(labels[i][:4])}</text>')
        for j in range(n):
            s = float(share[i, j])
            fill = "#f5f5f5" if m[i, j] == 0 else (PALETTE["float"] if i == j else PALETTE["fail"])
            opacity = 1.0 if m[i, j] == 0 else 0.15 + 0.85 * s
            out.append(f'<rect class="mark" x="{label_w + j * cell}" y="{top + i * cell}" width="{cell - 1}" '
                       f'height="{cell - 1}" fill="{fill}" fill-opacity="{_f(opacity)}"><title>'
                       f'{escape(f"true {labels[i]} → predicted {labels[j]}: {int(m[i, j])}")}</title></rect>')
            if m[i, j] and cell >= 18:
                out.append(f'<text x="{_f(label_w + j * cell + cell / 2)}" y="{_f(top + i * cell + cell / 2 + 4)}" '
                           f'text-anchor="middle" font-size="10" fill="{"#fff" if s > 0.5 else "#222"}">'
                           f'{int(m[i, j])}</text>')
    out.append(f'<text x="{_f(label_w + n * cell / 2)}" y="{h - 8}" text-anchor="middle" fill="#555">'
               f'{escape(x_title)} →</text>')
    out.append(f'<text x="{_f(label_w + n * cell + 6)}" y="{top + 10}" fill="#555">← {escape(y_title)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def line(kind: str, title: str, series: dict[str, Sequence[float]], *,
         references: Sequence[tuple[str, float]] = (), x_label: str = "round", fmt: Callable[[float], str] = _f,
         width: int = 720, height: int = 220) -> str:
    """Lines over an index (e.g. per-round ratios), with dashed horizontal reference values (baseline, limit)."""
    vals = [v for vs in series.values() for v in vs if _ok(v)] + [v for _, v in references if _ok(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    left, top, bottom = 70, 40, 30
    n = max((len(vs) for vs in series.values()), default=1)
    plot_w, plot_h = width - left - 20, height - top - bottom
    X = lambda i: left + (i / max(n - 1, 1)) * plot_w  # noqa: E731
    Y = lambda v: top + (hi - v) / (hi - lo) * plot_h  # noqa: E731
    out = _open(kind, title, width, height)
    out += _legend([(name, color(i)) for i, name in enumerate(series)], left, 30)
    for t in _ticks(lo, hi, 4):
        out.append(f'<line x1="{left}" y1="{_f(Y(t))}" x2="{width - 20}" y2="{_f(Y(t))}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{_f(Y(t) + 4)}" text-anchor="end" fill="#555">{escape(fmt(t))}</text>')
    for name, v in references:
        if not _ok(v):
            continue
        out.append(f'<line x1="{left}" y1="{_f(Y(v))}" x2="{width - 20}" y2="{_f(Y(v))}" stroke="#666" '
                   f'stroke-dasharray="5 4"><title>{escape(f"{name}: {fmt(v)}")}</title></line>'
                   f'<text x="{width - 22}" y="{_f(Y(v) - 4)}" text-anchor="end" fill="#555">{escape(name)}</text>')
    for i, (name, vs) in enumerate(series.items()):
        pts = [(X(k), Y(v)) for k, v in enumerate(vs) if _ok(v)]
        if not pts:
            continue
        out.append(f'<polyline class="mark" fill="none" stroke="{color(i)}" stroke-width="1.5" points="'
                   + " ".join(f"{_f(x)},{_f(y)}" for x, y in pts) + f'"><title>{escape(name)}</title></polyline>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle" fill="#555">'
               f'{escape(x_label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def histogram(kind: str, title: str, values: Sequence[float], *, x_label: str = "", bins: int = 0,
              fmt: Callable[[float], str] = _f, width: int = 720, height: int = 200) -> str:
    """Vertical bars counting ``values`` per bin (e.g. per-sample losses); values that are not finite are left out.

    ``bins`` 0 picks about √n bins (at most 30): enough to show the shape of a few hundred samples without
    leaving most bins empty. All-equal values make one bin, drawn at full width.
    """
    v = np.asarray([x for x in values if _ok(x)], dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    n_bins = 1 if hi <= lo else (bins or int(min(30, max(5, math.ceil(math.sqrt(v.size))))))
    counts, edges = np.histogram(v, bins=n_bins, range=(lo, hi if hi > lo else lo + 1.0))
    left, top, bottom = 50, 32, 40
    plot_w, plot_h = width - left - 20, height - top - bottom
    c_max = _nice_max(float(counts.max(initial=1)))
    bw = plot_w / n_bins
    out = _open(kind, title, width, height)
    for t in _ticks(0.0, c_max, 4):
        y = top + plot_h * (1 - t / c_max)
        out.append(f'<line x1="{left}" y1="{_f(y)}" x2="{width - 20}" y2="{_f(y)}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" fill="#555">{_f(t)}</text>')
    for i, c in enumerate(counts):
        if c == 0:
            continue
        h = plot_h * c / c_max
        tip = escape(f"{fmt(edges[i])} … {fmt(edges[i + 1])}: {int(c)}")
        out.append(f'<rect class="mark" x="{_f(left + i * bw + 1)}" y="{_f(top + plot_h - h)}" '
                   f'width="{_f(max(bw - 2, 1))}" height="{_f(h)}" fill="{PALETTE["int8"]}">'
                   f'<title>{tip}</title></rect>')
    ends = ((left, lo), (left + plot_w, hi)) if hi > lo else ((left + plot_w / 2, lo),)   # one bin: one value
    for x, val in ends:
        out.append(f'<text x="{_f(x)}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">'
                   f'{escape(fmt(val))}</text>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle" fill="#555">'
               f'{escape(x_label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
