"""Apply a calibration range method (``calibration/ranges.py``) to a calibrated model.

TF's calibrate-only conversion records each activation's min/max; this runs that same float model in LiteRT
over the calibration samples with every intermediate tensor kept, builds one histogram per recorded tensor
over its recorded range, lets the method choose a (min, max) from it, and writes the choice back into the
model before the MLIR quantizer reads it. The quantizer still enforces TFLite's own constraints on the result
(one scale for CONCATENATION inputs and output, the same scale through pooling and reshapes, fixed ranges for
SOFTMAX/LOGISTIC/TANH outputs), exactly as it does for min/max ranges.

Left as recorded: the model's inputs (their range is the I/O contract, e.g. pixels/255 in [0, 1]), the
outputs of ops whose output range TFLite fixes, and those ops' inputs (the logits before a softmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.calibration.multi_input import Samples, shape_of
from edgelite.calibration.ranges import Histogram, RangeMethod, choose
from edgelite.core.report import Record
from edgelite.runtime import tflite_edit, tflite_file
from edgelite.runtime.intermediates import Histograms, MinMax, Tap, sample_loop

FIXED_RANGE_OPS = ("SOFTMAX", "LOGISTIC", "TANH", "LOG_SOFTMAX")


@dataclass(frozen=True)
class RangeChoice(Record):
    """What a range method did, for the conversion report."""

    method: str
    tensors: int              # activation ranges it chose
    narrowed: int             # of those, how many it made narrower than min/max
    median_width: float       # median of (chosen width / min-max width) over the tensors


def histograms(calibrated: bytes, x: Samples) -> dict[str, Histogram]:
    """One histogram per recorded activation a range method may choose for, over its recorded range, from one
    pass over the samples ``x`` — every method chooses from the same histograms (``--optimize`` tries four)."""
    recorded = tflite_file.tensor_ranges(calibrated)
    ops = tflite_file.op_inventory(calibrated)
    # Fixed output ranges, and the logits feeding them: clipping a large logit changes which class wins, and
    # the softmax that follows makes exactly the large values matter (measured on the example: entropy ranges
    # on the logits cost 1.8 top-1 points, SNR 44 → 13 dB).
    fixed = {t.name for op in ops if op.op_type in FIXED_RANGE_OPS for t in (*op.outputs, *op.inputs)}
    tap = Tap(calibrated, shape_of(x))
    hists = {name: Histogram(lo, hi) for name, (lo, hi) in recorded.items()
             if tap.has(name) and name not in fixed and name not in tap.input_names}
    sample_loop([tap], x, [Histograms(hists)], desc="range histograms")
    return hists


def refine(calibrated: bytes, x: Samples, method: RangeMethod,
           hists: dict[str, Histogram] | None = None) -> tuple[bytes, RangeChoice]:
    """``calibrated`` with the activation ranges ``method`` picks on samples ``x`` (float, batch axis first),
    from ``hists`` when given (``histograms`` of the same model and samples)."""
    recorded = tflite_file.tensor_ranges(calibrated)
    if method.name == "minmax":
        return calibrated, RangeChoice(str(method), len(recorded), 0, 1.0)
    if hists is None:
        hists = histograms(calibrated, x)
    chosen = {name: choose(h, method) for name, h in hists.items()}
    widths = [(hi - lo) / max(recorded[n][1] - recorded[n][0], 1e-12) for n, (lo, hi) in chosen.items()]
    narrowed = sum(w < 0.999 for w in widths)
    return (tflite_edit.with_tensor_ranges(calibrated, chosen),
            RangeChoice(str(method), len(chosen), narrowed, round(float(np.median(widths)) if widths else 1.0, 4)))


def observed_ranges(model: bytes, x: Samples, *, every_float: bool = False) -> dict[str, tuple[float, float]]:
    """The global (min, max) over the samples ``x`` — as TF's calibrator records them — of every recorded
    activation of a calibrated model (for one whose weights were edited after calibration), or with
    ``every_float`` of every float tensor that is not a constant (a float .tflite that records nothing yet).
    A calibrated model's inputs keep their recorded range; a tensor LiteRT does not keep or an empty one is left
    out."""
    tap = Tap(model, shape_of(x))
    if every_float:
        constants = {t.name for op in tflite_file.op_inventory(model) for t in op.inputs if t.constant}
        names = [n for n, d in tap.details.items() if d["dtype"] == np.float32 and n not in constants and tap.has(n)]
    else:
        recorded = tflite_file.tensor_ranges(model)
        names = [n for n in recorded if tap.has(n) and n not in tap.input_names]
    found = MinMax(names)
    sample_loop([tap], x, [found], desc="calibration ranges")
    return found.ranges()
