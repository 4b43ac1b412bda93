"""Builders for tests: plain events, sandbox orders, rows; imported by tests, never from a conftest.py.

Like django-oscar's `oscar/test/factories/`: a test says `from tests.factories import placed`; fixtures
(what pytest injects) stay in the conftest.py files.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from graphql_relay import to_global_id

from saleor_conveyor import conveyor
from saleor_conveyor.events import Customer, OrderFulfilled, OrderPlaced
from saleor_conveyor.models import FanProfile, Touchpoint, TouchpointKind
from sandbox.shop.models import Order, OrderLine

# The fixed clock most tests read from.
T0 = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
_numbers = itertools.count(1000)


def days(n: float) -> timedelta:
    return timedelta(days=n)


# --- the service's plain events -----------------------------------------------------------


def customer(email: str = "hanako@example.com", user_id: int | None = None, **extra) -> Customer:
    return Customer(email=email, user_id=user_id, **extra)


def placed(
    order_id: str | None = None,
    *,
    at: datetime = T0,
    total: str | int | Decimal = "5000",
    currency: str = "JPY",
    who: Customer | None = None,
    discounted: bool = False,
    channel: str = "default-channel",
    **extra,
) -> OrderPlaced:
    number = next(_numbers)
    return OrderPlaced(
        order_id=f"order-{number}" if order_id is None else order_id,
        order_number=str(number),
        customer=who or customer(),
        channel=channel,
        currency=currency,
        total=total,
        placed_at=at,
        used_voucher=discounted,
        **extra,
    )


# --- sandbox orders and API ids -----------------------------------------------------------


def shop_order(
    user: Any,
    lines: tuple[tuple[str, int, int], ...] = (("Green tea", 2, 2),),
    *,
    placed_at: datetime | None = None,
    fulfilled_at: datetime | None = None,
    total: str = "5000",
    address: dict[str, str] | None = None,
) -> Order:
    """A sandbox order (lines: name, quantity, fulfilled; where it was shipped) recorded on the conveyor like the
    plugin would."""
    placed_at = placed_at or timezone.now() - timedelta(days=3)
    order = Order.objects.create(
        user=user,
        email=user.email,
        created_at=placed_at,
        number=str(Order.objects.count()),
        shipping_address=address or {},
    )
    for name, quantity, fulfilled in lines:
        OrderLine.objects.create(order=order, product_name=name, quantity=quantity, quantity_fulfilled=fulfilled)
    who = customer(user.email, user_id=user.pk)
    conveyor.record_order_placed(placed(str(order.pk), who=who, at=placed_at, total=total), now=placed_at)
    if fulfilled_at is not None:
        conveyor.record_fulfillment(OrderFulfilled(str(order.pk), fulfilled_at), now=fulfilled_at)
    return order


def gid(type_name: str, raw_id: Any) -> str:
    """The API's global ID of a row."""
    return to_global_id(type_name, str(raw_id))


# --- rows --------------------------------------------------------------------------------


def profile(email_address: str = "hanako@example.com", **values) -> FanProfile:
    return FanProfile.objects.create(email=email_address, **values)


def touchpoint(
    who: FanProfile,
    rule: str = "step_day7",
    *,
    kind: str = TouchpointKind.EMAIL,
    due_at: datetime | None = None,
    **values,
) -> Touchpoint:
    due_at = due_at or timezone.now() - timedelta(seconds=1)
    values.setdefault("marketing", rule not in {"step_day3", "nps_survey", "honesty_letter", "thank_you_card"})
    return Touchpoint.objects.create(
        profile=who,
        rule=rule,
        key=f"{rule}:{Touchpoint.objects.count()}",
        kind=kind,
        planned_at=due_at,
        due_at=due_at,
        **values,
    )


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(n)` for n in 0..count-1 on threads released together, each on its own database
    connection (committed data: a `transaction=True` test); what each returned, or the exception it raised."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[n] = work(n)
        except BaseException as error:  # the test reads it
            outcomes[n] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
