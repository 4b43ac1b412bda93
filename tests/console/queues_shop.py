"""Builders for the work queues' tests (staff tasks, returns): customers with big orders shipped to an address,
a requested return, and staff members; the API tests, the console tests and the browser tests share them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from saleor_conveyor import conveyor, models
from saleor_conveyor.events import Customer, ReturnLineRequested, ReturnRequested
from tests.factories import shop_order

from .shop import shopper, staff_member

__all__ = ["card_customers", "requested_return", "staff_member", "tokyo_address"]


def tokyo_address(family_name: str, given_name: str, n: int = 1) -> dict[str, str]:
    return {
        "first_name": given_name,
        "last_name": family_name,
        "street_address_1": f"神南1-{n}-3",
        "street_address_2": "コーポ渋谷 201",
        "city": "渋谷区",
        "postal_code": f"150-00{n % 100:02d}",
        "country": "JP",
        "country_area": "東京都",
    }


CUSTOMERS = [("Hanako", "山田", "花子"), ("Taro", "佐藤", "太郎"), ("Yuki", "鈴木", "由紀"), ("Ken", "高橋", "健")]


def card_customers(count: int = 3, *, prefix: str = "card", total: str = "12000") -> list[models.Touchpoint]:
    """Customers whose big order (over the card tier) made the rule book schedule a thank-you card: their tasks,
    oldest due first."""
    now = timezone.now()
    for n in range(count):
        first_name, family, given = CUSTOMERS[n % len(CUSTOMERS)]
        user = shopper(f"{prefix}{n}@example.com", first_name if n < len(CUSTOMERS) else f"{first_name}{n}")
        placed_at = now - timedelta(days=count - n, minutes=5)
        shop_order(user, placed_at=placed_at, total=total, address=tokyo_address(family, given, n + 1))
        models.FanProfile.objects.filter(user=user).update(first_name=user.first_name)  # as the plugin would name them
    tasks = list(
        models.Touchpoint.objects.filter(kind="STAFF_TASK", profile__email__startswith=prefix).order_by("due_at", "id")
    )
    assert len(tasks) == count, "the rule book's thank_you_card rule schedules one task per big order"
    return tasks


def requested_return(email: str = "hanako@example.com", first_name: str = "Hanako", *, quantity: int = 1) -> Any:
    """A customer's fulfilled order of two lines with a return requested of the first (DAMAGED, with a comment)."""
    user = shopper(email, first_name)
    now = timezone.now()
    order = shop_order(
        user,
        (("Green tea", 2, 2), ("Tea cup", 1, 1)),
        placed_at=now - timedelta(days=4),
        fulfilled_at=now - timedelta(days=3),
        address=tokyo_address("山田", "花子"),
    )
    models.FanProfile.objects.filter(user=user).update(first_name=first_name)
    line = order.lines.get(product_name="Green tea")
    asked = ReturnRequested(
        customer=Customer(email=email, user_id=user.pk, first_name=first_name),
        order_id=str(order.pk),
        lines=(ReturnLineRequested(str(line.pk), quantity),),
        reason="DAMAGED",
        comment="The lid was cracked",
    )
    return conveyor.request_return(
        asked, order=conveyor.order_for_return(str(order.pk), asked.customer), window_days=30
    )
