"""The compare page's task section: the verdict in the model's own task (metrics with intervals), the worst
samples drawn with the float and int8 results over the model's input, per-class AP or the loss histogram, and
the worst-first list.

Drawings are an ``<img>`` (the input as an inline PNG) under an inline ``<svg>`` in display pixels, so a test
(or a reader's devtools) can count the marks: ``.box``, ``.kp`` and ``.pt`` elements carry ``float``/``int8``.
Float is drawn solid and int8 dashed in the two report colours: identical results still show both.
"""

from __future__ import annotations

import base64
import colorsys
import io
import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.html import svg

if TYPE_CHECKING:
    from edgelite.runtime.tasks.base import SampleView, TaskFigures, TaskMetric

DISPLAY = 240      # px, the longer side of a drawn sample: six fit in two rows of the 960 px page
PAIR_DISPLAY = 200  # px, the same for each half of a float | int8 mask pair: two pairs fit in a row
MAX_PNG = 320      # px, the longer side of an embedded PNG: bounds the page size for large model inputs
MAX_LISTED = 20    # worst samples listed; the JSON report has them all
SIDES = (("float", svg.PALETTE["float"], ""), ("int8", svg.PALETTE["int8"], "4 3"))   # name, colour, dash

CSS = """
.views { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.view { margin: 0; background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 6px; }
.view figcaption { font-size: 12px; color: #444; margin-top: 4px; max-width: 500px; overflow-wrap: anywhere; }
.pair { display: flex; gap: 6px; }
.stage { position: relative; background: #777; }
.stage > img, .stage > svg { position: absolute; left: 0; top: 0; }
.stage > img.mask { image-rendering: pixelated; opacity: 0.5; }
.side-label { position: absolute; left: 3px; top: 2px; font-size: 11px; color: #fff; background: #0008;
              padding: 0 4px; border-radius: 3px; }
.legend { font-size: 12px; color: #444; } .legend span { margin-right: 14px; }
.swatch { display: inline-block; width: 18px; height: 0; vertical-align: middle; margin-right: 4px;
          border-top: 2px solid; }
tr.headline td { font-weight: 600; }
"""


