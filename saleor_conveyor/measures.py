"""Is the conveyor working? Rule performance against holdouts, stage flow, cohorts and follow-ups' time to first
contact, in PostgreSQL.

Each figure is one SQL statement of aggregates (a fixed query count whatever the shop's size);
Python only turns the few aggregated rows into answers. Windows are `stats.StatsWindow`s (the
shop's local days, `until` inclusive); only counted purchases (not cancelled, not fully returned)
are purchases, as everywhere in `stats`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connections

from .engine import FanStage
from .engine.experiments import HOLDOUT
from .engine.uplift import Comparison, compare
from .errors import ConveyorError, ErrorCode
from .models import FanSurveyResponse, FollowUp, TouchpointStatus
from .stats import COUNTED, PURCHASES, TOUCHPOINTS, StatsWindow, _rows, month_starts

FAN_SURVEYS = FanSurveyResponse._meta.db_table
WITHIN_DAYS_DEFAULT = 30
WITHIN_DAYS_MAX = 365
NONE = "NONE"  # before the first purchase (stage), before the first fan-survey answer (engagement)
STAGE, ENGAGEMENT = "STAGE", "ENGAGEMENT"
_CENT = Decimal("0.001")


# --- rule performance --------------------------------------------------------------------


@dataclass(frozen=True)
class RulePerformance:
    """One rule (and variant) of one experiment against the customers that experiment held out."""

    rule: str
    experiment: str
    variant: str | None
    reached: int
    held_out: int
    comparison: Comparison
    revenue_per_customer: Decimal | None
    held_out_revenue_per_customer: Decimal | None
    currency: str | None
    within_days: int


def checked_within_days(within_days: int | None) -> int:
    """N of "bought again within N days": 1 to 365, 30 by default; OUT_OF_RANGE otherwise."""
    if within_days is None:
        return WITHIN_DAYS_DEFAULT
    if not 1 <= within_days <= WITHIN_DAYS_MAX:
        raise ConveyorError(
            f"withinDays must be from 1 to {WITHIN_DAYS_MAX}.", field="withinDays", code=ErrorCode.OUT_OF_RANGE
        )
    return within_days


def rule_performance(window: StatsWindow, *, within_days: int, now: datetime) -> list[RulePerformance]:
    """Per rule, experiment and variant: who was reached (SENT) and held out, and who bought again.

    A touchpoint counts by its due time, once its N days have passed (`due_at + N days <= now`),
    so every customer counted had the whole window to buy. A customer is counted once per rule,
    experiment and arm, from their earliest touchpoint there in the window; "bought again" is a
    counted purchase placed in (due_at, due_at + N days]; revenue is what those purchases add up
    to, in the shop's main currency (the currency of most purchases). One statement.
    """
    matured = min(window.until, now - timedelta(days=within_days))
    # One pass each, no per-row subquery: the measured touchpoints come grouped per customer in the
    # order of the conveyor_touchpoint_arms index (profile first); the ledger is joined on the
    # customer (a hash join, not one index probe per touchpoint) and each customer's purchases in
    # (due_at, due_at + N days] are added up once. `status` stands for the arm: the WHERE leaves only
    # SENT (reached) and SKIPPED/holdout (held out).
    rows = _rows(
        window,
        f"WITH measured AS ("
        f" SELECT profile_id, rule, experiment, variant, status, MIN(due_at) AS due_at"
        f" FROM {TOUCHPOINTS} WHERE (status = %s OR (status = %s AND outcome = %s))"
        f" AND due_at >= %s AND due_at < %s GROUP BY 1, 2, 3, 4, 5),"
        f" main AS (SELECT currency FROM {PURCHASES} WHERE {COUNTED}"
        f" GROUP BY currency ORDER BY COUNT(*) DESC, currency LIMIT 1),"
        f" followed AS (SELECT m.rule, m.experiment, m.variant, m.status, COUNT(p.profile_id) AS orders,"
        f" SUM(p.total_gross_amount) FILTER (WHERE p.currency = (SELECT currency FROM main)) AS revenue"
        f" FROM measured m LEFT JOIN {PURCHASES} p ON p.profile_id = m.profile_id AND p.cancelled_at IS NULL"
        f" AND p.returned_at IS NULL AND p.placed_at > m.due_at AND p.placed_at <= m.due_at + %s * INTERVAL '1 day'"
        f" GROUP BY m.profile_id, m.rule, m.experiment, m.variant, m.status)"
        f" SELECT rule, experiment, variant, status = %s, COUNT(*), COUNT(*) FILTER (WHERE orders > 0),"
        f" COALESCE(SUM(revenue), 0), (SELECT currency FROM main)"
        f" FROM followed GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        [
            TouchpointStatus.SENT.value,
            TouchpointStatus.SKIPPED.value,
            HOLDOUT,
            window.start,
            matured,
            within_days,
            TouchpointStatus.SKIPPED.value,
        ],
    )
    held: dict[tuple[str, str], tuple[int, int, Decimal]] = {}
    reached: dict[tuple[str, str], list[tuple[str, int, int, Decimal]]] = defaultdict(list)
    currency = None
    for rule, experiment, variant, held_out, customers, bought, revenue, main in rows:
        currency = main
        if held_out:
            held[(rule, experiment)] = (customers, bought, Decimal(revenue))
        else:
            reached[(rule, experiment)].append((variant, customers, bought, Decimal(revenue)))
    results = []
    for key in sorted(set(held) | set(reached)):
        rule, experiment = key
        held_customers, held_bought, held_revenue = held.get(key, (0, 0, Decimal(0)))
        arms = reached.get(key) or [("", 0, 0, Decimal(0))]
        for variant, customers, bought, revenue in arms:
            results.append(
                RulePerformance(
                    rule=rule,
                    experiment=experiment,
                    variant=variant or None,
                    reached=customers,
                    held_out=held_customers,
                    comparison=compare(customers, bought, held_customers, held_bought),
                    revenue_per_customer=_per(revenue, customers),
                    held_out_revenue_per_customer=_per(held_revenue, held_customers),
                    currency=currency,
                    within_days=within_days,
                )
            )
    return results


def _per(total: Decimal, customers: int) -> Decimal | None:
    return (total / customers).quantize(_CENT) if customers else None


# --- stage flow ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageMove:
    """Customers in `from_stage` at the end of the month before and in `to_stage` at the end of `month`."""

    month: date
    from_stage: str
    to_stage: str
    customers: int
    dimension: str = STAGE


def _stage_sql(count: str, discounted: str) -> str:
    """engine.stages.stage_for in SQL, from the number of counted purchases and "all of them discounted"."""
    return (
        f"CASE WHEN {count} = 0 THEN '{NONE}' WHEN {count} = 1 THEN '{FanStage.FIRST_TIME}'"
        f" WHEN {discounted} THEN '{FanStage.CAMPAIGN_ONLY}' WHEN {count} >= 3 THEN '{FanStage.LOYAL}'"
        f" ELSE '{FanStage.SECOND_TIME}' END"
    )


# engine.surveys.engagement_class in SQL: band ranks LOW 0, MID 1, HIGH 2 of "FAN/LIKING", summed.
_RANK = "CASE split_part(segment, '/', {part}) WHEN 'HIGH' THEN 2 WHEN 'MID' THEN 1 ELSE 0 END"
_CLASS_OF_SEGMENT = (
    f"CASE WHEN {_RANK.format(part=1)} + {_RANK.format(part=2)} >= 3 THEN 'CORE'"
    f" WHEN {_RANK.format(part=1)} + {_RANK.format(part=2)} = 2 THEN 'GROWING' ELSE 'COOL' END"
)


def stage_flow(window: StatsWindow) -> list[StageMove]:
    """How customers moved between stages (and engagement classes) from one month's end to the next.

    Derived from the ledger, not from snapshots: a stage is a function of the counted purchases
    (engine.stages.stage_for: their number and whether all were discounted), and it changes only
    when a purchase is placed. So one statement computes, with one window pass over the ledger in
    its (profile, placed_at) order, per customer and month the stage before the month's first
    purchase and after its last one (ties within a month cannot change either); it returns the moves
    per month as counts (a few rows per month). Customers who did not buy in a month stayed where
    they were: Python adds them from the running totals of those counts. The engagement class
    (engine.surveys.engagement_class of the latest fan-survey answer) is done the same way from
    the answers. No snapshot table is kept, so an order recorded late (a backfill) or cancelled
    later shows in every month it affects. Months are the shop's local months of the window.
    """
    return _stage_flow_and_cohorts(window, with_cohorts=False)[0]


def stage_flow_and_cohorts(window: StatsWindow) -> tuple[list[StageMove], list[Cohort]]:
    """`stage_flow` and `cohorts` from one statement: both group the same pass over the ledger per customer
    and month (the overview shows both)."""
    return _stage_flow_and_cohorts(window, with_cohorts=True)


def _stage_flow_and_cohorts(window: StatsWindow, *, with_cohorts: bool) -> tuple[list[StageMove], list[Cohort]]:
    months = month_starts(window)
    first_start = datetime.combine(months[0], time(), tzinfo=ZoneInfo(window.zone))
    month_of = "date_trunc('month', {} AT TIME ZONE %s)::date"
    so_far = "ROWS UNBOUNDED PRECEDING"
    discount = "(used_voucher OR used_sale OR used_campaign)"
    # With the cohorts, each (customer, month) row also names the customer's cohort (`cohorts`: the month of
    # their first purchase, for first purchases in the months shown), and grouping sets count both at once.
    cohort = f", CASE WHEN first_at >= %s THEN {month_of.format('first_at')} END AS cohort" if with_cohorts else ""
    cohort_params = [first_start, window.zone] if with_cohorts else []
    grouped = "GROUPING SETS ((dimension, month, before, after), (cohort, month))" if with_cohorts else "1, 2, 3, 4"
    rows = _rows(
        window,
        f"WITH steps AS ("
        f" SELECT profile_id, {month_of.format('placed_at')} AS month, COUNT(*) OVER (w {so_far}) AS n,"
        f" COUNT(*) FILTER (WHERE NOT {discount}) OVER (w {so_far}) AS full_price,"
        f" CASE WHEN NOT {discount} THEN 1 ELSE 0 END AS this_full_price"
        f"{f', first_value(placed_at) OVER (w {so_far}) AS first_at' if with_cohorts else ''}"
        f" FROM {PURCHASES} WHERE {COUNTED} AND placed_at < %s"
        f" WINDOW w AS (PARTITION BY profile_id ORDER BY placed_at)),"
        # One window (one frame): the running counts of purchases and of full-price ones. "All discounted"
        # is "no full-price purchase"; the counts only grow, so the month's first row has those before the
        # month (less its own) and its last those after it; n before is its first n - 1.
        f" stage_months AS (SELECT month, MIN(n) - 1 AS n_before,"
        f" MIN(full_price - this_full_price) = 0 AS before_discounted,"
        f" MAX(n) AS n_after, MAX(full_price) = 0 AS after_discounted"
        f"{', MIN(first_at) AS first_at' if with_cohorts else ''} FROM steps GROUP BY profile_id, month),"
        f" class_months AS (SELECT profile_id, {month_of.format('created_at')} AS month,"
        f" (array_agg({_CLASS_OF_SEGMENT} ORDER BY created_at DESC, id DESC))[1] AS after"
        f" FROM {FAN_SURVEYS} WHERE created_at < %s GROUP BY 1, 2),"
        f" moves AS ("
        f" SELECT '{STAGE}' AS dimension, month,"
        f" {_stage_sql('n_before', 'before_discounted')} AS before,"
        f" {_stage_sql('n_after', 'after_discounted')} AS after{cohort}"
        f" FROM stage_months"
        f" UNION ALL SELECT '{ENGAGEMENT}', month,"
        f" COALESCE(LAG(after) OVER (PARTITION BY profile_id ORDER BY month), '{NONE}'), after"
        f"{', NULL' if with_cohorts else ''}"
        f" FROM class_months)"
        f" SELECT dimension, month, before, after{', cohort' if with_cohorts else ''}, COUNT(*) FROM moves"
        f" GROUP BY {grouped} ORDER BY 1, 2, 3, 4",
        [window.zone, window.until, window.zone, window.until, *cohort_params],
    )
    if not with_cohorts:
        return _with_stayers(rows, months), []
    moves = [row[:4] + row[5:] for row in rows if row[0] is not None]
    counts: dict[date, dict[int, int]] = defaultdict(dict)
    for _, month, _, _, first, customers in rows:
        if first is not None:
            counts[first][(month.year - first.year) * 12 + month.month - first.month] = customers
    return _with_stayers(moves, months), _cohorts_of(counts, months)


def _with_stayers(rows: list[tuple], months: list[date]) -> list[StageMove]:
    """Moves of the window's months, each completed with the customers who stayed without buying."""
    moves: dict[tuple[str, date], dict[tuple[str, str], int]] = defaultdict(dict)
    for dimension, month, before, after, customers in rows:
        moves[(dimension, month)][(before, after)] = customers
    shown = set(months)
    result: list[StageMove] = []
    for dimension in (STAGE, ENGAGEMENT):
        held: dict[str, int] = defaultdict(int)  # customers in each stage at the end of the month before
        history = sorted({month for dim, month in moves if dim == dimension} | shown)
        for month in history:
            counts = dict(moves.get((dimension, month), {}))
            for stage, customers in held.items():
                left = sum(n for (before, _), n in counts.items() if before == stage)
                if customers - left:
                    counts[(stage, stage)] = counts.get((stage, stage), 0) + customers - left
            for (before, after), customers in counts.items():
                if before != NONE:
                    held[before] -= customers
                held[after] += customers
            if month in shown:
                result.extend(
                    StageMove(month, before, after, customers, dimension)
                    for (before, after), customers in sorted(counts.items())
                    if customers
                )
    return sorted(result, key=lambda move: (move.month, move.dimension != STAGE, move.from_stage, move.to_stage))


