"""Latency that survives a shared CI machine: models timed in interleaved blocks, compared as ratios.

Absolute milliseconds move by tens of percent between CI runs (other tenants, CPU frequency, a different
runner). What does not move much is the *ratio* of two models timed in the same rounds: whatever slows one
slows the other. So ``paired_timing`` times several models round-robin, in short blocks whose order rotates
every round, and ``ratio`` is the median over rounds of the per-round median ratio. The fixed
``timing_kernel_int8.tflite`` (a small int8 CNN shipped with edgelite) is the yardstick that makes a latency
comparable with a baseline recorded in another run: ``latency / kernel latency`` in the same rounds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.bench import random_input
from edgelite.runtime.model import Model

KERNEL_PATH = Path(__file__).resolve().parent / "data" / "timing_kernel_int8.tflite"
KERNEL = "timing-kernel"


def kernel_sha256() -> str:
    return hashlib.sha256(KERNEL_PATH.read_bytes()).hexdigest()


def load_kernel(*, backend: str = "auto", threads: int | None = None, xnnpack: bool = True,
                probe_cache: bool = True) -> Model:
    """The shipped yardstick model, loaded with the same runtime settings as the models it is timed with."""
    return Model.load(KERNEL_PATH, backend=backend, threads=threads, xnnpack=xnnpack, probe_cache=probe_cache)


@dataclass(frozen=True)
class PairedTiming:
    """Per model: every timed invoke (ms) and the median of each round's block (ms)."""

    samples_ms: dict[str, list[float]]
    round_medians_ms: dict[str, list[float]]

    def median_ms(self, name: str) -> float:
        return float(np.median(self.samples_ms[name]))

    def ratio(self, name: str, base: str) -> float:
        """Median over rounds of (block median of ``name``) / (block median of ``base``)."""
        a = np.asarray(self.round_medians_ms[name])
        b = np.asarray(self.round_medians_ms[base])
        return float(np.median(a / b))

    def ratio_spread(self, name: str, base: str) -> float:
        """Half the inter-quartile range of the per-round ratios, relative to their median (a noise figure)."""
        r = np.asarray(self.round_medians_ms[name]) / np.asarray(self.round_medians_ms[base])
        q1, q2, q3 = np.percentile(r, [25, 50, 75])
        return float((q3 - q1) / 2 / q2)


def _prime(model: Model, seed: int) -> None:
    for k, t in enumerate(model.inputs):
        model.set_raw_input(random_input(t, seed + k), k)


def paired_timing(models: Mapping[str, Model], *, rounds: int = 21, block_ms: float = 25.0, warmup: int = 5,
                  seed: int = 0) -> PairedTiming:
    """Time ``models`` round-robin: ``rounds`` rounds, each a block of about ``block_ms`` per model.

    Every model gets the same number of rounds, and the order inside a round rotates, so slow phases of the
    machine (another job starting, frequency changes) hit every model alike.
    """
    if rounds < 3:
        raise UserInputError(f"latency rounds must be ≥ 3 for a median to mean anything, got {rounds}")
    if block_ms <= 0:
        raise UserInputError(f"latency block_ms must be > 0, got {block_ms}")
    names = list(models)
    per_block: dict[str, int] = {}
    for name in names:
        model = models[name]
        _prime(model, seed)
        est = [model.invoke_raw() for _ in range(max(1, warmup))]
        per_block[name] = int(np.clip(round(block_ms / 1e3 / max(float(np.median(est)), 1e-6)), 3, 1000))
    samples: dict[str, list[float]] = {n: [] for n in names}
    medians: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            model = models[name]
            block = [model.invoke_raw() * 1e3 for _ in range(per_block[name])]
            samples[name].extend(round(v, 4) for v in block)
            medians[name].append(round(float(np.median(block)), 4))
    return PairedTiming(samples_ms=samples, round_medians_ms=medians)
