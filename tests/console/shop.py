"""Builders for the customer console's tests: a customer with a whole history, and staff members."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from saleor_conveyor import models
from tests.factories import shop_order, touchpoint

CODENAMES = {"MANAGE_USERS": "conveyor_manage_users", "MANAGE_ORDERS": "conveyor_manage_orders"}


def staff_member(email: str = "staff@example.com", *permissions: str, is_staff: bool = True) -> Any:
    """A user of the sandbox with the console permissions named (MANAGE_USERS, MANAGE_ORDERS)."""
    user = get_user_model().objects.create_user(username=email, email=email, password="pw-staff", is_staff=is_staff)
    for permission in permissions:
        user.user_permissions.add(Permission.objects.get(codename=CODENAMES[permission]))
    return user


def shopper(email: str, first_name: str = "") -> Any:
    return get_user_model().objects.create_user(username=email, email=email, password="pw", first_name=first_name)


def customer_with_history(email: str = "hanako@example.com", first_name: str = "Hanako", *, nps: int = 9) -> Any:
    """A customer who bought twice and did one of everything: touchpoints, answers, a return, an inquiry."""
    user = shopper(email, first_name)
    now = timezone.now()
    first = shop_order(user, placed_at=now - timedelta(days=40), fulfilled_at=now - timedelta(days=39))
    second = shop_order(user, placed_at=now - timedelta(days=10), total="12000")
    profile = models.FanProfile.objects.get(user=user)
    purchase = models.Purchase.objects.get(order_id=str(first.pk))
    touchpoint(profile, "step_day3", due_at=now - timedelta(days=37), status="SENT", sent_at=now - timedelta(days=37))
    touchpoint(profile, "step_day7", due_at=now - timedelta(days=33), status="SKIPPED", outcome="holdout")
    touchpoint(profile, "thank_you_card", kind="STAFF_TASK", due_at=now + timedelta(days=2), order_id=str(second.pk))
    models.NpsResponse.objects.create(
        profile=profile, order_id=str(first.pk), score=nps, comment="Lovely tea", created_at=now - timedelta(days=30)
    )
    models.FanSurveyResponse.objects.create(
        profile=profile,
        fan_degree="KEEP_SUPPORTING",
        liking="LIKE",
        segment="MID/MID",
        created_at=now - timedelta(days=25),
    )
    models.WinbackResponse.objects.create(
        profile=profile,
        kind="improvement",
        reasons=["PRICE"],
        comment="Cheaper please",
        created_at=now - timedelta(days=20),
    )
    models.ReturnRequest.objects.create(profile=profile, purchase=purchase, reason="DAMAGED", comment="Cracked lid")
    models.Inquiry.objects.create(
        profile=profile, email=email, topic="SHIPPING", message="When does it ship?", order_id=str(second.pk)
    )
    category = "PROMOTER" if nps >= 9 else "PASSIVE" if nps >= 7 else "DETRACTOR"
    models.FanProfile.objects.filter(pk=profile.pk).update(
        nps=nps,
        nps_category=category,
        fan_degree="KEEP_SUPPORTING",
        liking="LIKE",
        segment="MID/MID",
        first_name=first_name,
    )
    return user


def quiet_customers(count: int, prefix: str = "quiet") -> list[models.FanProfile]:
    """Customers who bought once long ago (lapsed), in bulk: a larger shop for the fixed query counts."""
    long_ago = timezone.now() - timedelta(days=200)
    profiles = models.FanProfile.objects.bulk_create(
        models.FanProfile(
            email=f"{prefix}{n}@example.com",
            stage="FIRST_TIME",
            purchase_count=1,
            currency="JPY",
            total_spent_amount=3000,
            lifetime_value_amount=3000,
            average_order_value_amount=3000,
            first_purchase_at=long_ago,
            last_purchase_at=long_ago - timedelta(minutes=n),
        )
        for n in range(count)
    )
    models.Purchase.objects.bulk_create(
        models.Purchase(
            order_id=f"{prefix}-order-{n}",
            order_number=str(n),
            profile=profile,
            channel="default-channel",
            currency="JPY",
            total_gross_amount=3000,
            placed_at=long_ago,
        )
        for n, profile in enumerate(profiles)
    )
    return profiles
