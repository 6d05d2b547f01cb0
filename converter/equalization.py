"""Cross-layer equalization (``convert --equalize``) for depthwise-separable blocks.

Channel ranges inside a MobileNet-style block differ by orders of magnitude (one depthwise filter per channel,
BatchNorm folded into it). Equalization (Nagel et al., "Data-Free Quantization", 2019, §4.1) divides output
channel i of the first layer (weights and bias) by s_i and multiplies input channel i of the second layer by
s_i; the float function is unchanged because the activation between them is positively homogeneous
(ReLU(x / s) = ReLU(x) / s for s > 0). Two criteria for s_i:

- ``weights`` (the paper's): s_i = sqrt(r1_i / r2_i) with r1_i, r2_i the largest |weight| of channel i in the
  first and second layer, so both become sqrt(r1_i r2_i). Made for per-tensor weights; TFLite quantizes conv
  weights per output channel, where the first layer's ranges no longer matter.
- ``activations``: r1_i is the largest |activation| of channel i between the layers on the calibration data.
  TFLite quantizes that activation per tensor (one scale for all channels) and the second layer's weights per
  output channel (one scale across its input channels): these are the two ranges the rescaling trades.

It edits the calibrated float model (the converter has folded BatchNorm already) before the range method and
the quantizer read it, and records the activation ranges again afterwards (LiteRT over the same calibration
samples, min/max as TF's calibration records them).

ReLU6 is not positively homogeneous: after scaling, one clamp at 6 cuts channel i at 6·s_i of its original
scale, and TFLite fuses one clamp for all channels. Nagel et al. replace the ReLU6 by a ReLU; measured on the
MobileNet-style model that cost 2–4 dB of int8 output SNR (activations that were clamped at 6 now stretch the
int8 range) for a float change of 56 dB, so edgelite does not offer it (``relu6_relaxed`` in the report stays 0).
It keeps the clamp instead: it runs the first layer once without its activation to find each channel's largest
value before the clamp; a channel whose clamp fired on the calibration data keeps scale 1, and any other
channel's scale is bounded so its largest value stays below the clamp (s_i ≥ max_i / 6). The float function is
then unchanged on the calibration data (measured: 138 dB, float rounding). The report gives the equalized float
model's agreement and SNR against the original, and every int8 figure edgelite reports is judged against the original
float model.

Scope: a DEPTHWISE_CONV_2D feeding a CONV_2D, or a CONV_2D feeding a DEPTHWISE_CONV_2D (depth multiplier 1),
the first one's output read by the second only, with NONE, RELU or RELU6 between them, float weights and bias
in buffers no other tensor shares. Pure numpy and LiteRT: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgelite.calibration.multi_input import Samples
from edgelite.converter.bias_correction import SkippedLayer
from edgelite.converter.scoring import run_outputs
from edgelite.core import metrics
from edgelite.core.report import Record
from edgelite.runtime import tflite_edit, tflite_file
from edgelite.runtime.intermediates import ChannelMinMax, sample_loop

SWEEPS = 20                  # ``weights`` on chains (conv → depthwise → conv): rescale until the scales settle
SCALE_LIMIT = 1e3            # s_i is kept in [1/limit, limit]: a dead channel must not blow up its partner
FLOAT_CHECK_SAMPLES = 64     # calibration samples the equalized float model is compared on
RELU6 = 6.0
_HOMOGENEOUS = ("NONE", "RELU", "RELU6")


@dataclass(frozen=True)
class Equalization(Record):
    """What cross-layer equalization did, for the conversion report."""

    criterion: str
    pairs: int                     # layer pairs rescaled
    relu6_relaxed: int             # always 0: the ReLU6 → ReLU variant is not offered (module docstring)
    float_agreement: float | None  # equalized float model vs the original, top-1 agreement on calibration samples
    float_snr_db: float | None     # same, output SNR (None: identical outputs)
    median_spread_before: float    # median over pairs of max/min channel range of the rescaled quantity
    median_spread_after: float
    skipped: list[SkippedLayer] = field(default_factory=list)   # pairs left alone, with the reason

    float_digits = 4


@dataclass(frozen=True)
class _Pair:
    first: int          # op index
    second: int
    first_kind: str     # CONV_2D | DEPTHWISE_CONV_2D
    second_kind: str
    tensor: str         # the activation between them
    w1: str             # tensor names of the first layer's weights and bias, the second layer's weights
    b1: str
    w2: str
    activation: str


def find_pairs(data: bytes) -> list[_Pair]:
    """Consecutive layer pairs of a depthwise-separable block that equalization can rescale exactly."""
    ops = tflite_file.op_inventory(data)
    readers: dict[str, list[int]] = {}
    for op in ops:
        for t in op.inputs:
            if not t.constant:
                readers.setdefault(t.name, []).append(op.index)
    graph_outputs = {t.name for op in ops for t in op.outputs} - set(readers)
    pairs = []
    for a in ops:
        if a.op_type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(a.inputs) < 3 or not a.outputs:
            continue
        out = a.outputs[0]
        users = readers.get(out.name, [])
        if len(users) != 1 or out.name in graph_outputs:
            continue
        b = ops[users[0]]
        if b.op_type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or "DEPTHWISE_CONV_2D" not in (a.op_type, b.op_type):
            continue
        if b.inputs[0].name != out.name or not (a.inputs[1].constant and a.inputs[2].constant and b.inputs[1].constant):
            continue
        if {a.inputs[1].dtype, a.inputs[2].dtype, b.inputs[1].dtype} != {"FLOAT32"}:
            continue
        act = tflite_file.fused_activation(data, a.index) or "NONE"
        channels = out.shape[-1] if out.shape else -1
        if act not in _HOMOGENEOUS or channels <= 0 or b.inputs[1].shape[-1:] != (channels,):
            continue
        if a.op_type == "DEPTHWISE_CONV_2D" and a.inputs[0].shape[-1:] != (channels,):
            continue   # depth multiplier > 1: one input channel feeds several outputs
        pairs.append(_Pair(a.index, b.index, a.op_type, b.op_type, out.name, a.inputs[1].name, a.inputs[2].name,
                           b.inputs[1].name, act))
    return pairs


def _out_axis(kind: str) -> int:
    # TFLite layouts: CONV_2D [out, h, w, in]; DEPTHWISE_CONV_2D [1, h, w, channels]
    return 0 if kind == "CONV_2D" else -1


def _channel_max(w: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(np.abs(w), axis, 0)
    return moved.reshape(moved.shape[0], -1).max(axis=1)


def _spread(r: np.ndarray) -> float:
    live = r[r > 0]
    return float(live.max() / live.min()) if live.size else 1.0


def _channel_peaks(data: bytes, x: Samples, tensors: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel (min, max) of the named activations over the samples ``x``."""
    peaks = ChannelMinMax(tensors)
    sample_loop([data], x, [peaks], desc="equalization")
    return {name: (peaks.lo[name], peaks.hi[name]) for name in peaks.lo}


