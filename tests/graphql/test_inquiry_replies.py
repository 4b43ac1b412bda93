"""Staff answer inquiries (MANAGE_USERS): replyToInquiry records the reply and mails it through the host after
commit (a dead mail server never loses it: FAILED, sent again later), updateInquiry closes and notes; refusals
change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.models import Inquiry, InquiryReply

from ..delivery.helpers import smtp_server
from ..factories import gid
from ..queues import inquiry
from .helpers import snapshot

pytestmark = pytest.mark.django_db

REPLY = """
mutation($id: ID!, $message: String!) {
  replyToInquiry(id: $id, message: $message) {
    inquiry { id status answeredAt replies { at by message mailStatus } }
    reply { id by message mailStatus mailOutcome }
    errors { field code message }
  }
}
"""
RESEND = """
mutation($id: ID!) { resendInquiryReply(id: $id) { reply { mailStatus mailOutcome } errors { field code } } }
"""
UPDATE = """
mutation($id: ID!, $status: InquiryStatus!, $note: String) {
  updateInquiry(id: $id, status: $status, note: $note) {
    inquiry { id status note closedAt answeredAt }
    errors { field code message }
  }
}
"""
LIST = """
query($status: InquiryStatus, $first: Int) {
  inquiries(status: $status, first: $first) {
    totalCount edges { node { id status note replies { at by message mailStatus } } }
  }
}
"""


def codes(payload) -> list[tuple[str | None, str]]:
    return [(error["field"], error["code"]) for error in payload["errors"]]


def reply(api, user, asked, message="Your tea ships tomorrow.\nSorry for the wait."):
    return api(REPLY, {"id": gid("Inquiry", asked.pk), "message": message}, user=user)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on localhost with Django's SMTP backend pointed at it (as the delivery tests do)."""
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 10
        yield inbox


def test_a_reply_is_recorded_marks_the_inquiry_answered_and_is_mailed_to_the_customer(
    api, staff, django_capture_on_commit_callbacks
):
    asked = inquiry("hanako@example.com", "When does my tea ship?", name="Hanako")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payload = reply(api, staff, asked).payload("replyToInquiry")
    assert payload["errors"] == [] and payload["inquiry"]["status"] == "ANSWERED"
    assert payload["reply"]["by"] == "staff@example.com"
    stored = InquiryReply.objects.get()
    assert stored.mail_status == "SENT" and stored.mail_attempts == 1 and stored.mailed_at is not None
    (message,) = mail.outbox
    assert message.to == ["hanako@example.com"] and message.reply_to == ["shop@example.com"]
    assert "Your tea ships tomorrow.\nSorry for the wait." in message.body
    assert "> When does my tea ship?" in message.body
    html = message.alternatives[0][0]
    assert "Hanako" in html and "Your tea ships tomorrow." in html and "When does my tea ship?" in html
    assert Inquiry.objects.get().answered_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_reply_reaches_a_real_smtp_server_and_the_payload_says_it_was_sent(api, staff, smtp):
    asked = inquiry("hanako@example.com", "Can I change my address?")
    payload = reply(api, staff, asked, "Yes: we changed it.").payload("replyToInquiry")
    assert payload["reply"]["mailStatus"] == "SENT"
    (message,) = [sent for sent in smtp.messages if sent["To"] == "hanako@example.com"]  # (the shop got its notice)
    assert message["To"] == "hanako@example.com" and message["X-Conveyor-Inquiry-Reply"] == str(
        InquiryReply.objects.get().pk
    )


