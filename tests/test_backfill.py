"""The bulk backfill path ends in exactly the state of recording each past order one by one."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from saleor_conveyor import conveyor, signals
from saleor_conveyor.conveyor import BackfillOrder, record_order_history, record_orders_backfill
from saleor_conveyor.engine.rules import DEFAULT_RULES
from saleor_conveyor.events import Customer, NpsAnswered, OrderFulfilled
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint

from .factories import T0, days, placed

pytestmark = pytest.mark.django_db
NOW = T0 + days(400)


def state() -> dict:
    """Everything the backfill writes, without ids and wall-clock timestamps."""
    profiles = {
        p["email"]: p
        for p in FanProfile.objects.values(
            "email",
            "user_id",
            "first_name",
            "language_code",
            "stage",
            "stage_changed_at",
            "purchase_count",
            "currency",
            "total_spent_amount",
            "average_order_value_amount",
            "lifetime_value_amount",
            "first_purchase_at",
            "last_purchase_at",
        )
    }
    purchases = {
        p["order_id"]: p
        for p in Purchase.objects.values(
            "order_id",
            "order_number",
            "profile__email",
            "channel",
            "currency",
            "total_gross_amount",
            "used_voucher",
            "used_sale",
            "used_campaign",
            "gift",
            "placed_at",
            "fulfilled_at",
            "cancelled_at",
            "returned_at",
        )
    }
    touchpoints = {
        (t["profile__email"], t["key"]): t
        for t in Touchpoint.objects.values(
            "profile__email",
            "key",
            "rule",
            "kind",
            "status",
            "planned_at",
            "due_at",
            "order_id",
            "marketing",
            "outcome",
            "experiment",
            "variant",
        )
    }
    return {"profiles": profiles, "purchases": purchases, "touchpoints": touchpoints}


def history(seed: int) -> tuple[list[BackfillOrder], list[BackfillOrder]]:
    """Random past orders of a few customers, and some of them already recorded live."""
    rng = random.Random(seed)
    users = [
        get_user_model().objects.create_user(username=f"u{seed}-{n}", email=f"user{n}@example.com") for n in (1, 2)
    ]
    customers = [
        Customer("guest1@example.com"),
        Customer("guest2@example.com", first_name="Ken"),
        Customer("user1@example.com", user_id=users[0].pk, first_name="Aiko", language_code="ja"),
        Customer("user1@example.com"),  # the same person once checked out as a guest
        Customer("user2@example.com", user_id=users[1].pk),
    ]
    orders = []
    for n in range(rng.randint(8, 24)):
        at = T0 + days(rng.uniform(0, 399))
        fulfilled = at + days(rng.uniform(0.5, 4)) if rng.random() < 0.7 else None
        cancelled = at + days(1) if fulfilled is None and rng.random() < 0.3 else None
        returned = fulfilled + days(5) if fulfilled and rng.random() < 0.15 and fulfilled + days(5) < NOW else None
        event = placed(
            f"s{seed}-o{n}",
            at=at,
            total=rng.choice(["3000", "12000", "25000", "35000"]),
            who=rng.choice(customers),
            discounted=rng.random() < 0.3,
        )
        orders.append(BackfillOrder(event, fulfilled_at=fulfilled, cancelled_at=cancelled, returned_at=returned))
    orders.sort(key=lambda o: (o.placed.placed_at, o.placed.order_id))
    live = rng.sample(orders, k=min(3, len(orders)))
    return orders, live


def record_live(orders: list[BackfillOrder]) -> None:
    """Orders the plugin's hooks recorded before the backfill ran."""
    for order in orders:
        conveyor.record_order_placed(order.placed, now=order.placed.placed_at)


# Experiments on rules of several triggers: half held out, or two variants (engine/experiments.py).
EXPERIMENTS = {
    "step_day14": {"holdout": 0.5, "experiment": "e1"},
    "second_purchase": {
        "experiment": "e1",
        "holdout": 0.3,
        "variants": [
            {"name": "a", "template": "second_purchase", "weight": 0.5},
            {"name": "b", "template": "step_day7", "weight": 0.5},
        ],
    },
    "nps_survey": {"holdout": 0.5, "experiment": "e1"},
}


def experiment_book(**changes: dict) -> dict:
    book = copy.deepcopy(DEFAULT_RULES)
    for rule in book["rules"]:
        rule.update(changes.get(rule["name"], EXPERIMENTS.get(rule["name"], {})))
    return book


