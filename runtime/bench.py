"""``benchmark``: latency of a .tflite model per thread count, with init time and a device fingerprint."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edgelite import __version__
from edgelite.errors import UserInputError
from edgelite.runtime import device
from edgelite.runtime.model import Model, TensorInfo
from edgelite.runtime.reports import Report, latency_stats


@dataclass(frozen=True)
class BenchReport(Report):
    kind = "bench"
    schema_version = 1

    model: str
    size_bytes: int
    backend: str
    backend_version: str
    input_dtype: str
    results: list[dict[str, Any]]
    device: dict[str, Any] = field(default_factory=device.fingerprint)
    edgelite_version: str = __version__


def random_input(t: TensorInfo, seed: int = 0) -> np.ndarray:
    """A seeded input in the tensor's dtype: full integer range for quantized inputs, [0, 1) for floats."""
    rng = np.random.default_rng(seed)
    if t.dtype.kind in "iu":
        info = np.iinfo(t.dtype)
        return rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype)
    return rng.random(size=t.shape, dtype=np.float32).astype(t.dtype)


def time_invokes(model: Model, runs: int, warmup: int) -> tuple[list[float], float]:
    """(per-run seconds, first-invoke seconds) for a model whose inputs are already set."""
    first = model.invoke_raw()
    for _ in range(max(0, warmup - 1)):
        model.invoke_raw()
    return [model.invoke_raw() for _ in range(runs)], first


def benchmark(path: str | os.PathLike[str], *, threads: Sequence[int] = (1,), runs: int = 100, warmup: int = 10,
              backend: str = "auto", xnnpack: bool = True, seed: int = 0) -> BenchReport:
    """Load the model once per thread count, set a seeded random input, time ``invoke()`` ``runs`` times."""
    if runs < 1:
        raise UserInputError(f"--runs must be ≥ 1, got {runs}")
    if warmup < 0:
        raise UserInputError(f"--warmup must be ≥ 0, got {warmup}")
    if not threads or any(t < 1 for t in threads):
        raise UserInputError(f"--threads takes positive counts like 1,2,4; got {list(threads)}")
    results, model = [], None
    for n in threads:
        t0 = time.perf_counter()
        model = Model.load(path, backend=backend, threads=n, xnnpack=xnnpack)
        init_s = time.perf_counter() - t0
        for k, t in enumerate(model.inputs):
            model.set_raw_input(random_input(t, seed + k), k)
        times, first = time_invokes(model, runs, warmup)
        results.append({
            "threads": n, "xnnpack": xnnpack, "init_ms": round(init_s * 1e3, 3),
            "first_invoke_ms": round(first * 1e3, 3), "warmup": warmup, "runs": runs,
            "latency_ms": latency_stats(times),
        })
    assert model is not None
    return BenchReport(
        model=str(path), size_bytes=model.size_bytes, backend=model.backend.name,
        backend_version=model.backend.version, input_dtype=str(model.input.dtype), results=results,
    )


def parse_threads(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UserInputError(f"--threads takes positive counts like 1 or 1,2,4; got {text!r}")
    return values
