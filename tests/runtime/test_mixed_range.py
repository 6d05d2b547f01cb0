"""The mixed-range output check's pure functions: channel axes, ranges, groups, the warning line, per-group
errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.runtime.mixed_range import (
    RATIO,
    ChannelGroup,
    MixedRange,
    channel_axis,
    channel_ranges,
    group_errors,
    message,
    mixed_groups,
)

RNG = np.random.default_rng(7)


def yolo_like(n: int = 16, classes: int = 5, anchors: int = 40, size: float = 640.0) -> np.ndarray:
    """(n, 4+classes, anchors): boxes in pixels, class scores in [0, 1]."""
    boxes = RNG.random((n, 4, anchors)) * size
    scores = RNG.random((n, classes, anchors))
    return np.concatenate([boxes, scores], axis=1).astype(np.float32)


@pytest.mark.parametrize("shape, axis", [((8, 84, 8400), 1), ((8, 8400, 84), 2), ((8, 1000), 1),
                                         ((8, 4, 4, 3), 3), ((8, 5, 5), 2)])
def test_channel_axis_is_the_small_axis_of_a_head_else_the_last(shape, axis):
    assert channel_axis(shape) == axis


def test_ranges_are_per_channel_over_samples_and_positions():
    out = yolo_like()
    r = channel_ranges(out)
    assert r.axis == 1 and len(r.mins) == 9
    np.testing.assert_allclose(r.maxs, out.max(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(r.mins, out.min(axis=(0, 2)), rtol=1e-6)
    # the transposed layout gives the same ranges on the last axis
    assert channel_ranges(out.transpose(0, 2, 1)).maxs == r.maxs


def test_boxes_in_pixels_beside_scores_are_two_groups():
    mixed = mixed_groups(channel_ranges(yolo_like()))
    assert mixed is not None
    assert [(g.first, g.last, g.wide) for g in mixed.groups] == [(0, 3, True), (4, 8, False)]
    assert mixed.ratio >= RATIO and mixed.steps_kept < 1.0   # 1/640 of 256 steps


@pytest.mark.parametrize("out", [
    yolo_like(size=1.0),                                         # normalised boxes
    yolo_like(size=50.0),                                        # 50x apart: under RATIO
    RNG.dirichlet(np.ones(1000) * 0.05, size=32),                # softmax: rare classes are not a second scale
    np.zeros((4, 6)),                                            # constant
    RNG.normal(size=(8, 10)) * 30,                               # one scale
])
def test_no_mixed_range(out):
    assert mixed_groups(channel_ranges(out)) is None


def test_groups_alternate_in_a_pose_like_head():
    # boxes (px), score, then (x px, y px, visibility) per keypoint
    parts = [RNG.random((4, 4, 40)) * 640, RNG.random((4, 1, 40))]
    for _ in range(3):
        parts += [RNG.random((4, 2, 40)) * 640, RNG.random((4, 1, 40))]
    mixed = mixed_groups(channel_ranges(np.concatenate(parts, axis=1)))
    assert mixed is not None
    assert [g.label for g in mixed.narrow] == ["channel 4", "channel 7", "channel 10", "channel 13"]


def test_message_names_output_channels_ranges_steps_and_fix():
    out = yolo_like()
    mixed = mixed_groups(channel_ranges(out))
    assert mixed is not None
    line = message("output0", mixed, "keras")
    assert "\n" not in line
    assert "'output0'" in line and "channels 0–3" in line and "channels 4–8" in line
    hi = float(out[:, :4].max())
    assert f"{hi:.3g}" in line and "of 256 int8 steps" in line and "~0.4" in line
    assert "normalise the coordinates" in line and "split" in line
    assert "publisher's normalised export" in message("output0", mixed, "tflite")


def test_group_errors_show_which_group_lost_precision():
    ref = yolo_like()
    mixed = mixed_groups(channel_ranges(ref))
    assert mixed is not None
    step = float(ref.max()) / 255
    cand = np.round(ref / step) * step   # one per-tensor scale
    (box_label, box_snr, _), (score_label, score_snr, score_max) = group_errors(ref, cand, mixed)
    assert (box_label, score_label) == ("channels 0–3", "channels 4–8")
    assert box_snr is not None and score_snr is not None and box_snr > score_snr + 30
    assert score_max <= step / 2 + 1e-6
    assert group_errors(ref, ref, mixed)[0][1] is None   # identical: no SNR


def _plain_ranges(out: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward float64 computation: non-finite values masked, all-masked channels (0, 0)."""
    a = np.moveaxis(np.asarray(out, np.float64), axis, -1).reshape(-1, out.shape[axis])
    ok = np.isfinite(a)
    lo = np.where(ok, a, np.inf).min(axis=0)
    hi = np.where(ok, a, -np.inf).max(axis=0)
    return np.where(ok.any(axis=0), lo, 0.0), np.where(ok.any(axis=0), hi, 0.0)


