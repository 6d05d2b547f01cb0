"""``analyze``: which layers break int8, ranked.

Two measurements per layer, both on the same evaluation samples:

* **tensor error** — the layer's output in the int8 model against the same tensor in the float model (both
  run by LiteRT with every intermediate tensor preserved): RMSE, RMSE in quantization steps (RMSE / scale),
  SNR in dB and max abs error. This is the error *accumulated* up to that layer, what TF's QuantizationDebugger
  calls whole-model verification.
* **weight noise** — the noise-to-signal ratio the layer's int8 weights add to its output, estimated from the
  float weights and the per-channel input and output powers of the same one pass (what keeping the layer float
  removes: its output is re-quantized for the next int8 op either way). It ranks every layer at once.
* **contribution** — how much of the model's output error disappears when only this layer stays float
  (re-quantized from the same calibration and scored: ~0.4 s each on a face-mesh-size model):
  ``100 × (1 − noise_without / noise_full)``. Measured for the layers the weight noise ranks first (``measure``,
  default 10; ``None``: every layer), two at a time; the others keep ``contribution_pct`` null.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import Samples, shape_of
from edgelite.converter import preflight
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.config import ConvertConfig, QuantMode
from edgelite.converter.prepare import input_pin, prepared
from edgelite.converter.scoring import Score, Scorer, task_for
from edgelite.core import metrics, progress
from edgelite.core.errors import UserInputError
from edgelite.core.report import OMIT_NONE, Record, Report
from edgelite.core.version import __version__
from edgelite.runtime import tflite_file
from edgelite.runtime.intermediates import ChannelPower, ErrorStats, Tap, sample_loop


@dataclass(frozen=True)
class TensorError(Record):
    """A layer's int8 output tensor against the same tensor in the float model, over the samples."""

    rmse: float
    rmse_per_scale: float | None      # RMSE in quantization steps (None: the tensor is not quantized)
    snr_db: float | None              # None: identical
    max_abs_error: float
    scale: float | None

    float_digits = 6


