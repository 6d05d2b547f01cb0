"""Mixed-range outputs: one output tensor whose channels live on very different scales (YOLO's box coordinates
in pixels beside class scores in [0, 1]) shares ONE per-tensor int8 scale, so the small-range channels keep only
a step or two. Pure numpy: it runs on what the float model produced, on a board or at conversion time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelite.core import metrics

# Two groups whose zero-including spans differ by this much: the narrow one keeps < 2.6 of the 256 int8 steps.
RATIO = 100.0
INT8_STEPS = 256
# groups listed by name in a message; the rest are counted
SHOWN_GROUPS = 3
# Reductions run over chunks of samples of at most this many values (at least one sample): 4 MB as float32,
# 8 MB per float64 temporary, where a whole segmenter output (500×257×257×21) is 2.8 GB.
CHUNK_ELEMENTS = 1 << 20
CHUNK_SAMPLES = 64


@dataclass(frozen=True)
class ChannelRanges:
    """Per-channel (min, max) of an output along ``axis`` of its (N, ...) array."""

    axis: int
    mins: tuple[float, ...]
    maxs: tuple[float, ...]

    @property
    def spans(self) -> np.ndarray:
        """Each channel's span with 0 included, as int8 quantization includes it."""
        spans: np.ndarray = np.maximum(np.asarray(self.maxs), 0.0) - np.minimum(np.asarray(self.mins), 0.0)
        return spans


@dataclass(frozen=True)
class ChannelGroup:
    """Channels ``first``..``last`` (inclusive) and their measured envelope ``lo``…``hi``."""

    first: int
    last: int
    lo: float
    hi: float
    wide: bool   # sets the tensor's scale (within RATIO of the widest channel)

    @property
    def span(self) -> float:
        return max(self.hi, 0.0) - min(self.lo, 0.0)

    @property
    def label(self) -> str:
        return f"channel {self.first}" if self.first == self.last else f"channels {self.first}–{self.last}"


@dataclass(frozen=True)
class MixedRange:
    """An output whose channel groups differ in span by ≥ ``RATIO``: the groups in channel order."""

    axis: int
    groups: tuple[ChannelGroup, ...]

    @property
    def wide(self) -> tuple[ChannelGroup, ...]:
        return tuple(g for g in self.groups if g.wide)

    @property
    def narrow(self) -> tuple[ChannelGroup, ...]:
        return tuple(g for g in self.groups if not g.wide)

    @property
    def span(self) -> float:
        """The whole tensor's span: what the one int8 scale covers."""
        return max(max(g.hi for g in self.groups), 0.0) - min(min(g.lo for g in self.groups), 0.0)

    @property
    def ratio(self) -> float:
        """Widest group's span over the widest narrow group's."""
        return max(g.span for g in self.wide) / max(g.span for g in self.narrow)

    @property
    def steps_kept(self) -> float:
        """int8 steps the widest narrow group keeps under the shared scale."""
        return INT8_STEPS * max(g.span for g in self.narrow) / self.span


def channel_axis(shape: tuple[int, ...]) -> int:
    """The channel axis of an (N, ...) output: the smaller of two per-sample axes (YOLO's [4+C, A] or [A, 4+C]),
    else the last."""
    if len(shape) == 3 and shape[1] != shape[2]:
        return 1 if shape[1] < shape[2] else 2
    return len(shape) - 1


