"""Shared fixtures: a fixed clock and builders for the conveyor's plain events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_conveyor.events import Customer, OrderPlaced

T0 = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
_numbers = itertools.count(1000)


@pytest.fixture(autouse=True)
def _no_broker_unless_asked(settings):
    """Recording an order enqueues delivery on Celery's broker; tests that want a broker turn it back on."""
    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}


@pytest.fixture
def t0() -> datetime:
    return T0


def days(n: float) -> timedelta:
    return timedelta(days=n)


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


# tests/saleor/ is the Saleor tier: its own pytest session inside Saleor's test setup
# (`make test-saleor SALEOR_PYTHON=...`), never collected by the core run.
collect_ignore = ["saleor"]


def pytest_report_header(config) -> str:
    return "saleor tier: not part of this run (tests/saleor/ runs inside Saleor: make test-saleor SALEOR_PYTHON=...)"
