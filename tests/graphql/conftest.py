"""GraphQL test helpers: a JSON client with bearer tokens, users, sandbox orders, database snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from graphql_relay import to_global_id

from saleor_conveyor import conveyor, models
from saleor_conveyor.events import OrderFulfilled
from saleor_conveyor.hosts.django import make_access_token
from sandbox.shop.models import Order, OrderLine, OrderReturn

from ..conftest import customer, placed

SNAPSHOT_MODELS = (
    models.FanProfile,
    models.Purchase,
    models.Touchpoint,
    models.NpsResponse,
    models.FanSurveyResponse,
    models.ReturnRequest,
    models.ReturnLine,
    models.Inquiry,
    Order,
    OrderLine,
    OrderReturn,
)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the API could touch: equal snapshots mean nothing changed."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return self.body.get("data") or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    def codes(self) -> list[str]:
        return [error["extensions"]["code"] for error in self.errors]

    def payload(self, name: str) -> dict[str, Any]:
        """A mutation's payload; the request itself must have succeeded."""
        assert self.status == 200 and not self.errors, self.body
        return self.data[name]


class Api:
    """Posts GraphQL to /graphql/ as JSON, optionally as a user (Authorization: Bearer)."""

    def __init__(self) -> None:
        self.client = Client()

    def __call__(self, query: str, variables: dict | None = None, *, user: Any = None, **extra: Any) -> Answer:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {make_access_token(user)}"} if user is not None else {}
        body = json.dumps({"query": query, "variables": variables or {}})
        response = self.client.post("/graphql/", body, content_type="application/json", **headers, **extra)
        return Answer(response.status_code, json.loads(response.content))


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def make_user(django_user_model) -> Callable[..., Any]:
    def make(email: str, *, staff_permissions: tuple[str, ...] = ()) -> Any:
        user = django_user_model.objects.create_user(username=email, email=email, password="x")
        if staff_permissions:
            user.is_staff = True
            user.save()
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="saleor_conveyor",
                    codename__in=[f"conveyor_{name}" for name in staff_permissions],  # see migration 0002
                )
            )
        return user

    return make


@pytest.fixture
def hanako(make_user) -> Any:
    return make_user("hanako@example.com")


@pytest.fixture
def taro(make_user) -> Any:
    return make_user("taro@example.com")


@pytest.fixture
def staff(make_user) -> Any:
    return make_user("staff@example.com", staff_permissions=("manage_users", "manage_orders"))


def shop_order(
    user: Any,
    lines: tuple[tuple[str, int, int], ...] = (("Green tea", 2, 2),),
    *,
    placed_at: datetime | None = None,
    fulfilled_at: datetime | None = None,
    total: str = "5000",
) -> Order:
    """A sandbox order (lines: name, quantity, fulfilled) recorded on the conveyor like the plugin would."""
    placed_at = placed_at or timezone.now() - timedelta(days=3)
    order = Order.objects.create(user=user, email=user.email, created_at=placed_at, number=str(Order.objects.count()))
    for name, quantity, fulfilled in lines:
        OrderLine.objects.create(order=order, product_name=name, quantity=quantity, quantity_fulfilled=fulfilled)
    who = customer(user.email, user_id=user.pk)
    conveyor.record_order_placed(placed(str(order.pk), who=who, at=placed_at, total=total), now=placed_at)
    if fulfilled_at is not None:
        conveyor.record_fulfillment(OrderFulfilled(str(order.pk), fulfilled_at), now=fulfilled_at)
    return order


def gid(type_name: str, raw_id: Any) -> str:
    return to_global_id(type_name, str(raw_id))
