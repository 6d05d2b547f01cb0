"""The one sample loop over a model's intermediate tensors, and the reducers that summarize them.

``analyze``, the range methods, bias correction, equalization, pre-flight and the float-fallback ranking all
need the same thing: run one or two models (a float reference and its int8 candidate) over samples with every
intermediate tensor kept readable, and reduce each tensor of interest to a small summary as the samples go by
(a tensor of MobileNetV2 over 100 samples is hundreds of MB; its min/max is 16 bytes). ``sample_loop`` does the
running once; a ``Reducer`` says which tensors of which model it reads and keeps its own summary.

LiteRT only, no TensorFlow: this runs wherever the models run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np

from edgelite.calibration.multi_input import Sample as InputSample
from edgelite.calibration.multi_input import Samples, match_inputs, shape_of
from edgelite.core import metrics
from edgelite.core.files import native_stderr_captured

# One sample's shape, or each input's by name for a multi-input model (``calibration.multi_input.shape_of``).
InputShape: TypeAlias = tuple[int, ...] | Mapping[str, tuple[int, ...]]


def fit_inputs(interp: Any, sample_shape: InputShape) -> list[int]:
    """Resize the interpreter's inputs for one sample of ``sample_shape`` (models with a dynamic height/width);
    return the input positions the samples' arrays feed, in the samples' order. Call ``allocate_tensors`` after."""
    details = interp.get_input_details()
    if isinstance(sample_shape, Mapping):
        order = match_inputs([d["name"] for d in details], list(sample_shape))
        shapes = list(sample_shape.values())
    else:
        order, shapes = [0], [sample_shape]
    for k, shape in zip(order, shapes, strict=True):
        if tuple(details[k]["shape"]) != (1, *shape):
            interp.resize_tensor_input(details[k]["index"], [1, *shape])
    return order


def preserving_interpreter(model_bytes: bytes, sample_shape: InputShape) -> Any:
    """A LiteRT interpreter that keeps every intermediate tensor readable, with its inputs sized for one
    sample of ``sample_shape``."""
    from edgelite.runtime.backends import select_backend

    with native_stderr_captured():   # LiteRT announces its delegate on fd 2 at each load
        interp = select_backend("litert").make(model_bytes, preserve_all_tensors=True)
    fit_inputs(interp, sample_shape)
    interp.allocate_tensors()
    return interp


def set_input(interp: Any, sample: InputSample, order: Sequence[int] = (0,)) -> None:
    """Set a float sample (a tuple of arrays for a multi-input model, fed to input positions ``order``) as a
    raw interpreter's input(s), quantized where the input is integer."""
    details = interp.get_input_details()
    parts = sample if isinstance(sample, tuple) else (sample,)
    for k, part in zip(order, parts, strict=True):
        d = details[k]
        scale, zp = d["quantization"]
        x = part[None]
        if d["dtype"] != np.float32 and scale:
            x = metrics.quantize(x, scale, zp, d["dtype"])
        interp.set_tensor(d["index"], x.astype(d["dtype"]))


class Tap:
    """One model in the loop: a preserving interpreter and its tensors by name. ``preserve=False``: a plain
    (XNNPACK) interpreter of which only the outputs are read — for a model cut to end at the tensor wanted
    (``tflite_edit.truncated``), several times faster."""

    def __init__(self, model_bytes: bytes, sample_shape: InputShape, *, preserve: bool = True) -> None:
        from edgelite.runtime.backends import select_backend

        with native_stderr_captured():   # LiteRT announces its delegate on fd 2 at each load
            self.interp = select_backend("litert").make(model_bytes, preserve_all_tensors=preserve)
        self.order = fit_inputs(self.interp, sample_shape)   # input positions a sample's arrays feed
        self.interp.allocate_tensors()
        self.details = {d["name"]: d for d in self.interp.get_tensor_details()}
        if not preserve:   # an intermediate tensor's memory is reused by later ops: only the outputs hold values
            self.details = {d["name"]: d for d in self.interp.get_output_details()}
        self.input_names = frozenset(d["name"] for d in self.interp.get_input_details())
        self._readable: dict[str, bool] = {}
        self._invoked = False

    def has(self, name: str) -> bool:
        """The tensor exists and LiteRT keeps data for it (an optional or delegated tensor has none)."""
        if name not in self.details:
            return False
        if not self._invoked:   # some tensors get their data only at the first invoke
            for d in self.interp.get_input_details():
                self.interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            self.interp.invoke()
            self._invoked = True
        if name not in self._readable:
            try:
                self.interp.get_tensor(self.details[name]["index"])
                self._readable[name] = True
            except ValueError:   # LiteRT: "Tensor data is null"
                self._readable[name] = False
        return self._readable[name]

    def scale(self, name: str) -> float | None:
        """The tensor's per-tensor quantization scale (None: a float tensor)."""
        s = self.details[name]["quantization"][0]
        return float(s) if s else None

    def raw(self, name: str) -> np.ndarray:
        """The tensor as the interpreter holds it (a copy), after the last invoke."""
        return np.asarray(self.interp.get_tensor(self.details[name]["index"]))

    def dequantized_pair(self, name: str, lo: float, hi: float) -> tuple[float, float]:
        """Two stored values of the tensor as real numbers (a positive scale keeps their order)."""
        scale, zp = self.details[name]["quantization"]
        return ((lo - zp) * scale, (hi - zp) * scale) if scale else (lo, hi)

    def value(self, name: str) -> np.ndarray:
        """The tensor after the last invoke as float64, dequantized when it is quantized (per tensor)."""
        d = self.details[name]
        raw = self.interp.get_tensor(d["index"])
        scale, zp = d["quantization"]
        return (metrics.dequantize(raw, scale, zp) if scale else raw).astype(np.float64)


