"""Score quantized variants against the float model on the same evaluation samples (LiteRT, no TF).

One ``Scorer`` runs the float model once and keeps its outputs; each ``score`` runs one candidate. The budget
metric (``loss_pts``) is the top-1 drop in points when labels are known, else 100 × (1 − agreement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.calibration.multi_input import Samples
from edgelite.core import metrics
from edgelite.core.files import native_stderr_captured
from edgelite.core.report import Record
from edgelite.runtime.model import Model


@dataclass(frozen=True)
class Score(Record):
    loss_pts: float          # the budget metric: top-1 drop (labels) or 100 × (1 − agreement)
    agreement: float         # argmax agreement with the float model
    top1: float | None       # % with labels
    noise: float             # mean squared output error vs float
    snr_db: float | None     # output SNR vs float (None when identical)
    size_bytes: int

    float_digits = 6


def run_outputs(model_bytes: bytes, x: Samples) -> np.ndarray:
    """First output for every sample, dequantized, flattened per sample (N, K)."""
    with native_stderr_captured():  # LiteRT announces its XNNPACK delegate on fd 2 each load
        model = Model.from_bytes(model_bytes)
    return model.predict_all(x)[0].reshape(len(x), -1).astype(np.float64)


def outputs_at_shape(model_bytes: bytes, x: Samples) -> np.ndarray:
    """First output per sample (N, K), with the input resized to the samples' shape first — for float models
    with a dynamic height/width and no embedded spec, which ``run_outputs`` cannot size."""
    from edgelite.calibration.multi_input import shape_of
    from edgelite.runtime.backends import select_backend
    from edgelite.runtime.intermediates import fit_inputs, set_input

    # Only the outputs: XNNPACK on (a preserving interpreter runs without it). LiteRT announces the delegate on
    # fd 2 when it applies it, which a resize makes happen again at allocation.
    with native_stderr_captured():
        interp = select_backend("litert").make(model_bytes)
        order = fit_inputs(interp, shape_of(x))
        interp.allocate_tensors()
        index = interp.get_output_details()[0]["index"]
        rows = []
        for sample in x:
            set_input(interp, sample, order)
            interp.invoke()
            rows.append(np.array(interp.get_tensor(index), np.float64).reshape(-1))
    return np.stack(rows)


class Scorer:
    """The float model's outputs on ``x`` (and its accuracy on ``y``), to score candidates against."""

    def __init__(self, float_bytes: bytes, x: Samples, y: np.ndarray | None) -> None:
        self.x, self.y = x, y
        self.ref = run_outputs(float_bytes, x)
        self.float_top1 = self._top1(self.ref)
        self.signal = float(np.mean(self.ref ** 2))

    def _top1(self, out: np.ndarray) -> float | None:
        if self.y is None:
            return None
        return float(np.mean(out.argmax(1) == self.y) * 100.0)

    @property
    def metric_name(self) -> str:
        return "top-1 drop (pts)" if self.y is not None else "disagreement (pts)"

    def score(self, model_bytes: bytes) -> Score:
        out = run_outputs(model_bytes, self.x)
        agreement = metrics.agreement(out, self.ref)
        top1 = self._top1(out)
        loss = (self.float_top1 - top1) if top1 is not None and self.float_top1 is not None \
            else 100.0 * (1.0 - agreement)
        noise = float(np.mean((out - self.ref) ** 2))
        return Score(loss_pts=float(loss), agreement=agreement, top1=top1, noise=noise,
                     snr_db=metrics.snr_db(self.signal, noise),
                     size_bytes=len(model_bytes))
