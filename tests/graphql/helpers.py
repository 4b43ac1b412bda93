"""GraphQL test helpers: a JSON client with bearer tokens, its answers, database snapshots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from saleor_conveyor import models
from saleor_conveyor.hosts.django import make_access_token
from sandbox.shop.models import Order, OrderLine, OrderReturn

SNAPSHOT_MODELS = (
    models.FanProfile,
    models.Purchase,
    models.Touchpoint,
    models.NpsResponse,
    models.FanSurveyResponse,
    models.ReturnRequest,
    models.ReturnLine,
    models.Inquiry,
    models.WinbackResponse,
    models.ConsentChange,
    models.FollowUp,
    models.InquiryReply,
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