# ---- the input image ----------------------------------------------------------------------------------------
def _channels_last(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) from what the model got: a leading batch of one dropped, channels-first moved last."""
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[-1] not in (1, 3, 4) and a.shape[0] in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] != 3:
        a = a[..., 0] if a.shape[-1] != 4 else a[..., :3]   # gray, or RGB without the alpha/4th channel
    return a


def displayable(image: Any) -> np.ndarray | None:
    """The model input as 8-bit pixels: min..max stretched to 0..255, since the model may have got any
    normalisation ([0, 1], [-1, 1], mean/std); None where it is not an image (2-D or 3-D after squeezing)."""
    a = _channels_last(np.asarray(image, dtype=np.float64))
    if a.ndim not in (2, 3) or a.size == 0:
        return None
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    a = np.where(finite, a, lo)
    scaled = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.full(a.shape, 128.0)
    out: np.ndarray = np.round(scaled).astype(np.uint8)
    return out


def png_uri(pixels: np.ndarray, *, smooth: bool = True) -> str:
    """A data: URI of ``pixels`` (uint8 gray, RGB or RGBA) as PNG, shrunk to ``MAX_PNG`` on the longer side."""
    from PIL import Image

    img = Image.fromarray(pixels)
    if max(img.size) > MAX_PNG:
        # masks keep hard class edges; photos shrink smoothly
        img.thumbnail((MAX_PNG, MAX_PNG), Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _display_size(shape: Sequence[int], longest: int = DISPLAY) -> tuple[int, int]:
    """(width, height) in page pixels for an image of ``shape`` (H, W, ...): the longer side ``longest``."""
    h, w = int(shape[0]), int(shape[1])
    scale = longest / max(h, w, 1)
    return max(1, round(w * scale)), max(1, round(h * scale))


# ---- overlays ------------------------------------------------------------------------------------------------
def _n(v: float) -> str:
    return f"{v:.1f}"


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _dot(side: str, colour: str, r: float) -> str:
    """A point's look: float a filled dot, int8 a wider ring around it, so a float point under an identical int8
    point still shows."""
    if side == "float":
        return f'r="{r * 0.7:.1f}" fill="{colour}"'
    return f'r="{r:.1f}" fill="none" stroke="{colour}" stroke-width="1.2"'


def _boxes(dets: Any, side: str, colour: str, dash: str, w: int, h: int) -> list[str]:
    """One ``rect.box`` per finite box and one ``circle.kp`` per finite keypoint of a ``Detections``."""
    out = []
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(dets.scores, np.float64).reshape(-1)
    for (x0, y0, x1, y1), score in zip(boxes, scores, strict=True):
        if not _finite(x0, y0, x1, y1):
            continue
        out.append(f'<rect class="box {side}" x="{_n(x0 * w)}" y="{_n(y0 * h)}" width="{_n(max(x1 - x0, 0) * w)}" '
                   f'height="{_n(max(y1 - y0, 0) * h)}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}>'
                   f'<title>{escape(f"{side}: score {score:.3f}")}</title></rect>')
    if dets.keypoints is not None:
        for x, y in np.asarray(dets.keypoints, np.float64).reshape(-1, 2):
            if _finite(x, y):
                out.append(f'<circle class="kp {side}" cx="{_n(x * w)}" cy="{_n(y * h)}" {_dot(side, colour, 3.5)}/>')
    return out


def _points(points: Any, side: str, colour: str, w: int, h: int) -> list[str]:
    """One ``circle.pt`` per finite (x, y) landmark."""
    dot = _dot(side, colour, 2.2)
    return [f'<circle class="pt {side}" cx="{_n(x * w)}" cy="{_n(y * h)}" {dot}/>'
            for x, y in np.asarray(points, np.float64).reshape(-1, 2) if _finite(x, y)]


def _svg(w: int, h: int, marks: Sequence[str]) -> str:
    return (f'<svg class="overlay" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
            f'height="{h}">' + "".join(marks) + "</svg>")


def _input_img(pixels: np.ndarray | None, w: int, h: int, sample: str) -> str:
    if pixels is None:
        return ""
    return (f'<img class="input" src="{png_uri(pixels)}" width="{w}" height="{h}" '
            f'alt="{escape(f"model input of {sample}")}">')


def _stage(w: int, h: int, inner: str) -> str:
    return f'<div class="stage" style="width:{w}px;height:{h}px">{inner}</div>'


def _drawn_over_input(view: SampleView, kind: str) -> str:
    """The input with both sides' boxes (detect) or points (landmarks) over it."""
    pixels = None if view.image is None else displayable(view.image)
    w, h = _display_size(pixels.shape) if pixels is not None else (DISPLAY, DISPLAY)
    marks: list[str] = []
    for (side, colour, dash), result in zip(SIDES, (view.reference, view.candidate), strict=True):
        if result is None:
            continue
        marks += _boxes(result, side, colour, dash, w, h) if kind == "detect" else _points(result, side, colour, w, h)
    return _stage(w, h, _input_img(pixels, w, h, view.id) + _svg(w, h, marks))


