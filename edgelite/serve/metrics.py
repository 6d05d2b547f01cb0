"""Prometheus metrics of ``edgelite serve`` (``GET /metrics``), on their own registry per application.

Requests by model, version and status; latency split into queue (waiting for the model's interpreter),
preprocessing (decoding and checking the request, quantizing, copying tensors) and inference (``invoke()``
only); model loads and refusals; interpreters busy; the process's memory and CPU (prometheus-client's process
collector); and on Linux boards the SoC temperature and CPU clock, because thermal throttling is what makes a
Raspberry Pi slow in the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

# 0.1 ms … 10 s: a MNIST-size model answers in well under a millisecond, a MobileNet on a Pi in tens of ms
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
THERMAL = Path("/sys/class/thermal")
CPUFREQ = Path("/sys/devices/system/cpu")
MAX_SENSORS = 64   # thermal zones / CPUs read per scrape
MAX_CACHED = 4096  # metric children kept for the request path (labels are bounded upstream too)


class BoardCollector:
    """SoC temperature (°C) per thermal zone and current CPU clock (Hz) per core, where Linux exposes them."""

    def __init__(self, thermal: Path = THERMAL, cpufreq: Path = CPUFREQ) -> None:
        self.thermal, self.cpufreq = thermal, cpufreq

    @staticmethod
    def _read_int(path: Path) -> int | None:
        try:
            return int(path.read_text(errors="replace").strip()[:32])
        except (OSError, ValueError):
            return None

    def collect(self) -> Iterator[Any]:
        temp = GaugeMetricFamily("edgelite_soc_temperature_celsius", "SoC temperature per thermal zone",
                                 labels=["zone", "type"])
        for zone in sorted(self.thermal.glob("thermal_zone*"))[:MAX_SENSORS]:
            milli = self._read_int(zone / "temp")
            if milli is not None:
                kind = (zone / "type").read_text(errors="replace").strip()[:64] if (zone / "type").is_file() else ""
                temp.add_metric([zone.name, kind], milli / 1000.0)
        yield temp
        freq = GaugeMetricFamily("edgelite_cpu_frequency_hertz", "current CPU clock per core", labels=["cpu"])
        for cpu in sorted(self.cpufreq.glob("cpu[0-9]*"))[:MAX_SENSORS]:
            khz = self._read_int(cpu / "cpufreq" / "scaling_cur_freq")
            if khz is not None:
                freq.add_metric([cpu.name], khz * 1000.0)
        yield freq


class DriftCollector:
    """The drift scores of every served model with a drift reference, computed when Prometheus scrapes."""

    def __init__(self, served: Callable[[], Iterable[Any]]) -> None:
        self.served = served

    def collect(self) -> Iterator[Any]:
        score = GaugeMetricFamily("edgelite_drift_psi", "Population Stability Index of live traffic vs the "
                                  "calibration data (> 0.25: significant shift)", labels=["model", "version", "signal"])
        window = GaugeMetricFamily("edgelite_drift_window_samples", "live samples in the drift window",
                                   labels=["model", "version"])
        live = GaugeMetricFamily("edgelite_drift_output", "live outputs over the drift window by task: a "
                                 "detector's detections_mean and top_score_mean, other non-classifiers' output_mean "
                                 "and output_std", labels=["model", "version", "signal"])
        for s in self.served():
            if s.drift is None:
                continue
            scores = s.drift.scores()
            window.add_metric([s.name, str(s.version)], scores.samples)
            for signal, value in scores.psis().items():
                score.add_metric([s.name, str(s.version), signal], value)
            for signal, value in scores.summary().items():
                live.add_metric([s.name, str(s.version), signal], value)
        yield score
        yield window
        yield live


class Metrics:
    """The metrics one application updates."""

    def __init__(self, *, board: BoardCollector | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("edgelite_requests", "inference requests by model, version and HTTP status",
                                ["model", "version", "status"], registry=r)
        self.latency = Histogram("edgelite_request_phase_seconds", "request latency by phase",
                                 ["model", "phase"], buckets=BUCKETS, registry=r)
        self.loads = Counter("edgelite_model_loads", "model versions validated and loaded", ["model"], registry=r)
        self.refusals = Counter("edgelite_model_refusals", "model versions refused by validation", ["model"],
                                registry=r)
        self.busy = Gauge("edgelite_instances_busy", "interpreters running a request", ["model"], registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}   # label children of the request path, by family + labels
        ProcessCollector(registry=r)   # process_resident_memory_bytes, cpu seconds, open fds (Linux)
        r.register(board or BoardCollector())

    def watch_drift(self, served: Callable[[], Iterable[Any]]) -> None:
        """Report the drift of what ``served()`` yields (the repository's served models) on every scrape."""
        self.registry.register(DriftCollector(served))

    def observe(self, model: str, *, queue_s: float, preprocess_s: float, inference_s: float) -> None:
        queue, preprocess, inference = self._phases(model)
        queue.observe(queue_s)
        preprocess.observe(preprocess_s)
        inference.observe(inference_s)

    def count(self, model: str, version: str, status: int) -> None:
        """One request answered: ``edgelite_requests{model, version, status}`` += 1."""
        self._cached(("requests", model, version, status),
                     lambda: self.requests.labels(model, version, str(status))).inc()

    def busy_gauge(self, model: str) -> Any:
        """The ``edgelite_instances_busy`` gauge of one model."""
        return self._cached(("busy", model), lambda: self.busy.labels(model))

    def _phases(self, model: str) -> tuple[Any, Any, Any]:
        return self._cached(("phases", model), lambda: tuple(self.latency.labels(model, phase)
                                                             for phase in ("queue", "preprocess", "inference")))

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        # labels() costs ~5 µs a call; a sub-millisecond model's request should not pay it five times
        child = self._children.get(key)
        if child is None:
            child = make()
            if len(self._children) < MAX_CACHED:
                self._children[key] = child
        return child
