"""Property: replaying a customer's events with duplicates, in any order, gives the same state.

"The same state" is the profile, the ledger, and the set of live touchpoints (key, due
time, status). Rows cancelled because the history changed on the way are history, not
state: which ones exist depends on the order events arrived in, and none is ever sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_conveyor import conveyor
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import (
    FanSurveyAnswered,
    NpsAnswered,
    OrderCancelled,
    OrderFulfilled,
    OrderReturned,
)
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint

from .factories import T0, customer, days, placed

pytestmark = pytest.mark.django_db

WHO = customer("replay@example.com")


@dataclass(frozen=True)
class OrderStory:
    day: int
    total: int
    discounted: bool
    ship_after: int | None
    second_ship: int | None  # a second shipment, days after the first
    ending: str | None  # None, "cancel" or "return"
    end_after: int
    nps: int | None


orders = st.builds(
    OrderStory,
    day=st.integers(0, 200),
    total=st.sampled_from([800, 5000, 10000, 19999, 20000, 35000]),
    discounted=st.booleans(),
    ship_after=st.one_of(st.none(), st.integers(0, 5)),
    second_ship=st.one_of(st.none(), st.integers(1, 4)),
    ending=st.sampled_from([None, None, None, "cancel", "return"]),
    end_after=st.integers(1, 30),
    nps=st.one_of(st.none(), st.integers(0, 10)),
)


def events_of(stories: list[OrderStory]) -> list[tuple[str, object]]:
    """Each order's events; the first of each order is its placement."""
    events: list[tuple[str, object]] = []
    for n, story in enumerate(stories):
        order_id, at = f"o{n}", T0 + days(story.day)
        events.append((order_id, placed(order_id, at=at, total=story.total, discounted=story.discounted, who=WHO)))
        if story.ship_after is not None:
            events.append((order_id, OrderFulfilled(order_id, at + days(story.ship_after))))
            if story.second_ship is not None:
                second = at + days(story.ship_after + story.second_ship)
                events.append((order_id, OrderFulfilled(order_id, second)))
        if story.ending == "cancel":
            events.append((order_id, OrderCancelled(order_id, at + days(story.end_after))))
        elif story.ending == "return":
            events.append((order_id, OrderReturned(order_id, at + days(story.end_after))))
        if story.nps is not None:
            events.append((order_id, NpsAnswered(WHO, story.nps, at + days(12), order_id=order_id)))
    events.append(("", FanSurveyAnswered(WHO, "WANT_TO_HELP", "LOVE", T0 + days(21))))
    return events


def shuffled(events: list[tuple[str, object]], rng: random.Random, duplicates: int) -> list[object]:
    """Any order and repeats, except that an order's other events wait until it was placed."""
    pool = events + [rng.choice(events) for _ in range(duplicates)]
    rng.shuffle(pool)
    placed_ids = {oid for oid, event in events if type(event).__name__ == "OrderPlaced"}
    out, waiting, seen = [], [], set()
    for oid, event in pool:
        (waiting if oid in placed_ids and oid not in seen and type(event).__name__ != "OrderPlaced" else out).append(
            (oid, event)
        )
        if type(event).__name__ == "OrderPlaced":
            seen.add(oid)
            out.extend(w for w in waiting if w[0] == oid)
            waiting = [w for w in waiting if w[0] != oid]
    return [event for _, event in out]


RECORDERS = {
    "OrderPlaced": conveyor.record_order_placed,
    "OrderFulfilled": conveyor.record_fulfillment,
    "OrderCancelled": conveyor.record_order_cancelled,
    "OrderReturned": conveyor.record_return,
}


def replay(sequence: list[object]) -> tuple:
    """Record the events (a repeated NPS answer is refused, as it should be) and read the state back."""
    with transaction.atomic():
        for event in sequence:
            kind = type(event).__name__
            if kind == "NpsAnswered":
                try:
                    conveyor.record_nps(event, now=T0)
                except ConveyorError as error:
                    assert error.code is ErrorCode.ALREADY_EXISTS
            elif kind == "FanSurveyAnswered":
                conveyor.record_fan_survey(event)
            else:
                RECORDERS[kind](event, now=T0)
        state = snapshot()
        transaction.set_rollback(True)
    return state


def snapshot() -> tuple:
    fan = FanProfile.objects.get(email=WHO.email)
    profile = {
        field: getattr(fan, field)
        for field in (
            "stage",
            "purchase_count",
            "currency",
            "total_spent_amount",
            "average_order_value_amount",
            "lifetime_value_amount",
            "first_purchase_at",
            "last_purchase_at",
            "nps",
            "nps_category",
            "fan_degree",
            "liking",
            "segment",
        )
    }
    ledger = sorted(
        Purchase.objects.values_list("order_id", "fulfilled_at", "cancelled_at", "returned_at", "total_gross_amount")
    )
    live = sorted(Touchpoint.objects.exclude(status="CANCELLED").values_list("key", "due_at", "status"))
    cancelled = set(Touchpoint.objects.filter(status="CANCELLED").values_list("key", flat=True))
    assert not cancelled & {key for key, _, _ in live}
    return profile, ledger, live


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stories=st.lists(orders, min_size=1, max_size=6), seed=st.integers(0, 2**32), duplicates=st.integers(0, 6))
def test_replay_with_duplicates_in_any_order_gives_the_same_profile_and_touchpoints(stories, seed, duplicates):
    events = events_of(stories)
    in_order = replay([event for _, event in events])
    rng = random.Random(seed)
    assert replay(shuffled(events, rng, duplicates)) == in_order
    assert replay(shuffled(events, rng, duplicates)) == in_order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stories=st.lists(orders, min_size=1, max_size=6))
def test_replaying_the_same_sequence_twice_changes_nothing_at_all(stories):
    """Every row, cancelled ones included, is the same after a second pass of the same events."""
    sequence = [event for _, event in events_of(stories)]
    with transaction.atomic():
        for event in sequence:
            _record(event)
        first = sorted(Touchpoint.objects.values_list("key", "status", "due_at", "outcome"))
        for event in sequence:
            _record(event)
        assert sorted(Touchpoint.objects.values_list("key", "status", "due_at", "outcome")) == first
        transaction.set_rollback(True)


def _record(event: object) -> None:
    kind = type(event).__name__
    try:
        if kind == "NpsAnswered":
            conveyor.record_nps(event, now=T0)
        elif kind == "FanSurveyAnswered":
            conveyor.record_fan_survey(event)
        else:
            RECORDERS[kind](event, now=T0)
    except ConveyorError as error:
        assert error.code is ErrorCode.ALREADY_EXISTS


def test_totals_survive_as_exact_decimals():
    conveyor.record_order_placed(placed("d1", total="1234.567", currency="USD", who=WHO), now=T0)
    assert Purchase.objects.get().total_gross_amount == Decimal("1234.567")