@pytest.mark.parametrize("book", ["default", "experiments"])
@pytest.mark.parametrize("batch_size", [1, 5, 1000])
@pytest.mark.parametrize("seed", range(6))
def test_bulk_backfill_ends_in_the_same_state_as_recording_each_order(seed, batch_size, book, settings):
    if book == "experiments":
        settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": experiment_book()}
    orders, live = history(seed)
    record_live(live)
    with transaction.atomic():
        for order in orders:
            record_order_history(order, now=NOW)
        expected = state()
        transaction.set_rollback(True)
    assert len(expected["purchases"]) == len(orders) and expected["touchpoints"]

    for start in range(0, len(orders), batch_size):
        record_orders_backfill(orders[start : start + batch_size], now=NOW)

    assert state() == expected
    experiments = {t["experiment"] for t in expected["touchpoints"].values()}
    assert experiments == ({"", "e1"} if book == "experiments" else {""})


def test_assignments_survive_a_rebuild_after_an_edit_and_a_new_experiment_id_draws_only_new_rows(settings):
    """Live: the arms stored at creation; a rebuild under an edited book (same id) changes none of them."""
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": experiment_book()}
    customers = [Customer(f"arm{n}@example.com") for n in range(30)]
    for n, who in enumerate(customers):
        conveyor.record_order_placed(placed(f"r{n}", who=who, at=NOW - days(2)), now=NOW - days(2))
    arms = dict(Touchpoint.objects.filter(rule="step_day14").values_list("profile__email", "outcome"))
    assert set(arms.values()) == {"holdout", ""}  # both arms drawn
    edited = experiment_book(step_day14={"holdout": 0.1, "experiment": "e1", "days": 15, "description": "edited"})
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": edited}
    for profile_id in FanProfile.objects.values_list("id", flat=True):
        conveyor.rebuild_profile(profile_id, now=NOW)
    rows = Touchpoint.objects.filter(rule="step_day14")
    assert dict(rows.values_list("profile__email", "outcome")) == arms
    assert set(rows.values_list("experiment", flat=True)) == {"e1"}
    # A new experiment id: rows already written keep their arm; a new customer is drawn in the new one.
    settings.CONVEYOR = {
        **settings.CONVEYOR,
        "rule_book": experiment_book(step_day14={"holdout": 0.5, "experiment": "e2"}),
    }
    conveyor.record_order_placed(placed("r-new", who=Customer("late@example.com"), at=NOW), now=NOW)
    assert set(rows.exclude(profile__email="late@example.com").values_list("experiment", flat=True)) == {"e1"}
    assert rows.get(profile__email="late@example.com").experiment == "e2"


def test_past_touchpoints_are_skipped_and_only_future_ones_scheduled():
    recent = placed("recent", at=NOW - days(5))
    old = placed("old", at=NOW - days(300), who=Customer("old@example.com"))

    result = record_orders_backfill([BackfillOrder(old), BackfillOrder(recent)], now=NOW)

    rows = {(tp.profile.email, tp.key): tp for tp in Touchpoint.objects.select_related("profile")}
    assert rows[("hanako@example.com", "step_day3")].status == "SKIPPED"
    assert "backfill" in rows[("hanako@example.com", "step_day3")].outcome
    assert rows[("hanako@example.com", "step_day7")].status == "SCHEDULED"
    assert {tp.status for (email, _), tp in rows.items() if email == "old@example.com"} == {"SKIPPED"}
    assert result.recorded == 2 and result.profiles_created == 2
    assert result.scheduled["step_day7"] == 1 and result.skipped["step_day3"] == 2


def test_a_second_backfill_of_the_same_orders_changes_nothing():
    orders, _ = history(42)
    record_orders_backfill(orders, now=NOW)
    before = state()

    result = record_orders_backfill(orders, now=NOW + timedelta(minutes=5))

    assert state() == before
    assert result.recorded == 0 and result.unchanged == len(orders)
    assert not result.scheduled and not result.skipped and not result.cancelled


def test_a_bad_order_is_reported_and_the_rest_of_the_batch_recorded():
    good = placed("good")
    bad = placed("bad", currency="YENS")

    result = record_orders_backfill([BackfillOrder(bad), BackfillOrder(good)], now=NOW)

    assert [line.split(":")[0] for line in result.rejected] == ["bad"]
    assert list(Purchase.objects.values_list("order_id", flat=True)) == ["good"]


