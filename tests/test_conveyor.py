"""The conveyor service on PostgreSQL: ledger, profiles, outbox, idempotency, bad inputs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_conveyor import conveyor, signals
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import (
    FanSurveyAnswered,
    NpsAnswered,
    OrderCancelled,
    OrderFulfilled,
    OrderReturned,
)
from saleor_conveyor.models import (
    FanProfile,
    FanSurveyResponse,
    NpsResponse,
    Purchase,
    Touchpoint,
)

from .factories import T0, customer, days, placed

pytestmark = pytest.mark.django_db


def tables() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (FanProfile, Purchase, Touchpoint, NpsResponse, FanSurveyResponse)
    }


def touchpoints(status: str | None = None) -> dict[str, Touchpoint]:
    rows = Touchpoint.objects.all() if status is None else Touchpoint.objects.filter(status=status)
    return {tp.key: tp for tp in rows}


def profile(email: str = "hanako@example.com") -> FanProfile:
    return FanProfile.objects.get(email=email)


# --- stages ---------------------------------------------------------------------------


def test_first_order_makes_a_first_time_buyer_and_schedules_step_mail():
    conveyor.record_order_placed(placed("o1"), now=T0)
    fan = profile()
    assert fan.stage == "FIRST_TIME" and fan.purchase_count == 1
    assert fan.first_purchase_at == T0 == fan.last_purchase_at
    assert fan.total_spent_amount == Decimal("5000") and fan.currency == "JPY"
    scheduled = touchpoints("SCHEDULED")
    assert {k: tp.due_at - T0 for k, tp in scheduled.items()} == {
        "step_day3": days(3),
        "step_day7": days(7),
        "step_day14": days(14),
        "fan_survey": days(21),
    }
    assert scheduled["step_day3"].marketing is False and scheduled["step_day7"].marketing is True


def test_second_order_makes_a_second_time_buyer_with_a_recommendation():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_placed(placed("o2", at=T0 + days(20)), now=T0 + days(20))
    assert profile().stage == "SECOND_TIME"
    assert touchpoints()["second_purchase"].due_at == T0 + days(20)


def test_two_discounted_orders_make_a_campaign_only_buyer():
    for n in range(2):
        conveyor.record_order_placed(placed(f"o{n}", at=T0 + days(n), discounted=True), now=T0 + days(n))
    assert profile().stage == "CAMPAIGN_ONLY"


def test_campaign_only_buyer_becomes_loyal_with_a_regular_third_order():
    for n in range(2):
        conveyor.record_order_placed(placed(f"o{n}", at=T0 + days(n), discounted=True), now=T0 + days(n))
    conveyor.record_order_placed(placed("o2", at=T0 + days(5)), now=T0 + days(5))
    fan = profile()
    assert fan.stage == "LOYAL" and fan.purchase_count == 3
    assert touchpoints()["vip_candidate"].kind == "COUPON"


def test_fifth_order_invites_to_the_fan_meeting():
    for n in range(5):
        conveyor.record_order_placed(placed(f"o{n}", at=T0 + days(n)), now=T0 + days(n))
    assert touchpoints()["fan_meeting"].order_id == "o4"


def test_cancelling_an_order_restages_and_cancels_its_unsent_touchpoints():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_placed(placed("o2", at=T0 + days(1), total=25000), now=T0 + days(1))
    assert profile().stage == "SECOND_TIME"
    Touchpoint.objects.filter(key="vip_badge").update(status="SENT")  # this one already went out
    conveyor.record_order_cancelled(OrderCancelled("o2", T0 + days(2)), now=T0 + days(2))
    fan = profile()
    assert fan.stage == "FIRST_TIME" and fan.purchase_count == 1 and fan.total_spent_amount == 5000
    all_tps = touchpoints()
    for key in ("second_purchase", "thank_you_card:o2", "secret_info"):
        assert all_tps[key].status == "CANCELLED", key
        assert "order o2 was cancelled" in all_tps[key].outcome
    assert all_tps["vip_badge"].status == "SENT"  # never re-opened or cancelled after the fact
    assert all_tps["step_day3"].status == "SCHEDULED"  # belongs to o1


def test_cancelling_the_only_order_leaves_no_stage_and_nothing_scheduled():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_cancelled(OrderCancelled("o1", T0 + days(1)), now=T0 + days(1))
    fan = profile()
    assert fan.stage is None and fan.purchase_count == 0 and fan.first_purchase_at is None
    assert not touchpoints("SCHEDULED")
    assert set(touchpoints("CANCELLED")) == {"step_day3", "step_day7", "step_day14", "fan_survey"}


def test_a_new_first_order_after_a_cancelled_one_revives_the_step_mail():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_cancelled(OrderCancelled("o1", T0 + days(1)), now=T0 + days(1))
    conveyor.record_order_placed(placed("o2", at=T0 + days(2)), now=T0 + days(2))
    step = touchpoints()["step_day3"]
    assert step.status == "SCHEDULED" and step.due_at == T0 + days(5)
    assert Touchpoint.objects.filter(key="step_day3").count() == 1


def test_full_return_takes_the_order_off_the_count_partial_return_does_not():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_placed(placed("o2", at=T0 + days(1)), now=T0 + days(1))
    conveyor.record_return(OrderReturned("o2", T0 + days(9), fully_returned=False), now=T0 + days(9))
    assert profile().stage == "SECOND_TIME"
    conveyor.record_return(OrderReturned("o2", T0 + days(10)), now=T0 + days(10))
    assert profile().stage == "FIRST_TIME"
    assert touchpoints()["second_purchase"].outcome == "order o2 was returned"


def test_fulfilment_schedules_the_nps_survey_ten_days_later():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(1)), now=T0 + days(1))
    assert touchpoints()["nps_survey:o1"].due_at == T0 + days(11)
    assert Purchase.objects.get(order_id="o1").fulfilled_at == T0 + days(1)


def test_the_first_shipment_counts_whichever_event_arrives_first():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(3)), now=T0 + days(3))
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(1)), now=T0 + days(3))
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(2)), now=T0 + days(3))
    assert Purchase.objects.get().fulfilled_at == T0 + days(1)
    assert touchpoints()["nps_survey:o1"].due_at == T0 + days(11)


# --- surveys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "category", "rule"),
    [(10, "PROMOTER", "referral"), (8, "PASSIVE", "story_video"), (3, "DETRACTOR", "honesty_letter")],
)
def test_nps_answer_sets_the_profile_and_triggers_its_category_rule(score, category, rule):
    conveyor.record_order_placed(placed("o1"), now=T0)
    answered = T0 + days(12)
    conveyor.record_nps(NpsAnswered(customer(), score, answered, order_id="o1", comment="ok"), now=answered)
    fan = profile()
    assert (fan.nps, fan.nps_category) == (score, category)
    assert touchpoints()[f"{rule}:o1"].due_at == answered


def test_second_nps_for_the_same_order_is_refused_and_changes_nothing():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_nps(NpsAnswered(customer(), 9, T0 + days(12), order_id="o1"), now=T0 + days(12))
    before = tables()
    with pytest.raises(ConveyorError) as error:
        conveyor.record_nps(NpsAnswered(customer(), 2, T0 + days(13), order_id="o1"), now=T0 + days(13))
    assert error.value.code is ErrorCode.ALREADY_EXISTS
    assert tables() == before and profile().nps == 9


def test_nps_about_an_order_of_someone_else_is_not_found():
    conveyor.record_order_placed(placed("o1", who=customer("other@example.com")), now=T0)
    with pytest.raises(ConveyorError) as error:
        conveyor.record_nps(NpsAnswered(customer(), 9, T0, order_id="o1"), now=T0)
    assert error.value.code is ErrorCode.NOT_FOUND
    assert not NpsResponse.objects.exists()


def test_fan_survey_places_the_customer_on_the_grid_latest_answer_wins():
    conveyor.record_order_placed(placed("o1"), now=T0)
    # Two survey windows (one answer each, see test_answer_bounds.py), arriving latest first.
    later = FanSurveyAnswered(customer(), "PART_OF_LIFE", "ADORE", T0 + days(130))
    earlier = FanSurveyAnswered(customer(), "NEW_FAN", "NEUTRAL", T0 + days(22))
    conveyor.record_fan_survey(later)
    conveyor.record_fan_survey(earlier)
    conveyor.record_fan_survey(earlier)  # a repeat of the same answer is not a new answer
    fan = profile()
    assert (fan.fan_degree, fan.liking, fan.segment) == ("PART_OF_LIFE", "ADORE", "HIGH/HIGH")
    assert FanSurveyResponse.objects.count() == 2


# --- lapse ----------------------------------------------------------------------------


def test_lapse_scan_schedules_one_win_back_per_lapse():
    conveyor.record_order_placed(placed("o1"), now=T0)
    assert conveyor.schedule_lapsed(now=T0 + days(89)) == 0
    assert conveyor.schedule_lapsed(now=T0 + days(90)) == 1
    assert conveyor.schedule_lapsed(now=T0 + days(91)) == 0
    assert touchpoints()["winback_survey:o1"].due_at == T0 + days(90)
    # They come back, lapse again: a second win-back, for the new lapse.
    conveyor.record_order_placed(placed("o2", at=T0 + days(100)), now=T0 + days(100))
    assert conveyor.schedule_lapsed(now=T0 + days(190)) == 1
    assert "winback_survey:o2" in touchpoints()


def test_buying_again_cancels_a_win_back_that_has_not_gone_out():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.schedule_lapsed(now=T0 + days(90))
    conveyor.record_order_placed(
        placed(
            "o2",
            at=T0
            + days(
                90,
            ),
        ),
        now=T0 + days(90),
    )
    assert touchpoints()["winback_survey:o1"].status == "CANCELLED"


# --- backfill and lateness ------------------------------------------------------------


def test_backfill_records_past_touchpoints_as_skipped_never_to_be_sent():
    conveyor.record_order_placed(placed("o1"), now=T0 + days(10), backfill=True)
    tps = touchpoints()
    assert tps["step_day3"].status == "SKIPPED" and tps["step_day7"].status == "SKIPPED"
    assert "backfill" in tps["step_day3"].outcome
    assert tps["step_day14"].status == "SCHEDULED" and tps["fan_survey"].status == "SCHEDULED"


def test_live_event_arriving_long_after_the_fact_skips_what_is_stale():
    conveyor.record_order_placed(placed("o1"), now=T0 + days(8))
    tps = touchpoints()
    assert tps["step_day3"].status == "SKIPPED"
    assert tps["step_day7"].status == "SCHEDULED"  # within the 48-hour grace: still sent


# --- customers ------------------------------------------------------------------------


def test_guest_profile_merges_into_the_account_when_the_email_registers(django_user_model):
    conveyor.record_order_placed(placed("g1", who=customer("Guest@Example.com ")), now=T0)
    user = django_user_model.objects.create(username="u1", email="guest@example.com")
    merged = conveyor.link_customer(customer("guest@example.com", user_id=user.pk))
    assert FanProfile.objects.count() == 1
    assert merged.user_id == user.pk and merged.purchase_count == 1
    conveyor.record_order_placed(placed("a1", at=T0 + days(3), who=customer("guest@example.com", user.pk)), now=T0)
    assert profile("guest@example.com").stage == "SECOND_TIME"


def test_account_and_guest_histories_merge_without_a_second_copy_of_any_touchpoint(django_user_model):
    user = django_user_model.objects.create(username="u1", email="old@example.com")
    conveyor.record_order_placed(placed("a1", who=customer("old@example.com", user.pk)), now=T0)
    conveyor.record_order_placed(placed("g1", at=T0 + days(1), who=customer("new@example.com")), now=T0)
    Touchpoint.objects.filter(profile__email="new@example.com", key="step_day3").update(status="SENT")
    conveyor.link_customer(customer("new@example.com", user.pk), previous_email="old@example.com")
    fan = FanProfile.objects.get()
    assert fan.email == "new@example.com" and fan.user_id == user.pk
    assert fan.purchase_count == 2 and fan.stage == "SECOND_TIME"
    assert Touchpoint.objects.filter(key="step_day3").count() == 1
    assert Touchpoint.objects.get(key="step_day3").status == "SENT"


def test_email_change_follows_the_account(django_user_model):
    user = django_user_model.objects.create(username="u1", email="a@example.com")
    conveyor.record_order_placed(placed("a1", who=customer("a@example.com", user.pk)), now=T0)
    conveyor.link_customer(customer("b@example.com", user.pk), previous_email="a@example.com")
    assert FanProfile.objects.get().email == "b@example.com"


# --- idempotency ----------------------------------------------------------------------


def test_the_same_events_twice_change_nothing_the_second_time():
    events = [placed("o1"), placed("o2", at=T0 + days(1), total=30000)]  # built once: the same events
    for event in events:
        conveyor.record_order_placed(event, now=T0 + days(1))
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(1)), now=T0 + days(1))
    snapshot = (tables(), sorted(Touchpoint.objects.values_list("key", "status", "due_at")))
    for event in events:
        conveyor.record_order_placed(event, now=T0 + days(2))
    conveyor.record_fulfillment(OrderFulfilled("o1", T0 + days(1)), now=T0 + days(2))
    assert (tables(), sorted(Touchpoint.objects.values_list("key", "status", "due_at"))) == snapshot


def test_the_database_refuses_a_second_row_for_one_occurrence():
    from django.db import IntegrityError, transaction

    conveyor.record_order_placed(placed("o1"), now=T0)
    original = Touchpoint.objects.get(key="step_day3")
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(
            profile=original.profile,
            rule="step_day3",
            key="step_day3",
            kind="EMAIL",
            planned_at=T0,
            due_at=T0,
        )


# --- bad inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        (placed("b1", total="-1"), "total", "cannot be negative"),
        (placed("b2", total="abc"), "total", "must be a number"),
        (placed("b3", total="NaN"), "total", "finite"),
        (placed("b4", line_currencies=("JPY", "USD")), "currency", "lines are in USD"),
        (placed("b5", who=customer("")), "email", "email address is required"),
        (placed("b6", who=customer("   ")), "email", "email address is required"),
        (placed("b7", who=customer("not-an-email")), "email", "not a valid email"),
        (placed("b8", currency="YENS"), "currency", "3-letter code"),
        (
            placed(
                "",
            ),
            "order_id",
            "non-empty id",
        ),
    ],
)
def test_bad_order_is_rejected_with_a_clear_error_and_nothing_written(event, field, message):
    with pytest.raises(ConveyorError, match=message) as error:
        conveyor.record_order_placed(event, now=T0)
    assert error.value.field == field
    assert tables() == dict.fromkeys(tables(), 0)


def test_float_total_is_refused_rather_than_rounded():
    with pytest.raises(ConveyorError, match="decimal amount"):
        conveyor.record_order_placed(placed("f1", total=10.5), now=T0)
    assert not Purchase.objects.exists()


def test_currency_differing_from_the_recorded_order_is_refused():
    conveyor.record_order_placed(placed("o1"), now=T0)
    before = tables()
    with pytest.raises(ConveyorError, match="is in JPY"):
        conveyor.record_order_placed(placed("o1", currency="USD"), now=T0)
    assert tables() == before


@pytest.mark.parametrize(
    "record",
    [
        lambda: conveyor.record_fulfillment(OrderFulfilled("ghost", T0), now=T0),
        lambda: conveyor.record_order_cancelled(OrderCancelled("ghost", T0), now=T0),
        lambda: conveyor.record_return(OrderReturned("ghost", T0), now=T0),
        lambda: conveyor.record_return(OrderReturned("ghost", T0, fully_returned=False), now=T0),
    ],
)
def test_event_for_an_unknown_order_is_rejected_and_nothing_written(record):
    with pytest.raises(ConveyorError, match="No order 'ghost'") as error:
        record()
    assert error.value.code is ErrorCode.NOT_FOUND
    assert tables() == dict.fromkeys(tables(), 0)


def test_naive_datetimes_are_refused():
    from datetime import datetime

    with pytest.raises(ConveyorError, match="timezone-aware"):
        conveyor.record_order_placed(placed("n1", at=datetime(2026, 1, 1)), now=T0)


# --- signals and cost -----------------------------------------------------------------


def test_signals_fire_after_commit(django_capture_on_commit_callbacks):
    seen = []

    def on_stage(**kwargs):
        seen.append(("stage", kwargs["previous"], kwargs["stage"]))

    def on_scheduled(**kwargs):
        seen.append(("scheduled", len(kwargs["touchpoint_ids"])))

    def on_nps(**kwargs):
        seen.append(("nps", kwargs["response"].score))

    signals.stage_changed.connect(on_stage)
    signals.touchpoint_scheduled.connect(on_scheduled)
    signals.nps_recorded.connect(on_nps)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            conveyor.record_order_placed(placed("o1"), now=T0)
        assert seen == []  # nothing before commit
        for callback in callbacks:
            callback()
        with django_capture_on_commit_callbacks(execute=True):
            conveyor.record_nps(NpsAnswered(customer(), 10, T0, order_id="o1"), now=T0)
    finally:
        signals.stage_changed.disconnect(on_stage)
        signals.touchpoint_scheduled.disconnect(on_scheduled)
        signals.nps_recorded.disconnect(on_nps)
    # The first order's two signals come in either order; then the NPS answer's.
    assert sorted(seen[:2]) == [("scheduled", 4), ("stage", None, "FIRST_TIME")]
    assert seen[2:] == [("scheduled", 1), ("nps", 10)]


@pytest.mark.parametrize("history", [0, 1, 30])
def test_recording_an_order_costs_at_most_8_queries(history):
    for n in range(history):
        conveyor.record_order_placed(placed(f"h{n}", at=T0 + days(n)), now=T0 + days(n))
    with CaptureQueriesContext(connection) as queries:
        conveyor.record_order_placed(placed("new", at=T0 + days(history)), now=T0 + days(history))
    assert len(statements(queries)) <= 8, statements(queries)


def test_a_duplicate_order_event_costs_at_most_3_queries():
    event = placed("o1")
    conveyor.record_order_placed(event, now=T0)
    with CaptureQueriesContext(connection) as queries:
        conveyor.record_order_placed(event, now=T0)
    assert len(statements(queries)) <= 3, statements(queries)


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Queries but the test's own savepoints (in production, one BEGIN/COMMIT Django does not log)."""
    return [q["sql"][:90] for q in queries if "SAVEPOINT" not in q["sql"]]


