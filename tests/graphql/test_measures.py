"""rulePerformance, stageFlow, cohorts: SQL aggregates that agree with a plain-Python reading of the rows,
staff only, typed errors, and the same few queries for a small and a larger shop."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_conveyor.engine import Purchase as Fact
from saleor_conveyor.engine import engagement_class, stage_for
from saleor_conveyor.engine.uplift import compare
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, FanSurveyResponse, Purchase, Touchpoint

pytestmark = pytest.mark.django_db

PERFORMANCE = """
query($since: Date, $until: Date, $withinDays: Int) {
  rulePerformance(since: $since, until: $until, withinDays: $withinDays) {
    rule variant experiment reached heldOut reachedRate heldOutRate difference differenceLow differenceHigh
    revenuePerCustomer { amount currency } heldOutRevenuePerCustomer { amount currency }
    verdict verdictText withinDays
  }
}
"""
FLOW = """
query($since: Date, $until: Date) {
  stageFlow(since: $since, until: $until) { month fromStage toStage customers dimension }
}
"""
COHORTS = """
query($since: Date, $until: Date) { cohorts(since: $since, until: $until) { month customers boughtAgain } }
"""
SEGMENTS = ["LOW/LOW", "LOW/MID", "MID/MID", "HIGH/MID", "HIGH/HIGH", "MID/LOW"]
END = datetime(2026, 4, 1, tzinfo=UTC)


def generate(customers: int, seed: int = 3) -> None:
    """A random shop: purchases (some discounted, cancelled, returned), fan answers, arms of two experiments."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = (END - start).total_seconds()
    profiles = FanProfile.objects.bulk_create(FanProfile(email=f"m{seed}-{n}@example.com") for n in range(customers))
    purchases, answers, touchpoints = [], [], []
    for profile in profiles:
        for n in range(rng.choice([0, 1, 1, 2, 3, 4])):
            placed_at = start + timedelta(seconds=rng.uniform(0, span))
            purchases.append(
                Purchase(
                    order_id=f"{profile.pk}-{n}",
                    profile=profile,
                    channel="jp",
                    currency=rng.choice(["JPY"] * 9 + ["USD"]),
                    total_gross_amount=Decimal(rng.randrange(1000, 20000, 10)),
                    used_sale=rng.random() < 0.4,
                    placed_at=placed_at,
                    cancelled_at=placed_at + timedelta(hours=1) if rng.random() < 0.08 else None,
                    returned_at=placed_at + timedelta(days=9) if rng.random() < 0.05 else None,
                )
            )
        for n in range(rng.choice([0, 0, 1, 2])):
            answers.append(
                FanSurveyResponse(
                    profile=profile,
                    occasion=f"o{n}",
                    fan_degree="NEW_FAN",
                    liking="LIKE",
                    segment=rng.choice(SEGMENTS),
                    created_at=start + timedelta(seconds=rng.uniform(0, span)),
                )
            )
        for rule, experiment in (("step_day7", "e1"), ("second_purchase", "e2"), ("step_day3", "")):
            for n in range(rng.choice([0, 1, 1, 2])):
                held = experiment and rng.random() < 0.3
                due = start + timedelta(seconds=rng.uniform(0, span))
                touchpoints.append(
                    Touchpoint(
                        profile=profile,
                        rule=rule,
                        key=f"{rule}:{n}",
                        kind="EMAIL",
                        status="SKIPPED" if held else rng.choice(["SENT", "SENT", "SENT", "CANCELLED", "SCHEDULED"]),
                        outcome="holdout" if held else "",
                        experiment=experiment,
                        variant="" if held or rule != "second_purchase" else rng.choice(["a", "b"]),
                        planned_at=due,
                        due_at=due,
                    )
                )
    Purchase.objects.bulk_create(purchases)
    FanSurveyResponse.objects.bulk_create(answers)
    Touchpoint.objects.bulk_create(touchpoints)


def counted_by_profile() -> dict[int, list[Purchase]]:
    found = defaultdict(list)
    for row in Purchase.objects.filter(cancelled_at=None, returned_at=None):
        found[row.profile_id].append(row)
    return found