# --- cohorts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """Customers whose first purchase fell in `month`, and the share who bought in each following month."""

    month: date
    customers: int
    bought_again: list[float] = field(default_factory=list)  # [month 1, month 2, ...] up to the window's end


def cohorts(window: StatsWindow) -> list[Cohort]:
    """Cohorts by local month of the first counted purchase (the window's months), one statement.

    `bought_again[k - 1]` is the share of the cohort with a counted purchase in the k-th month after
    the first one (each month on its own, not cumulative), for every month up to the window's end.
    """
    months = month_starts(window)
    first_start = datetime.combine(months[0], time(), tzinfo=ZoneInfo(window.zone))
    month_of = "date_trunc('month', {} AT TIME ZONE %s)::date"
    # One window pass over the ledger gives each customer's first purchase; only customers whose first
    # purchase is in the shown months (a range on the raw column: no time zone on the other rows) are
    # grouped by month. Every first purchase is before `until`, so no cohort is after the last month.
    rows = _rows(
        window,
        f"SELECT cohort, ((EXTRACT(YEAR FROM month) - EXTRACT(YEAR FROM cohort)) * 12"
        f" + EXTRACT(MONTH FROM month) - EXTRACT(MONTH FROM cohort))::int AS later, COUNT(*)"
        f" FROM (SELECT {month_of.format('MIN(first_at)')} AS cohort, {month_of.format('placed_at')} AS month"
        f" FROM (SELECT profile_id, placed_at, MIN(placed_at) OVER (PARTITION BY profile_id) AS first_at"
        f" FROM {PURCHASES} WHERE {COUNTED} AND placed_at < %s) ledger"
        f" WHERE first_at >= %s GROUP BY profile_id, 2) per_month GROUP BY 1, 2 ORDER BY 1, 2",
        [window.zone, window.zone, window.until, first_start],
    )
    counts: dict[date, dict[int, int]] = defaultdict(dict)
    for cohort, later, customers in rows:
        counts[cohort][later] = customers
    return _cohorts_of(counts, months)


