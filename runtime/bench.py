"""``benchmark``: latency of a .tflite model per thread count and XNNPACK setting, with init time, first-invoke
latency, memory, and a device fingerprint so every number says where it came from; with ``ops=True`` also the
per-op-type profile (``runtime.op_profile``)."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.report import OMIT_NONE, LatencyStats, Record, Report, latency_stats
from edgelite.core.version import __version__
from edgelite.runtime import device
from edgelite.runtime.backends import DelegateSpec, select_backend
from edgelite.runtime.compare import SLOWER_MARGIN, int8_slower_message
from edgelite.runtime.model import MAX_THREADS, Model
from edgelite.runtime.op_profile import OpProfile, profile_ops
from edgelite.runtime.tensors import TensorInfo


@dataclass(frozen=True)
class BenchResult(Record):
    """One (threads, XNNPACK) configuration."""

    threads: int
    xnnpack: bool
    init_ms: float
    first_invoke_ms: float
    warmup: int
    runs: int
    latency_ms: LatencyStats
    samples_ms: list[float]
    rss_added_mb: float | None
    peak_rss_mb: float


@dataclass(frozen=True)
class BenchReference(Record):
    """A float model timed in the same run, configuration by configuration (``--reference``)."""

    model: str
    size_bytes: int
    quantized: bool
    results: list[BenchResult]
    ops: OpProfile | None = field(default=None, metadata=OMIT_NONE)   # --ops


@dataclass(frozen=True)
class BenchReport(Report):
    """Per configuration: ``init_ms`` = building the interpreter for this file (read, metadata, allocate; the
    library is already loaded), ``first_invoke_ms`` = the first ``invoke()`` (XNNPACK packs weights there),
    then the timed runs. ``library_load_ms`` = importing the interpreter library, once per process. ``ops``: the
    per-op-type profile under the first configuration (``--ops``)."""

    kind = "bench"
    schema_version = 2

    model: str
    size_bytes: int
    backend: str
    backend_version: str
    input_dtype: str
    results: list[BenchResult]
    quantized: bool = False
    delegates: list[str] = field(default_factory=list)
    reference: BenchReference | None = None
    warnings: list[str] = field(default_factory=list)
    device: device.DeviceInfo = field(default_factory=device.fingerprint)
    edgelite_version: str = __version__
    library_load_ms: float | None = None
    ops: OpProfile | None = field(default=None, metadata=OMIT_NONE)


def random_input(t: TensorInfo, seed: int = 0) -> np.ndarray:
    """A seeded input in the tensor's dtype: full integer range for quantized inputs, [0, 1) for floats."""
    rng = np.random.default_rng(seed)
    if t.dtype.kind in "iu":
        info = np.iinfo(t.dtype)
        return rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype)
    return rng.random(size=t.shape, dtype=np.float32).astype(t.dtype)


def time_invokes(model: Model, runs: int, warmup: int, max_seconds: float | None = None
                 ) -> tuple[list[float], float]:
    """(per-run seconds, first-invoke seconds) for a model whose inputs are already set.

    ``max_seconds`` ends the timed runs early (at least one run is always timed)."""
    first = model.invoke_raw()
    for _ in range(max(0, warmup - 1)):
        model.invoke_raw()
    times: list[float] = []
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    while len(times) < runs:
        times.append(model.invoke_raw())
        if deadline is not None and time.perf_counter() > deadline:
            break
    return times, first


