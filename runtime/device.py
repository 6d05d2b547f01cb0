"""Where a number came from: CPU model, cores, architecture, SIMD features, OS, Python."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache

from edgelite.core.report import Record

# Features that change how fast int8 and float kernels run (x86 and Arm names as /proc/cpuinfo spells them).
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "amx_int8", "neon", "asimd", "asimdhp", "asimddp", "i8mm", "sve", "sve2", "bf16",
)


@dataclass(frozen=True)
class DeviceInfo(Record):
    cpu_model: str
    cores: int | None
    arch: str
    simd: list[str]
    os: str
    python: str


@lru_cache(maxsize=1)
def fingerprint() -> DeviceInfo:
    cpu_model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not cpu_model:
                    cpu_model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
    except OSError:
        pass
    # Only where /proc/cpuinfo names no CPU: on Linux platform.processor() starts a `uname -p` subprocess
    # (9–24 ms of every `edgelite run`, which records the machine it ran on).
    cpu_model = cpu_model or platform.processor() or "unknown"
    return DeviceInfo(cpu_model=cpu_model, cores=os.cpu_count(), arch=platform.machine(),
                      simd=sorted(f for f in SIMD_FLAGS if f in flags), os=f"{platform.system()} {platform.release()}",
                      python=platform.python_version())


def has_int8_dot_product() -> bool:
    """True when the CPU has int8 dot-product instructions (VNNI on x86, dotprod on Arm)."""
    simd = set(fingerprint().simd)
    return bool(simd & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
