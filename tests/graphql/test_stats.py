"""conveyorStats: computed by SQL aggregates that agree with engine/metrics.py, in a fixed number of queries."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_conveyor.engine import Purchase as Fact
from saleor_conveyor.engine import nps_score, summarize
from saleor_conveyor.engine.metrics import (
    CustomerDates,
    f2_conversion,
    improving_streak,
    lifetime_value,
    percentile,
    repeat_rate,
    share,
)
from saleor_conveyor.models import FanProfile, NpsResponse, Purchase, Touchpoint

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
STATS = """
query($since: Date, $until: Date, $channel: String) {
  conveyorStats(since: $since, until: $until, channel: $channel) {
    nps { score promoters passives detractors responses }
    stages { stage count }
    f2ConversionRate repeatRate
    averageLifetimeValue { amount currency }
    shippingLeadTime { medianHours p90Hours sameDayRate shipped }
    touchpoints { rule kind status count }
    monthly { month nps repeatRate averageOrderValue { amount currency } orders }
    improvingStreak
    improvingStreaks { nps repeatRate averageOrderValue }
  }
}
"""
RULES = [("step_day3", "EMAIL"), ("vip_candidate", "COUPON"), ("vip_badge", "BADGE"), ("thank_you_card", "STAFF_TASK")]
STATUSES = ["SCHEDULED", "SENDING", "SENT", "SKIPPED", "FAILED", "CANCELLED"]


def generate(customers: int, seed: int = 7) -> None:
    """Random shop history (two channels, cancellations, returns, shipping delays, answers, touchpoints)."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 4, 1, tzinfo=UTC) - start).total_seconds()
    profiles = FanProfile.objects.bulk_create(FanProfile(email=f"c{seed}-{n}@example.com") for n in range(customers))
    purchases, answers, touchpoints = [], [], []
    for profile in profiles:
        facts = []
        for n in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 5])):
            placed_at = start + timedelta(seconds=rng.uniform(0, span))
            row = Purchase(
                order_id=f"{profile.pk}-{n}",
                profile=profile,
                channel=rng.choice(["jp", "jp", "us"]),
                currency="JPY",
                total_gross_amount=Decimal(rng.randrange(1000, 40000, 10)),
                used_voucher=rng.random() < 0.3,
                placed_at=placed_at,
                fulfilled_at=placed_at + timedelta(hours=rng.uniform(0.5, 96)) if rng.random() < 0.8 else None,
                cancelled_at=placed_at + timedelta(hours=1) if rng.random() < 0.08 else None,
                returned_at=placed_at + timedelta(days=9) if rng.random() < 0.05 else None,
            )
            purchases.append(row)
            facts.append(_fact(row))
        summary = summarize(facts)
        profile.stage = summary.stage.value if summary.stage else None
        profile.purchase_count = summary.purchase_count
        for _ in range(rng.choice([0, 0, 1, 2])):
            answers.append(
                NpsResponse(
                    profile=profile,
                    order_id=None,
                    channel=rng.choice(["jp", "us"]),
                    score=rng.randint(0, 10),
                    created_at=start + timedelta(seconds=rng.uniform(0, span)),
                )
            )
        for n, (rule, kind) in enumerate(rng.sample(RULES, rng.randint(0, 3))):
            due = start + timedelta(seconds=rng.uniform(0, span))
            touchpoints.append(
                Touchpoint(
                    profile=profile,
                    rule=rule,
                    key=f"{rule}:{n}",
                    kind=kind,
                    status=rng.choice(STATUSES),
                    planned_at=due,
                    due_at=due,
                )
            )
    FanProfile.objects.bulk_update(profiles, ["stage", "purchase_count"], batch_size=2000)
    Purchase.objects.bulk_create(purchases, batch_size=2000)
    NpsResponse.objects.bulk_create(answers, batch_size=2000)
    Touchpoint.objects.bulk_create(touchpoints, batch_size=2000)