def _rss_mb() -> float | None:
    """Current resident set size (Linux /proc), in MB."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def _one_config(path: str | os.PathLike[str], n: int, xnn: bool, runs: int, warmup: int,
                max_seconds: float | None, backend: str, delegates: list[DelegateSpec], seed: int
                ) -> tuple[Model, BenchResult]:
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    model = Model.load(path, backend=backend, threads=n, xnnpack=xnn, delegates=delegates)
    init_s = time.perf_counter() - t0
    for k, t in enumerate(model.inputs):
        model.set_raw_input(random_input(t, seed + k), k)
    times, first = time_invokes(model, runs, warmup, max_seconds)
    rss1 = _rss_mb()
    return model, BenchResult(
        threads=n, xnnpack=xnn, init_ms=round(init_s * 1e3, 3), first_invoke_ms=round(first * 1e3, 3),
        warmup=warmup, runs=len(times), latency_ms=latency_stats(times),
        samples_ms=[round(t * 1e3, 4) for t in times],
        rss_added_mb=None if rss0 is None or rss1 is None else round(rss1 - rss0, 2),
        peak_rss_mb=round(_peak_rss_mb(), 2))


def benchmark(path: str | os.PathLike[str], *, threads: Sequence[int] = (1,), runs: int = 100, warmup: int = 10,
              backend: str = "auto", xnnpack: bool | Sequence[bool] = True, seed: int = 0,
              max_seconds: float | None = None, delegates: Sequence[DelegateSpec] = (),
              reference: str | os.PathLike[str] | None = None, ops: bool = False) -> BenchReport:
    """Time ``invoke()`` for every (threads, XNNPACK) configuration on a seeded random input.

    With ``reference`` (a float model), the same configurations are timed for it, interleaved with the
    model's, and a warning is added when the quantized model is slower; it names the op types that take the
    int8 time (from a profile made then, if ``ops`` did not make one). ``ops``: profile each model per op type
    under the first configuration.
    """
    if runs < 1:
        raise UserInputError(f"--runs must be ≥ 1, got {runs}")
    if warmup < 0:
        raise UserInputError(f"--warmup must be ≥ 0, got {warmup}")
    if max_seconds is not None and max_seconds <= 0:
        raise UserInputError(f"--max-seconds must be > 0, got {max_seconds}")
    if not threads or any(not 1 <= t <= MAX_THREADS for t in threads):
        raise UserInputError(f"--threads takes positive counts like 1,2,4; got {list(threads)}")
    xnn_settings = (xnnpack,) if isinstance(xnnpack, bool) else tuple(xnnpack)
    # Load the library before the first configuration's clock starts (its import is reported on its own).
    library = select_backend(backend)
    results: list[BenchResult] = []
    ref_results: list[BenchResult] = []
    model = ref_model = None
    for n in threads:
        for xnn in xnn_settings:
            model, res = _one_config(path, n, xnn, runs, warmup, max_seconds, backend, list(delegates), seed)
            results.append(res)
            if reference is not None:
                ref_model, ref_res = _one_config(reference, n, xnn, runs, warmup, max_seconds, backend,
                                                 list(delegates), seed)
                ref_results.append(ref_res)
    assert model is not None

    def profile(of: Model, res: BenchResult) -> OpProfile:
        return profile_ops(of.content, name=str(of.path), backend=backend, threads=res.threads, xnnpack=res.xnnpack,
                           delegates=delegates, seed=seed, input_shapes=[t.shape for t in of.inputs])

    model_ops = profile(model, results[0]) if ops else None
    warnings, ref_summary = [], None
    if ref_model is not None:
        ref_summary = BenchReference(model=str(reference), size_bytes=ref_model.size_bytes,
                                     quantized=ref_model.quantized, results=ref_results,
                                     ops=profile(ref_model, ref_results[0]) if ops else None)
        if model.quantized and not ref_model.quantized:
            ratios = [(m, m.latency_ms.median / r.latency_ms.median) for m, r in zip(results, ref_results, strict=True)]
            slower = [(m, ratio) for m, ratio in ratios if ratio > SLOWER_MARGIN]
            if slower:
                where = ", ".join(f"threads={m.threads} xnnpack={'on' if m.xnnpack else 'off'} {ratio:.2f}x"
                                  for m, ratio in slower)
                worst, ratio = max(slower, key=lambda mr: mr[1])
                named = model_ops
                if named is None:
                    with contextlib.suppress(UserInputError):   # the profile only adds op names to the warning
                        named = profile(model, worst)
                warnings.append(f"slower than float in {len(slower)} of {len(results)} configurations ({where}); "
                                + int8_slower_message(ratio, profile=named))
    return BenchReport(
        model=str(path), size_bytes=model.size_bytes, backend=model.backend.name,
        backend_version=model.backend.version, input_dtype=str(model.input.dtype), results=results,
        quantized=model.quantized, delegates=[d.path for d in delegates], reference=ref_summary,
        warnings=warnings, library_load_ms=None if library.load_ms is None else round(library.load_ms, 3),
        ops=model_ops,
    )


def parse_threads(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1 or max(values) > MAX_THREADS:
        raise UserInputError(f"--threads takes positive counts like 1 or 1,2,4; got {text!r}")
    return values
