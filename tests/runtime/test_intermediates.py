"""The one sample loop and its reducers, on the example's float and int8 models, checked against what the
samples themselves say (the input tensor *is* the sample) and against a model compared with itself."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.runtime.intermediates import (
    ChannelMeanShift,
    ChannelMinMax,
    Collect,
    ErrorStats,
    MinMax,
    Tap,
    sample_loop,
)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(3)
    return rng.random((6, 28, 28, 1), dtype=np.float32)


def _input_name(model: bytes) -> str:
    tap = Tap(model, (28, 28, 1))
    return next(iter(tap.input_names))


def test_reducers_see_the_samples_as_fed(example_models, samples):
    data = example_models["float32"].read_bytes()
    name = _input_name(data)
    whole, channels, kept = MinMax([name]), ChannelMinMax([name]), Collect([name])
    sample_loop([data], samples, [whole, channels, kept])
    assert whole.ranges()[name] == (float(samples.min()), float(samples.max()))
    np.testing.assert_array_equal(channels.lo[name], samples.reshape(-1, 1).min(0))
    np.testing.assert_array_equal(np.stack(kept.values[name])[:, 0], samples)


def test_a_model_against_itself_has_no_error_and_no_shift(example_models, samples):
    data = example_models["float32"].read_bytes()
    tap = Tap(data, (28, 28, 1))
    names = [n for n, d in tap.details.items() if d["dtype"] == np.float32 and tap.has(n)]
    errors, shift = ErrorStats(names), ChannelMeanShift(names)
    sample_loop([data, data], samples, [errors, shift])
    assert set(errors.count) == set(names) and all(errors.sq_err[n] == 0.0 for n in names)
    assert all(errors.noise_ratio(n) == 0.0 for n in names if errors.sq_ref[n] > 0)
    assert all(np.all(shift.shift(n) == 0.0) for n in names if shift.shift(n) is not None)


def test_int8_error_is_measured_and_a_stored_reference_gives_the_same_shift(example_models, samples):
    f32, i8 = example_models["float32"].read_bytes(), example_models["int8"].read_bytes()
    f_tap, q_tap = Tap(f32, (28, 28, 1)), Tap(i8, (28, 28, 1))
    shared = [n for n in f_tap.details if q_tap.has(n) and f_tap.has(n) and q_tap.scale(n) is not None
              and f_tap.details[n]["shape"].tolist() == q_tap.details[n]["shape"].tolist()
              and n not in f_tap.input_names]
    assert shared
    errors, live = ErrorStats(shared), ChannelMeanShift(shared)
    sample_loop([f32, i8], samples, [errors, live])
    assert any(errors.sq_err[n] > 0 for n in shared)   # int8 rounds
    reference = Collect(shared)
    sample_loop([f32], samples, [reference])
    stored = ChannelMeanShift(shared, cand=0, stored=reference)
    sample_loop([i8], samples, [stored])
    for n in shared:
        np.testing.assert_allclose(stored.shift(n), live.shift(n), atol=1e-6)