def _cohorts_of(counts: dict[date, dict[int, int]], months: list[date]) -> list[Cohort]:
    """The cohorts of the months shown, from customers per cohort and months after it (0: the cohort's own)."""
    last = months[-1]
    result = []
    for month in months:
        if month not in counts:
            continue
        size = counts[month][0]
        following = (last.year - month.year) * 12 + last.month - month.month
        result.append(Cohort(month, size, [counts[month].get(k, 0) / size for k in range(1, following + 1)]))
    return result


# --- time to first contact (follow-ups) -----------------------------------------------------


FIRST_CONTACT_TARGET = timedelta(days=7)  # the method's anchor: a detractor hears back within a week


@dataclass(frozen=True)
class FirstContact:
    """How soon staff reach customers whose answer opened a follow-up.

    `within_target_rate` is the share contacted within the target (a week) of those whose week is decided: contacted
    (at any time) or still waiting past the week; one opened this week and not yet contacted is not counted yet.
    """

    median_hours: float | None
    within_target_rate: float | None
    contacted: int
    waiting: int  # open, not contacted yet
    overdue: int  # ... and opened more than the target ago
    target_days: int = FIRST_CONTACT_TARGET.days


def first_contact(*, now: datetime, since: datetime | None = None, using: str = "default") -> FirstContact:
    """Time to first contact of the follow-ups opened since `since` (all by default): one statement."""
    target = FIRST_CONTACT_TARGET
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM first_contact_at - created_at))"
            f" FILTER (WHERE first_contact_at IS NOT NULL) / 3600.0,"
            f" COUNT(*) FILTER (WHERE first_contact_at IS NOT NULL AND first_contact_at - created_at <= %s),"
            f" COUNT(*) FILTER (WHERE first_contact_at IS NOT NULL OR created_at < %s),"
            f" COUNT(first_contact_at),"
            f" COUNT(*) FILTER (WHERE first_contact_at IS NULL AND status <> 'CLOSED'),"
            f" COUNT(*) FILTER (WHERE first_contact_at IS NULL AND status <> 'CLOSED' AND created_at < %s)"
            f" FROM {FollowUp._meta.db_table} WHERE created_at >= %s",
            [target, now - target, now - target, since or datetime(1970, 1, 1, tzinfo=now.tzinfo)],
        )
        median, within, decided, contacted, waiting, overdue = cursor.fetchone()
    return FirstContact(
        median_hours=None if median is None else round(float(median), 1),
        within_target_rate=within / decided if decided else None,
        contacted=contacted,
        waiting=waiting,
        overdue=overdue,
    )