def expected_performance(start: datetime, until: datetime, within: int) -> dict:
    """The figures from the rows, in Python: customers, bought again and revenue per rule, experiment, arm."""
    counted = counted_by_profile()
    main = Counter(p.currency for rows in counted.values() for p in rows).most_common()
    main_currency = sorted(main, key=lambda item: (-item[1], item[0]))[0][0]
    firsts: dict[tuple, datetime] = {}
    for tp in Touchpoint.objects.all():
        measured = tp.status == "SENT" or (tp.status == "SKIPPED" and tp.outcome == "holdout")
        if measured and start <= tp.due_at < until:
            key = (tp.rule, tp.experiment, tp.variant, tp.status == "SKIPPED", tp.profile_id)
            firsts[key] = min(firsts.get(key, tp.due_at), tp.due_at)
    groups: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for (*arm, profile_id), due in firsts.items():
        after = [p for p in counted[profile_id] if due < p.placed_at <= due + timedelta(days=within)]
        group = groups[tuple(arm)]
        group[0] += 1
        group[1] += bool(after)
        group[2] += sum((p.total_gross_amount for p in after if p.currency == main_currency), Decimal(0))
    return dict(groups)


@pytest.mark.parametrize(("since", "until", "within"), [(None, None, None), ("2025-06-01", "2026-01-31", 14)])
def test_rule_performance_agrees_with_the_rows_read_in_python(api, staff, since, until, within):
    generate(400)
    answer = api(PERFORMANCE, {"since": since, "until": until, "withinDays": within}, user=staff)
    assert answer.errors == [], answer.body
    days = within or 30
    zone = ZoneInfo(get_config().time_zone)
    start = (
        datetime.combine(date.fromisoformat(since), time(), tzinfo=zone) if since else datetime(2000, 1, 1, tzinfo=UTC)
    )
    end = datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(), tzinfo=zone) if until else None
    matured = timezone.now() - timedelta(days=days)
    groups = expected_performance(start, min(end, matured) if end else matured, days)
    rows = answer.data["rulePerformance"]
    assert {(r["rule"], r["experiment"], r["variant"]) for r in rows} == {
        ("step_day7", "e1", None),
        ("second_purchase", "e2", "a"),
        ("second_purchase", "e2", "b"),
        ("step_day3", None, None),
    }
    for row in rows:
        experiment, variant = row["experiment"] or "", row["variant"] or ""
        reached = groups.get((row["rule"], experiment, variant, False), [0, 0, Decimal(0)])
        held = groups.get((row["rule"], experiment, "", True), [0, 0, Decimal(0)])
        assert (row["reached"], row["heldOut"]) == (reached[0], held[0])
        expected = compare(reached[0], reached[1], held[0], held[1])
        assert row["verdict"] == expected.verdict and row["verdictText"] == expected.words
        assert row["reachedRate"] == pytest.approx(expected.reached_rate)
        assert row["differenceLow"] == pytest.approx(expected.low) and row["withinDays"] == days
        assert Decimal(str(row["revenuePerCustomer"]["amount"])) == (reached[2] / reached[0]).quantize(Decimal("0.001"))
        assert row["revenuePerCustomer"]["currency"] == "JPY"
    no_holdout = next(r for r in rows if r["rule"] == "step_day3")
    assert no_holdout["heldOut"] == 0 and no_holdout["verdict"] == "TOO_FEW"
    assert no_holdout["verdictText"].startswith("not enough customers yet")
    assert any(r["heldOut"] >= 30 and r["verdict"] != "TOO_FEW" for r in rows)