def _fact(row: Purchase) -> Fact:
    return Fact(
        row.order_id,
        row.placed_at,
        row.currency,
        row.total_gross_amount,
        row.discounted,
        row.fulfilled_at,
        row.cancelled_at,
        row.returned_at,
    )


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=TOKYO)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def expected(since_day: date, until_day: date, channel: str | None) -> dict:
    """The same figures from the pure engine functions, row by row in Python."""
    since, until = local_midnight(since_day), local_midnight(until_day + timedelta(days=1))
    rows = [r for r in Purchase.objects.all() if channel is None or r.channel == channel]
    counted_by_customer: dict[int, list[Purchase]] = defaultdict(list)
    for row in rows:
        if row.counts:
            counted_by_customer[row.profile_id].append(row)
    times = [sorted(r.placed_at for r in history) for history in counted_by_customer.values()]
    scores = [
        a.score
        for a in NpsResponse.objects.all()
        if since <= a.created_at < until and (channel is None or a.channel == channel)
    ]
    cohort = [CustomerDates(t[0], t[1] if len(t) > 1 else None) for t in times]
    ltvs = []
    for history in counted_by_customer.values():
        if any(since <= r.placed_at < until for r in history):
            upto = [r.total_gross_amount for r in history if r.placed_at < until]
            ltvs.append(lifetime_value(sum(upto) / len(upto), len(upto)))
    shipped = [r for r in rows if r.fulfilled_at is not None and since <= r.placed_at < until]
    hours = [(r.fulfilled_at - r.placed_at).total_seconds() / 3600 for r in shipped]
    same_day = [r.fulfilled_at.astimezone(TOKYO).date() == r.placed_at.astimezone(TOKYO).date() for r in shipped]
    in_channel = {p for p in Purchase.objects.filter(channel=channel).values_list("profile_id", flat=True)}
    touchpoints = Counter(
        (t.rule, t.kind, "SCHEDULED" if t.status == "SENDING" else t.status)
        for t in Touchpoint.objects.all()
        if since <= t.due_at < until and (channel is None or t.profile_id in in_channel)
    )
    stages = Counter(p.stage for p in FanProfile.objects.all() if p.stage and (channel is None or p.pk in in_channel))
    months = []
    month = since_day.replace(day=1)
    while month <= until_day:
        low, high = max(local_midnight(month), since), min(local_midnight(next_month(month)), until)
        month_scores = [
            a.score
            for a in NpsResponse.objects.all()
            if low <= a.created_at < high and (channel is None or a.channel == channel)
        ]
        totals = [r.total_gross_amount for h in counted_by_customer.values() for r in h if low <= r.placed_at < high]
        months.append(
            {
                "month": month.isoformat(),
                "nps": nps_score(month_scores),
                "repeatRate": repeat_rate(times, low, high),
                "aov": float(mean(totals)) if totals else None,
                "orders": len(totals),
            }
        )
        month = next_month(month)
    return {
        "nps": {
            "score": nps_score(scores),
            "promoters": sum(s >= 9 for s in scores),
            "passives": sum(7 <= s <= 8 for s in scores),
            "detractors": sum(s <= 6 for s in scores),
            "responses": len(scores),
        },
        "stages": stages,
        "f2": f2_conversion(cohort, since, until),
        "repeat": repeat_rate(times, since, until),
        "ltv": float(mean(ltvs)) if ltvs else None,
        "median": percentile(hours, 0.5),
        "p90": percentile(hours, 0.9),
        "same_day": share(sum(same_day), len(same_day)),
        "shipped": len(shipped),
        "touchpoints": touchpoints,
        "months": months,
    }


