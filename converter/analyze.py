"""``analyze``: which layers break int8, ranked.

Two measurements per layer, both on the same evaluation samples:

* **tensor error** — the layer's output in the int8 model against the same tensor in the float model (both
  run by LiteRT with every intermediate tensor preserved): RMSE, RMSE in quantization steps (RMSE / scale),
  SNR in dB and max abs error. This is the error *accumulated* up to that layer, what TF's QuantizationDebugger
  calls whole-model verification.
* **contribution** — how much of the model's output error disappears when only this layer stays float
  (re-quantized from the same calibration, ~20 ms each): ``100 × (1 − noise_without / noise_full)``. This is
  the number that ranks the table and drives ``--max-drop``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from edgelite.converter import preflight
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.converter.config import ConvertConfig, QuantMode
from edgelite.converter.judge import Judge, Score, preserving_interpreter, set_input
from edgelite.converter.prepare import input_pin, prepared
from edgelite.core import metrics
from edgelite.core.errors import UserInputError
from edgelite.core.report import Record, Report
from edgelite.core.version import __version__


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
    contribution_pct: float
    loss_pts_if_float: float
    size_bytes_if_float: int
    error: TensorError | None = None  # None: the tensor is not readable in both models

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


def tensor_errors(float_bytes: bytes, quant_bytes: bytes, x: np.ndarray, nodes: Sequence[Node]
                  ) -> dict[str, TensorError]:
    """Per node tensor: RMSE, RMSE/scale, SNR dB and max abs error of the int8 tensor vs the float one."""
    shape = tuple(x.shape[1:])
    f_int, q_int = preserving_interpreter(float_bytes, shape), preserving_interpreter(quant_bytes, shape)
    f_idx = {d["name"]: d for d in f_int.get_tensor_details()}
    q_idx = {d["name"]: d for d in q_int.get_tensor_details()}
    names = [n.tensor for n in nodes if n.tensor in f_idx and n.tensor in q_idx]
    acc = {name: [0.0, 0.0, 0.0, 0] for name in names}  # squared error, squared signal, max abs, count
    for sample in x:
        for interp in (f_int, q_int):
            set_input(interp, sample)
            interp.invoke()
        for name in names:
            ref = f_int.get_tensor(f_idx[name]["index"]).astype(np.float64)
            qd = q_idx[name]
            raw = q_int.get_tensor(qd["index"])
            scale, zp = qd["quantization"]
            got = metrics.dequantize(raw, scale, zp).astype(np.float64) if scale else raw.astype(np.float64)
            err = got - ref
            a = acc[name]
            a[0] += float(np.sum(err ** 2))
            a[1] += float(np.sum(ref ** 2))
            a[2] = max(a[2], float(np.max(np.abs(err))) if err.size else 0.0)
            a[3] += err.size
    result = {}
    for name, (sq, sig, mx, n) in acc.items():
        rmse = float(np.sqrt(sq / max(n, 1)))
        scale = q_idx[name]["quantization"][0]
        result[name] = TensorError(rmse=rmse, rmse_per_scale=rmse / scale if scale else None,
                                   snr_db=metrics.snr_db(sig, sq), max_abs_error=mx,
                                   scale=float(scale) if scale else None)
    return result


def contributions(cal: Calibrated, judge: Judge, nodes: Sequence[Node], *, desc: str = "layers"
                  ) -> dict[int, Score]:
    """Score of the model with each node alone kept float (node index → Score)."""
    scores = {}
    for node in tqdm(nodes, desc=desc, unit="layer", leave=False, disable=None):
        scores[node.index] = judge.score(cal.quantize([node]))
    return scores


def contribution_pct(full: Score, alone: Score) -> float:
    """Share of the int8 model's output noise removed by keeping one layer float (negative: it got worse)."""
    if full.noise == 0.0:
        return 0.0
    return 100.0 * (1.0 - alone.noise / full.noise)


def rank(nodes: Sequence[Node], full: Score, alone: dict[int, Score]) -> list[Node]:
    """Most helpful-to-keep-float first; ties keep graph order, so the ranking is deterministic."""
    return sorted(nodes, key=lambda n: (-contribution_pct(full, alone[n.index]), alone[n.index].loss_pts, n.index))


def analyze_calibrated(cal: Calibrated, judge: Judge, *, source: str, evaluated_on: str,
                       preflight: list[str], timings: dict[str, float]) -> AnalyzeReport:
    t0 = time.perf_counter()
    full_bytes = cal.quantize()
    full = judge.score(full_bytes)
    nodes = list(cal.candidates)
    errors = tensor_errors(cal.float_model(), full_bytes, judge.x, nodes)
    timings["tensor_errors_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = contributions(cal, judge, nodes)
    timings["contributions_s"] = time.perf_counter() - t0
    rows = []
    for i, node in enumerate(rank(nodes, full, alone), 1):
        s = alone[node.index]
        rows.append(LayerRow(rank=i, index=node.index, op=node.op, tensor=node.tensor, layer=node.layer,
                             contribution_pct=round(contribution_pct(full, s), 3),
                             loss_pts_if_float=round(s.loss_pts, 4), size_bytes_if_float=s.size_bytes,
                             error=errors.get(node.tensor)))
    return AnalyzeReport(source=source, samples=int(len(judge.x)), evaluated_on=evaluated_on,
                         labelled=judge.y is not None, float_top1=judge.float_top1, int8=full,
                         layers=rows, preflight=preflight,
                         timings={k: round(v, 3) for k, v in timings.items()})


def analyze(cfg: ConvertConfig) -> AnalyzeReport:
    """Calibrate ``cfg.model`` as ``convert`` would and rank its layers by the int8 error they cause.

    Evaluates on ``cfg.eval`` when given (labels give top-1), else on the calibration samples."""
    if cfg.mode is not QuantMode.INT8:
        raise UserInputError(f"analyze measures int8 error; --mode {cfg.mode.value} is not supported")
    warnings = cfg.validate(writes_output=False)
    with prepared(cfg, warnings) as prep:
        assert prep.calib is not None
        t0 = time.perf_counter()
        cal = Calibrated(prep.src, cfg, prep.calib.x, input_pin(cfg, prep.spec, warnings))
        prep.timings["calibrate_s"] = time.perf_counter() - t0
        ev = prep.eval_data(cfg) if cfg.eval is not None else prep.calib
        warnings.extend(preflight.data_warnings(
            prep.calib.x, prep.spec, arrays=prep.calib_is_arrays, source=str(cfg.calib),
            x_eval=ev.x if cfg.eval is not None else None, eval_source=str(cfg.eval)))
        warnings.extend(preflight.graph_warnings(cal, prep.calib.x))
        judge = Judge(cal.float_model(), ev.x, ev.y if cfg.eval is not None else None)
        return analyze_calibrated(cal, judge, source=str(cfg.model),
                                  evaluated_on=str(cfg.eval) if cfg.eval is not None
                                  else f"{cfg.calib} (calibration data)",
                                  preflight=warnings, timings=prep.timings)