def _month_starts(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _boundary(month: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(month, time(), tzinfo=zone)


def test_stage_flow_agrees_with_the_stage_ladder_at_each_months_end(api, staff):
    generate(300, seed=5)
    zone = ZoneInfo(get_config().time_zone)
    answer = api(FLOW, {"since": "2025-03-01", "until": "2026-02-28"}, user=staff)
    assert answer.errors == [], answer.body
    got = Counter()
    for row in answer.data["stageFlow"]:
        got[(row["dimension"], row["month"], row["fromStage"], row["toStage"])] += row["customers"]
    facts = defaultdict(list)
    for row in Purchase.objects.all():
        facts[row.profile_id].append(
            Fact(
                row.order_id,
                row.placed_at,
                row.currency,
                row.total_gross_amount,
                row.discounted,
                cancelled_at=row.cancelled_at,
                returned_at=row.returned_at,
            )
        )
    answers = defaultdict(list)
    for row in FanSurveyResponse.objects.all():
        answers[row.profile_id].append(row)

    def stage_at(profile_id: int, moment: datetime) -> str:
        stage = stage_for([f for f in facts[profile_id] if f.placed_at < moment])
        return stage.value if stage else "NONE"

    def class_at(profile_id: int, moment: datetime) -> str:
        before = sorted((a for a in answers[profile_id] if a.created_at < moment), key=lambda a: (a.created_at, a.id))
        return engagement_class(before[-1].segment) if before else "NONE"

    expected = Counter()
    for month in _month_starts(date(2025, 3, 1), date(2026, 2, 1)):
        begin, end = _boundary(month, zone), _boundary((month + timedelta(days=32)).replace(day=1), zone)
        for profile_id in FanProfile.objects.values_list("id", flat=True):
            for dimension, at in (("STAGE", stage_at), ("ENGAGEMENT", class_at)):
                move = (at(profile_id, begin), at(profile_id, end))
                if move != ("NONE", "NONE"):
                    expected[(dimension, f"{month:%Y-%m}", *move)] += 1
    assert got == expected
    assert any(key[2] != key[3] and key[2] != "NONE" for key in got)  # some customers stepped up


def test_cohorts_agree_with_first_purchases_and_later_months(api, staff):
    generate(300, seed=9)
    zone = ZoneInfo(get_config().time_zone)
    answer = api(COHORTS, {"since": "2025-02-01", "until": "2026-01-31"}, user=staff)
    assert answer.errors == [], answer.body
    end = _boundary(date(2026, 2, 1), zone)
    months_of = {
        profile_id: sorted({p.placed_at.astimezone(zone).date().replace(day=1) for p in rows if p.placed_at < end})
        for profile_id, rows in counted_by_profile().items()
    }
    expected = []
    for month in _month_starts(date(2025, 2, 1), date(2026, 1, 1)):
        members = [months for months in months_of.values() if months and months[0] == month]
        if not members:
            continue
        following = _month_starts(month, date(2026, 1, 1))[1:]
        shares = [sum(later in months for months in members) / len(members) for later in following]
        expected.append({"month": f"{month:%Y-%m}", "customers": len(members), "boughtAgain": pytest.approx(shares)})
    assert answer.data["cohorts"] == expected
    assert answer.data["cohorts"][0]["customers"] > 0 and len(answer.data["cohorts"][0]["boughtAgain"]) == 11


@pytest.mark.parametrize("query", [PERFORMANCE, FLOW, COHORTS])
def test_measures_need_manage_orders(api, hanako, make_user, query):
    generate(5)
    users_only = make_user("users@example.com", staff_permissions=("manage_users",))
    for user in (None, hanako, users_only):
        answer = api(query, user=user)
        assert answer.codes() == ["PERMISSION_DENIED"]
        assert not answer.data  # a required list refused: no data at all


@pytest.mark.parametrize(
    ("query", "variables", "code", "field"),
    [
        (PERFORMANCE, {"withinDays": 0}, "OUT_OF_RANGE", "withinDays"),
        (PERFORMANCE, {"withinDays": 366}, "OUT_OF_RANGE", "withinDays"),
        (PERFORMANCE, {"withinDays": -(2**31)}, "OUT_OF_RANGE", "withinDays"),
        (PERFORMANCE, {"since": "2026-03-01", "until": "2026-02-01"}, "INVALID", "since"),
        (FLOW, {"since": "2026-03-01", "until": "2026-02-01"}, "INVALID", "since"),
        (COHORTS, {"since": "0001-01-01"}, "OUT_OF_RANGE", "since"),
        (FLOW, {"until": "9999-12-31"}, "OUT_OF_RANGE", "until"),
    ],
)
def test_bad_windows_are_typed_errors(api, staff, query, variables, code, field):
    answer = api(query, variables, user=staff)
    assert answer.codes() == [code] and answer.errors[0]["extensions"]["field"] == field


def test_an_empty_shop_answers_empty_lists(api, staff):
    for query, name in ((PERFORMANCE, "rulePerformance"), (FLOW, "stageFlow"), (COHORTS, "cohorts")):
        answer = api(query, user=staff)
        assert answer.errors == [] and answer.data[name] == []


def test_measures_cost_the_same_few_queries_for_a_small_and_a_larger_shop(api, staff):
    def count_queries() -> list[int]:
        counts = []
        for query in (PERFORMANCE, FLOW, COHORTS):
            with CaptureQueriesContext(connection) as queries:
                answer = api(query, {"since": "2025-01-01"}, user=staff)
            assert answer.errors == [] and any(answer.data.values())
            counts.append(len(queries))
        return counts

    generate(20, seed=1)
    small = count_queries()
    generate(1500, seed=2)
    large = count_queries()
    # user and its permissions (3), then one statement per measure
    assert small == large == [4, 4, 4], (small, large)
