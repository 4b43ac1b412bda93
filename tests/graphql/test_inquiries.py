"""submitInquiry (anyone, throttled, the shop is mailed) and inquiries (staff)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from saleor_conveyor import conveyor
from saleor_conveyor.models import Inquiry

from ..factories import gid
from .helpers import snapshot

pytestmark = pytest.mark.django_db

SUBMIT = """
mutation($email: String!, $name: String, $orderId: ID, $topic: InquiryTopic!, $message: String!) {
  submitInquiry(email: $email, name: $name, orderId: $orderId, topic: $topic, message: $message) {
    inquiry { id status }
    errors { field code }
  }
}
"""
LIST = (
    "query($first: Int) { inquiries(first: $first) { totalCount edges { node { id email topic message orderId } } } }"
)


def inquiry(**overrides):
    return {"email": "guest@example.com", "name": "Guest", "topic": "SHIPPING", "message": "Where is it?", **overrides}


def errors(answer) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in answer.payload("submitInquiry")["errors"]]


@pytest.fixture
def small_throttle(monkeypatch):
    monkeypatch.setattr(
        conveyor.inquiries,
        "INQUIRY_THROTTLE",
        {"email": (2, timedelta(hours=1)), "client_address": (3, timedelta(hours=1))},
    )


def test_anyone_can_send_an_inquiry_and_the_shop_is_mailed(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(SUBMIT, inquiry(orderId=gid("Order", "abc-1")), REMOTE_ADDR="203.0.113.5")
    payload = answer.payload("submitInquiry")
    assert payload["errors"] == [] and payload["inquiry"]["status"] == "OPEN"
    stored = Inquiry.objects.get()
    assert payload["inquiry"]["id"] == gid("Inquiry", stored.pk)
    assert stored.client_address == "203.0.113.5" and stored.order_id == "abc-1" and stored.topic == "SHIPPING"
    (message,) = mail.outbox
    assert message.to == ["shop@example.com"] and message.reply_to == ["guest@example.com"]
    assert "Where is it?" in message.body and "Shipping" in message.subject


def test_a_mail_failure_does_not_lose_the_inquiry(api, monkeypatch, django_capture_on_commit_callbacks):
    def broken(self, message):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("saleor_conveyor.hosts.django.DjangoHost.send_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(SUBMIT, inquiry())
    assert answer.payload("submitInquiry")["errors"] == [] and Inquiry.objects.count() == 1


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"email": "not-an-email"}, [("email", "INVALID")]),
        ({"message": "   "}, [("message", "INVALID")]),
        ({"message": "x" * 5001}, [("message", "OUT_OF_RANGE")]),
        ({"name": "n" * 257}, [("name", "INVALID")]),
        ({"orderId": "garbage"}, [("orderId", "INVALID")]),
    ],
)
def test_bad_inquiries_are_refused_and_change_nothing(api, overrides, expected):
    before = snapshot()
    assert errors(api(SUBMIT, inquiry(**overrides))) == expected
    assert snapshot() == before and mail.outbox == []


def test_a_message_of_5000_characters_is_accepted(api):
    assert errors(api(SUBMIT, inquiry(message="x" * 5000))) == []


def test_inquiries_are_throttled_per_email(api, small_throttle):
    for n in range(2):
        assert errors(api(SUBMIT, inquiry(), REMOTE_ADDR=f"198.51.100.{n}")) == []
    before = snapshot()
    assert errors(api(SUBMIT, inquiry(), REMOTE_ADDR="198.51.100.9")) == [("email", "THROTTLED")]
    assert snapshot() == before


def test_inquiries_are_throttled_per_client_address(api, small_throttle):
    for n in range(3):
        assert errors(api(SUBMIT, inquiry(email=f"g{n}@example.com"), REMOTE_ADDR="198.51.100.1")) == []
    before = snapshot()
    answer = api(SUBMIT, inquiry(email="fresh@example.com"), REMOTE_ADDR="198.51.100.1")
    assert errors(answer) == [(None, "THROTTLED")]
    assert snapshot() == before
    assert errors(api(SUBMIT, inquiry(email="fresh@example.com"), REMOTE_ADDR="198.51.100.2")) == []


def test_the_throttle_forgets_after_its_period(api, small_throttle):
    for _ in range(2):
        api(SUBMIT, inquiry())
    Inquiry.objects.update(created_at=Inquiry.objects.first().created_at - timedelta(hours=2))
    assert errors(api(SUBMIT, inquiry())) == []


def test_an_inquiry_from_a_known_customer_is_linked_to_their_profile(api, hanako):
    from ..factories import shop_order

    shop_order(hanako)
    api(SUBMIT, inquiry(email="HANAKO@example.com"), user=hanako)
    assert Inquiry.objects.get().profile.email == "hanako@example.com"


def test_staff_list_inquiries_newest_first(api, staff):
    for n in range(3):
        api(SUBMIT, inquiry(email=f"g{n}@example.com", message=f"message {n}"))
    page = api(LIST, {"first": 2}, user=staff).data["inquiries"]
    assert page["totalCount"] == 3
    assert [edge["node"]["message"] for edge in page["edges"]] == ["message 2", "message 1"]


def test_inquiries_need_manage_users(api, hanako, make_user):
    orders_only = make_user("orders@example.com", staff_permissions=("manage_orders",))
    for user in (None, hanako, orders_only):
        answer = api(LIST, user=user)
        assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["inquiries"] is None
