"""The paired bootstrap over images: exact on constructed cases, deterministic for a seed, and covering a known
difference about 95 % of the time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgelite.core import bootstrap
from edgelite.core.bootstrap import paired_bootstrap


def test_identical_sides_give_zero_delta_and_a_zero_width_interval():
    x = {"v": np.random.default_rng(1).normal(size=40)}
    f = paired_bootstrap(x, x, bootstrap.mean("v"), resamples=200, seed=3)
    assert f.delta == 0.0
    assert f.delta_ci95 == [0.0, 0.0]
    assert f.reference == f.candidate == pytest.approx(float(x["v"].mean()))
    assert (f.resamples, f.seed) == (200, 3)


def test_a_constant_shift_is_the_delta_and_inside_the_interval():
    v = np.random.default_rng(2).normal(size=50)
    f = paired_bootstrap({"v": v}, {"v": v + 0.25}, bootstrap.mean("v"), resamples=300)
    assert f.delta == pytest.approx(0.25, abs=1e-12)
    lo, hi = f.delta_ci95
    # Paired: every resample sees the same shift, so the interval collapses onto it (an unpaired bootstrap of
    # these N(0, 1) values would be about ±0.4 wide).
    assert lo == pytest.approx(0.25, abs=1e-12) and hi == pytest.approx(0.25, abs=1e-12)
    assert lo - 1e-12 <= f.delta <= hi + 1e-12


def test_a_ratio_metric_is_a_ratio_of_sums_on_every_resample():
    # Image 0: 1 float box, none kept; image 1: 9 float boxes, all kept. Σ kept / Σ boxes = 9/10, while the mean
    # of per-image ratios would be (0 + 1)/2 = 0.5.
    ref = {"kept": np.array([1.0, 9.0]), "boxes": np.array([1.0, 9.0])}
    cand = {"kept": np.array([0.0, 9.0]), "boxes": np.array([1.0, 9.0])}
    f = paired_bootstrap(ref, cand, bootstrap.ratio("kept", "boxes"), resamples=500, seed=0)
    assert f.candidate == pytest.approx(0.9)
    assert f.reference == 1.0
    assert f.delta == pytest.approx(-0.1)
    # Resamples of two images can only draw {0,0}, {0,1} or {1,1}: ratios of sums 0, 0.9 and 1 (deltas −1, −0.1,
    # 0). A mean of ratios would give −0.5 for the mixed draw; that value must never appear.
    idx = np.concatenate(list(bootstrap.resample_indices(2, 500, 0)))
    deltas = bootstrap.ratio("kept", "boxes")(cand, idx) - bootstrap.ratio("kept", "boxes")(ref, idx)
    assert set(np.round(deltas, 9).tolist()) <= {-1.0, -0.1, 0.0}
    lo, hi = f.delta_ci95
    assert lo == -1.0 and hi == 0.0          # {0,0} and {1,1} each come up a quarter of the time


def test_a_ratio_is_undefined_where_nothing_is_drawn_in_the_denominator():
    cols = {"n": np.array([0.0, 2.0]), "d": np.array([0.0, 4.0])}
    got = bootstrap.ratio("n", "d")(cols, np.array([[0, 0], [0, 1], [1, 1]]))
    assert np.isnan(got[0]) and got[1:].tolist() == [0.5, 0.5]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    rng = np.random.default_rng(5)
    ref = {"v": rng.normal(size=60)}
    cand = {"v": ref["v"] + rng.normal(0.1, 0.5, size=60)}
    a = paired_bootstrap(ref, cand, bootstrap.mean("v"), resamples=300, seed=11)
    b = paired_bootstrap(ref, cand, bootstrap.mean("v"), resamples=300, seed=11)
    c = paired_bootstrap(ref, cand, bootstrap.mean("v"), resamples=300, seed=12)
    assert a == b
    assert a.delta == c.delta                 # the point estimate uses every image, not the draws
    assert a.delta_ci95 != c.delta_ci95


def test_the_interval_covers_a_known_difference_about_95_percent_of_the_time():
    """200 seeded repetitions of 80 paired images: per-image candidate = reference + 0.3 + noise, so the true
    difference of means is 0.3. The percentile bootstrap undercovers slightly at small N; 90–99 % is the band."""
    rng = np.random.default_rng(0)
    hits, reps = 0, 200
    for rep in range(reps):
        v = rng.normal(size=80)
        cand = v + 0.3 + rng.normal(0, 0.5, size=80)
        lo, hi = paired_bootstrap({"v": v}, {"v": cand}, bootstrap.mean("v"), resamples=300, seed=rep).delta_ci95
        hits += lo <= 0.3 <= hi
    assert 0.90 <= hits / reps <= 0.99, hits / reps


def test_no_images_gives_nan_and_mismatched_sides_are_refused():
    f = paired_bootstrap({"v": np.zeros(0)}, {"v": np.zeros(0)}, bootstrap.mean("v"))
    assert np.isnan(f.delta) and np.isnan(f.delta_ci95[0])
    with pytest.raises(ValueError, match="different numbers of images"):
        paired_bootstrap({"v": np.zeros(3)}, {"v": np.zeros(4)}, bootstrap.mean("v"))
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap({"a": np.zeros(3), "b": np.zeros(2)}, {"a": np.zeros(3)}, bootstrap.mean("a"))
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap({"v": np.zeros(3)}, {"v": np.zeros(3)}, bootstrap.mean("v"), resamples=-1)
    # 0 resamples: the point figures only (what the --max-drop search scores each trial with)
    f = paired_bootstrap({"v": np.zeros(3)}, {"v": np.ones(3)}, bootstrap.mean("v"), resamples=0)
    assert f.delta == 1.0 and all(math.isnan(v) for v in f.delta_ci95)


def test_chunked_draws_give_the_same_figures_as_one_chunk(monkeypatch):
    rng = np.random.default_rng(8)
    ref, cand = {"v": rng.normal(size=30)}, {"v": rng.normal(size=30)}
    whole = paired_bootstrap(ref, cand, bootstrap.mean("v"), resamples=100, seed=4)
    monkeypatch.setattr(bootstrap, "CHUNK_ELEMENTS", 30 * 7)      # 7 resamples a chunk, the last one short
    chunked = paired_bootstrap(ref, cand, bootstrap.mean("v"), resamples=100, seed=4)
    # numpy's 64-bit bounded integers take whole words from the stream, so successive chunks are the same draws
    # as one big call: memory bounding does not change the interval.
    assert chunked == whole
    assert sum(len(c) for c in bootstrap.resample_indices(30, 100, 4)) == 100