@pytest.mark.django_db(transaction=True)
def test_a_dead_mail_server_keeps_the_reply_failed_and_it_can_be_sent_again(api, staff, settings):
    asked = inquiry("hanako@example.com", "Can I change my address?")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens there
    payload = reply(api, staff, asked, "Yes: we changed it.").payload("replyToInquiry")
    assert payload["errors"] == [] and payload["reply"]["mailStatus"] == "FAILED"
    assert "ConnectionRefusedError" in payload["reply"]["mailOutcome"]
    stored = InquiryReply.objects.get()
    assert stored.message == "Yes: we changed it." and Inquiry.objects.get().status == "ANSWERED"
    with smtp_server() as (inbox, port):
        settings.EMAIL_PORT = port
        again = api(RESEND, {"id": gid("InquiryReply", stored.pk)}, user=staff).payload("resendInquiryReply")
        assert again["errors"] == [] and again["reply"]["mailStatus"] == "SENT"
        assert [sent["To"] for sent in inbox.messages] == ["hanako@example.com"]
    sent_twice = api(RESEND, {"id": gid("InquiryReply", stored.pk)}, user=staff).payload("resendInquiryReply")
    assert codes(sent_twice) == [("id", "INVALID")]
    assert InquiryReply.objects.get().mail_attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_reply_whose_mailer_never_reported_back_may_be_sent_again_after_ten_minutes(api, staff):
    # The process that was to mail it after commit died: the reply sits PENDING. A resend within the
    # window could mail it twice while the first send is still on its way, so it is refused until then.
    asked = inquiry("hanako@example.com")
    InquiryReply.objects.create(inquiry=asked, at=timezone.now(), by="staff@example.com", message="Soon.")
    stuck = InquiryReply.objects.get()
    assert stuck.mail_status == "PENDING"
    mail.outbox.clear()
    before = snapshot()
    early = api(RESEND, {"id": gid("InquiryReply", stuck.pk)}, user=staff).payload("resendInquiryReply")
    assert codes(early) == [("id", "INVALID")] and snapshot() == before and mail.outbox == []
    InquiryReply.objects.filter(pk=stuck.pk).update(at=timezone.now() - timedelta(minutes=11))  # queued_at null
    late = api(RESEND, {"id": gid("InquiryReply", stuck.pk)}, user=staff).payload("resendInquiryReply")
    assert late["errors"] == [] and late["reply"]["mailStatus"] == "SENT"
    assert [sent.to for sent in mail.outbox] == [["hanako@example.com"]]
    resent = InquiryReply.objects.get()
    assert resent.mail_status == "SENT" and resent.queued_at is not None and resent.queued_at > resent.at


def test_a_late_failure_of_an_earlier_attempt_does_not_offer_send_again_while_the_newer_one_is_on_its_way():
    asked = inquiry()
    reply = conveyor.reply_to_inquiry(str(asked.pk), message="Hi", by="staff@example.com")
    first_attempt = reply.queued_at
    later = first_attempt + timedelta(minutes=11)
    conveyor.resend_inquiry_reply(reply.pk, by="staff@example.com", now=later)  # stuck PENDING: sent again
    conveyor.record_reply_mail(reply.pk, sent=False, outcome="timed out", queued_at=first_attempt)
    stored = InquiryReply.objects.get()
    assert stored.mail_status == "PENDING" and not conveyor.may_be_resent(stored, later + timedelta(minutes=1))
    conveyor.record_reply_mail(reply.pk, sent=False, outcome="refused", queued_at=later)
    stored.refresh_from_db()
    assert stored.mail_status == "FAILED" and stored.mail_outcome == "refused"


def test_a_fresh_reply_records_when_it_was_queued():
    asked = inquiry()
    reply = conveyor.reply_to_inquiry(str(asked.pk), message="Hi", by="staff@example.com")
    assert reply.queued_at == reply.at
    assert not conveyor.may_be_resent(reply, reply.at + timedelta(minutes=9))
    pending = InquiryReply.objects.filter(pk=reply.pk)
    pending.update(mail_status="PENDING")
    assert conveyor.may_be_resent(pending.get(), reply.at + timedelta(minutes=10))


@pytest.mark.parametrize(
    "message, expected",
    [
        ("", [("message", "INVALID")]),
        ("   \n", [("message", "INVALID")]),
        ("a\x00b", [("message", "INVALID")]),
        ("x" * 5001, [("message", "OUT_OF_RANGE")]),
    ],
)
def test_bad_replies_are_refused_change_nothing_and_mail_nothing(
    api, staff, message, expected, django_capture_on_commit_callbacks
):
    asked = inquiry()
    mail.outbox.clear()
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        payload = reply(api, staff, asked, message).payload("replyToInquiry")
    assert codes(payload) == expected and payload["inquiry"] is None
    assert snapshot() == before and mail.outbox == []


def test_a_reply_of_5000_characters_is_accepted(api, staff):
    assert reply(api, staff, inquiry(), "x" * 5000).payload("replyToInquiry")["errors"] == []


def test_an_unknown_inquiry_is_not_found_and_a_closed_one_refused(api, staff, django_capture_on_commit_callbacks):
    asked = inquiry()
    conveyor.update_inquiry(str(asked.pk), status="CLOSED", by="staff@example.com")
    mail.outbox.clear()
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        missing = api(
            REPLY, {"id": gid("Inquiry", "6f1c8a62-0000-4000-8000-000000000000"), "message": "Hi"}, user=staff
        )
        assert codes(missing.payload("replyToInquiry")) == [("id", "NOT_FOUND")]
        not_uuid = api(REPLY, {"id": gid("Inquiry", "nope"), "message": "Hi"}, user=staff)
        assert codes(not_uuid.payload("replyToInquiry")) == [("id", "NOT_FOUND")]
        wrong_type = api(REPLY, {"id": gid("FollowUp", asked.pk), "message": "Hi"}, user=staff)
        assert codes(wrong_type.payload("replyToInquiry")) == [("id", "INVALID")]
        closed = reply(api, staff, asked).payload("replyToInquiry")
        assert codes(closed) == [("id", "INVALID")]
    assert snapshot() == before and mail.outbox == []


