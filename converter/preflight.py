"""Pre-flight warnings: patterns known to hurt int8, found in the calibrated graph and the user's data.

Each check looks at what will actually be quantized — the TFLite graph after calibration (so SavedModels get
the same checks as Keras files) and activations measured on the calibration samples — and names the layer
and the fix. Warnings, not errors: a model may well survive them; ``analyze`` tells for sure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgelite.calibration.multi_input import Samples, shape_of
from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.converter.calibrated import Calibrated, Node
from edgelite.runtime import tflite_file
from edgelite.runtime.intermediates import ChannelMinMax, Tap, sample_loop

# Thresholds. int8 has 256 steps per tensor: a tensor spanning R has steps of R/255.
HUGE_RANGE_RATIO = 100.0      # a tensor whose range is this many times the model's median activation range
OUTLIER_CHANNEL_RATIO = 20.0  # widest channel range / median channel range of one tensor (per-tensor scale)
RELU6_BOUND = 6.0 + 1e-3
LARGE_POOL_AREA = 49          # 7×7 and up: each output averages many int8 steps into one
PREFLIGHT_SAMPLES = 32


def _channel_ranges(cal: Calibrated, x: Samples, nodes: Sequence[Node]) -> dict[str, np.ndarray]:
    """Per-channel (last axis) max − min of each node's float output over the samples."""
    model = cal.float_model()
    tap = Tap(model, shape_of(x))
    peaks = ChannelMinMax([n.tensor for n in nodes if tap.has(n.tensor)])
    sample_loop([tap], x[:PREFLIGHT_SAMPLES], [peaks])
    return {k: peaks.hi[k] - peaks.lo[k] for k in peaks.lo}


def graph_warnings(cal: Calibrated, x: Samples) -> list[str]:
    """Ranges, outlier channels, pooling, padding and activations that int8 handles badly. For a float .tflite
    source the architecture is the publisher's, so the advice is what a conversion can change instead."""
    warnings: list[str] = []
    fixed = cal.cfg.model.suffix == ".tflite"
    search = "or --max-drop with --eval to let edgelite pick the layers to keep float"
    ranges = cal.ranges
    nodes = [n for n in cal.nodes if n.tensor in ranges]
    spans = {n.tensor: ranges[n.tensor][1] - ranges[n.tensor][0] for n in nodes}
    positive = [v for v in spans.values() if v > 0]   # none: constant calibration data (warned about already)
    median = float(np.median(positive)) if positive else 0.0
    for n in nodes:
        lo, hi = ranges[n.tensor]
        if median > 0 and spans[n.tensor] > HUGE_RANGE_RATIO * median and n.op != "SOFTMAX":
            warnings.append(
                f"{n.label} ({n.op}): activations span [{lo:.4g}, {hi:.4g}], {spans[n.tensor] / median:.0f}× the "
                f"model's median range; int8 steps of {spans[n.tensor] / 255:.3g} flatten small values — "
                + (f"keep it float (--keep-float '{n.label}'), narrow the range (--calibration mse), {search}"
                   if fixed else f"bound it (ReLU6/clipping) or keep it float (--keep-float '{n.label}')"))
    per_channel = _channel_ranges(cal, x, [n for n in nodes if n.op in ("DEPTHWISE_CONV_2D", "CONV_2D")])
    for n in nodes:
        widths = per_channel.get(n.tensor)
        if widths is None or widths.size < 4 or ranges[n.tensor][1] <= RELU6_BOUND:
            continue
        med = float(np.median(widths))
        ratio = float(widths.max() / med) if med > 0 else float("inf")
        if n.op == "DEPTHWISE_CONV_2D" and ratio > OUTLIER_CHANNEL_RATIO:
            warnings.append(
                f"{n.label} (DEPTHWISE_CONV_2D, no ReLU6 bound: max {ranges[n.tensor][1]:.3g}): one channel's range "
                f"is {ratio:.0f}× the median channel's, and int8 activations share one scale per tensor — "
                + ("--equalize activations evens the channel ranges of depthwise-separable pairs; or "
                   f"--keep-float '{n.label}', {search}" if fixed else
                   f"use ReLU6 after depthwise convs, or --keep-float '{n.label}'"))
    ops = tflite_file.op_inventory(cal.data)
    consumers: dict[str, list[str]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t.name, []).append(op.op_type)
    smooth: dict[str, list[str]] = {}
    labels = {n.index: n.label for n in cal.nodes}
    for op in ops:
        label = labels.get(op.index, op.outputs[0].name if op.outputs else "?")
        if op.op_type == "AVERAGE_POOL_2D":
            size = tflite_file.pool_filter(cal.data, op.index)
            if size and size[0] * size[1] >= LARGE_POOL_AREA:
                fix = f"keep it float (--keep-float '{label}')" if fixed else \
                    f"prefer global pooling late in the net or --keep-float '{label}'"
                warnings.append(f"{label} (AVERAGE_POOL_2D {size[0]}×{size[1]}): a large averaging window "
                                f"rounds many int8 values into one; {fix}")
        elif op.op_type == "PADV2":
            consts = tflite_file.op_constants(cal.data, op.index)
            value = consts[2] if len(consts) > 2 else None
            if value is not None and value.size and np.any(value != 0):
                fix = f"keep the layers after it float (--keep-float), {search}" if fixed else "pad with zeros"
                warnings.append(f"{label} (PADV2 with constant {float(value.reshape(-1)[0]):.4g}): a non-zero pad "
                                f"value widens the int8 range of everything after it; {fix}")
        elif op.op_type in ("HARD_SWISH", "GELU"):
            smooth.setdefault(op.op_type, []).append(label)
        elif op.op_type == "LOGISTIC" and op.outputs and "MUL" in consumers.get(op.outputs[0].name, []) \
                and op.inputs and "MUL" in consumers.get(op.inputs[0].name, []):
            smooth.setdefault("SiLU (x·sigmoid(x))", []).append(label)
    for kind, layers in smooth.items():  # one line per kind: a MobileNetV3 has dozens
        names = ", ".join(dict.fromkeys(layers[:4])) + (", …" if len(layers) > 4 else "")
        fix = f"--keep-float-op {kind}" if kind in ("HARD_SWISH", "GELU") else "--keep-float on those layers"
        last = search if fixed else "or QAT"   # QAT retrains: not for a publisher's .tflite
        warnings.append(f"{len(layers)} {kind} op(s) ({names}): int8 loses precision around zero; check them "
                        f"with `edgelite analyze`, or {fix}, {last}")
    return warnings


