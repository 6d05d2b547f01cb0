"""Seeded, class-balanced sampling and materialisation of a ``DataSource`` into model-ready arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgelite.calibration.multi_input import MultiSource, Sample, Samples, stack
from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.calibration.sources import DataSource
from edgelite.core import progress
from edgelite.core.errors import UnreadableImageError, UserInputError


def sample_order(n_total: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """A seeded order of all indices. With labels, classes take turns (round-robin over shuffled classes'
    members), so any prefix of the order is as class-balanced as the data allows."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"--seed must be a whole number ≥ 0, got {seed}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return rng.permutation(n_total)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order: list[int] = []
    for rank in range(max(len(members) for members in per_class)):
        order.extend(int(members[rank]) for members in per_class if rank < len(members))
    return np.asarray(order, dtype=np.int64)


@dataclass(frozen=True)
class Collected:
    """Model-ready samples taken from a source, and what was skipped on the way."""

    x: Samples                      # (N, ...) float32, or ``Inputs`` for a multi-input model
    y: np.ndarray | None
    indices: np.ndarray
    skipped: list[str] = field(default_factory=list)

    @property
    def class_counts(self) -> dict[int, int]:
        if self.y is None:
            return {}
        values, counts = np.unique(self.y, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def collect(source: DataSource | MultiSource, spec: PreprocessSpec | None, sample_shape: tuple[int, ...], n: int | None,
            seed: int, *, desc: str = "samples", shuffle: bool = True) -> Collected:
    """Take ``n`` samples (all when None) in seeded order, skipping unreadable images until ``n`` are read. A
    bound ``MultiSource`` loads every input through its own slot (``spec``/``sample_shape`` are not used)."""
    if n is not None and n < 1:
        raise UserInputError(f"--samples must be ≥ 1, got {n}")
    order = sample_order(len(source), source.labels, seed) if shuffle else np.arange(len(source))
    want = len(source) if n is None else min(n, len(source))
    xs: list[Sample] = []
    idx: list[int] = []
    skipped: list[str] = []
    with progress.bar(total=want, desc=desc, unit="img") as bar:
        for i in order:
            if len(xs) >= want:
                break
            try:
                xs.append(source.load(int(i), spec, sample_shape))
            except UnreadableImageError:
                skipped.append(str(source.items[int(i)]))
                continue
            idx.append(int(i))
            bar.update(1)
    if not xs:
        raise UserInputError(f"{source.name}: none of the {len(skipped)} image(s) could be read; check the files")
    indices = np.asarray(idx, dtype=np.int64)
    y = source.labels[indices] if source.labels is not None else None
    names = source.input_names if isinstance(source, MultiSource) else ()
    return Collected(stack(xs, names), y, indices, skipped)
