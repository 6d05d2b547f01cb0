"""Input and prediction drift: how far live traffic has moved from the data the model was calibrated on.

The converter stores a reference (``DriftReference``) as JSON in the file's edgelite metadata
(``provenance["drift_reference"]``): a coarse histogram of the calibration samples' model-ready values (20 bins
between their 0.5th and 99.5th percentiles, values beyond falling in the end bins), their per-channel mean and
standard deviation, and the share of each class the float model predicts on them. A reference that cannot be
used is an error naming the key, never a silently missing monitor. ``serve`` keeps the same histogram and class
counts over a rolling window of live requests and scores the difference with the Population Stability Index,

    PSI = Σ_bins (q − p) · ln(q / p)        p: reference share, q: live share (both floored at 1e-4)

the measure credit scoring uses for exactly this; the usual reading is < 0.1 stable, 0.1–0.25 moderate shift,
> 0.25 significant shift (the warning threshold here). Numpy only: runs on the board.

What is watched of the outputs depends on the model's task (``task=`` of the monitor, from the file's recorded
task or ``serve --task/--decoder``): a classifier's predicted-class shares (above); a detector's detections per
request and top score (``DetectionReference``: their shares over ``COUNT_BINS`` and ``SCORE_BINS``, PSI when the
reference has them, the live means always); any other task's output summary (live mean and standard deviation of
the first output's values) — never the argmax of coordinates or embeddings.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edgelite.core import validate
from edgelite.core.errors import UserInputError
from edgelite.core.metrics import dequantize
from edgelite.core.report import OMIT_NONE, Record

BINS = 20
MAX_CHANNELS = 64       # per-channel statistics are kept for at most this many channels
MAX_CLASSES = 1000      # prediction shares are kept for outputs of at most this many classes
FLOOR = 1e-4            # shares are floored here before the logarithm (an empty bin must not be infinite)
WARN_PSI = 0.25
BATCH = 32             # live rows binned at once …
MAX_PENDING_BYTES = 1 << 20   # … or fewer when their inputs hold this much (a 224×224×3 float input: at once)
REFERENCE_VERSION = 1
COUNT_BINS = 6          # detections per request: 0, 1, 2, 3, 4, 5 or more
SCORE_BINS = 10         # a request's top detection score, per tenth of [0, 1] (no detection: the first bin)


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(values, np.float64).reshape(-1)]


@dataclass(frozen=True)
class InputReference(Record):
    """The histogram of the calibration samples' model-ready values, and their per-channel mean and std
    (left out for inputs of more than ``MAX_CHANNELS`` channels)."""

    edges: list[float]                                       # BINS + 1 ascending edges
    proportions: list[float]                                 # share of values per bin
    mean: list[float] | None = field(default=None, metadata=OMIT_NONE)
    std: list[float] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class PredictionReference(Record):
    proportions: list[float]    # share of the calibration samples the float model puts in each class


@dataclass(frozen=True)
class DetectionReference(Record):
    """A detector's outputs on the calibration samples: the share of samples with 0 … ``COUNT_BINS`` − 1 or
    more detections, and the share whose top score falls in each tenth of [0, 1]."""

    counts: list[float]
    top_scores: list[float]


def detection_bins(counts: np.ndarray, top_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (count bin, score bin) of each sample's detection count and top score (0 without detections)."""
    c = np.clip(np.asarray(counts, np.int64), 0, COUNT_BINS - 1)
    s = np.clip((np.asarray(top_scores, np.float64) * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
    return c, s


@dataclass(frozen=True)
class DriftReference(Record):
    """What ``serve`` measures live traffic against; stored as JSON in the file's provenance
    (``provenance["drift_reference"]``), with the shape ``to_dict`` gives."""

    version: int
    samples: int
    input: InputReference
    predictions: PredictionReference | None = field(default=None, metadata=OMIT_NONE)
    detections: DetectionReference | None = field(default=None, metadata=OMIT_NONE)

    KEY: ClassVar[str] = "drift_reference"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReference:
        """The reference of parsed JSON, checked as the monitor needs it: a ``UserInputError`` naming the key
        for anything else (another version, edges that do not match the proportions, non-finite numbers)."""
        if not isinstance(data, dict):
            raise UserInputError(f"expected a table, got {type(data).__name__}")
        if data.get("version") != REFERENCE_VERSION:
            raise UserInputError(f"version: {data.get('version')!r} is not {REFERENCE_VERSION} (written by another "
                                 "edgelite)")
        ref = validate.build(cls, data, finite=True)
        inp = ref.input
        if not 2 <= len(inp.edges) <= 1001 or len(inp.edges) != len(inp.proportions) + 1:
            raise UserInputError(f"input: {len(inp.edges)} edges for {len(inp.proportions)} proportions "
                                 "(want one edge more than proportions, 2-1001 edges)")
        if any(b < a for a, b in zip(inp.edges[:-1], inp.edges[1:], strict=True)):
            raise UserInputError("input.edges: not in ascending order")
        if ref.predictions is not None and not 2 <= len(ref.predictions.proportions) <= MAX_CLASSES:
            raise UserInputError(f"predictions.proportions: {len(ref.predictions.proportions)} classes, want "
                                 f"2-{MAX_CLASSES}")
        det = ref.detections
        if det is not None and (len(det.counts) != COUNT_BINS or len(det.top_scores) != SCORE_BINS):
            raise UserInputError(f"detections: {len(det.counts)} count and {len(det.top_scores)} score shares, want "
                                 f"{COUNT_BINS} and {SCORE_BINS}")
        shares = [*inp.proportions, *(ref.predictions.proportions if ref.predictions else []),
                  *(det.counts + det.top_scores if det else [])]
        if any(p < 0 for p in shares) or ref.samples < 1:
            raise UserInputError("negative proportions or no samples")
        return ref

    @classmethod
    def from_provenance(cls, provenance: dict[str, Any] | None) -> DriftReference | None:
        """The reference a file's provenance holds; None when it holds none, ``UserInputError`` (naming the
        key) when it holds one that cannot be used."""
        raw = (provenance or {}).get(cls.KEY)
        if raw is None:
            return None
        try:
            return cls.from_dict(raw)
        except UserInputError as exc:
            raise UserInputError(f"{cls.KEY}: {exc}; re-convert the model to refresh it") from None


def reference_stats(x: np.ndarray, outputs: np.ndarray | None, *,
                    detections: Sequence[tuple[int, float]] | None = None) -> DriftReference:
    """The drift reference of calibration samples ``x`` (model-ready floats, batch first) and the float
    model's outputs on them (None: no prediction reference). A detector's reference gives ``detections``,
    (count, top score) per calibration sample as its decoder reads the float model's outputs, and no
    ``outputs`` (their argmax means nothing)."""
    values = np.asarray(x, np.float64).reshape(len(x), -1)
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, BINS + 1)
    counts = _counts(values, edges).sum(axis=0)
    mean = std = None
    channels = x.shape[-1] if x.ndim >= 2 else 1
    if channels <= MAX_CHANNELS:
        per_channel = np.asarray(x, np.float64).reshape(-1, channels)
        mean, std = _round(per_channel.mean(axis=0)), _round(per_channel.std(axis=0))
    predictions = None
    if outputs is not None:
        flat = np.asarray(outputs).reshape(len(outputs), -1)
        if 2 <= flat.shape[1] <= MAX_CLASSES:
            classes = np.bincount(flat.argmax(axis=1), minlength=flat.shape[1])
            predictions = PredictionReference(_round(classes / classes.sum()))
    det_ref = None
    if detections:
        c, sc = detection_bins(np.asarray([d[0] for d in detections]), np.asarray([d[1] for d in detections]))
        det_ref = DetectionReference(_round(np.bincount(c, minlength=COUNT_BINS) / len(c)),
                                     _round(np.bincount(sc, minlength=SCORE_BINS) / len(sc)))
    return DriftReference(version=REFERENCE_VERSION, samples=int(len(x)),
                          input=InputReference(_round(edges), _round(counts / counts.sum()), mean, std),
                          predictions=predictions, detections=det_ref)


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-row histogram counts over ``edges``; values beyond the edges count in the end bins."""
    bins = len(edges) - 1
    return _rows(np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1), bins)


def _rows(idx: np.ndarray, bins: int) -> np.ndarray:
    """Per-row counts of bin indices ``idx`` (rows × values)."""
    # one bincount for all rows: row r's bins are shifted to r·bins … r·bins + bins − 1
    shifted = idx + np.arange(idx.shape[0])[:, None] * bins
    return np.bincount(shifted.reshape(-1), minlength=idx.shape[0] * bins).reshape(idx.shape[0], bins)


def psi(reference: np.ndarray, counts: np.ndarray) -> float:
    """Population Stability Index of live ``counts`` against ``reference`` shares."""
    p = np.maximum(np.asarray(reference, np.float64), FLOOR)
    total = counts.sum()
    q = np.maximum(counts / total if total else np.zeros_like(p), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


@dataclass
class DriftScores:
    samples: int
    input_psi: float | None
    prediction_psi: float | None
    # detect: PSI of detections per request and of the top score (None without a detection reference), and
    # their live means over the window
    detection_psi: float | None = None
    top_score_psi: float | None = None
    detections_mean: float | None = None
    top_score_mean: float | None = None
    # other non-classify tasks: the live mean and standard deviation of the first output's values
    output_mean: float | None = None
    output_std: float | None = None

    def psis(self) -> dict[str, float]:
        """Every PSI there is, by signal (input, prediction, detections, top_score)."""
        named = {"input": self.input_psi, "prediction": self.prediction_psi, "detections": self.detection_psi,
                 "top_score": self.top_score_psi}
        return {k: v for k, v in named.items() if v is not None}

    def summary(self) -> dict[str, float]:
        """The live output figures there are, by name."""
        named = {"detections_mean": self.detections_mean, "top_score_mean": self.top_score_mean,
                 "output_mean": self.output_mean, "output_std": self.output_std}
        return {k: v for k, v in named.items() if v is not None}


class DriftMonitor:
    """A rolling window of live inputs and predictions against a model's drift reference. ``task`` is the
    model's (classify: predicted-class shares; detect: detections per request and top score, decoded by
    ``decoder``, a ``DetectorDecoder``; anything else: the output summary)."""

    def __init__(self, reference: DriftReference, window: int = 500, min_samples: int = 50, *,
                 task: str = "classify", decoder: Any = None) -> None:
        if task == "detect" and decoder is None:
            raise UserInputError("drift of a detector needs its decoder")
        self.reference = reference
        self.task = task
        self.decoder = decoder if task == "detect" else None
        self.edges = np.asarray(reference.input.edges, np.float64)
        self.input_ref = np.asarray(reference.input.proportions, np.float64)
        pred = reference.predictions if task == "classify" else None   # an argmax of anything else means nothing
        self.pred_ref = np.asarray(pred.proportions, np.float64) if pred is not None else None
        det = reference.detections if task == "detect" else None
        self.count_ref = np.asarray(det.counts, np.float64) if det is not None else None
        self.score_ref = np.asarray(det.top_scores, np.float64) if det is not None else None
        # per live sample: (detections, top score) for a detector, (mean, mean square) of the output otherwise
        self._figures: collections.deque[tuple[float, float]] = collections.deque()
        self.min_samples = min_samples
        self._lock = threading.Lock()   # the service updates from several request threads
        self.updates = 0
        self.warned = False             # the last check was past WARN_PSI (a warning is logged once per crossing)
        # the window: per-sample bin counts and predicted classes, and their running totals (a scrape or a
        # crossing check reads the totals instead of summing the window)
        self.window = window
        self._inputs: collections.deque[np.ndarray] = collections.deque()
        self._preds: collections.deque[int] = collections.deque()
        self._input_total = np.zeros(len(self.input_ref), np.int64)
        self._pred_total = np.zeros(len(self.pred_ref) if self.pred_ref is not None else 0, np.int64)
        # requests are added one at a time but binned in batches: numpy's per-call cost, not the arithmetic,
        # is what a 28×28 input costs (measured 71 → 9 µs per request with batches of 32)
        self._pending: list[tuple[np.ndarray, np.ndarray, tuple[float, int] | None]] = []
        self._pending_rows = self._pending_bytes = 0
        self._luts: dict[tuple[str, float, int], np.ndarray] = {}
        self._checked = 0               # `updates` at the last crossed() check

    @classmethod
    def from_metadata(cls, provenance: dict[str, Any] | None, *, task: str = "classify", decoder: Any = None
                      ) -> DriftMonitor | None:
        """The monitor of a file's drift reference, or None when the file has none; a reference that cannot be
        used is a ``UserInputError`` naming the key (serve then serves without drift and says why)."""
        ref = DriftReference.from_provenance(provenance)
        return None if ref is None else cls(ref, task=task, decoder=decoder)

    def _output_figures(self, outputs: np.ndarray | Mapping[str, np.ndarray]) -> list[tuple[float, float]]:
        """Per sample: (detections, top score) of a detector, else (mean, mean square) of the first output's
        values; none for a classifier. Computed outside the lock (decoding is the costly part)."""
        if self.task == "classify":
            return []
        if self.decoder is not None:
            if not isinstance(outputs, Mapping):
                return []   # a detector's decoder reads its outputs by name
            try:
                dets = self.decoder.decode_all(outputs)
            except (UserInputError, ValueError, KeyError):
                return []   # outputs the decoder cannot read: the request is answered, drift skips it
            return [(float(len(d.scores)), float(np.max(d.scores)) if len(d.scores) else 0.0) for d in dets]
        first = outputs if not isinstance(outputs, Mapping) else next(iter(outputs.values()))
        flat = np.asarray(first, np.float64).reshape(len(first), -1)
        if flat.shape[1] == 0:
            return []
        return list(zip(flat.mean(axis=1).tolist(), np.square(flat).mean(axis=1).tolist(), strict=True))

    def update(self, x: np.ndarray, outputs: np.ndarray | Mapping[str, np.ndarray], *,
               quantization: tuple[float, int] | None = None) -> None:
        """Add a batch of model-ready inputs (batch first) and the model's outputs on them (an array: the first
        output; or every output by name, which a detector's decoder needs). ``x`` is float, or the raw integers
        of a quantized input with its ``(scale, zero_point)``: they are dequantized in the batch, not per
        request. Binning waits until ``BATCH`` rows are pending (or ``scores()`` is asked)."""
        figures = self._output_figures(outputs)
        if isinstance(outputs, Mapping):
            outputs = next(iter(outputs.values()))
        with self._lock:
            if figures:
                self._figures.extend(figures)
                while len(self._figures) > self.window:
                    self._figures.popleft()
            self._pending.append((x, outputs, quantization))
            self._pending_rows += len(x)
            self._pending_bytes += x.nbytes
            if self._pending_rows >= BATCH or self._pending_bytes >= MAX_PENDING_BYTES:
                self._flush()

    def _flush(self) -> None:
        """Bin the pending rows into the window (the caller holds the lock)."""
        if not self._pending:
            return
        xs = [x for x, _, _ in self._pending]
        uniform = len({(x.dtype, x.shape[1:], q) for x, _, q in self._pending}) == 1
        # one batch of numpy calls when every pending request looks alike (a fixed-shape model: always)
        groups = [(np.concatenate(xs), self._pending[0][2])] if uniform else [(x, q) for x, _, q in self._pending]
        for x, q in groups:
            if q is not None and x.dtype.itemsize == 1:   # int8/uint8: a bin per code, looked up
                rows = _rows(self._bin_lut(x.dtype, q)[x.view(np.uint8).reshape(len(x), -1)], len(self.input_ref))
            else:
                values = x if q is None else dequantize(x, *q)   # the float32 arithmetic of TensorInfo.dequantize
                rows = _counts(np.asarray(values, np.float64).reshape(len(x), -1), self.edges)
            self._inputs.extend(rows)
            self._input_total += rows.sum(axis=0)
        while len(self._inputs) > self.window:
            self._input_total -= self._inputs.popleft()
        if self.pred_ref is not None:
            flats = [np.asarray(o).reshape(len(o), -1) for _, o, _ in self._pending]
            flats = [f for f in flats if f.shape[1] == len(self.pred_ref)]
            if flats:
                classes = np.concatenate(flats).argmax(axis=1)
                self._preds.extend(classes.tolist())
                self._pred_total += np.bincount(classes, minlength=len(self.pred_ref))
            while len(self._preds) > self.window:
                self._pred_total[self._preds.popleft()] -= 1
        self.updates += self._pending_rows
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0

    def _bin_lut(self, dtype: np.dtype, q: tuple[float, int]) -> np.ndarray:
        """The histogram bin of each of the 256 codes of a one-byte quantized input, indexed by the code's
        bits as uint8: binning a request is then one gather, not dequantize + search (same bins exactly)."""
        key = (np.dtype(dtype).str, float(q[0]), int(q[1]))
        lut = self._luts.get(key)
        if lut is None:
            codes = np.arange(256, dtype=np.uint8).view(dtype)
            values = np.asarray(dequantize(codes, *q), np.float64)
            lut = np.clip(np.searchsorted(self.edges, values, side="right") - 1, 0, len(self.edges) - 2)
            self._luts = {key: lut}   # one input per model: the last one is all that is needed
        return lut

    def scores(self) -> DriftScores:
        with self._lock:
            self._flush()
            n = len(self._inputs)
            if n < self.min_samples:
                return DriftScores(n, None, None)
            live_inputs = self._input_total.copy()
            live_preds, n_preds = self._pred_total.copy(), len(self._preds)
            figures = np.asarray(self._figures, np.float64).reshape(-1, 2)
        input_psi = psi(self.input_ref, live_inputs)
        pred_psi = None
        if self.pred_ref is not None and n_preds >= self.min_samples:
            pred_psi = psi(self.pred_ref, live_preds)
        out = DriftScores(n, input_psi, pred_psi)
        if len(figures) < self.min_samples:
            return out
        a, b = figures[:, 0], figures[:, 1]
        if self.task == "detect":
            out.detections_mean, out.top_score_mean = float(a.mean()), float(b.mean())
            if self.count_ref is not None and self.score_ref is not None:
                c, s = detection_bins(a.astype(np.int64), b)
                out.detection_psi = psi(self.count_ref, np.bincount(c, minlength=COUNT_BINS))
                out.top_score_psi = psi(self.score_ref, np.bincount(s, minlength=SCORE_BINS))
        else:
            out.output_mean = float(a.mean())
            out.output_std = float(np.sqrt(max(float(b.mean()) - out.output_mean ** 2, 0.0)))
        return out

    def crossed(self, every: int = 50) -> DriftScores | None:
        """After every ``every`` binned samples: the scores when either PSI has just crossed ``WARN_PSI``
        upwards (so the service logs one warning per crossing), else None."""
        with self._lock:
            if self.updates // every == self._checked // every:
                return None
            self._checked = self.updates
        s = self.scores()
        high = any(v > WARN_PSI for v in s.psis().values())
        fire, self.warned = high and not self.warned, high
        return s if fire else None