def data_warnings(x: np.ndarray, spec: PreprocessSpec | None, *, arrays: bool, source: str,
                  x_eval: np.ndarray | None = None, eval_source: str | None = None) -> list[str]:
    """Calibration data that cannot give good ranges: blank/constant samples, a range unlike the model's
    expected input range (arrays only; images go through the spec), or unlike the evaluation data."""
    warnings: list[str] = []
    flat = x.reshape(len(x), -1).astype(np.float64)
    lo, hi = float(flat.min()), float(flat.max())
    if hi - lo < 1e-6:
        warnings.append(f"{source}: every calibration value is {lo:.4g} (blank or constant samples); the int8 "
                        "ranges will be meaningless — calibrate on real inputs")
    elif len(flat) > 1 and float(np.max(flat.std(0))) < 1e-6:
        warnings.append(f"{source}: all calibration samples are identical; calibrate on varied real inputs")
    if spec is not None and arrays and hi - lo >= 1e-6:
        mean = np.asarray(spec.mean, np.float64)
        std = np.asarray(spec.std, np.float64)
        want_lo, want_hi = float(np.min((0 - mean) / std)), float(np.max((255 - mean) / std))
        span = want_hi - want_lo
        outside = max(want_lo - lo, hi - want_hi)
        if outside > 0.1 * span or (hi - lo) < 0.1 * span:
            warnings.append(
                f"{source}: calibration arrays span [{lo:.4g}, {hi:.4g}] but the model expects inputs in "
                f"[{want_lo:.4g}, {want_hi:.4g}] (mean {spec.mean}, std {spec.std} on 0–255 pixels); "
                "preprocess the arrays the way the model was trained, or fix --mean/--std")
    if x_eval is not None and len(x_eval) and hi - lo >= 1e-6:
        e = x_eval.reshape(len(x_eval), -1)
        e_lo, e_hi = float(e.min()), float(e.max())
        if e_lo < lo - 0.25 * (hi - lo) or e_hi > hi + 0.25 * (hi - lo):
            warnings.append(f"{eval_source}: evaluation data spans [{e_lo:.4g}, {e_hi:.4g}], beyond the "
                            f"calibration range [{lo:.4g}, {hi:.4g}]; inputs outside it saturate in int8 — "
                            "calibrate on data like what the model will see")
    return warnings