@pytest.mark.parametrize("who", ["customer", "anonymous", "orders_staff"])
def test_only_manage_users_may_reply_update_or_resend(api, hanako, make_user, who):
    asked = inquiry("hanako@example.com")
    answered = conveyor.reply_to_inquiry(str(asked.pk), message="Hello", by="staff@example.com")
    user = {
        "customer": hanako,
        "anonymous": None,
        "orders_staff": make_user("orders@example.com", staff_permissions=("manage_orders",)),
    }[who]
    mail.outbox.clear()
    before = snapshot()
    for query, variables, name in (
        (REPLY, {"id": gid("Inquiry", asked.pk), "message": "Mine now"}, "replyToInquiry"),
        (UPDATE, {"id": gid("Inquiry", asked.pk), "status": "CLOSED", "note": "x"}, "updateInquiry"),
        (RESEND, {"id": gid("InquiryReply", answered.pk)}, "resendInquiryReply"),
    ):
        assert codes(api(query, variables, user=user).payload(name)) == [(None, "PERMISSION_DENIED")]
    assert api(LIST, user=user).codes() == ["PERMISSION_DENIED"]
    assert snapshot() == before and mail.outbox == []


def test_staff_close_an_inquiry_with_a_note_and_reopen_it(api, staff):
    asked = inquiry()
    closed = api(UPDATE, {"id": gid("Inquiry", asked.pk), "status": "CLOSED", "note": "Sent a new box"}, user=staff)
    payload = closed.payload("updateInquiry")
    assert payload["errors"] == [] and payload["inquiry"]["status"] == "CLOSED" and payload["inquiry"]["closedAt"]
    assert payload["inquiry"]["note"] == "Sent a new box"
    reopened = api(UPDATE, {"id": gid("Inquiry", asked.pk), "status": "OPEN"}, user=staff).payload("updateInquiry")
    assert reopened["inquiry"]["status"] == "OPEN" and reopened["inquiry"]["closedAt"] is None
    assert reopened["inquiry"]["note"] == "Sent a new box"  # no note given: kept
    assert Inquiry.objects.get().updated_by == "staff@example.com"


def test_a_note_saved_without_a_status_keeps_the_status_it_finds_under_the_lock():
    # The console's "save the note" passes no status: a page opened before someone closed the inquiry
    # must not reopen it by writing back the status it showed.
    asked = inquiry()
    closed = conveyor.update_inquiry(str(asked.pk), status="CLOSED", by="lead@example.com")
    noted = conveyor.update_inquiry(str(asked.pk), status=None, note="Called back", by="staff@example.com")
    kept = Inquiry.objects.get()
    assert noted.status == kept.status == "CLOSED" and kept.closed_at == closed.closed_at
    assert kept.note == "Called back" and kept.updated_by == "staff@example.com"


@pytest.mark.parametrize(
    "variables, expected",
    [
        ({"status": "ANSWERED"}, [("status", "INVALID")]),  # answered by a reply, not by a status
        ({"status": "CLOSED", "note": "a\x00b"}, [("note", "INVALID")]),
        ({"status": "CLOSED", "note": "n" * 5001}, [("note", "OUT_OF_RANGE")]),
    ],
)
def test_bad_inquiry_updates_are_refused_and_change_nothing(api, staff, variables, expected):
    asked = inquiry()
    before = snapshot()
    payload = api(UPDATE, {"id": gid("Inquiry", asked.pk), **variables}, user=staff).payload("updateInquiry")
    assert codes(payload) == expected
    assert snapshot() == before


def test_an_unknown_inquiry_cannot_be_updated(api, staff):
    inquiry()
    before = snapshot()
    answer = api(UPDATE, {"id": gid("Inquiry", "6f1c8a62-0000-4000-8000-000000000000"), "status": "CLOSED"}, user=staff)
    assert codes(answer.payload("updateInquiry")) == [("id", "NOT_FOUND")]
    assert snapshot() == before


@pytest.mark.parametrize("size", [2, 8])
def test_a_page_of_inquiries_with_replies_is_a_fixed_number_of_queries(api, staff, size):
    for n in range(size):
        asked = inquiry(f"c{n}@example.com")
        conveyor.reply_to_inquiry(str(asked.pk), message=f"Answer {n}", by="staff@example.com")
    with CaptureQueriesContext(connection) as queries:
        answer = api(LIST, {"status": "ANSWERED", "first": 50}, user=staff)
    edges = answer.data["inquiries"]["edges"]
    assert len(edges) == size and all(edge["node"]["replies"][0]["by"] == "staff@example.com" for edge in edges)
    # the staff user, their permissions (3), the page, its replies, the count
    assert len(queries) == 6, [query["sql"][:80] for query in queries]
