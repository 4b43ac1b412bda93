"""The mail preferences page: the unsubscribe link of every marketing mail opens it, a GET changes nothing,
a POST with the page's CSRF token unsubscribes or resubscribes and records the change once, with its source."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import conveyor, delivery, tokens
from saleor_conveyor.events import Customer
from saleor_conveyor.hosts import get_config
from saleor_conveyor.mail import build_message
from saleor_conveyor.models import ConsentChange, FanProfile, TouchpointStatus

from ..factories import profile, touchpoint
from ..graphql.helpers import snapshot

pytestmark = pytest.mark.django_db

PATH = "/preferences/"


def customer(language: str = "ja") -> FanProfile:
    return profile(language_code=language, first_name="Hanako")


def mailed_link(who: FanProfile) -> str:
    """The unsubscribe link in the body of a marketing mail, as path?query."""
    message = build_message(touchpoint(who, "step_day7"), who, get_config(), "step_day7")
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', message.alternatives[0][0]) if "preferences/" in h]
    assert len(links) == 1, links
    parts = urlsplit(links[0])
    return f"{parts.path}?{parts.query}"


def form_fields(html: str) -> dict[str, str]:
    return {
        name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def press(client: Client, link: str, action: str):
    """Open the page and press its button, as a browser would."""
    page = client.get(link)
    assert f'name="action" value="{action}"' in page.content.decode()
    return client.post(PATH, {**form_fields(page.content.decode()), "action": action})


def changes() -> list[tuple[int, bool, str]]:
    return list(ConsentChange.objects.order_by("id").values_list("profile_id", "subscribed", "source"))


def forged(token: str) -> str:
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


def expired(who: FanProfile, purpose: str) -> str:
    with freeze_time(timezone.now() - tokens.MAX_AGE[purpose] - timedelta(minutes=1)):
        return tokens.make_token(who, purpose)


@pytest.mark.parametrize(
    "language, status, note",
    [
        ("ja", "お知らせ・キャンペーンのメールをお送りしています。", "お取引に必要なメールは引き続きお届けします"),
        ("en", "You receive our news and offers by email.", "messages you need still come"),
    ],
)
def test_a_get_of_the_mailed_link_shows_the_consent_and_changes_nothing(language, status, note):
    who = customer(language)
    link = mailed_link(who)
    before = snapshot()
    for _ in range(3):  # a link scanner, a preview, the customer
        page = Client().get(link)
    html = page.content.decode()
    assert page.status_code == 200 and status in html and note in html and "hanako@example.com" in html
    assert snapshot() == before and ConsentChange.objects.count() == 0
    assert FanProfile.objects.get(pk=who.pk).unsubscribed_at is None


def test_unsubscribe_then_resubscribe_on_the_page_records_both_changes():
    who = customer("en")
    link = mailed_link(who)
    client = Client()
    gone = press(client, link, "unsubscribe")
    assert gone.status_code == 303
    assert FanProfile.objects.get(pk=who.pk).unsubscribed_at is not None
    shown = client.get(gone["Location"]).content.decode()
    assert "Done: we will not send you news and offers any more." in shown
    assert "You do not receive our news and offers by email (stopped on " in shown
    back = press(client, link, "resubscribe")
    assert back.status_code == 303
    assert FanProfile.objects.get(pk=who.pk).unsubscribed_at is None
    assert "Done: you will receive our news and offers again." in client.get(back["Location"]).content.decode()
    assert changes() == [(who.pk, False, "preferences_page"), (who.pk, True, "preferences_page")]


def test_a_double_post_records_one_change_and_keeps_the_first_time():
    who = customer("en")
    client = Client()
    page = client.get(mailed_link(who))
    data = {**form_fields(page.content.decode()), "action": "unsubscribe"}
    assert client.post(PATH, data).status_code == 303
    first = FanProfile.objects.get(pk=who.pk).unsubscribed_at
    assert client.post(PATH, data).status_code == 303
    assert FanProfile.objects.get(pk=who.pk).unsubscribed_at == first
    assert changes() == [(who.pk, False, "preferences_page")]


def test_a_done_note_that_is_no_longer_true_is_not_shown():
    who = customer("en")
    page = Client().get(mailed_link(who) + "&done=unsubscribed")
    assert "Done:" not in page.content.decode() and ConsentChange.objects.count() == 0


def test_the_one_click_endpoint_records_its_own_source_and_its_get_changes_nothing():
    who = customer()
    token = tokens.make_token(who, tokens.UNSUBSCRIBE)
    before = snapshot()
    assert Client().get("/unsubscribe/", {"token": token}).status_code == 200
    assert snapshot() == before
    response = Client().post(f"/unsubscribe/?token={token}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert changes() == [(who.pk, False, "one_click")]


def test_touchpoints_skipped_while_unsubscribed_are_not_sent_after_resubscribing(settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "quiet_hours": ""}
    who = customer("en")
    client = Client()
    link = urlsplit(tokens.link(who, tokens.UNSUBSCRIBE))
    link = f"{link.path}?{link.query}"  # the mail's link, without a mail due to be delivered beside
    press(client, link, "unsubscribe")
    held_back = touchpoint(who, "secret_info")
    delivery.deliver_batch()
    held_back.refresh_from_db()
    assert held_back.status == TouchpointStatus.SKIPPED
    press(client, link, "resubscribe")
    delivery.deliver_batch()
    held_back.refresh_from_db()
    assert held_back.status == TouchpointStatus.SKIPPED and held_back.sent_at is None
    fresh = touchpoint(who, "step_day7")
    delivery.deliver_batch()
    fresh.refresh_from_db()
    assert fresh.status == TouchpointStatus.SENT  # what comes after the opt-in is sent


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose", "missing"])
def test_a_bad_link_is_a_clear_page_and_changes_nothing(spoil):
    who = customer("en")
    token = {
        "forged": lambda: forged(tokens.make_token(who, tokens.UNSUBSCRIBE)),
        "expired": lambda: expired(who, tokens.UNSUBSCRIBE),
        "wrong_purpose": lambda: tokens.make_token(who, tokens.SURVEY),
        "missing": lambda: "",
    }[spoil]()
    before = snapshot()
    client = Client()
    page = client.get(PATH, {"token": token})
    assert page.status_code == 400 and 'data-refused="link_' in page.content.decode()
    fields = form_fields(client.get(PATH, {"token": tokens.make_token(who, tokens.UNSUBSCRIBE)}).content.decode())
    refused = client.post(PATH, {**fields, "token": token, "action": "unsubscribe"})
    assert refused.status_code == 400 and 'data-refused="link_' in refused.content.decode()
    assert snapshot() == before and ConsentChange.objects.count() == 0


def test_a_post_without_the_csrf_token_or_from_another_site_is_refused_and_changes_nothing():
    who = customer("en")
    link = mailed_link(who)
    client = Client(enforce_csrf_checks=True)
    fields = form_fields(client.get(link).content.decode())
    before = snapshot()
    without = {key: value for key, value in fields.items() if key != "csrfmiddlewaretoken"}
    assert client.post(PATH, {**without, "action": "unsubscribe"}).status_code == 403
    other_site = client.post(PATH, {**fields, "action": "unsubscribe"}, HTTP_ORIGIN="https://evil.example")
    assert other_site.status_code == 403 and 'data-refused="csrf"' in other_site.content.decode()
    assert snapshot() == before and ConsentChange.objects.count() == 0
    assert FanProfile.objects.get(pk=who.pk).unsubscribed_at is None


@pytest.mark.parametrize("action", ["", "delete", "unsubscribe\x00"])
def test_an_unknown_action_is_refused_and_changes_nothing(action):
    who = customer("en")
    client = Client()
    fields = form_fields(client.get(mailed_link(who)).content.decode())
    before = snapshot()
    response = client.post(PATH, {**fields, "action": action})
    assert response.status_code == 400 and 'data-refused="bad_input"' in response.content.decode()
    assert snapshot() == before


def test_a_merged_guests_link_and_consent_record_move_to_the_account_it_joined(django_user_model):
    guest = customer("en")
    link = mailed_link(guest)
    conveyor.unsubscribe(guest.pk, source="staff")
    user = django_user_model.objects.create_user(username="h", email="old@example.com", password="x")
    account = profile("old@example.com", user=user)
    conveyor.link_customer(Customer(email="hanako@example.com", user_id=user.pk), previous_email="old@example.com")
    assert not FanProfile.objects.filter(pk=guest.pk).exists()  # merged into the account
    assert changes() == [(account.pk, False, "staff")]
    press(Client(), link, "resubscribe")  # the guest's mailed link acts on the account
    assert changes() == [(account.pk, False, "staff"), (account.pk, True, "preferences_page")]
    assert FanProfile.objects.get(pk=account.pk).unsubscribed_at is None