@dataclass(frozen=True)
class LayerRow(Record):
    """One candidate layer, ranked by how much of the int8 output noise keeping it float removes."""

    rank: int
    index: int
    op: str
    tensor: str
    layer: str | None
    contribution_pct: float | None      # None: not measured (ranked below ``measure`` by its weight noise)
    loss_pts_if_float: float | None
    size_bytes_if_float: int | None
    error: TensorError | None = None    # None: the tensor is not readable in both models
    weight_noise: float | None = None   # estimated NSR its int8 weights add (None: an op without weights)

    @property
    def label(self) -> str:
        """The Keras layer, else the converter's tensor name up to the first ';' (as ``Node.label``)."""
        return self.layer or self.tensor.split(";")[0]

    def to_dict(self) -> dict[str, Any]:
        # JSON keeps the error figures flat, between the node and the contribution (schema 1)
        d = super().to_dict()
        error = d.pop("error") or {}
        head = {k: d.pop(k) for k in ("rank", "index", "op", "tensor", "layer")}
        return {**head, **error, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerRow:
        keys = [f.name for f in dataclasses.fields(TensorError)]
        error = TensorError.from_dict({k: data[k] for k in keys}) if all(k in data for k in keys) else None
        return cls(**{k: v for k, v in data.items() if k not in keys}, error=error)


@dataclass(frozen=True)
class AnalyzeReport(Report):
    kind = "analyze"
    schema_version = 1

    source: str
    samples: int
    evaluated_on: str                 # the --eval source, or the calibration data when none was given
    labelled: bool
    float_top1: float | None
    int8: Score                       # the plain int8 model
    layers: list[LayerRow]            # ranked, most harmful first
    preflight: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    edgelite_version: str = __version__
    metric: str | None = field(default=None, metadata=OMIT_NONE)   # a task's loss the layers are ranked by


WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class LayerErrors:
    """One paired pass of the float and the int8 model: each node's output error, and the noise its int8
    weights add."""

    errors: dict[str, TensorError]        # by tensor name
    weight_noise: dict[int, float]        # node index → estimated noise-to-signal ratio of its weight rounding


def weight_noise(cal: Calibrated, node: Node, op: tflite_file.OpInfo | None, power: ChannelPower) -> float | None:
    """The noise-to-signal ratio int8 weights add to a layer's output: Σ_c Σ_i ΔW²_ci · E[x_i²] over Σ_c E[y_c²],
    with ΔW the per-channel symmetric int8 rounding of the float weights (as TFLite quantizes them) and the
    input and output powers from the float model — what keeping the layer float removes (its output is still
    re-quantized for the next int8 op). None for an op without weights (keeping it float removes ~nothing)."""
    if node.op not in WEIGHT_OPS or op is None or len(op.inputs) < 2:
        return None
    w = tflite_file.op_constants(cal.data, node.index)[1]
    p_in, p_out = power.power(op.inputs[0].name), power.power(node.tensor)
    if w is None or p_in is None or p_out is None or w.dtype != np.float32:
        return None
    w = w.astype(np.float64)
    axis = w.ndim - 1 if node.op == "DEPTHWISE_CONV_2D" else 0      # the output-channel axis of each layout
    peak = np.max(np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)), axis=1)
    shape = [1] * w.ndim
    shape[axis] = -1
    scale = np.where(peak > 0, peak / 127.0, 1.0).reshape(shape)
    dw2 = (np.round(w / scale) * scale - w) ** 2
    if node.op == "DEPTHWISE_CONV_2D":     # [1, kh, kw, in·mult]: output channel c reads input channel c // mult
        per_out = dw2.reshape(-1, dw2.shape[-1]).sum(axis=0)
        noise = float(np.sum(per_out * np.repeat(p_in, max(per_out.size // max(p_in.size, 1), 1))[: per_out.size]))
    else:                                  # [out, (kh, kw,) in]: input channels on the last axis
        if dw2.shape[-1] != p_in.size:
            return None
        noise = float(np.sum(dw2.reshape(-1, p_in.size) * p_in))
    signal = float(np.sum(p_out))
    return noise / signal if signal > 0 else None


def layer_errors(cal: Calibrated, float_bytes: bytes, quant_bytes: bytes, x: Samples, nodes: Sequence[Node]
                 ) -> LayerErrors:
    """RMSE, RMSE/scale, SNR dB and max abs error of each node's int8 tensor vs the float one, and the noise
    each node's int8 weights add, from one lockstep pass over ``x``."""
    shape = shape_of(x)
    f_tap, q_tap = Tap(float_bytes, shape), Tap(quant_bytes, shape)
    ops = {op.index: op for op in tflite_file.op_inventory(cal.data)}
    inputs = {n.index: ops[n.index].inputs[0].name for n in nodes if n.index in ops and ops[n.index].inputs
              and n.op in WEIGHT_OPS}
    names = sorted(n.tensor for n in nodes if f_tap.has(n.tensor) and q_tap.has(n.tensor))
    stats = ErrorStats(names)
    power = ChannelPower(sorted({*(n.tensor for n in nodes if n.index in inputs), *inputs.values()} &
                                {t for t in f_tap.details if f_tap.has(t)}))
    sample_loop([f_tap, q_tap], x, [stats, power], desc="layer errors")
    errors = {}
    for name in stats.count:
        sq, n = stats.sq_err[name], stats.count[name]
        rmse = float(np.sqrt(sq / max(n, 1)))
        scale = q_tap.scale(name)
        errors[name] = TensorError(rmse=rmse, rmse_per_scale=rmse / scale if scale else None,
                                   snr_db=metrics.snr_db(stats.sq_ref[name], sq), max_abs_error=stats.max_abs[name],
                                   scale=scale)
    noise = {node.index: v for node in nodes if (v := weight_noise(cal, node, ops.get(node.index), power)) is not None}
    return LayerErrors(errors, noise)


def by_weight_noise(nodes: Sequence[Node], noise: dict[int, float]) -> list[Node]:
    """Most weight noise first; ops without weights last; ties keep graph order."""
    return sorted(nodes, key=lambda n: (n.index not in noise, -noise.get(n.index, 0.0), n.index))


def contributions(cal: Calibrated, scorer: Scorer, nodes: Sequence[Node], *, desc: str = "layers"
                  ) -> dict[int, Score]:
    """Score of the model with each node alone kept float (node index → Score). Two at a time: while one
    candidate is quantized, the other is scored (LiteRT's invoke releases the GIL; measured 1.6× on 2 cores)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(node: Node) -> Score:
        return scorer.score(cal.quantize([node]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = list(progress.bar(pool.map(one, nodes), total=len(nodes), desc=desc, unit="layer"))
    return {node.index: s for node, s in zip(nodes, scores, strict=True)}


def contribution_pct(full: Score, alone: Score) -> float:
    """Share of the int8 model's output noise removed by keeping one layer float (negative: it got worse)."""
    if full.noise == 0.0:
        return 0.0
    return 100.0 * (1.0 - alone.noise / full.noise)


def rank(nodes: Sequence[Node], full: Score, alone: dict[int, Score], *, by_loss: bool = False) -> list[Node]:
    """Most helpful-to-keep-float first: by the share of output noise removed, then the loss; ``by_loss`` (a task
    metric is in effect) by what each layer costs in that metric — the loss when it alone stays float — then
    the noise share. Ties keep graph order, so the ranking is deterministic."""
    if by_loss:
        return sorted(nodes, key=lambda n: (alone[n.index].loss_pts, -contribution_pct(full, alone[n.index]),
                                            n.index))
    return sorted(nodes, key=lambda n: (-contribution_pct(full, alone[n.index]), alone[n.index].loss_pts, n.index))


def analyze_calibrated(cal: Calibrated, scorer: Scorer, *, source: str, evaluated_on: str,
                       preflight: list[str], timings: dict[str, float], measure: int | None = 10) -> AnalyzeReport:
    t0 = time.perf_counter()
    full_bytes = cal.quantize()
    full = scorer.score(full_bytes)
    nodes = list(cal.candidates)
    found = layer_errors(cal, cal.float_model(), full_bytes, scorer.x, nodes)
    timings["tensor_errors_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = by_weight_noise(nodes, found.weight_noise)
    chosen = first if measure is None else first[:measure]
    alone = contributions(cal, scorer, chosen)
    timings["contributions_s"] = time.perf_counter() - t0
    rest = [n for n in first if n.index not in alone]
    rows = []
    for i, node in enumerate([*rank(chosen, full, alone, by_loss=scorer.task is not None), *rest], 1):
        s = alone.get(node.index)
        rows.append(LayerRow(rank=i, index=node.index, op=node.op, tensor=node.tensor, layer=node.layer,
                             contribution_pct=None if s is None else round(contribution_pct(full, s), 3),
                             loss_pts_if_float=None if s is None else round(s.loss_pts, 4),
                             size_bytes_if_float=None if s is None else s.size_bytes,
                             error=found.errors.get(node.tensor),
                             weight_noise=(round(found.weight_noise[node.index], 8)
                                           if node.index in found.weight_noise else None)))
    return AnalyzeReport(source=source, samples=int(len(scorer.x)), evaluated_on=evaluated_on,
                         labelled=scorer.y is not None, float_top1=scorer.float_top1, int8=full,
                         layers=rows, preflight=preflight,
                         timings={k: round(v, 3) for k, v in timings.items()},
                         metric=scorer.metric_name if scorer.task is not None else None)


def analyze(cfg: ConvertConfig, *, measure: int | None = 10) -> AnalyzeReport:
    """Calibrate ``cfg.model`` as ``convert`` would and rank its layers by the int8 error they cause.

    Evaluates on ``cfg.eval`` when given (labels give top-1), else on the calibration samples. The
    contribution of the ``measure`` layers with the most weight noise is measured (None: of every layer)."""
    if cfg.mode is not QuantMode.INT8:
        raise UserInputError(f"analyze measures int8 error; --mode {cfg.mode.value} is not supported")
    warnings = cfg.validate(writes_output=False)
    with prepared(cfg, warnings) as prep:
        assert prep.calib is not None
        t0 = time.perf_counter()
        cal = Calibrated(prep.src, cfg, prep.calib.x, input_pin(cfg, prep.spec, warnings))
        prep.timings["calibrate_s"] = time.perf_counter() - t0
        ev = prep.eval_data(cfg) if cfg.eval is not None else prep.calib
        warnings.extend(prep.data_warnings(cfg, ev if cfg.eval is not None else None))
        warnings.extend(preflight.graph_warnings(cal, prep.calib.x))
        float_bytes = cal.float_model()
        scorer = Scorer(float_bytes, ev.x, ev.y if cfg.eval is not None else None,
                        task=task_for(cfg.task, float_bytes, labels=prep.labels, source=cfg.model),
                        ids=prep.eval_ids if cfg.eval is not None else None,
                        crop_fraction=prep.crop_fraction)
        return analyze_calibrated(cal, scorer, source=str(cfg.model),
                                  evaluated_on=str(cfg.eval) if cfg.eval is not None
                                  else f"{cfg.calib} (calibration data)",
                                  preflight=warnings, timings=prep.timings, measure=measure)
