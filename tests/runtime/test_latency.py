"""Interleaved timing: ratios of models timed in the same rounds, and the shipped timing kernel."""

from __future__ import annotations

import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model
from edgelite.runtime.latency import KERNEL_PATH, kernel_sha256, load_kernel, paired_timing


def test_a_model_against_itself_is_a_ratio_of_one():
    a, b = load_kernel(threads=1), load_kernel(threads=1)
    t = paired_timing({"a": a, "b": b}, rounds=7, block_ms=10)
    assert len(t.round_medians_ms["a"]) == 7 and len(t.samples_ms["a"]) >= 21
    # Judged against the noise the same timing measured, not a fixed margin: a quiet machine gave ratios
    # 0.99-1.01 (spread ~0.01), a CI run sharing the machine a spread of 0.13. A bias from the pairing itself
    # (one side always timed first, warm-up counted on one side) would move the ratio off 1 by more than that.
    spread = t.ratio_spread("a", "b")
    assert 0.0 <= spread < 1.0, spread
    assert abs(t.ratio("a", "b") - 1.0) <= max(3 * spread, 0.05), (t.ratio("a", "b"), spread)


def test_ratios_order_models_by_their_real_cost(example_models):
    small = Model.load(example_models["int8"], threads=1)
    t = paired_timing({"mnist": small, "kernel": load_kernel(threads=1)}, rounds=5, block_ms=10)
    # the 96x96 kernel CNN does ~20x the MNIST model's work (measured 0.048 kernels per MNIST invoke)
    assert 0.005 < t.ratio("mnist", "kernel") < 0.3
    assert t.median_ms("kernel") > t.median_ms("mnist")


def test_the_kernel_is_a_quantized_model_with_a_stable_hash():
    k = load_kernel()
    assert k.quantized and KERNEL_PATH.stat().st_size > 10_000
    # The committed example baseline was recorded against this kernel: a changed kernel file would silently
    # invalidate every recorded latency baseline, so it must be a deliberate change that re-records them.
    import json

    baseline = json.loads((KERNEL_PATH.parents[2] / "examples/mnist/edgelite-baseline.json").read_text())
    assert kernel_sha256() == baseline["kernel_sha256"]


def test_too_few_rounds_is_a_user_error():
    with pytest.raises(UserInputError, match="rounds must be ≥ 3"):
        paired_timing({"k": load_kernel()}, rounds=2)
