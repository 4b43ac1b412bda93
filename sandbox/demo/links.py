"""Example links into the customer pages, printed by `make demo` for a person to open under `make serve`.

They belong to one showcase customer, Hanako, with one shipped order in the sandbox shop (so the return
page has lines to offer); the links are signed like the ones in the conveyor's emails.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from saleor_conveyor import conveyor, tokens
from saleor_conveyor.events import Customer, OrderFulfilled, OrderPlaced
from saleor_conveyor.hosts import get_host
from saleor_conveyor.models import FanProfile
from sandbox.shop.models import Order, OrderLine

SHOWCASE_EMAIL = "hanako@example.jp"
SHOWCASE_USERNAME = "demo-showcase"
SHOWCASE_LINES = (("Sencha, first flush, 100 g", 2), ("Kyusu teapot", 1))


def showcase_customer(now: datetime | None = None) -> tuple[FanProfile, Order]:
    """Hanako and her order shipped two days ago, made afresh (the demo resets the shop before it runs)."""
    now = now or timezone.now()
    users = get_user_model()
    users.objects.filter(username=SHOWCASE_USERNAME).delete()
    Order.objects.filter(email=SHOWCASE_EMAIL).delete()
    FanProfile.objects.filter(email=SHOWCASE_EMAIL).delete()
    user = users.objects.create(username=SHOWCASE_USERNAME, email=SHOWCASE_EMAIL, first_name="花子")
    placed_at, shipped_at = now - timedelta(days=4), now - timedelta(days=2)
    order = Order.objects.create(number="DEMO-1", user=user, email=SHOWCASE_EMAIL, created_at=placed_at)
    for name, quantity in SHOWCASE_LINES:
        OrderLine.objects.create(order=order, product_name=name, quantity=quantity, quantity_fulfilled=quantity)
    who = Customer(SHOWCASE_EMAIL, user.pk, "花子", "ja")
    conveyor.record_order_placed(
        OrderPlaced(str(order.pk), who, "default", "JPY", Decimal("12800"), placed_at, order_number="DEMO-1"),
        now=placed_at,
    )
    conveyor.record_fulfillment(OrderFulfilled(str(order.pk), shipped_at), now=shipped_at)
    return FanProfile.objects.get(email=SHOWCASE_EMAIL), order


def example_links() -> list[tuple[str, str]]:
    """(what it is, URL) for each customer page, as Hanako's emails would link them."""
    profile, order = showcase_customer()
    order_id = str(order.pk)
    survey = tokens.make_token(profile.id, tokens.SURVEY)
    host = get_host()

    def page(path: str, purpose: str, token: str | None = None, **query: str) -> str:
        return tokens.link(profile.id, purpose, page=path, token=token, **query)

    return [
        (
            "NPS survey, score 9 chosen in the email",
            page("survey/nps/", tokens.SURVEY, survey, order=order_id, score="9"),
        ),
        ("Fan-degree survey", page("survey/fan/", tokens.SURVEY, survey, survey="fan")),
        ("Win-back survey", page("survey/winback/", tokens.SURVEY, survey, survey="winback", kind="winback")),
        (
            "Return request for order DEMO-1",
            page("returns/", tokens.RETURN, tokens.make_token(profile.id, tokens.RETURN, order_id=order_id)),
        ),
        ("Mail preferences", page("preferences/", tokens.UNSUBSCRIBE)),
        ("Inquiry form (English)", f"{host.endpoint_url('inquiry/')}?lang=en"),
    ]
