"""Intervals and the paired test: checked against scipy and by simulated coverage, then in compare's report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from edgelite.core import stats
from edgelite.runtime import Model
from edgelite.runtime.compare import compare


@pytest.mark.parametrize("k, n", [(46, 60), (60, 60), (0, 10), (1, 3), (499, 500)])
def test_wilson_matches_scipy(k, n):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert stats.wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


@pytest.mark.parametrize("b, c", [(0, 0), (5, 2), (0, 9), (30, 12), (700, 650)])
def test_exact_mcnemar_matches_a_binomial_test(b, c):
    want = 1.0 if b + c == 0 else sps.binomtest(min(b, c), b + c, 0.5).pvalue
    assert stats.mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9)


def test_paired_interval_covers_the_true_difference_95_percent_of_the_time():
    """60 paired samples, float right 90 %, int8 right 80 %, strongly correlated: the true drop is 10 pts."""
    rng = np.random.default_rng(0)
    hits, reps = 0, 2000
    for _ in range(reps):
        u = rng.random(60)
        ref, cand = u < 0.9, u < 0.8          # int8 is right only where float is (paired, φ > 0)
        lo, hi = stats.paired_difference(ref, cand)
        hits += lo <= 0.1 <= hi
    assert 0.93 <= hits / reps <= 0.985, hits / reps   # measured 0.953


def test_paired_interval_is_narrower_than_two_independent_ones():
    ref = np.array([True] * 50 + [False] * 10)
    cand = ref.copy()
    cand[:3] = False
    lo, hi = stats.paired_difference(ref, cand)
    w1, w2 = stats.wilson(50, 60), stats.wilson(47, 60)
    assert hi - lo < (w1[1] - w1[0] + w2[1] - w2[0]) / 2


def test_too_few_samples_warns_for_a_1_point_budget_on_60_samples():
    msg = stats.too_few_samples("the top-1 drop", 1.0, (-3.0, 8.0), 60)
    assert msg is not None and "60 samples are too few for a 1-point budget" in msg and "±5.5 points" in msg
    assert stats.too_few_samples("the top-1 drop", 10.0, (-3.0, 8.0), 60) is None


def test_compare_report_carries_intervals_and_mcnemar(example_models, example, run_cli, tmp_path):
    out = tmp_path / "c.json"
    code, stdout, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                                example / "eval", "--json", out)
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["schema_version"] == 2
    lo, hi = r["agreement_ci95"]
    assert lo <= r["agreement"] <= hi and hi - lo > 0
    for side in ("reference", "candidate"):
        lo, hi = r[side]["top1_ci95"]
        assert lo <= r[side]["top1"] <= hi
    d_lo, d_hi = r["top1_drop_ci95"]
    assert d_lo <= r["top1_drop_pts"] <= d_hi
    b, c = r["discordant"]["reference_only"], r["discordant"]["candidate_only"]
    assert r["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(b, c), abs=1e-6)
    assert "95 % CI" in stdout and "McNemar p" in stdout


def test_unlabelled_compare_has_agreement_interval_only(example_models, rgb_images):
    m = Model.load(example_models["int8"])
    x = np.random.default_rng(0).random((20, 28, 28, 1), dtype=np.float32)
    r = compare(m, m, x)
    assert r.agreement_ci95 is not None and r.top1_drop_ci95 is None and r.mcnemar_p is None
