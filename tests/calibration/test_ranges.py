"""Range methods on constructed tensors: outliers are clipped by percentile/mse/entropy, not by minmax; a tensor
without outliers keeps (nearly) its range; 0 stays inside; the methods' own figures behave as defined."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.calibration.ranges import Histogram, RangeMethod, choose, expected_sq_error, kl_divergence
from edgelite.core.errors import UserInputError


def _hist(values: np.ndarray) -> Histogram:
    h = Histogram(float(values.min()), float(values.max()))
    h.add(values)
    return h


RNG = np.random.default_rng(0)
RELU_WITH_OUTLIERS = np.concatenate([np.maximum(RNG.normal(1.0, 1.0, 200_000), 0.0), [40.0] * 3])
GAUSS = RNG.normal(0.0, 1.0, 200_000)


@pytest.mark.parametrize("method, at_most", [("percentile", 6.0), ("percentile:99.9", 5.0), ("entropy", 8.0),
                                             ("mse", 39.0)])
def test_outliers_are_clipped_by_every_method_but_minmax(method, at_most):
    h = _hist(RELU_WITH_OUTLIERS)
    assert choose(h, RangeMethod.parse("minmax")) == pytest.approx((0.0, 40.0), abs=0.02)
    lo, hi = choose(h, RangeMethod.parse(method))
    assert lo == 0.0 and 3.0 < hi <= at_most   # the bulk (99.99 % below ~4.8) stays inside


@pytest.mark.parametrize("method", ["percentile", "mse", "entropy"])
def test_a_tensor_without_outliers_keeps_most_of_its_range(method):
    lo, hi = choose(_hist(GAUSS), RangeMethod.parse(method))
    mn, mx = GAUSS.min(), GAUSS.max()
    assert mn <= lo <= 0.8 * mn and 0.8 * mx <= hi <= mx


def test_zero_stays_inside_the_range():
    h = _hist(RNG.uniform(2.0, 3.0, 10_000))          # all positive, far from 0
    for method in ("minmax", "percentile", "mse", "entropy"):
        lo, hi = choose(h, RangeMethod.parse(method))
        assert lo == 0.0 < hi


def test_mse_prefers_clipping_rare_small_outliers_and_keeping_frequent_ones():
    rare = _hist(np.concatenate([RNG.normal(0, 1, 100_000), [8.0]]))
    frequent = _hist(np.concatenate([RNG.normal(0, 1, 100_000), np.full(5_000, 8.0)]))
    assert choose(rare, RangeMethod.parse("mse"))[1] < 7.2          # measured 6.64: 8.0 is partly clipped
    assert choose(frequent, RangeMethod.parse("mse"))[1] == pytest.approx(8.0, abs=0.01)
    # the chosen range beats min-max on its own criterion, by construction of the search
    r = choose(rare, RangeMethod.parse("mse"))
    assert expected_sq_error(rare, *r) < expected_sq_error(rare, *choose(rare, RangeMethod.parse("minmax")))


def test_kl_charges_clipping():
    h = _hist(RELU_WITH_OUTLIERS)
    assert kl_divergence(h, 0.0, 5.0) < kl_divergence(h, 0.0, 1.0)   # clipping the bulk costs divergence


@pytest.mark.parametrize("text, message", [
    ("kmeans", "must be one of minmax, percentile, mse, entropy"),
    ("percentile:101", r"P in \(50, 100\]"), ("percentile:abc", r"P in \(50, 100\]"),
    ("mse:3", "takes no argument"),
])
def test_bad_method_names_are_one_line_errors(text, message):
    with pytest.raises(UserInputError, match=message):
        RangeMethod.parse(text)


def test_method_names_round_trip():
    assert str(RangeMethod.parse("percentile:99.9")) == "percentile:99.9"
    assert str(RangeMethod.parse(None)) == "minmax" and str(RangeMethod.parse("ENTROPY")) == "entropy"