def test_a_customer_created_by_another_worker_meanwhile_is_recorded_as_returning(monkeypatch):
    """The first-order path finds the profile inserted under it, rolls back, and records again."""
    conveyor.record_order_placed(placed("o1"), now=T0)
    real_read = conveyor.orders._read_customer
    misses = []

    def read_missing_once(customer, rule_names):
        if not misses:  # as if the other worker's profile was not committed yet when we looked
            misses.append(True)
            return None, [], {}
        return real_read(customer, rule_names)

    monkeypatch.setattr(conveyor.orders, "_read_customer", read_missing_once)
    result = conveyor.record_order_placed(placed("o2", at=T0 + days(1)), now=T0 + days(1))
    assert misses == [True]
    fan = profile()
    assert FanProfile.objects.count() == 1 and result.profile_id == fan.id
    assert fan.purchase_count == 2 and fan.stage == "SECOND_TIME"
    assert Purchase.objects.filter(order_id="o2", profile=fan).count() == 1
    assert Touchpoint.objects.filter(key="step_day3").count() == 1


def test_rebuilding_a_profile_after_a_rule_book_change_replans_its_outbox(settings):
    import copy

    from saleor_conveyor.engine.rules import DEFAULT_RULES

    conveyor.record_order_placed(placed("o1"), now=T0)
    fan = profile()
    book = copy.deepcopy(DEFAULT_RULES)
    next(rule for rule in book["rules"] if rule["name"] == "step_day7")["days"] = 8
    book["rules"].append({"name": "step_day30", "trigger": "first_purchase", "kind": "EMAIL", "days": 30})
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}
    result = conveyor.rebuild_profile(fan.id, now=T0)
    tps = touchpoints()
    assert tps["step_day7"].due_at == T0 + days(8) and tps["step_day7"].status == "SCHEDULED"
    assert tps["step_day30"].due_at == T0 + days(30)
    assert set(result.scheduled) == {"step_day7", "step_day30"}
    assert Touchpoint.objects.filter(key="step_day7").count() == 1


