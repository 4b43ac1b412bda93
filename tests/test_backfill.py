"""The bulk backfill path ends in exactly the state of recording each past order one by one."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from saleor_conveyor import conveyor, signals
from saleor_conveyor.conveyor import BackfillOrder, record_order_history, record_orders_backfill
from saleor_conveyor.events import Customer
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


@pytest.mark.parametrize("batch_size", [1, 5, 1000])
@pytest.mark.parametrize("seed", range(6))
def test_bulk_backfill_ends_in_the_same_state_as_recording_each_order(seed, batch_size):
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