def _chunk_samples(per_sample: int) -> int:
    """Samples per chunk: at most ``CHUNK_ELEMENTS`` values (but at least one sample, at most ``CHUNK_SAMPLES``),
    so the extra memory of a reduction stays O(chunk) whatever N is."""
    return max(1, min(CHUNK_SAMPLES, CHUNK_ELEMENTS // max(per_sample, 1)))


def _as_samples(a: np.ndarray) -> np.ndarray:
    # one value per sample is a single channel (a view, no copy)
    return a.reshape(len(a), 1) if a.ndim < 2 else a


def channel_ranges(outputs: np.ndarray, axis: int | None = None) -> ChannelRanges:
    """Per-channel (min, max) over all samples and positions; ``axis`` defaults to ``channel_axis``. NaN and Inf
    are left out (they are warned about elsewhere); a channel with no finite value gets (0, 0)."""
    arr = _as_samples(np.asarray(outputs))
    ax = channel_axis(arr.shape) if axis is None else axis % arr.ndim
    others = tuple(k for k in range(arr.ndim) if k != ax)
    n = arr.shape[0]
    if n == 0:   # nothing measured: every channel (0, 0), as a channel with no finite value
        zeros = (0.0,) * arr.shape[ax]
        return ChannelRanges(ax, zeros, zeros)
    step = _chunk_samples(arr[:1].size)
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    for start in range(0, n, step):
        # in the array's own dtype: min/max of float32 values are exact, no float64 copy is needed
        chunk = arr[start:start + step]
        finite = np.isfinite(chunk)
        los.append(np.min(np.where(finite, chunk, np.inf), axis=others, initial=np.inf))
        his.append(np.max(np.where(finite, chunk, -np.inf), axis=others, initial=-np.inf))
    if ax == 0:   # the samples are the channels: chunks hold different channels
        lo, hi = np.concatenate(los), np.concatenate(his)
    else:
        lo, hi = np.min(los, axis=0), np.max(his, axis=0)
    lo64, hi64 = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    lo64[~np.isfinite(lo64)] = 0.0
    hi64[~np.isfinite(hi64)] = 0.0
    return ChannelRanges(ax, tuple(map(float, np.atleast_1d(lo64))), tuple(map(float, np.atleast_1d(hi64))))


def mixed_groups(ranges: ChannelRanges) -> MixedRange | None:
    """Contiguous runs of wide channels (span within ``RATIO`` of the widest) and narrow ones; None unless both
    exist. An output wholly inside [0, 1] is probabilities or normalised values: its small channels are classes
    this data rarely scores, not a second scale, and splitting would not help them."""
    spans = ranges.spans
    if len(spans) < 2 or not spans.max() > 0:
        return None
    if min(ranges.mins) >= 0.0 and max(ranges.maxs) <= 1.0:
        return None
    wide = spans >= spans.max() / RATIO
    # a constant-zero channel costs nothing under any scale: it joins its neighbours' run
    dead = spans == 0
    groups: list[ChannelGroup] = []
    start = 0
    for c in range(1, len(spans) + 1):
        if c < len(spans) and (dead[c] or wide[c] == wide[start]):
            continue
        groups.append(_group(ranges, start, c - 1, bool(wide[start])))
        start = c
    if not any(g.wide for g in groups) or not any(not g.wide and g.span > 0 for g in groups):
        return None
    return MixedRange(ranges.axis, tuple(groups))


def _group(ranges: ChannelRanges, first: int, last: int, wide: bool) -> ChannelGroup:
    return ChannelGroup(first, last, min(ranges.mins[first:last + 1]), max(ranges.maxs[first:last + 1]), wide)


def _listed(groups: tuple[ChannelGroup, ...]) -> str:
    """The groups' channel labels (the first few) and their joint envelope."""
    names = ", ".join(g.label for g in groups[:SHOWN_GROUPS])
    if len(groups) > SHOWN_GROUPS:
        names += f" and {len(groups) - SHOWN_GROUPS} more group(s)"
    return f"{names} ({_g(min(g.lo for g in groups))}…{_g(max(g.hi for g in groups))})"


def _g(v: float) -> str:
    return f"{v:.3g}"


def message(output_name: str, mixed: MixedRange, source_kind: str) -> str:
    """One warning line: the output, its channel groups and measured ranges, the int8 steps the narrow group
    keeps, and the fix the source allows (a float .tflite's graph is the publisher's)."""
    steps = mixed.steps_kept
    kept = f"~{steps:.1f}" if steps < 10 else f"~{steps:.0f}"
    if source_kind == "tflite":
        fix = ("keep this output float (--keep-float on the layer that writes it) or convert the publisher's "
               "normalised export instead")
    else:
        fix = ("split it into separate outputs, or normalise the coordinates in the graph (divide boxes by the "
               "input size) before converting")
    return (f"output {output_name!r} mixes ranges under one int8 scale: {_listed(mixed.wide)} beside "
            f"{_listed(mixed.narrow)}, {mixed.ratio:.0f}x apart; the narrow channels keep {kept} of "
            f"{INT8_STEPS} int8 steps (scores near zero, detections lost; `edgelite compare` gives each group "
            f"its error); {fix}")


def group_errors(ref: np.ndarray, cand: np.ndarray, mixed: MixedRange) -> list[tuple[str, float | None, float]]:
    """(group label, SNR in dB or None when identical, max abs error) of ``cand`` against ``ref`` per group.
    Summed over sample chunks, float64 only per chunk, so the extra memory is O(chunk), not O(N)."""
    r_all, c_all = _as_samples(np.asarray(ref)), _as_samples(np.asarray(cand))
    if r_all.shape != c_all.shape:
        raise ValueError(f"reference {r_all.shape} and candidate {c_all.shape} differ in shape")
    n = r_all.shape[0]
    signal = np.zeros(len(mixed.groups))
    noise = np.zeros(len(mixed.groups))
    worst = np.zeros(len(mixed.groups))
    step = _chunk_samples(r_all[:1].size)
    for start in range(0, n, step):
        for k, g in enumerate(mixed.groups):
            pick: list[slice] = [slice(None)] * r_all.ndim
            pick[0] = slice(start, start + step)
            if mixed.axis == 0:   # channels are samples: this chunk's share of the group
                pick[0] = slice(max(start, g.first), min(start + step, g.last + 1))
            else:
                pick[mixed.axis] = slice(g.first, g.last + 1)
            r = r_all[tuple(pick)].astype(np.float64)
            if not r.size:
                continue
            d = r - c_all[tuple(pick)]
            signal[k] += float(np.dot(r.ravel(), r.ravel()))
            noise[k] += float(np.dot(d.ravel(), d.ravel()))
            worst[k] = np.maximum(worst[k], np.max(np.abs(d)))   # NaN propagates, as one whole-array max would
    return [(g.label, metrics.snr_db(float(signal[k]), float(noise[k])), float(worst[k]))
            for k, g in enumerate(mixed.groups)]
