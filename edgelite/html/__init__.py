"""Self-contained HTML reports (inline SVG, inline CSS, no network) for compare, bench, check and analyze."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_write_text


def render(report: Any) -> str:
    """The HTML page of a report object (compare, bench, check or analyze)."""
    from edgelite.html import pages

    builders: dict[str, Callable[[Any], str]] = {"compare": pages.compare_page, "bench": pages.bench_page,
                                                 "check": pages.check_page, "analyze": pages.analyze_page}
    if report.kind not in builders:
        raise UserInputError(f"no HTML page for {report.kind} reports (have: {', '.join(builders)})")
    return builders[report.kind](report)


def write_report(path: str | os.PathLike[str], report: Any) -> None:
    atomic_write_text(path, render(report))