@pytest.mark.parametrize(
    "since, until, channel",
    [
        (date(2025, 6, 15), date(2026, 2, 10), None),
        (date(2025, 3, 1), date(2025, 12, 31), "jp"),
        (date(2025, 1, 1), date(2026, 3, 31), "us"),
    ],
)
def test_sql_figures_agree_with_the_engine_on_generated_history(api, staff, since, until, channel):
    generate(400)
    answer = api(STATS, {"since": since.isoformat(), "until": until.isoformat(), "channel": channel}, user=staff)
    assert answer.errors == [], answer.errors
    stats = answer.data["conveyorStats"]
    want = expected(since, until, channel)
    assert want["nps"]["responses"] > 20 and want["shipped"] > 20  # the dataset exercises every figure
    assert stats["nps"] == want["nps"]
    assert {row["stage"]: row["count"] for row in stats["stages"] if row["count"]} == dict(want["stages"])
    assert stats["f2ConversionRate"] == pytest.approx(want["f2"])
    assert stats["repeatRate"] == pytest.approx(want["repeat"])
    assert stats["averageLifetimeValue"]["amount"] == pytest.approx(want["ltv"], abs=0.001)
    assert stats["averageLifetimeValue"]["currency"] == "JPY"
    lead = stats["shippingLeadTime"]
    assert lead["medianHours"] == pytest.approx(want["median"])
    assert lead["p90Hours"] == pytest.approx(want["p90"])
    assert lead["sameDayRate"] == pytest.approx(want["same_day"]) and lead["shipped"] == want["shipped"]
    assert (
        Counter({(t["rule"], t["kind"], t["status"]): t["count"] for t in stats["touchpoints"]}) == want["touchpoints"]
    )
    assert "SENDING" not in {t["status"] for t in stats["touchpoints"]}
    got_months = [
        {
            "month": m["month"],
            "nps": m["nps"],
            "repeatRate": m["repeatRate"],
            "aov": m["averageOrderValue"]["amount"] if m["averageOrderValue"] else None,
            "orders": m["orders"],
        }
        for m in stats["monthly"]
    ]
    assert [m["month"] for m in got_months] == [m["month"] for m in want["months"]]
    for got, wanted in zip(got_months, want["months"], strict=True):
        assert got["nps"] == wanted["nps"] and got["orders"] == wanted["orders"], got["month"]
        assert got["repeatRate"] == pytest.approx(wanted["repeatRate"]), got["month"]
        assert got["aov"] == pytest.approx(wanted["aov"], abs=0.001), got["month"]
    assert stats["improvingStreak"] == improving_streak([m["nps"] for m in want["months"]])
    assert stats["improvingStreaks"]["repeatRate"] == improving_streak([m["repeatRate"] for m in want["months"]])


def test_the_improving_streak_counts_months_that_beat_the_one_before(api, staff):
    profile = FanProfile.objects.create(email="a@example.com")
    # NPS by month: Jan -100, Feb 0 (one 10, one 0)... rising for four months after a dip.
    plan = {1: [10], 2: [0], 3: [0, 10], 4: [7, 10], 5: [10, 10, 9], 6: [10]}
    NpsResponse.objects.bulk_create(
        NpsResponse(profile=profile, score=score, created_at=datetime(2026, month, 10, tzinfo=UTC))
        for month, scores in plan.items()
        for score in scores
    )
    stats = api(STATS, {"since": "2026-01-01", "until": "2026-06-30"}, user=staff).data["conveyorStats"]
    assert [m["nps"] for m in stats["monthly"]] == [100, -100, 0, 50, 100, 100]
    assert stats["improvingStreak"] == 0  # June only equals May
    stats = api(STATS, {"since": "2026-01-01", "until": "2026-05-31"}, user=staff).data["conveyorStats"]
    assert stats["improvingStreak"] == 3


def test_an_empty_shop_has_null_rates_not_errors(api, staff):
    stats = api(STATS, user=staff).data["conveyorStats"]
    assert stats["nps"] == {"score": None, "promoters": 0, "passives": 0, "detractors": 0, "responses": 0}
    assert stats["f2ConversionRate"] is None and stats["averageLifetimeValue"] is None
    assert len(stats["monthly"]) == 12 and stats["improvingStreak"] == 0
    assert [row["stage"] for row in stats["stages"]] == ["FIRST_TIME", "SECOND_TIME", "CAMPAIGN_ONLY", "LOYAL"]


def test_since_after_until_is_invalid(api, staff):
    answer = api(STATS, {"since": "2026-03-01", "until": "2026-02-01"}, user=staff)
    assert answer.codes() == ["INVALID"] and answer.errors[0]["extensions"]["field"] == "since"


def test_stats_with_a_customer_token_is_permission_denied(api, hanako, make_user):
    generate(5)
    users_only = make_user("users@example.com", staff_permissions=("manage_users",))
    for user in (None, hanako, users_only):
        answer = api(STATS, user=user)
        assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["conveyorStats"] is None


@pytest.mark.slow
def test_stats_cost_the_same_few_queries_for_10_and_10000_customers(api, staff):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            answer = api(STATS, {"since": "2025-01-01"}, user=staff)
        assert answer.errors == []
        return len(queries)

    generate(10, seed=1)
    small = count_queries()
    generate(10_000 - 10, seed=2)
    assert FanProfile.objects.count() == 10_000
    large = count_queries()
    # user, its permissions (2), then nps, stages, f2, repeat, ltv, shipping, touchpoints, monthly (3)
    assert small == large <= 13, (small, large)
