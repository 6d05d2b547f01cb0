"""Empirical bias correction (``convert --bias-correction``): remove the mean output shift int8 weights cause.

Rounding a layer's weights to int8 shifts the mean of its outputs, per output channel, and the shift adds up
through the network (Nagel et al., "Data-Free Quantization", 2019, §4.2; here measured on calibration data
rather than predicted from BatchNorm statistics). For each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED of the
int8 model, in execution order, the float model and the int8 model run on the same calibration samples; the
per-channel mean of (int8 output − float output) is subtracted from that layer's int32 bias, in bias-scale units,
before the next layer is measured (so each correction sees the ones before it).

TFLite fuses ReLU/ReLU6 into these ops, so only the activated output is visible: where the float output of a
layer is never negative, the mean is taken over the positions where both outputs are positive (the ReLU's linear
region), which is where a bias change moves the output. A bias buffer the converter shares between layers is
left alone (an edit would change all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgelite.converter.judge import preserving_interpreter, set_input
from edgelite.core import metrics
from edgelite.core.report import Record
from edgelite.runtime import tflite_edit, tflite_file

LAYER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class BiasCorrection(Record):
    """What bias correction did, for the conversion report."""

    layers: int                   # layers whose bias was corrected
    skipped_shared: int           # layers left alone: their bias buffer is shared
    median_shift_steps: float     # median |mean shift| before correction, in output quantization steps

    float_digits = 4


def _outputs(it: Any, x: np.ndarray, index: int) -> np.ndarray:
    """The tensor ``index`` over every sample, dequantized, flattened to (positions, channels)."""
    rows = []
    for sample in x:
        set_input(it, sample)
        it.invoke()
        rows.append(it.get_tensor(index))
    d = next(t for t in it.get_tensor_details() if t["index"] == index)
    raw = np.stack(rows)
    scale, zp = d["quantization"]
    out = metrics.dequantize(raw, scale, zp) if scale else raw.astype(np.float32)
    return out.reshape(-1, out.shape[-1]).astype(np.float64)


def correct(quant: bytes, float_model: bytes, x: np.ndarray) -> tuple[bytes, BiasCorrection]:
    """``quant`` with each layer's bias corrected for the mean shift measured on ``x`` (float samples)."""
    shape = tuple(x.shape[1:])
    ops = [op for op in tflite_file.op_inventory(quant)
           if op.op_type in LAYER_OPS and len(op.inputs) >= 3 and op.inputs[2].constant
           and op.inputs[2].dtype == "INT32" and op.outputs and op.outputs[0].dtype == "INT8"]
    f_it = preserving_interpreter(float_model, shape)
    f_index = {d["name"]: d["index"] for d in f_it.get_tensor_details()}
    done = shared = 0
    shifts_steps: list[float] = []
    for op in ops:
        name, bias_name = op.outputs[0].name, op.inputs[2].name
        if name not in f_index:
            continue
        q_it = preserving_interpreter(quant, shape)
        details = {d["name"]: d for d in q_it.get_tensor_details()}
        q_out = _outputs(q_it, x, details[name]["index"])
        f_out = _outputs(f_it, x, f_index[name])
        if q_out.shape != f_out.shape:
            continue
        diff = q_out - f_out
        if f_out.min() >= 0.0:   # a fused ReLU: measure in its linear region only
            live = (f_out > 0) & (q_out > 0)
            count = live.sum(axis=0)
            shift = np.where(count > 0, (diff * live).sum(axis=0) / np.maximum(count, 1), 0.0)
        else:
            shift = diff.mean(axis=0)
        bias_d = details[bias_name]
        scales = np.asarray(bias_d["quantization_parameters"]["scales"], np.float64)
        if scales.size == 0 or not np.all(scales > 0):
            continue
        bias = q_it.get_tensor(bias_d["index"]).astype(np.int64)
        if bias.shape[-1] != shift.shape[-1]:
            continue
        new = np.clip(bias - np.round(shift / scales), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        try:
            quant = tflite_edit.with_constant(quant, bias_name, new)
        except ValueError:
            shared += 1
            continue
        out_scale = details[name]["quantization"][0] or 1.0
        shifts_steps.append(float(np.median(np.abs(shift))) / out_scale)
        done += 1
    return quant, BiasCorrection(layers=done, skipped_shared=shared,
                                 median_shift_steps=float(np.median(shifts_steps)) if shifts_steps else 0.0)
