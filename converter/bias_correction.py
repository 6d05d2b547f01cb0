"""Empirical bias correction (``convert --bias-correction``): remove the mean output shift int8 weights cause.

Rounding a layer's weights to int8 shifts the mean of its outputs, per output channel, and the shift adds up
through the network (Nagel et al., "Data-Free Quantization", 2019, §4.2; here measured on calibration data
rather than predicted from BatchNorm statistics). For each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED of the
int8 model, the float model and the int8 model run on the same calibration samples; the per-channel mean of
(int8 output − float output) is subtracted from that layer's int32 bias, in bias-scale units.

Layers are corrected in execution order, each measured on the model with the layers before it already
corrected (so each correction sees the ones before it; measuring all at once over-corrects the later ones: the
shift a layer passes on would be removed twice). The float side never changes, so one float pass keeps every
layer's float output for the samples, and each layer then costs one int8 pass — of the model cut to end at
that layer (``tflite_edit.truncated``), run with XNNPACK as it is deployed (a preserving interpreter, which can
read every tensor, cannot use XNNPACK and took 3.4× as long: 20.2 s → 6.0 s on MobileNetV2-0.75/160, 37 layers).

TFLite fuses ReLU/ReLU6 into these ops, so only the activated output is visible: where the float output of a
layer is never negative, the mean is taken where both outputs are positive (the ReLU's linear region), which is
where a bias change moves the output. Every layer left alone is reported with its reason.

``Corrections`` are bias values by tensor name: measured once on the full-int8 model, they apply to any variant
of the same calibration that keeps some layers float (the float-fallback search): its int8 layers have the same
bias tensors and scales.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgelite.calibration.multi_input import Samples, shape_of
from edgelite.core import progress
from edgelite.core.report import Record
from edgelite.runtime import tflite_edit, tflite_file
from edgelite.runtime.intermediates import ChannelMeanShift, Collect, Tap, sample_loop

LAYER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class SkippedLayer(Record):
    """A layer a method left alone, and why."""

    tensor: str
    reason: str


@dataclass(frozen=True)
class BiasCorrection(Record):
    """What bias correction did, for the conversion report."""

    layers: int                   # layers whose bias was corrected
    skipped_shared: int           # layers left alone: their bias buffer is shared
    median_shift_steps: float     # median |mean shift| before correction, in output quantization steps
    passes: int = 0               # measuring passes over the calibration samples
    skipped: list[SkippedLayer] = field(default_factory=list)   # every layer left alone, with its reason

    float_digits = 4


@dataclass(frozen=True)
class _Layer:
    output: str
    bias: str
    bias_scales: np.ndarray
    out_scale: float


def _layers(quant: bytes, q: Tap, float_names: set[str], skipped: list[SkippedLayer]) -> list[_Layer]:
    shared = tflite_edit.shared_constants(quant)
    out: list[_Layer] = []
    for op in tflite_file.op_inventory(quant):
        if op.op_type not in LAYER_OPS or not op.outputs:
            continue
        name = op.outputs[0].name
        if len(op.inputs) < 3 or not op.inputs[2].constant or op.inputs[2].dtype != "INT32":
            skipped.append(SkippedLayer(name, "no int32 bias constant"))
        elif op.outputs[0].dtype != "INT8":
            skipped.append(SkippedLayer(name, f"{op.outputs[0].dtype} output (kept float)"))
        elif name not in float_names or not q.has(name):
            skipped.append(SkippedLayer(name, "the float model has no tensor of this name"))
        elif op.inputs[2].name in shared:
            skipped.append(SkippedLayer(name, "bias buffer shared with another layer (an edit would change both)"))
        else:
            bias = q.details[op.inputs[2].name]
            scales = np.asarray(bias["quantization_parameters"]["scales"], np.float64)
            if scales.size == 0 or not np.all(scales > 0):
                skipped.append(SkippedLayer(name, "bias has no positive quantization scale"))
                continue
            out.append(_Layer(name, op.inputs[2].name, scales, q.scale(name) or 1.0))
    return out


Corrections = dict[str, np.ndarray]   # bias tensor name → corrected int32 values


def measure(quant: bytes, float_model: bytes, x: Samples) -> tuple[Corrections, BiasCorrection]:
    """The corrected biases of ``quant``'s layers for the mean shifts measured on ``x`` (float samples)."""
    shape = shape_of(x)
    q = Tap(quant, shape)
    skipped: list[SkippedLayer] = []
    f = Tap(float_model, shape)
    layers = _layers(quant, q, set(f.details), skipped)
    # The float side never changes: one pass keeps every layer's float output for the samples (a few hundred MB
    # at most for MobileNet-size models on BIAS_SAMPLES samples); each layer then costs one int8 pass.
    reference = Collect([layer.output for layer in layers])
    sample_loop([f], x, [reference], desc="bias correction: float")
    corrected = quant
    biases: Corrections = {}
    shifts: list[float] = []
    for layer in progress.bar(layers, desc="bias correction", unit="layer"):
        # Only the layer's output is read: the model cut to end there runs with XNNPACK, as deployed
        shift = ChannelMeanShift([layer.output], cand=0, stored=reference)
        sample_loop([tflite_edit.truncated(corrected, layer.output)], x, [shift], preserve=False)
        s = shift.shift(layer.output)
        b = q.raw(layer.bias).astype(np.int64)
        if s is None or s.shape[-1] != b.shape[-1]:
            skipped.append(SkippedLayer(layer.output, "output shapes of the float and int8 layer differ"))
            continue
        shifts.append(float(np.median(np.abs(s))) / layer.out_scale)
        biases[layer.bias] = np.clip(b - np.round(s / layer.bias_scales), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        corrected = tflite_edit.with_constant(corrected, layer.bias, biases[layer.bias])
    info = BiasCorrection(layers=len(biases), skipped_shared=sum("shared" in s.reason for s in skipped),
                          median_shift_steps=float(np.median(shifts)) if shifts else 0.0, passes=len(biases),
                          skipped=skipped)
    return biases, info


def apply(quant: bytes, corrections: Corrections) -> bytes:
    """``quant`` with the corrected biases written in, for the layers it still quantizes (a variant with some
    layers float has no int32 bias for them; a bias whose size differs is not the same layer)."""
    ops = tflite_file.op_inventory(quant)
    present = {op.inputs[2].name: op.inputs[2] for op in ops
               if op.op_type in LAYER_OPS and len(op.inputs) >= 3 and op.inputs[2].constant
               and op.inputs[2].dtype == "INT32"}
    shared = tflite_edit.shared_constants(quant)
    chosen = {name: values for name, values in corrections.items()
              if name in present and name not in shared and int(np.prod(present[name].shape)) == values.size}
    return tflite_edit.with_constants(quant, chosen) if chosen else quant


def correct(quant: bytes, float_model: bytes, x: np.ndarray) -> tuple[bytes, BiasCorrection]:
    """``quant`` with each layer's bias corrected for the mean shift measured on ``x`` (float samples)."""
    corrections, info = measure(quant, float_model, x)
    return apply(quant, corrections), info

