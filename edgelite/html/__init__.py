"""Self-contained HTML reports (inline SVG, inline CSS, no network) for compare, bench, check and analyze."""

from __future__ import annotations

import os
from typing import Any

from edgelite.core.files import atomic_write_text
from edgelite.core.errors import UserInputError


def render(report: Any) -> str:
    """The HTML page of a report object (anything with ``kind`` and ``to_dict()``)."""
    from edgelite.html import pages

    builders = {"compare": pages.compare_page, "bench": pages.bench_page, "check": pages.check_page,
                "analyze": pages.analyze_page}
    if report.kind not in builders:
        raise UserInputError(f"no HTML page for {report.kind} reports (have: {', '.join(builders)})")
    return builders[report.kind](report.to_dict())


def write_report(path: str | os.PathLike[str], report: Any) -> None:
    atomic_write_text(path, render(report))