def test_switching_a_rule_off_cancels_what_it_scheduled_at_the_next_rebuild(settings):
    import copy

    from saleor_conveyor.engine.rules import DEFAULT_RULES

    conveyor.record_order_placed(placed("o1"), now=T0)
    Touchpoint.objects.filter(key="step_day3").update(status="SENT")  # already out: stays as it is
    book = copy.deepcopy(DEFAULT_RULES)
    for rule in book["rules"]:
        if rule["name"] in {"step_day3", "step_day14"}:
            rule["active"] = False
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}
    conveyor.rebuild_profile(profile().id, now=T0)
    tps = touchpoints()
    assert tps["step_day14"].status == "CANCELLED"
    assert tps["step_day14"].outcome == "its rule was switched off in the rule book"
    assert tps["step_day3"].status == "SENT"
    assert tps["step_day7"].status == "SCHEDULED"


def test_rebuild_command_applies_a_changed_rule_book_to_every_customer(settings):
    import copy
    from io import StringIO

    from django.core.management import call_command

    from saleor_conveyor.engine.rules import DEFAULT_RULES

    conveyor.record_order_placed(placed("a1", who=customer("a@example.com")), now=T0)
    conveyor.record_order_placed(placed("b1", who=customer("b@example.com")), now=T0)
    book = copy.deepcopy(DEFAULT_RULES)
    next(rule for rule in book["rules"] if rule["name"] == "step_day14")["active"] = False
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}
    out, err = StringIO(), StringIO()
    call_command("conveyor_rebuild", stdout=out, stderr=err)
    assert set(Touchpoint.objects.filter(key="step_day14").values_list("status", flat=True)) == {"CANCELLED"}
    assert "Rebuilt 2 customers" in out.getvalue() and "2/2 customers" in err.getvalue()


def test_the_engine_reads_and_decides_the_models_touchpoint_states():
    from saleor_conveyor.engine import OutboxStatus
    from saleor_conveyor.models import TouchpointStatus

    assert {status.value for status in OutboxStatus} <= set(TouchpointStatus.values)
