"""How figures read in every report (terminal, markdown, HTML): one formatter per kind of figure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def size(n: int | None) -> str:
    """Bytes in decimal units, 3 significant decimals: ``66.19 KB``, ``4.10 MB``, ``512 B``."""
    if n is None:
        return "-"
    for unit, div in (("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} ms"


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"


def number(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{format(v, spec)}{suffix}"


def ci95(ci: Sequence[float] | None, spec: str, suffix: str) -> str:
    """`` (95 % CI lo … hi<suffix>)``, or nothing when there is no interval."""
    return "" if not ci else f" (95 % CI {format(ci[0], spec)} … {format(ci[1], spec)}{suffix})"


def file_name(path: str) -> str:
    """The last part of a path written on any OS (reports may be rendered on another machine)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# ---- op places in TF's converted graphs -------------------------------------------------------------------
_QUOTED = re.compile(r'"([^"]*)"')
_CALL_PREFIX = re.compile(r"^(StatefulPartitionedCall(_\d+)?/)+")


def op_site(tensor: str) -> str:
    """A readable place for an op from its output tensor's name: the first segment of a fused or ``;``-joined
    location that names something (not the call wrapper), its last two path parts, at most 48 characters."""
    parts = _QUOTED.findall(tensor) if tensor.startswith("loc(") else [tensor]
    segments = [_CALL_PREFIX.sub("", seg.strip()).split(":")[0] for part in parts for seg in part.split(";")]
    named = [seg for seg in segments if seg and not seg.startswith("StatefulPartitionedCall")] or segments or [""]
    site = "/".join(named[0].split("/")[-2:]) or tensor
    return site if len(site) <= 48 else site[:47] + "…"


def float_ops_line(ops: Sequence[Any], limit: int | None = None) -> str:
    """``OP@site`` once per distinct op and place (objects with ``op``, ``tensor``, ``layer``: the convert
    report's float ops), with ``×N`` for repeats, in graph order."""
    counts: dict[str, int] = {}
    for f in ops:
        key = f"{f.op}@{f.layer or op_site(f.tensor)}"
        counts[key] = counts.get(key, 0) + 1
    shown = [k if n == 1 else f"{k} ×{n}" for k, n in counts.items()]
    more = f" and {len(shown) - limit} more" if limit is not None and len(shown) > limit else ""
    return (", ".join(shown[:limit]) + more) or "none"