class Sample:
    """The tensors of every tap after one sample ran; values are read once per sample and shared."""

    def __init__(self, index: int, taps: Sequence[Tap]) -> None:
        self.index = index
        self.taps = taps
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def value(self, tap: int, name: str) -> np.ndarray:
        key = (tap, name)
        if key not in self._cache:
            self._cache[key] = self.taps[tap].value(name)
        return self._cache[key]


class Reducer(Protocol):
    """Summarizes tensors as samples go by; ``update`` is called once per sample."""

    def update(self, sample: Sample) -> None: ...


def sample_loop(models: Sequence[bytes | Tap], x: Samples, reducers: Iterable[Reducer], *,
                preserve: bool = True, desc: str | None = None) -> list[Tap]:
    """Run every model on each sample of ``x`` (float, batch axis first; ``Inputs`` for a multi-input model) in
    lockstep, then let each reducer read the sample's tensors (``preserve=False``: the models' outputs only). A
    model given as a ``Tap`` (one the caller built to look up tensor names) is run as it is, not loaded again.
    ``desc`` names a progress bar (on a terminal only). Returns the taps."""
    shape = shape_of(x)
    taps = [m if isinstance(m, Tap) else Tap(m, shape, preserve=preserve) for m in models]
    reducers = list(reducers)
    samples: Iterable[InputSample] = x
    if desc is not None:
        from edgelite.core.progress import bar

        samples = bar(x, desc=desc, unit="img", total=len(x))
    for i, sample in enumerate(samples):
        for tap in taps:
            set_input(tap.interp, sample, tap.order)
            tap.interp.invoke()
            tap._invoked = True
        s = Sample(i, taps)
        for r in reducers:
            r.update(s)
    return taps


# ---- reducers ---------------------------------------------------------------------------------------------


@dataclass
class MinMax:
    """Global (min, max) of each named tensor of one tap, as TF's calibrator records them."""

    names: Sequence[str]
    tap: int = 0
    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        tap = sample.taps[self.tap]
        for name in self.names:
            v = tap.raw(name)   # min/max of the stored values, dequantized after: no float64 copy per tensor
            if v.size:
                lo, hi = tap.dequantized_pair(name, float(v.min()), float(v.max()))
                self.lo[name] = min(self.lo.get(name, np.inf), lo)
                self.hi[name] = max(self.hi.get(name, -np.inf), hi)

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {n: (self.lo[n], self.hi[n]) for n in self.lo}


@dataclass
class ChannelMinMax:
    """Per-channel (last axis) min and max of each named tensor of one tap."""

    names: Sequence[str]
    tap: int = 0
    lo: dict[str, np.ndarray] = field(default_factory=dict)
    hi: dict[str, np.ndarray] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        tap = sample.taps[self.tap]
        for name in self.names:
            v = tap.raw(name)   # stored values, dequantized after the reduction (a positive scale keeps order)
            flat = v.reshape(-1, v.shape[-1]) if v.ndim >= 2 else v.reshape(1, -1)
            scale, zp = tap.details[name]["quantization"]
            mn, mx = flat.min(0).astype(np.float64), flat.max(0).astype(np.float64)
            if scale:
                mn, mx = (mn - zp) * scale, (mx - zp) * scale
            self.lo[name] = np.minimum(self.lo[name], mn) if name in self.lo else mn
            self.hi[name] = np.maximum(self.hi[name], mx) if name in self.hi else mx