def _relu6_bounds(calibrated: bytes, x: Samples, pairs: Sequence[_Pair]) -> dict[str, np.ndarray]:
    """For each pair with a ReLU6 between, the per-channel max of the activation *before* the clamp (the
    first layer run with its activation removed): where it never reaches 6 the clamp never fired."""
    relu6 = [p for p in pairs if p.activation == "RELU6"]
    if not relu6:
        return {}
    bare = calibrated
    for p in relu6:
        bare = tflite_edit.with_fused_activation(bare, p.first, "NONE")
    peaks = _channel_peaks(bare, x, [p.tensor for p in relu6])
    return {name: hi for name, (_, hi) in peaks.items()}


def _keep_relu6(total: np.ndarray, pre_max: np.ndarray) -> np.ndarray:
    """Constrain the total channel scales so one clamp at 6 after scaling cuts exactly where the original did
    on the calibration data: a channel whose clamp fired keeps scale 1; one that stayed below 6 may be scaled
    by s as long as its largest value stays below the clamp (pre_max / s ≤ 6)."""
    fired = pre_max > RELU6
    return np.where(fired, 1.0, np.maximum(total, pre_max / RELU6))


def equalize(calibrated: bytes, x: Samples, criterion: str = "activations") -> tuple[bytes, Equalization]:
    """``calibrated`` with its depthwise-separable pairs equalized and its activation ranges recorded again on
    the calibration samples ``x``; a ReLU6 between a pair keeps its clamp (scales limited so it cuts where it
    did). With no pair to rescale, returns the model unchanged (``pairs == 0``)."""
    pairs = find_pairs(calibrated)
    weights: dict[str, np.ndarray] = {}
    for p in pairs:
        first, second = tflite_file.op_constants(calibrated, p.first), tflite_file.op_constants(calibrated, p.second)
        for name, arr in ((p.w1, first[1]), (p.b1, first[2]), (p.w2, second[1])):
            assert arr is not None
            weights[name] = arr.astype(np.float64)
    shared = tflite_edit.shared_constants(calibrated)   # an edit there would change another layer too
    skipped = [SkippedLayer(p.tensor, "a weight or bias buffer is shared with another layer (an edit would change "
                                      "both)") for p in pairs if {p.w1, p.b1, p.w2} & shared]
    pairs = [p for p in pairs if not {p.w1, p.b1, p.w2} & shared]
    if not pairs:
        return calibrated, Equalization(criterion, 0, 0, None, None, 1.0, 1.0, skipped)

    acts: dict[str, np.ndarray] = {}
    if criterion == "activations":
        peaks = _channel_peaks(calibrated, x, [p.tensor for p in pairs])
        acts = {k: np.maximum(-lo, hi) for k, (lo, hi) in peaks.items()}
    bounds = _relu6_bounds(calibrated, x, pairs)
    total = {p.tensor: np.ones(len(acts.get(p.tensor, weights[p.b1]))) for p in pairs}

    def r1_of(p: _Pair) -> np.ndarray:
        if criterion == "activations":
            return acts[p.tensor] / total[p.tensor]
        return _channel_max(weights[p.w1], _out_axis(p.first_kind))

    before = [_spread(r1_of(p)) for p in pairs]
    for _ in range(SWEEPS if criterion == "weights" else 1):
        largest = 0.0
        for p in pairs:
            r1, r2 = r1_of(p), _channel_max(weights[p.w2], -1)
            ok = (r1 > 0) & (r2 > 0)
            s = np.where(ok, np.sqrt(np.where(ok, r1, 1.0) / np.where(ok, r2, 1.0)), 1.0)
            want = np.clip(total[p.tensor] * s, 1 / SCALE_LIMIT, SCALE_LIMIT)
            if p.tensor in bounds:
                want = _keep_relu6(want, bounds[p.tensor])
            s = want / total[p.tensor]
            total[p.tensor] = want
            shape1 = [1] * weights[p.w1].ndim
            shape1[_out_axis(p.first_kind)] = -1
            weights[p.w1] = weights[p.w1] / s.reshape(shape1)
            weights[p.b1] = weights[p.b1] / s
            weights[p.w2] = weights[p.w2] * s   # input channels are the last axis of both layouts
            largest = max(largest, float(np.max(np.abs(np.log(s)))))
        if largest < 1e-4:
            break
    after = [_spread(r1_of(p)) for p in pairs]

    data = tflite_edit.with_constants(
        calibrated, {n: weights[n].astype(np.float32) for p in pairs for n in (p.w1, p.b1, p.w2)})
    from edgelite.converter.range_calibration import observed_ranges

    data = tflite_edit.with_tensor_ranges(data, observed_ranges(data, x))
    check = x[:FLOAT_CHECK_SAMPLES]
    ref, new = run_outputs(calibrated, check), run_outputs(data, check)
    noise = float(np.mean((new - ref) ** 2))
    return data, Equalization(
        criterion=criterion, pairs=len(pairs), relu6_relaxed=0,
        float_agreement=metrics.agreement(new, ref), float_snr_db=metrics.snr_db(float(np.mean(ref ** 2)), noise),
        median_spread_before=round(float(np.median(before)), 2), median_spread_after=round(float(np.median(after)), 2),
        skipped=skipped)