@pytest.mark.parametrize("axis", [None, 1, 2, 0])
def test_chunked_ranges_and_errors_match_a_plain_float64_computation(monkeypatch, axis):
    from edgelite.runtime import mixed_range

    monkeypatch.setattr(mixed_range, "CHUNK_ELEMENTS", 500)   # many chunks, a ragged last one
    rng = np.random.default_rng(3)
    out = (rng.normal(size=(37, 6, 90)) * np.array([300, 300, 1, 1, 0.01, 5])[None, :, None]).astype(np.float32)
    out[2, 1, 5], out[30, 3, 7], out[:, 5, :] = np.nan, np.inf, np.nan   # channel 5 has no finite value
    r = channel_ranges(out, axis)
    ax = 1 if axis is None else axis
    lo, hi = _plain_ranges(out, ax)
    assert r.axis == ax
    np.testing.assert_array_equal(r.mins, lo)
    np.testing.assert_array_equal(r.maxs, hi)

    ref = np.nan_to_num(out, nan=0.0, posinf=0.0)
    cand = (ref + rng.normal(size=ref.shape).astype(np.float32) * 0.01).astype(np.float32)
    n_ch = ref.shape[ax]
    split = MixedRange(ax, (ChannelGroup(0, 1, 0, 1, True), ChannelGroup(2, n_ch - 1, 0, 1, False)))
    got = group_errors(ref, cand, split)
    r64, c64 = ref.astype(np.float64), cand.astype(np.float64)
    for (label, snr, worst), g in zip(got, split.groups, strict=True):
        sel = np.take(r64, range(g.first, g.last + 1), axis=ax), np.take(c64, range(g.first, g.last + 1), axis=ax)
        want = 10 * np.log10(np.sum(sel[0] ** 2) / np.sum((sel[0] - sel[1]) ** 2))
        assert label == g.label
        assert snr == pytest.approx(want, rel=1e-9)
        assert worst == np.max(np.abs(sel[0] - sel[1]))


def test_ranges_and_errors_use_little_memory_beyond_the_outputs():
    import tracemalloc

    # 100 MB float32 each, a YOLO-like (N, 84, 8400) head: the old code made float64 copies (200 MB and more)
    n = 36
    ref = np.empty((n, 84, 8400), np.float32)
    rng = np.random.default_rng(0)
    for i in range(n):   # filled per sample so the test itself stays small
        ref[i] = rng.random((84, 8400), dtype=np.float32)
    ref[:, :4] *= 640
    cand = ref.copy()
    cand[:, 4:] += 1e-3
    tracemalloc.start()
    try:
        ranges = channel_ranges(ref)
        mixed = mixed_groups(ranges)
        assert mixed is not None
        errors = group_errors(ref, cand, mixed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.nbytes > 100e6
    assert peak < 40e6, f"{peak / 1e6:.0f} MB extra for two {ref.nbytes / 1e6:.0f} MB outputs"
    assert ranges.maxs[0] == float(ref[:, 0].max())
    assert errors[0][1] is None and errors[1][2] == pytest.approx(1e-3, rel=1e-2)