def test_scheduled_touchpoints_are_announced_after_commit(django_capture_on_commit_callbacks):
    announced = []

    def receiver(sender, touchpoint_ids, profile_id, **kwargs):
        announced.extend(touchpoint_ids)

    signals.touchpoint_scheduled.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            record_orders_backfill([BackfillOrder(placed("recent", at=NOW - days(1)))], now=NOW)
    finally:
        signals.touchpoint_scheduled.disconnect(receiver)

    assert sorted(announced) == sorted(Touchpoint.objects.filter(status="SCHEDULED").values_list("id", flat=True))
    assert announced


# --- the same decision on both paths, case by case -------------------------------------------
# Each case: the orders the backfill reads, what the live hooks recorded before it ran, and one
# touchpoint that shows the case's decision (key, status, outcome) on both paths.


def _live_placed(*orders: BackfillOrder) -> None:
    for order in orders:
        conveyor.record_order_placed(order.placed, now=order.placed.placed_at)


def _case_cancel():
    o1 = BackfillOrder(placed("c1", at=NOW - days(5)), cancelled_at=NOW - days(4))
    return [o1], lambda: _live_placed(o1), ("step_day7", "CANCELLED", "order c1 was cancelled")


def _case_return():
    o1 = BackfillOrder(placed("r1", at=NOW - days(5)), fulfilled_at=NOW - days(4), returned_at=NOW - days(1))
    return [o1], lambda: _live_placed(o1), ("step_day7", "CANCELLED", "order r1 was returned")


def _case_move():
    """An earlier order the hooks never saw: the step mails move to it (one already due is skipped)."""
    o1 = BackfillOrder(placed("m1", at=NOW - days(10)))
    o2 = BackfillOrder(placed("m2", at=NOW - days(5)))
    return [o1, o2], lambda: _live_placed(o2), ("step_day7", "SKIPPED", "backfill")


def _case_move_scheduled():
    o1 = BackfillOrder(placed("m1", at=NOW - days(4)))
    o2 = BackfillOrder(placed("m2", at=NOW - days(2)))
    return [o1, o2], lambda: _live_placed(o2), ("step_day14", "SCHEDULED", "")


def _case_first_shipment_wins():
    """The hooks saw a later shipment; the backfill reads the first: the NPS survey moves to it."""
    o1 = BackfillOrder(placed("f1", at=NOW - days(6)), fulfilled_at=NOW - days(5))

    def live():
        _live_placed(o1)
        conveyor.record_fulfillment(OrderFulfilled("f1", NOW - days(2)), now=NOW - days(2))

    return [o1], live, ("nps_survey:f1", "SCHEDULED", "")


def _case_nps_follow_up():
    """A follow-up of a live NPS answer is the answer's (not the ledger's): both paths leave it as it is."""
    o1 = BackfillOrder(placed("n1", at=NOW - days(6)), fulfilled_at=NOW - days(5))

    def live():
        _live_placed(o1)
        conveyor.record_nps(NpsAnswered(o1.placed.customer, 10, NOW - days(1), order_id="n1"), now=NOW - days(1))

    return [o1], live, ("referral:n1", "SCHEDULED", "")


CASES = {
    "cancel": _case_cancel,
    "return": _case_return,
    "move": _case_move,
    "move-scheduled": _case_move_scheduled,
    "first-shipment": _case_first_shipment_wins,
    "nps-follow-up": _case_nps_follow_up,
}


def _both_paths(orders: list[BackfillOrder], live) -> tuple[dict, dict]:
    """The state after recording one by one (rolled back), and after the bulk backfill."""
    live()
    with transaction.atomic():
        for order in orders:
            record_order_history(order, now=NOW)
        expected = state()
        transaction.set_rollback(True)
    record_orders_backfill(orders, now=NOW)
    return expected, state()


@pytest.mark.parametrize("case", CASES)
def test_both_paths_take_the_same_decision(case):
    orders, live, (key, status, outcome) = CASES[case]()

    expected, bulk = _both_paths(orders, live)

    assert bulk == expected
    shown = bulk["touchpoints"][(orders[0].placed.customer.email, key)]
    assert shown["status"] == status and outcome in shown["outcome"]


