"""The work queues in real Chromium: a staff member replies to an inquiry (the reply reaches the test's SMTP server)
and closes it; closes a detractor's follow-up with an outcome. Both languages, desktop and phone, screenshots."""

from __future__ import annotations

import pytest

from saleor_conveyor.console import auth
from saleor_conveyor.models import FollowUp, Inquiry, InquiryReply
from tests.console.shop import customer_with_history, staff_member
from tests.delivery.helpers import smtp_server
from tests.queues import detractor, inquiry

from .test_console_overview import whole_page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    """The test's SMTP server; the live server's threads send through it (Django's SMTP backend)."""
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 10
        yield inbox


def signed_in(browser, user) -> None:
    """The standalone console: the session cookie the sign-in form sets (its forms then need Django's CSRF token)."""
    browser.open("/console/sign-in/")
    browser.driver.add_cookie({"name": auth.SESSION_COOKIE, "value": auth.session_token(user, auth.VIA_SIGN_IN)})


def test_staff_reply_to_an_inquiry_by_email_and_close_it(browser, smtp):
    customer_with_history("hanako@example.com", "Hanako")
    asked = inquiry("hanako@example.com", "Can I still change the delivery address?\nOrder 2.", name="Hanako")
    smtp.messages.clear()  # the shop's own notice of the inquiry
    signed_in(browser, staff_member("staff@example.com", "MANAGE_USERS"))
    browser.open("/console/inquiries/?lang=en")
    browser.wait_for(f"[data-inquiry='{asked.pk}']")
    whole_page(browser, "list-en-desktop")
    browser.follow(f"[data-inquiry='{asked.pk}'] a")
    browser.wait_for("[data-form='reply']")
    assert "Can I still change" in browser.text() and browser.find("[data-fact='stage']").text
    whole_page(browser, "inquiry-en-desktop")
    browser.desktop()
    field = browser.find("#reply-message")
    field.click()
    field.send_keys("Yes: we changed it to your new address.\nIt ships tomorrow.")
    browser.follow("[data-form='reply'] button[type=submit]")
    browser.wait_for("[data-done='replied']")
    assert browser.find("[data-reply]").get_attribute("data-mail") == "SENT"
    (sent,) = smtp.messages
    assert sent["To"] == "hanako@example.com" and sent["X-Conveyor-Inquiry-Reply"] == str(InquiryReply.objects.get().pk)
    assert "It ships tomorrow." in sent.get_payload(0).get_payload(decode=True).decode()
    note = browser.find("#note")
    note.send_keys("Address changed in the host too.")
    browser.follow("[data-form='note'] button[value=close]")
    browser.wait_for("[data-done='closed']")
    closed = Inquiry.objects.get(pk=asked.pk)
    assert closed.status == "CLOSED" and closed.note == "Address changed in the host too."
    whole_page(browser, "inquiry-closed-en-desktop")
    browser.phone()
    browser.open(f"/console/inquiries/{asked.pk}/?lang=ja")
    browser.wait_for("[data-status='CLOSED']")
    wide = browser.driver.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
        "window.innerWidth + 1).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
    )
    assert "完了" in browser.text() and browser.page_width_fits(), wide
    whole_page(browser, "inquiry-ja-phone")
    browser.phone()
    browser.open("/console/inquiries/?status=CLOSED&lang=ja")
    browser.wait_for(f"[data-inquiry='{asked.pk}']")
    assert browser.page_width_fits()
    whole_page(browser, "list-ja-phone")


def test_staff_close_a_detractors_follow_up_with_an_outcome(browser):
    follow_up = detractor("taro@example.com", 3, "The lid arrived cracked and nobody answered my mail.")
    detractor("jiro@example.com", 6, "Slow delivery")
    user = staff_member("staff@example.com", "MANAGE_USERS")
    session = auth.session_token(user, auth.VIA_DASHBOARD)  # inside the Dashboard's cookieless iframe
    browser.open(f"/console/follow-ups/?s={session}&lang=ja")
    browser.wait_for(f"[data-follow-up='{follow_up.pk}']")
    assert "初回連絡までの時間" in browser.text()
    whole_page(browser, "list-ja-desktop")
    browser.desktop()
    browser.follow(f"[data-follow-up='{follow_up.pk}'] a")
    browser.wait_for("[data-form='follow-up']")
    assert "lid arrived cracked" in browser.text() and browser.find("[data-fact='score']").text == "3"
    assert browser.find_all(".timeline-entry[data-kind='NPS']")
    whole_page(browser, "follow-up-ja-desktop")
    browser.desktop()
    browser.open(f"/console/follow-ups/{follow_up.pk}/?s={session}&lang=en")
    browser.wait_for("[data-form='follow-up']")
    browser.find("#note").send_keys("Called: sending a new lid.")
    browser.follow("button[value=contacted]")
    browser.wait_for("[data-done='contacted']")
    browser.follow("button[value=close]")  # no outcome chosen: refused beside the choices, nothing changed
    browser.wait_for("[data-refused-field='outcome']")
    assert FollowUp.objects.get(pk=follow_up.pk).status == "CONTACTED"
    whole_page(browser, "follow-up-refused-en-desktop")
    browser.desktop()
    browser.find("input[name=outcome][value=RESOLVED]").click()
    browser.follow("button[value=close]")
    browser.wait_for("[data-done='closed']")
    closed = FollowUp.objects.get(pk=follow_up.pk)
    assert (closed.status, closed.outcome, closed.closed_by) == ("CLOSED", "RESOLVED", "staff@example.com")
    assert closed.note == "Called: sending a new lid." and closed.first_contact_at is not None
    whole_page(browser, "follow-up-closed-en-desktop")
    browser.phone()
    browser.open(f"/console/follow-ups/?s={session}&status=CLOSED&lang=en")
    browser.wait_for(f"[data-follow-up='{follow_up.pk}']")
    assert browser.find("[data-figure='median-hours']").text != "—" and browser.page_width_fits()
    whole_page(browser, "list-closed-en-phone")
    browser.phone()
    browser.open(f"/console/follow-ups/{follow_up.pk}/?s={session}&lang=ja")
    browser.wait_for("[data-status='CLOSED']")
    assert browser.page_width_fits()
    whole_page(browser, "follow-up-ja-phone")
