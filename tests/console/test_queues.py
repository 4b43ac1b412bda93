"""Console work queues: Inquiries and Follow-ups (MANAGE_USERS), their forms (CSRF, or the Dashboard's session),
refusals that change nothing, fixed query counts, and the home widget's count of open follow-ups."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from saleor_conveyor import conveyor
from saleor_conveyor.console import auth
from saleor_conveyor.hosts.django import make_app_token
from saleor_conveyor.models import FollowUp, Inquiry, InquiryReply

from ..graphql.helpers import snapshot
from ..queues import detractor, inquiry, lapsed_answer
from .shop import staff_member
from .test_dashboard import widget

pytestmark = pytest.mark.django_db
INQUIRIES = "/console/inquiries/"
FOLLOW_UPS = "/console/follow-ups/"


def as_staff(user, **client) -> Client:
    browser = Client(**client)
    browser.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return browser


@pytest.fixture
def staff():
    return staff_member("staff@example.com", "MANAGE_USERS")


def page_of(response) -> str:
    return response.content.decode()


# --- inquiries ------------------------------------------------------------------------------


def test_the_inquiry_list_shows_each_status_with_counts(staff):
    open_one = inquiry("hanako@example.com", "When does it ship?")
    answered = inquiry("taro@example.com", "Is it organic?")
    conveyor.reply_to_inquiry(str(answered.pk), message="Yes.", by="staff@example.com")
    client = as_staff(staff)
    page = page_of(client.get(f"{INQUIRIES}?lang=en"))
    assert f'data-inquiry="{open_one.pk}"' in page and f'data-inquiry="{answered.pk}"' not in page
    assert 'data-tab="ANSWERED"' in page and "When does it ship?" in page
    answered_page = page_of(client.get(f"{INQUIRIES}?status=ANSWERED&lang=ja"))
    assert f'data-inquiry="{answered.pk}"' in answered_page and "回答済み" in answered_page


def test_an_inquiry_shows_the_message_the_customer_and_a_reply_form(staff):
    from ..console.shop import customer_with_history

    customer_with_history("hanako@example.com", "Hanako")
    asked = Inquiry.objects.get()
    page = page_of(as_staff(staff).get(f"{INQUIRIES}{asked.pk}/?lang=en"))
    assert "When does it ship?" in page and 'data-fact="stage"' in page and 'data-form="reply"' in page
    assert "/console/customers/" in page


def test_staff_reply_by_email_note_and_close_from_the_page(staff, django_capture_on_commit_callbacks):
    asked = inquiry("hanako@example.com", "When does it ship?")
    client = as_staff(staff)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{INQUIRIES}{asked.pk}/?lang=en", {"action": "reply", "message": "Tomorrow."})
    assert answer.status_code == 303 and "done=" in answer["Location"]
    (sent,) = mail.outbox
    assert sent.to == ["hanako@example.com"] and "Tomorrow." in sent.body
    reply = InquiryReply.objects.get()
    assert reply.by == "staff@example.com" and reply.mail_status == "SENT"
    client.post(f"{INQUIRIES}{asked.pk}/", {"action": "close", "note": "Shipped with DHL"})
    closed = Inquiry.objects.get()
    assert closed.status == "CLOSED" and closed.note == "Shipped with DHL" and closed.closed_at
    page = page_of(client.get(f"{INQUIRIES}{asked.pk}/?lang=en"))
    assert 'data-form="reply"' not in page and "Reopen" in page and "Tomorrow." in page


def test_a_bad_reply_is_refused_on_the_page_and_changes_nothing(staff, django_capture_on_commit_callbacks):
    asked = inquiry()
    client = as_staff(staff)
    mail.outbox.clear()
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        for message in ("", "x" * 5001):
            answer = client.post(f"{INQUIRIES}{asked.pk}/?lang=en", {"action": "reply", "message": message})
            assert answer.status_code == 400 and 'data-refused-field="message"' in page_of(answer)
        nul = client.post(f"{INQUIRIES}{asked.pk}/", {"action": "reply", "message": "a\x00b"})
        assert nul.status_code == 400
    assert snapshot() == before and mail.outbox == []


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(staff):
    asked = inquiry()
    client = as_staff(staff, enforce_csrf_checks=True)
    before = snapshot()
    answer = client.post(f"{INQUIRIES}{asked.pk}/", {"action": "close"})
    assert answer.status_code == 403 and snapshot() == before


def test_inside_the_dashboard_the_session_in_the_form_is_the_forgery_check(staff):
    asked = inquiry()
    session = auth.session_token(staff, auth.VIA_DASHBOARD)
    cookieless = Client(enforce_csrf_checks=True)  # the Dashboard's iframe: another site, no cookies
    answer = cookieless.post(f"{INQUIRIES}{asked.pk}/?s={session}", {"action": "close", "s": session})
    assert answer.status_code == 303 and urlencode({"s": session}) in answer["Location"]
    assert Inquiry.objects.get().status == "CLOSED"
    before = snapshot()
    forged = cookieless.post(f"{INQUIRIES}{asked.pk}/", {"action": "reopen", "s": "forged"})
    assert forged.status_code in (401, 403) and snapshot() == before


@pytest.mark.parametrize("who", ["nobody", "orders_staff", "customer"])
def test_the_queues_refuse_anyone_without_manage_users_and_change_nothing(who):
    asked = inquiry()
    follow_up = detractor()
    client = {
        "nobody": Client(),
        "orders_staff": as_staff(staff_member("orders@example.com", "MANAGE_ORDERS")),
        "customer": as_staff(staff_member("shopper@example.com", is_staff=False)),
    }[who]
    before = snapshot()
    for path in (INQUIRIES, f"{INQUIRIES}{asked.pk}/", FOLLOW_UPS, f"{FOLLOW_UPS}{follow_up.pk}/"):
        assert client.get(path).status_code in (401, 403)
    assert client.post(f"{INQUIRIES}{asked.pk}/", {"action": "close"}).status_code in (401, 403)
    posted = client.post(f"{FOLLOW_UPS}{follow_up.pk}/", {"action": "close", "outcome": "RESOLVED"})
    assert posted.status_code in (401, 403)
    assert snapshot() == before


def test_unknown_ids_are_not_found(staff):
    client = as_staff(staff)
    assert client.get(f"{INQUIRIES}6f1c8a62-0000-4000-8000-000000000000/").status_code == 404
    assert client.get(f"{FOLLOW_UPS}987654/").status_code == 404
    assert client.get(f"{FOLLOW_UPS}99999999999999999999/").status_code == 404


# --- follow-ups -----------------------------------------------------------------------------


def test_the_follow_up_list_shows_the_time_to_first_contact_and_each_status(staff):
    taro = detractor("taro@example.com", 2, "Broken lid")
    lapsed_answer("lapsed@example.com")
    conveyor.update_follow_up(taro.pk, status="CONTACTED", by="staff@example.com")
    page = page_of(as_staff(staff).get(f"{FOLLOW_UPS}?lang=en"))
    assert 'data-customer="lapsed@example.com"' in page and 'data-customer="taro@example.com"' not in page
    assert 'data-figure="median-hours"' in page and 'data-figure="within-week" data-value="1.0000"' in page
    contacted = page_of(as_staff(staff).get(f"{FOLLOW_UPS}?status=CONTACTED&lang=ja"))
    assert 'data-customer="taro@example.com"' in contacted and "初回連絡までの時間" in contacted


def test_staff_mark_contacted_then_close_with_an_outcome_and_note(staff):
    follow_up = detractor("taro@example.com", 2, "Broken lid")
    client = as_staff(staff)
    page = page_of(client.get(f"{FOLLOW_UPS}{follow_up.pk}/?lang=en"))
    assert "Broken lid" in page and 'data-fact="score">2<' in page and 'data-kind="NPS"' in page
    assert client.post(f"{FOLLOW_UPS}{follow_up.pk}/", {"action": "contacted", "note": "Called"}).status_code == 303
    assert FollowUp.objects.get().first_contact_at is not None
    answer = client.post(
        f"{FOLLOW_UPS}{follow_up.pk}/", {"action": "close", "outcome": "RESOLVED", "note": "Sent a new lid"}
    )
    assert answer.status_code == 303
    closed = FollowUp.objects.get()
    assert (closed.status, closed.outcome, closed.note, closed.closed_by) == (
        "CLOSED",
        "RESOLVED",
        "Sent a new lid",
        "staff@example.com",
    )
    page = page_of(client.get(f"{FOLLOW_UPS}{follow_up.pk}/?lang=en"))
    assert 'data-form="follow-up"' not in page and "Sent a new lid" in page


def test_closing_without_an_outcome_is_refused_beside_the_choices_and_changes_nothing(staff):
    follow_up = detractor()
    before = snapshot()
    answer = as_staff(staff).post(f"{FOLLOW_UPS}{follow_up.pk}/?lang=en", {"action": "close", "note": "typed"})
    page = page_of(answer)
    assert answer.status_code == 400 and 'data-refused-field="outcome"' in page and ">typed</textarea>" in page
    assert snapshot() == before


@pytest.mark.parametrize("size", [2, 12])
def test_the_queue_pages_are_a_fixed_number_of_queries(staff, size):
    for n in range(size):
        detractor(f"c{n}@example.com", n % 7)
        asked = inquiry(f"c{n}@example.com")
        conveyor.reply_to_inquiry(str(asked.pk), message="Hi", by="s")
    client = as_staff(staff)
    counts = []
    for path in (f"{INQUIRIES}?status=ANSWERED", FOLLOW_UPS):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        counts.append(len(queries))
    # the staff member (3), the page, its replies, its count, the counts per status; the page, its count, the
    # counts per status, first contact
    assert counts == [7, 7], counts


def test_the_home_widget_counts_open_follow_ups_for_manage_users_only():
    detractor("taro@example.com")
    closed = detractor("jiro@example.com")
    conveyor.update_follow_up(closed.pk, status="CLOSED", outcome="NO_ANSWER", by="s")
    both = staff_member("both@example.com", "MANAGE_ORDERS", "MANAGE_USERS")
    page = widget("home", make_app_token(both), lang="en").content.decode()
    assert 'data-figure="follow-ups">1<' in page
    orders_only = widget("home", make_app_token(staff_member("o@example.com", "MANAGE_ORDERS"))).content.decode()
    assert 'data-figure="follow-ups"' not in orders_only


@pytest.mark.django_db(transaction=True)
def test_a_dead_mail_server_keeps_the_reply_and_the_page_offers_to_send_it_again(settings):
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    asked = inquiry("hanako@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens there
    client = as_staff(staff)
    answer = client.post(f"{INQUIRIES}{asked.pk}/?lang=en", {"action": "reply", "message": "Tomorrow."}, follow=True)
    page = page_of(answer)
    assert 'data-done="reply_failed"' in page and 'data-mail="FAILED"' in page and 'data-form="resend"' in page
    reply = InquiryReply.objects.get()
    assert reply.message == "Tomorrow." and reply.mail_status == "FAILED" and Inquiry.objects.get().status == "ANSWERED"
