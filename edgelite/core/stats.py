"""Uncertainty for the rates edgelite reports: a figure measured on N samples is a range, not a point.

* **Wilson score interval** (Wilson 1927) for one rate (top-1, agreement): stays inside [0, 1] and keeps
  close to its nominal 95 % coverage even at 0/N or N/N, where the normal ("±1.96·√(p(1−p)/n)") interval
  collapses to zero width.
* **Paired difference** of two top-1 rates measured on the same samples (float vs int8): Newcombe's hybrid
  score interval, method 10 of Newcombe (1998), which combines the two Wilson intervals with the phi
  correlation of the paired outcomes. A paired interval is much narrower than two independent ones,
  because most samples are right (or wrong) for both models.
* **Exact McNemar test** on the discordant pairs (float right/int8 wrong vs float wrong/int8 right): the
  two-sided binomial p-value that the models are equally accurate. Only discordant samples carry evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgelite.core.report import Record

Z95 = 1.959963984540054   # two-sided 95 % normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval for ``k`` successes out of ``n`` (as fractions in [0, 1])."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_difference(first: np.ndarray, second: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """95 % interval of ``mean(first) − mean(second)`` for paired booleans (Newcombe 1998, method 10)."""
    first, second = np.asarray(first, bool), np.asarray(second, bool)
    n = len(first)
    if n == 0:
        return (-1.0, 1.0)
    a = int(np.sum(first & second))
    b = int(np.sum(first & ~second))
    c = int(np.sum(~first & second))
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return (max(-1.0, diff - delta), min(1.0, diff + eps))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1.0 when there are none)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if n <= 1000:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    else:   # log space: the binomial coefficients overflow floats
        logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
                for i in range(k + 1)]
        top = max(logs)
        tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return float(min(1.0, 2.0 * tail))


@dataclass(frozen=True)
class PairedFigures(Record):
    """Two models' top-1 predictions on the same samples: agreement (fraction) with its Wilson interval; with
    labels also the top-1 drop (reference − candidate, points) with its paired interval, the exact McNemar p
    and the discordant counts (None without labels)."""

    samples: int
    agreement: float
    agreement_ci95: list[float]
    top1_drop_pts: float | None = None
    top1_drop_ci95: list[float] | None = None
    mcnemar_p: float | None = None
    reference_only: int | None = None      # reference right, candidate wrong
    candidate_only: int | None = None      # the reverse

    @property
    def discordant(self) -> dict[str, int] | None:
        """The discordant counts as reports write them."""
        if self.reference_only is None or self.candidate_only is None:
            return None
        return {"reference_only": self.reference_only, "candidate_only": self.candidate_only}


def paired(ref_pred: np.ndarray, cand_pred: np.ndarray, y: np.ndarray | None) -> PairedFigures:
    """``PairedFigures`` of top-1 predictions ``ref_pred`` and ``cand_pred`` (N,) and labels ``y`` if known."""
    ref_pred, cand_pred = np.asarray(ref_pred), np.asarray(cand_pred)
    n = len(ref_pred)
    same = ref_pred == cand_pred
    lo, hi = wilson(int(same.sum()), n)
    agreement = float(same.mean()) if n else 0.0
    if y is None:
        return PairedFigures(samples=n, agreement=agreement, agreement_ci95=[round(lo, 6), round(hi, 6)])
    y = np.asarray(y)
    ref_ok, cand_ok = ref_pred == y, cand_pred == y
    d_lo, d_hi = paired_difference(ref_ok, cand_ok)
    b, c = int(np.sum(ref_ok & ~cand_ok)), int(np.sum(~ref_ok & cand_ok))
    return PairedFigures(samples=n, agreement=agreement, agreement_ci95=[round(lo, 6), round(hi, 6)],
                         top1_drop_pts=float(ref_ok.mean() - cand_ok.mean()) * 100,
                         top1_drop_ci95=[round(d_lo * 100, 4), round(d_hi * 100, 4)],
                         mcnemar_p=round(mcnemar_exact(b, c), 6), reference_only=b, candidate_only=c)


def too_few_samples(what: str, budget_pts: float, interval_pts: tuple[float, float], n: int) -> str | None:
    """A warning when the 95 % interval of a measured figure is wider than the budget it is checked against.

    ``interval_pts`` is the figure's interval in points; the samples needed scale with the square of the
    width ratio (intervals shrink as 1/√N), which is what the warning suggests."""
    half = (interval_pts[1] - interval_pts[0]) / 2
    if budget_pts <= 0 or half <= budget_pts:
        return None
    need = int(math.ceil(n * (half / budget_pts) ** 2))
    return (f"{n} samples are too few for a {budget_pts:g}-point budget on {what}: its 95 % interval is "
            f"±{half:.1f} points, so noise alone can pass or fail it; use about {need} or more samples, "
            "or a looser budget")
