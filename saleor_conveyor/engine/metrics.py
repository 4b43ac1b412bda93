"""The shop's measures, as pure functions (the database versions must agree with these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide."""
    return part / whole if whole else None


def lifetime_value(average_order_value: Decimal, purchase_count: int) -> Decimal:
    """LTV as the method defines it: average order value x purchase count."""
    return average_order_value * purchase_count


@dataclass(frozen=True)
class CustomerDates:
    """When a customer made their first and second counted purchases."""

    first_at: datetime
    second_at: datetime | None


def f2_conversion(customers: Iterable[CustomerDates], since: datetime, until: datetime) -> float | None:
    """Of customers whose first purchase fell in [since, until), the share who bought again."""
    cohort = [customer for customer in customers if since <= customer.first_at < until]
    return share(sum(customer.second_at is not None for customer in cohort), len(cohort))


def repeat_rate(purchase_times: Iterable[Sequence[datetime]], since: datetime, until: datetime) -> float | None:
    """Of customers who bought in [since, until), the share for whom it was not their first purchase."""
    buyers = repeaters = 0
    for times in purchase_times:
        in_window = [t for t in times if since <= t < until]
        if not in_window:
            continue
        buyers += 1
        repeaters += any(t < min(in_window) for t in times) or len(in_window) > 1
    return share(repeaters, buyers)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile, the same as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def improving_streak(values: Sequence[float | None]) -> int:
    """Months in a row, ending with the latest, that improved on the month before."""
    streak = 0
    for earlier, later in zip(reversed(values[:-1]), reversed(values[1:]), strict=True):
        if earlier is None or later is None or later <= earlier:
            break
        streak += 1
    return streak
