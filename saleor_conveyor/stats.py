"""The shop's measures computed in PostgreSQL: a fixed handful of aggregate queries.

Each function here is the database twin of a pure function in `engine/metrics.py` or
`engine/surveys.py` (tests check they agree on generated data). Only counted
purchases (not cancelled, not fully returned) are purchases; shipping lead time uses
every shipped order. Windows are half-open, [since, until), in the shop's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from django.db import DEFAULT_DB_ALIAS, connections

from .engine import FanStage
from .engine.metrics import improving_streak, share
from .engine.surveys import nps_from_counts
from .errors import ConveyorError, ErrorCode
from .models import FanProfile, NpsResponse, Purchase, Touchpoint, TouchpointStatus

PURCHASES = Purchase._meta.db_table
NPS_ANSWERS = NpsResponse._meta.db_table
PROFILES = FanProfile._meta.db_table
TOUCHPOINTS = Touchpoint._meta.db_table
COUNTED = "cancelled_at IS NULL AND returned_at IS NULL"
# A claimed touchpoint (SENDING) is shown as SCHEDULED: being sent is internal.
SENDING, SCHEDULED = TouchpointStatus.SENDING.value, TouchpointStatus.SCHEDULED.value
# Before any shop existed: stands in for "no lower bound" so every query has the same shape.
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
# The days a window may name: wide enough for any shop, far from the calendar's ends (a day's end, a time zone).
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
MONTHS_DEFAULT = 12
MONTHS_MAX = 36
BANDS = ("HIGH", "MID", "LOW")
ENGAGEMENT_CELLS = tuple(f"{fan}/{liking}" for fan in BANDS for liking in BANDS)  # "FAN/LIKING"


@dataclass(frozen=True)
class StatsWindow:
    """Which orders and answers count: [since, until) and optionally one channel."""

    since: datetime | None
    until: datetime
    channel: str | None
    zone: str = "UTC"
    using: str = DEFAULT_DB_ALIAS  # the database alias read: staff reports may read the host's replica

    @classmethod
    def from_dates(
        cls,
        since: date | None,
        until: date | None,
        channel: str | None,
        *,
        zone: str,
        now: datetime,
        using: str = DEFAULT_DB_ALIAS,
    ) -> StatsWindow:
        """Dates are the shop's local days; `until` is inclusive (the whole day counts)."""
        for name, day in (("since", since), ("until", until)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ConveyorError(
                    f"{name} must be a day from {FIRST_DAY} to {LAST_DAY}.", field=name, code=ErrorCode.OUT_OF_RANGE
                )
        tz = ZoneInfo(zone)
        start = datetime.combine(since, time(), tzinfo=tz) if since else None
        end = datetime.combine(until + timedelta(days=1), time(), tzinfo=tz) if until else now
        return cls(since=start, until=end, channel=channel or None, zone=zone, using=using)

    @property
    def start(self) -> datetime:
        return self.since or BEGINNING


@dataclass(frozen=True)
class NpsFigures:
    score: int | None
    promoters: int
    passives: int
    detractors: int
    responses: int


@dataclass(frozen=True)
class LeadTime:
    median_hours: float | None
    p90_hours: float | None
    same_day_rate: float | None
    shipped: int


@dataclass(frozen=True)
class MonthFigures:
    month: date
    nps: int | None
    repeat_rate: float | None
    average_order_value: Decimal | None
    currency: str | None
    orders: int = 0


@dataclass
class Monthly:
    months: list[MonthFigures] = field(default_factory=list)

    def streak(self, name: str) -> int:
        return improving_streak([getattr(month, name) for month in self.months])


def _rows(window: StatsWindow, sql: str, params: list) -> list[tuple]:
    with connections[window.using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _channel(window: StatsWindow, column: str = "channel") -> tuple[str, list]:
    return (f" AND {column} = %s", [window.channel]) if window.channel else ("", [])


def _profile_in_channel(window: StatsWindow, profile_column: str) -> tuple[str, list]:
    if not window.channel:
        return "", []
    return (
        f" AND EXISTS (SELECT 1 FROM {PURCHASES} bought"
        f" WHERE bought.profile_id = {profile_column} AND bought.channel = %s)",
        [window.channel],
    )


def nps(window: StatsWindow) -> NpsFigures:
    """Answers given in the window: counts by category and the score (engine.nps_score)."""
    where, params = _channel(window)
    (promoters, passives, detractors, total), *_ = _rows(
        window,
        f"SELECT COUNT(*) FILTER (WHERE score >= 9), COUNT(*) FILTER (WHERE score BETWEEN 7 AND 8),"
        f" COUNT(*) FILTER (WHERE score <= 6), COUNT(*)"
        f" FROM {NPS_ANSWERS} WHERE created_at >= %s AND created_at < %s{where}",
        [window.start, window.until, *params],
    )
    return NpsFigures(nps_from_counts(promoters, detractors, total), promoters, passives, detractors, total)


def stages(window: StatsWindow) -> list[tuple[str, int]]:
    """Customers per stage now (a channel narrows to customers who bought there); every stage listed."""
    where, params = _profile_in_channel(window, f"{PROFILES}.id")
    sql = f"SELECT stage, COUNT(*) FROM {PROFILES} WHERE stage IS NOT NULL{where} GROUP BY stage"
    counts = dict(_rows(window, sql, params))
    return [(stage.value, counts.get(stage.value, 0)) for stage in FanStage]


def customer_rates(window: StatsWindow) -> tuple[float | None, float | None]:
    """`f2_conversion` and `repeat_rate` from one pass over the ledger grouped per customer."""
    where, params = _channel(window)
    (cohort, converted, buyers, repeaters), *_ = _rows(
        window,
        f"SELECT COUNT(*) FILTER (WHERE first_at >= %s AND first_at < %s),"
        f" COUNT(*) FILTER (WHERE first_at >= %s AND first_at < %s AND orders >= 2),"
        f" COUNT(*) FILTER (WHERE orders_in > 0),"
        f" COUNT(*) FILTER (WHERE orders_in > 1 OR (orders_in > 0 AND first_at < %s))"
        f" FROM (SELECT MIN(placed_at) AS first_at, COUNT(*) AS orders,"
        f" COUNT(*) FILTER (WHERE placed_at >= %s AND placed_at < %s) AS orders_in"
        f" FROM {PURCHASES} WHERE {COUNTED}{where} GROUP BY profile_id) per_customer",
        [*[window.start, window.until] * 2, window.start, window.start, window.until, *params],
    )
    return share(converted, cohort), share(repeaters, buyers)


def f2_conversion(window: StatsWindow) -> float | None:
    """Of customers whose first purchase fell in the window, the share who bought a second time."""
    return customer_rates(window)[0]


def repeat_rate(window: StatsWindow) -> float | None:
    """Of customers who bought in the window, the share for whom it was not their first purchase."""
    return customer_rates(window)[1]


def average_lifetime_values(window: StatsWindow) -> list[tuple[str, Decimal, int]]:
    """Per currency, most customers first: mean LTV (AOV x count, i.e. what they spent up to `until`)
    of customers who bought in the window."""
    where, params = _channel(window)
    rows = _rows(
        window,
        f"SELECT currency, AVG(spent), COUNT(*) FROM ("
        f" SELECT profile_id, currency, SUM(total_gross_amount) AS spent FROM {PURCHASES}"
        f" WHERE {COUNTED} AND placed_at < %s{where} GROUP BY profile_id, currency"
        f" HAVING COUNT(*) FILTER (WHERE placed_at >= %s) > 0"
        f") per_customer GROUP BY currency ORDER BY COUNT(*) DESC, currency",
        [window.until, *params, window.start],
    )
    return [(currency, Decimal(average).quantize(Decimal("0.001")), count) for currency, average, count in rows]


def shipping_lead_times(window: StatsWindow) -> tuple[LeadTime, list[tuple[date, LeadTime]]]:
    """`shipping_lead_time` and `shipping_lead_time_by_month` from one pass over the shipped orders
    (grouping sets: the whole window, and each local month shown)."""
    months = month_starts(window)
    first_month = datetime.combine(months[0], time(), tzinfo=ZoneInfo(window.zone))
    where, params = _channel(window)
    rows = _rows(
        window,
        f"SELECT GROUPING(local_month) = 1, local_month, percentile_cont(0.5) WITHIN GROUP (ORDER BY hours),"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY hours),"
        f" COUNT(*) FILTER (WHERE same_day), COUNT(*) FROM ("
        f" SELECT CASE WHEN placed_at >= %s THEN date_trunc('month', placed_at AT TIME ZONE %s)::date END"
        f" AS local_month,"
        f" EXTRACT(EPOCH FROM fulfilled_at - placed_at)::float8 / 3600 AS hours,"
        f" (fulfilled_at AT TIME ZONE %s)::date = (placed_at AT TIME ZONE %s)::date AS same_day"
        f" FROM {PURCHASES} WHERE fulfilled_at IS NOT NULL AND placed_at >= %s AND placed_at < %s{where}) shipped"
        f" GROUP BY GROUPING SETS ((local_month), ())",
        [first_month, window.zone, window.zone, window.zone, window.start, window.until, *params],
    )
    whole = LeadTime(None, None, None, 0)
    by_month = {}
    for everything, month, median, p90, same_day, shipped in rows:
        lead = LeadTime(median, p90, share(same_day, shipped), shipped)
        if everything:
            whole = lead
        elif month is not None:  # None: shipped before the first month shown
            by_month[month] = lead
    return whole, [(month, by_month.get(month, LeadTime(None, None, None, 0))) for month in months]


def shipping_lead_time(window: StatsWindow) -> LeadTime:
    """Hours from order to first shipment (percentile_cont) and the share shipped the same local day."""
    return shipping_lead_times(window)[0]


def shipping_lead_time_by_month(window: StatsWindow) -> list[tuple[date, LeadTime]]:
    """`shipping_lead_time` of each local month of the window (`month_starts`); a month without shipped
    orders has no figures."""
    return shipping_lead_times(window)[1]


def engagement_grid(window: StatsWindow) -> list[tuple[str, int]]:
    """Customers per cell of the 3x3 engagement grid now (their latest fan-survey answer), every cell listed
    FAN band by LIKING band from HIGH/HIGH down; a channel narrows to customers who bought there."""
    where, params = _profile_in_channel(window, f"{PROFILES}.id")
    sql = f"SELECT segment, COUNT(*) FROM {PROFILES} WHERE segment <> ''{where} GROUP BY segment"
    counts = dict(_rows(window, sql, params))
    return [(cell, counts.get(cell, 0)) for cell in ENGAGEMENT_CELLS]


def touchpoints(window: StatsWindow) -> list[tuple[str, str, str, int]]:
    """Touchpoints due in the window per rule, kind and status (a claimed one still counts as SCHEDULED)."""
    where, params = _profile_in_channel(window, f"{TOUCHPOINTS}.profile_id")
    return [
        (rule, kind, status, count)
        for rule, kind, status, count in _rows(
            window,
            f"SELECT rule, kind, CASE WHEN status = '{SENDING}' THEN '{SCHEDULED}' ELSE status END AS shown, COUNT(*)"
            f" FROM {TOUCHPOINTS} WHERE due_at >= %s AND due_at < %s{where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [window.start, window.until, *params],
        )
    ]


def month_starts(window: StatsWindow) -> list[date]:
    """The months shown: those of the window (at most MONTHS_MAX), or the last twelve without `since`."""
    tz = ZoneInfo(window.zone)
    last = (window.until - timedelta(microseconds=1)).astimezone(tz).date().replace(day=1)
    if window.since is not None:
        first = window.since.astimezone(tz).date().replace(day=1)
        count = min((last.year - first.year) * 12 + last.month - first.month + 1, MONTHS_MAX)
    else:
        count = MONTHS_DEFAULT
    months = []
    year, month = last.year, last.month
    for _ in range(max(count, 1)):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def monthly(window: StatsWindow) -> Monthly:
    """NPS, repeat rate and average order value per local month: three grouped queries."""
    months = month_starts(window)
    tz = ZoneInfo(window.zone)
    start = max(datetime.combine(months[0], time(), tzinfo=tz), window.start)
    where, params = _channel(window)
    month_of = "date_trunc('month', {} AT TIME ZONE %s)::date"
    nps_rows = _rows(
        window,
        f"SELECT {month_of.format('created_at')} AS local_month, COUNT(*) FILTER (WHERE score >= 9),"
        f" COUNT(*) FILTER (WHERE score <= 6), COUNT(*) FROM {NPS_ANSWERS}"
        f" WHERE created_at >= %s AND created_at < %s{where} GROUP BY local_month",
        [window.zone, start, window.until, *params],
    )
    # A repeater in a month: two orders in it, or an earlier first order (engine.metrics.repeat_rate).
    # The customer's first order comes from one window pass over the ledger (not a second GROUP BY
    # joined back); "earlier than the window's part of the month" is "earlier than their first
    # order there", since every order of theirs in that part is in the group.
    repeat_rows = _rows(
        window,
        f"SELECT local_month, COUNT(*), COUNT(*) FILTER (WHERE orders > 1 OR first_at < first_here)"
        f" FROM (SELECT {month_of.format('placed_at')} AS local_month, COUNT(*) AS orders,"
        f" MIN(placed_at) AS first_here, MIN(first_at) AS first_at"
        f" FROM (SELECT profile_id, placed_at, MIN(placed_at) OVER (PARTITION BY profile_id) AS first_at"
        f" FROM {PURCHASES} WHERE {COUNTED}{where}) ledger"
        f" WHERE placed_at >= %s AND placed_at < %s GROUP BY profile_id, local_month) per_customer"
        f" GROUP BY local_month",
        [window.zone, *params, start, window.until],
    )
    money_rows = _rows(
        window,
        f"SELECT {month_of.format('placed_at')} AS local_month, currency, AVG(total_gross_amount), COUNT(*)"
        f" FROM {PURCHASES} WHERE {COUNTED} AND placed_at >= %s AND placed_at < %s{where}"
        f" GROUP BY local_month, currency",
        [window.zone, start, window.until, *params],
    )
    nps_by_month = {
        month: nps_from_counts(promoters, detractors, total) for month, promoters, detractors, total in nps_rows
    }
    repeat_by_month = {month: share(repeaters, buyers) for month, buyers, repeaters in repeat_rows}
    orders_per_currency: dict[str, int] = defaultdict(int)
    for _, currency, _, count in money_rows:
        orders_per_currency[currency] += count
    main = max(sorted(orders_per_currency), key=orders_per_currency.__getitem__) if orders_per_currency else None
    money = {
        month: (Decimal(average).quantize(Decimal("0.001")), count)
        for month, currency, average, count in money_rows
        if currency == main
    }
    return Monthly(
        [
            MonthFigures(
                month=month,
                nps=nps_by_month.get(month),
                repeat_rate=repeat_by_month.get(month),
                average_order_value=money[month][0] if month in money else None,
                currency=main,
                orders=money[month][1] if month in money else 0,
            )
            for month in months
        ]
    )


class StatsReport:
    """The figures of one window, each computed on first use (a query only for what is asked)."""

    def __init__(self, window: StatsWindow):
        self.window = window

    @cached_property
    def nps(self) -> NpsFigures:
        return nps(self.window)

    @cached_property
    def stages(self) -> list[tuple[str, int]]:
        return stages(self.window)

    @cached_property
    def customer_rates(self) -> tuple[float | None, float | None]:
        return customer_rates(self.window)

    @property
    def f2_conversion_rate(self) -> float | None:
        return self.customer_rates[0]

    @property
    def repeat_rate(self) -> float | None:
        return self.customer_rates[1]

    @cached_property
    def average_lifetime_values(self) -> list[tuple[str, Decimal, int]]:
        return average_lifetime_values(self.window)

    @cached_property
    def shipping_lead_times(self) -> tuple[LeadTime, list[tuple[date, LeadTime]]]:
        return shipping_lead_times(self.window)

    @property
    def shipping_lead_time(self) -> LeadTime:
        return self.shipping_lead_times[0]

    @property
    def shipping_lead_time_by_month(self) -> list[tuple[date, LeadTime]]:
        return self.shipping_lead_times[1]

    @cached_property
    def engagement_grid(self) -> list[tuple[str, int]]:
        return engagement_grid(self.window)

    @cached_property
    def touchpoints(self) -> list[tuple[str, str, str, int]]:
        return touchpoints(self.window)

    @cached_property
    def monthly(self) -> Monthly:
        return monthly(self.window)