def class_rgb(c: int) -> tuple[int, int, int]:
    """Class ``c``'s colour: hues a golden angle apart, so neighbouring and far-apart class ids (a 21-class label
    map) differ, where the 8-colour chart cycle would repeat."""
    r, g, b = colorsys.hsv_to_rgb((c * 0.618034) % 1.0, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def class_colours(mask: np.ndarray) -> np.ndarray:
    """RGBA pixels of a class mask: each class its colour, class 0 clear — it is the background of one-channel
    masks and of most label maps, and painting it would hide the image under it."""
    m = np.asarray(mask).astype(np.int64)
    lut = np.array([[0, 0, 0, 0]] + [[*class_rgb(c), 255] for c in range(1, 256)], np.uint8)
    out: np.ndarray = lut[np.clip(m, 0, 255)]
    return out


def _masks_side_by_side(view: SampleView) -> str:
    """float | int8: each the input under its semi-transparent class mask, scaled to the input's size."""
    pixels = None if view.image is None else displayable(view.image)
    shape = pixels.shape if pixels is not None else np.shape(view.reference)
    w, h = _display_size(shape, PAIR_DISPLAY)
    stages = []
    for (side, _, _), mask in zip(SIDES, (view.reference, view.candidate), strict=True):
        if mask is None or np.ndim(mask) != 2:
            continue
        overlay = (f'<img class="mask {side}" src="{png_uri(class_colours(mask), smooth=False)}" width="{w}" '
                   f'height="{h}" alt="{escape(f"{side} mask of {view.id}")}">')
        stages.append(_stage(w, h, _input_img(pixels, w, h, view.id) + overlay
                             + f'<span class="side-label">{side}</span>'))
    return '<div class="pair">' + "".join(stages) + "</div>"


def _view(view: SampleView, kind: str, rank: int) -> str:
    drawn = _masks_side_by_side(view) if kind == "segment" else _drawn_over_input(view, kind)
    caption = f"#{rank} · {view.id} · loss {view.loss:.4g}"
    return (f'<figure class="view" data-sample="{escape(view.id)}">{drawn}'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _class_legend(views: Sequence[SampleView], names: Sequence[str] | None = None) -> str:
    """A swatch per class painted in the drawn masks (either side), class 0 being left clear; named by the
    file's labels when they name the classes."""
    present: set[int] = set()
    for v in views:
        for mask in (v.reference, v.candidate):
            if mask is not None and np.ndim(mask) == 2:
                present.update(int(c) for c in np.unique(np.asarray(mask)) if 0 < c < 256)
    items = "".join(f'<span class="class-swatch"><i class="swatch" style="border-top:8px solid rgb{class_rgb(c)};'
                    f'opacity:0.6"></i>{_class_label(c, names)}</span>' for c in sorted(present))
    return ('<p class="legend">float mask | int8 mask, one colour per class over the input (class 0 left clear): '
            f"{items or 'no class but 0 painted'}</p>")


def _class_label(c: int, names: Sequence[str] | None) -> str:
    return escape(f"{names[c]} ({c})") if names is not None and c < len(names) else f"class {c}"


def _legend(kind: str, views: Sequence[SampleView], details: dict[str, Any] | None = None) -> str:
    if kind == "segment":
        names = (details or {}).get("class_names")
        return _class_legend(views, names if isinstance(names, list) else None)
    what = {("detect", "float"): "boxes (solid), keypoints (dots)", ("detect", "int8"): "boxes (dashed), keypoints "
            "(rings)", ("landmarks", "float"): "points (dots)", ("landmarks", "int8"): "points (rings)"}
    items = "".join(f'<span><i class="swatch" style="border-top-color:{colour};border-top-style:'
                    f'{"dashed" if dash else "solid"}"></i>{side} {what[kind, side]}</span>'
                    for side, colour, dash in SIDES)
    return f'<p class="legend">{items}</p>'


def views_section(task: TaskFigures) -> list[str]:
    if task.kind not in ("detect", "landmarks", "segment"):
        return []
    out = ["<h3>Worst samples, drawn</h3>"]
    if not task.views:
        out.append('<p class="meta">No drawings: a saved run keeps the figures but not the model inputs and '
                   "decoded results.</p>")
        return out
    out.append(_legend(task.kind, task.views, task.details))
    out.append('<div class="views">' + "".join(_view(v, task.kind, k + 1) for k, v in enumerate(task.views))
               + "</div>")
    return out


# ---- figures -------------------------------------------------------------------------------------------------
def _label(name: str) -> str:
    from edgelite.runtime.tasks.base import info

    try:
        return f"{info(name).label} ({name})"
    except KeyError:   # a metric this version's catalogue does not know (a newer report)
        return name


def _g(v: float | None, spec: str = ".4g") -> str | None:
    return None if v is None else format(v, spec)


def _metric_row(name: str, m: TaskMetric) -> tuple[str | None, ...]:
    ci = None if m.delta_ci95 is None else f"{m.delta_ci95[0]:+.4g} … {m.delta_ci95[1]:+.4g}"
    return (_label(name), _g(m.reference), _g(m.candidate), _g(m.delta, "+.4g"), ci)


def metrics_table(task: TaskFigures) -> str:
    from edgelite.html.pages import html_table

    names = list(task.metrics)
    rows = [_metric_row(n, task.metrics[n]) for n in names]
    return html_table(("metric", "float", "int8", "delta", "95 % CI of delta"), rows, numeric=(1, 2, 3),
                      row_class=lambda i: "headline" if names[i] == task.headline else "")


def _per_class_ap(per_class: Any) -> str | None:
    """Bars of AP per class (%), float vs int8; None when the record holds no usable figures."""
    if not isinstance(per_class, dict) or not per_class:
        return None
    labels = [str(c) for c in per_class]

    def side(key: str) -> list[float | None]:
        return [None if not isinstance(v, dict) or v.get(key) is None else 100.0 * float(v[key])
                for v in per_class.values()]

    series = {"float": side("reference"), "int8": side("candidate")}
    if all(v is None for vs in series.values() for v in vs):
        return None
    return svg.bars("per-class-ap", "Average precision per class (%)", labels, series,
                    {"float": svg.PALETTE["float"], "int8": svg.PALETTE["int8"]}, x_max=100.0,
                    fmt=lambda v: f"{v:.1f}", bar=8)


def distribution_chart(task: TaskFigures, samples: int | None = None) -> str | None:
    """Per-class AP where the task measured it (labelled detection), else the histogram of per-sample losses
    (of the worst ``len(task.worst)`` of ``samples`` where the report kept only those)."""
    chart = _per_class_ap((task.details or {}).get("per_class_ap"))
    if chart is not None:
        return chart
    losses = [s.loss for s in task.worst]
    if not any(math.isfinite(v) for v in losses):
        return None
    over = (f"the {len(losses)} worst of {samples} samples" if samples is not None and samples > len(losses)
            else f"{len(losses)} samples")
    return svg.histogram("task-losses", f"Per-sample loss over {over} (the error histogram)", losses,
                         x_label="per-sample loss", fmt=lambda v: f"{v:.3g}")


def worst_table(task: TaskFigures) -> list[str]:
    from edgelite.html.pages import html_table

    if not task.worst:
        return []
    rows = [(k + 1, s.id, f"{s.loss:.4g}") for k, s in enumerate(task.worst[:MAX_LISTED])]
    out = ["<h3>Worst samples</h3>", html_table(("#", "sample", "loss"), rows, numeric=(0, 2))]
    if len(task.worst) > MAX_LISTED:
        out.append(f'<p class="meta">{len(task.worst) - MAX_LISTED} more in the JSON report.</p>')
    return out


def task_section(task: TaskFigures | None, samples: int | None = None) -> list[str]:
    """The whole section (``samples``: how many the run evaluated); nothing for a report without a task (one
    written before tasks existed)."""
    if task is None:
        return []
    out = [f'<section class="task" data-task="{escape(task.kind)}">',
           f"<h2>Task: {escape(task.kind)}</h2>",
           f'<p class="task-headline"><b>{escape(task.headline_line())}</b></p>',
           f'<p class="meta">why this task: {escape(task.basis)}</p>',
           metrics_table(task),
           f'<p class="meta">method: {escape(task.method)}</p>',
           *(f'<p class="note">{escape(n)}</p>' for n in task.notes)]
    out += views_section(task)
    chart = distribution_chart(task, samples)
    if chart is not None:
        out.append(chart)
    out += worst_table(task)
    out.append("</section>")
    return out