@dataclass
class ChannelPower:
    """Per-channel (last axis) mean of squares of each named tensor of one tap, over samples and positions."""

    names: Sequence[str]
    tap: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        for name in self.names:
            v = sample.value(self.tap, name)
            flat = v.reshape(-1, v.shape[-1]) if v.ndim >= 2 else v.reshape(1, -1)
            sq = np.einsum("ij,ij->j", flat, flat)
            self.sums[name] = self.sums[name] + sq if name in self.sums else sq
            self.counts[name] = self.counts.get(name, 0) + flat.shape[0]

    def power(self, name: str) -> np.ndarray | None:
        if name not in self.sums:
            return None
        return np.asarray(self.sums[name] / max(self.counts[name], 1), np.float64)


@dataclass
class Histograms:
    """One ``calibration.ranges.Histogram`` per named tensor of one tap, over the bins each was given."""

    hists: dict[str, Any]             # tensor name → Histogram
    tap: int = 0

    def update(self, sample: Sample) -> None:
        for name, h in self.hists.items():
            h.add(sample.taps[self.tap].raw(name))


@dataclass
class Collect:
    """Every sample's value of each named tensor of one tap, kept as float32 (for a reference that later
    passes compare against without running its model again: size it before you use it)."""

    names: Sequence[str]
    tap: int = 0
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        for name in self.names:
            self.values.setdefault(name, []).append(sample.value(self.tap, name).astype(np.float32))


@dataclass
class ErrorStats:
    """Error of each named tensor of the candidate tap against the same tensor of the reference tap:
    sums of squared error and squared signal, max abs error and element count, over the samples."""

    names: Sequence[str]
    ref: int = 0
    cand: int = 1
    sq_err: dict[str, float] = field(default_factory=dict)
    sq_ref: dict[str, float] = field(default_factory=dict)
    max_abs: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        for name in self.names:
            ref, got = sample.value(self.ref, name), sample.value(self.cand, name)
            if ref.shape != got.shape:
                continue
            err = got - ref
            self.sq_err[name] = self.sq_err.get(name, 0.0) + float(np.sum(err * err))
            self.sq_ref[name] = self.sq_ref.get(name, 0.0) + float(np.sum(ref * ref))
            self.max_abs[name] = max(self.max_abs.get(name, 0.0), float(np.max(np.abs(err))) if err.size else 0.0)
            self.count[name] = self.count.get(name, 0) + int(err.size)

    def noise_ratio(self, name: str) -> float:
        """Squared error over squared signal (0: identical; inf: error on a zero signal)."""
        sq, sig = self.sq_err.get(name, 0.0), self.sq_ref.get(name, 0.0)
        return sq / sig if sig > 0 else (0.0 if sq == 0 else float("inf"))


@dataclass
class ChannelMeanShift:
    """Per-channel mean of (candidate − reference) of each named tensor. Where the reference is never
    negative (a fused ReLU: only the activated output is visible), the mean is taken where both are
    positive — the linear region, where a bias change moves the output."""

    names: Sequence[str]
    ref: int = 0
    cand: int = 1
    stored: Collect | None = None     # the reference from an earlier pass instead of the ``ref`` tap
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    live_sums: dict[str, np.ndarray] = field(default_factory=dict)
    live_counts: dict[str, np.ndarray] = field(default_factory=dict)
    ref_min: dict[str, float] = field(default_factory=dict)

    def update(self, sample: Sample) -> None:
        for name in self.names:
            got = sample.value(self.cand, name)
            ref = self.stored.values[name][sample.index] if self.stored is not None else sample.value(self.ref, name)
            if ref.shape != got.shape or ref.ndim == 0:
                continue
            f, q = ref.reshape(-1, ref.shape[-1]), got.reshape(-1, got.shape[-1])
            diff = q - f
            live = (f > 0) & (q > 0)
            for acc, value in ((self.sums, diff.sum(axis=0)),
                               (self.counts, np.full(diff.shape[1], diff.shape[0], np.float64)),
                               (self.live_sums, (diff * live).sum(axis=0)),
                               (self.live_counts, live.sum(axis=0).astype(np.float64))):
                acc[name] = acc[name] + value if name in acc else value
            self.ref_min[name] = min(self.ref_min.get(name, np.inf), float(f.min()) if f.size else 0.0)

    def shift(self, name: str) -> np.ndarray | None:
        """The per-channel mean shift (None: the tensor was never compared)."""
        if name not in self.sums:
            return None
        if self.ref_min[name] >= 0.0:
            n = self.live_counts[name]
            return np.asarray(np.where(n > 0, self.live_sums[name] / np.maximum(n, 1), 0.0), np.float64)
        return np.asarray(self.sums[name] / np.maximum(self.counts[name], 1), np.float64)
