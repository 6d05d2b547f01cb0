"""How figures read in every report (terminal, markdown, HTML): one formatter per kind of figure."""

from __future__ import annotations

from collections.abc import Sequence


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
