"""Builders for the work queues' tests: detractors and lapsed customers whose answers opened follow-ups, and
inquiries waiting for staff (the API, console and browser tests share them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.engine import WinbackKind
from saleor_conveyor.events import Customer, InquirySubmitted, NpsAnswered, WinbackAnswered
from saleor_conveyor.models import FanProfile, FollowUp, Inquiry
from tests.factories import shop_order


def shopper(email: str, first_name: str = "") -> Any:
    return get_user_model().objects.create_user(username=email, email=email, password="pw", first_name=first_name)


def detractor(
    email: str = "taro@example.com", score: int = 3, comment: str = "It arrived broken", *, at: datetime | None = None
) -> FollowUp:
    """A customer who bought and answered NPS with a detractor's score: their follow-up."""
    user = shopper(email, email.split("@")[0].title())
    order = shop_order(
        user, placed_at=timezone.now() - timedelta(days=20), fulfilled_at=timezone.now() - timedelta(days=18)
    )
    at = at or timezone.now()
    who = Customer(email=email, user_id=user.pk)
    conveyor.record_nps(NpsAnswered(who, score, at, order_id=str(order.pk), comment=comment), now=at)
    return FollowUp.objects.get(profile__email=email)


def lapsed_answer(email: str = "lapsed@example.com", comment: str = "Too expensive now") -> FollowUp:
    """A lapsed customer's win-back answer: its follow-up."""
    user = shopper(email)
    shop_order(user, placed_at=timezone.now() - timedelta(days=200))
    profile = FanProfile.objects.get(email=email)
    conveyor.record_winback_survey(
        WinbackAnswered(profile.pk, WinbackKind.WINBACK, ("PRICE",), timezone.now(), comment=comment)
    )
    return FollowUp.objects.get(profile=profile)


def inquiry(email: str = "hanako@example.com", message: str = "When does my tea ship?", **extra: Any) -> Inquiry:
    """A contact-form message, as the storefront sends it."""
    return conveyor.submit_inquiry(
        InquirySubmitted(email=email, topic=extra.pop("topic", "SHIPPING"), message=message, name=extra.pop("name", ""))
    )
