"""Does a rule change anything? Its reached customers against those it was held back from.

The difference of two proportions (bought again within N days: reached minus held out) gets a 95%
interval by Newcombe's hybrid score method (Newcombe 1998, "Interval estimation for the difference
between independent proportions", method 10): a Wilson score interval for each share, combined.
It keeps its coverage for small groups and shares near 0 or 1, where the textbook Wald interval
(difference ± 1.96 standard errors) is too narrow; it is what statsmodels' `confint_proportions_2indep`
calls method "newcomb". Saleor's pinned environment has neither scipy nor statsmodels, and this needs
no new dependency: the z quantile comes from Python's own `statistics.NormalDist`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

CONFIDENCE = 0.95
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
# Fewer customers than this in either group and no verdict is given: "not enough customers yet".
MIN_GROUP = 30


class Verdict(StrEnum):
    TOO_FEW = "TOO_FEW"
    BETTER = "BETTER"
    WORSE = "WORSE"
    NO_CLEAR_DIFFERENCE = "NO_CLEAR_DIFFERENCE"


@dataclass(frozen=True)
class Comparison:
    """Reached against held out: the two shares, their difference with its interval, the verdict in words."""

    reached_rate: float | None
    held_out_rate: float | None
    difference: float | None
    low: float | None
    high: float | None
    verdict: Verdict
    words: str


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval for a share successes/n (n > 0)."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z) -> tuple[float, float, float]:
    """x1/n1 - x2/n2 and its interval by Newcombe's hybrid score method (both n > 0)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def compare(reached: int, reached_bought: int, held_out: int, held_out_bought: int) -> Comparison:
    """The verdict on a rule: better or worse only when the whole 95% interval is on one side of zero."""
    reached_rate = reached_bought / reached if reached else None
    held_rate = held_out_bought / held_out if held_out else None
    if reached < MIN_GROUP or held_out < MIN_GROUP:
        words = "not enough customers yet" + (
            " (no customer was held out)" if not held_out else f" ({MIN_GROUP} in each group needed)"
        )
        difference = reached_rate - held_rate if reached_rate is not None and held_rate is not None else None
        return Comparison(reached_rate, held_rate, difference, None, None, Verdict.TOO_FEW, words)
    d, low, high = difference_interval(reached_bought, reached, held_out_bought, held_out)
    points = f"{abs(d) * 100:.1f} points (95% interval {low * 100:+.1f} to {high * 100:+.1f})"
    if low > 0:
        return Comparison(reached_rate, held_rate, d, low, high, Verdict.BETTER, f"better by {points}")
    if high < 0:
        return Comparison(reached_rate, held_rate, d, low, high, Verdict.WORSE, f"worse by {points}")
    words = f"no clear difference ({d * 100:+.1f} points, 95% interval {low * 100:+.1f} to {high * 100:+.1f})"
    return Comparison(reached_rate, held_rate, d, low, high, Verdict.NO_CLEAR_DIFFERENCE, words)