def test_both_paths_cancel_what_a_switched_off_rule_scheduled(settings):
    o1 = BackfillOrder(placed("s1", at=NOW - days(5)))
    _live_placed(o1)  # with the rule on
    book = copy.deepcopy(DEFAULT_RULES)
    next(rule for rule in book["rules"] if rule["name"] == "step_day14")["active"] = False
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}

    expected, bulk = _both_paths([o1, BackfillOrder(placed("s2", at=NOW - days(1)))], lambda: None)

    assert bulk == expected
    shown = bulk["touchpoints"][("hanako@example.com", "step_day14")]
    assert shown["status"] == "CANCELLED" and shown["outcome"] == "its rule was switched off in the rule book"


def test_every_row_the_backfill_writes_carries_its_clock():
    """One clock for a batch: new and changed rows alike are stamped with the backfill's `now`."""
    moved = BackfillOrder(placed("k2", at=NOW - days(2)))
    _live_placed(moved)
    orders = [
        BackfillOrder(placed("k1", at=NOW - days(4))),
        moved,
        BackfillOrder(placed("k3", who=Customer("new@example.com"), at=NOW - days(1))),
    ]

    record_orders_backfill(orders, now=NOW)

    changed = Touchpoint.objects.filter(profile__email="hanako@example.com", key="step_day14").get()
    assert changed.updated_at == NOW and changed.due_at == NOW - days(4) + days(14)
    new = Touchpoint.objects.filter(profile__email="new@example.com")
    assert new and {(tp.created_at, tp.updated_at) for tp in new} == {(NOW, NOW)}
    assert {p.updated_at for p in FanProfile.objects.all()} == {NOW}
    assert FanProfile.objects.get(email="new@example.com").created_at == NOW
    assert {p.recorded_at for p in Purchase.objects.filter(order_id__in=["k1", "k3"])} == {NOW}


# --- the layer rules: conditions and the stage, anniversary triggers, on both paths ---------------


def layered_book() -> dict:
    """Every rule switched on, and conditions on some of the method's own rules."""
    book = copy.deepcopy(DEFAULT_RULES)
    rules = {rule["name"]: rule for rule in book["rules"]}
    for rule in book["rules"]:
        rule["active"] = True
    rules["loyal_recognition"]["days"] = 7
    rules["step_day14"]["conditions"] = {"stage": "FIRST_TIME"}
    rules["step_day3"]["conditions"] = {"gift_order": False}
    rules["second_purchase"]["conditions"] = {"discounted_order": False, "purchase_count": {"max": 3}}
    rules["fan_meeting"]["conditions"] = {"customer": "account", "language": "ja"}
    rules["winback_survey"]["conditions"] = {"stage": ["LOYAL", "SECOND_TIME"]}
    return book


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize("seed", range(4))
def test_bulk_backfill_with_layer_rules_ends_in_the_same_state(settings, seed, batch_size):
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": layered_book()}
    orders, live = history(seed)
    record_live(live)
    with transaction.atomic():
        for order in orders:
            record_order_history(order, now=NOW)
        expected = state()
        transaction.set_rollback(True)

    for start in range(0, len(orders), batch_size):
        record_orders_backfill(orders[start : start + batch_size], now=NOW)

    assert state() == expected


def test_both_paths_take_the_same_decision_on_layer_triggers_and_conditions(settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": layered_book()}
    o1 = BackfillOrder(placed("l1", at=NOW - days(400), discounted=True, gift=True))
    o2 = BackfillOrder(placed("l2", at=NOW - days(20), discounted=True))
    o3 = BackfillOrder(placed("l3", at=NOW - days(3)))

    expected, bulk = _both_paths([o1, o2, o3], lambda: _live_placed(o3))

    assert bulk == expected
    shown = {key: (row["status"], row["outcome"]) for (_, key), row in bulk["touchpoints"].items()}
    assert shown["loyal_recognition:stage:LOYAL:1"] == ("SCHEDULED", "")
    assert shown["purchase_anniversary:year:1"][0] == "SKIPPED"
    assert shown["step_day3_gift"][0] == "SKIPPED"
    # The hooks planned the day-3 mail for l3; the backfill finds the first order l1 was a gift.
    assert shown["step_day3"] == ("CANCELLED", "condition does not hold: order l1 is a gift, rule wants no gift")
    # Conditions read the customer as they are now: loyal by their third order, never campaign-only.
    assert "campaign_second_purchase" not in shown
