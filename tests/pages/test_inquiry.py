"""The contact form page and its embeddable version: submitInquiry's service and throttles, errors beside their
fields, the privacy note; the embed's CSRF check (a signed form token plus the browser's origin headers)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import conveyor
from saleor_conveyor.events import InquirySubmitted
from saleor_conveyor.models import FanProfile, Inquiry, InquiryTopic
from saleor_conveyor.pages import inquiry

pytestmark = pytest.mark.django_db

SAME_ORIGIN = {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}
MESSAGE = {"email": "hanako@example.com", "name": "山田花子", "topic": "SHIPPING", "message": "まだ届きません"}


def hidden_fields(html: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in found}


def embed_form(client: Client, language: str = "ja") -> dict[str, str]:
    page = client.get(f"/inquiry/embed/?lang={language}")
    assert page.status_code == 200
    return hidden_fields(page.content.decode())


def test_the_contact_page_sends_through_submit_inquiry_and_thanks(django_user_model):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/inquiry/?lang=ja")
    html = page.content.decode()
    assert page.status_code == 200 and 'class="shop"' in html and page["X-Frame-Options"] == "DENY"
    for topic in InquiryTopic.values:
        assert f'value="{topic}"' in html
    answer = client.post("/inquiry/", {**hidden_fields(html), **MESSAGE, "order": "1042"}, REMOTE_ADDR="203.0.113.7")
    assert answer.status_code == 303
    stored = Inquiry.objects.get()
    assert (stored.email, stored.name, stored.topic, stored.message) == (
        "hanako@example.com",
        "山田花子",
        "SHIPPING",
        "まだ届きません",
    )
    assert (stored.order_id, stored.client_address) == ("1042", "203.0.113.7")
    thanks = client.get(answer["Location"]).content.decode()
    assert 'data-state="sent"' in thanks and "お問い合わせありがとうございます" in thanks


def test_a_signed_in_customers_inquiry_is_theirs_and_the_form_knows_their_email(django_user_model):
    user = django_user_model.objects.create_user(username="taro", email="taro@example.com", password="x")
    FanProfile.objects.create(user=user, email=user.email, first_name="Taro")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    html = client.get("/inquiry/?lang=en").content.decode()
    assert 'value="taro@example.com"' in html and 'value="Taro"' in html
    fields = {**hidden_fields(html), "email": "taro@example.com", "topic": "PRODUCT", "message": "Is it vegan?"}
    assert client.post("/inquiry/", fields).status_code == 303
    assert Inquiry.objects.get().profile.user_id == user.pk


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing():
    client = Client(enforce_csrf_checks=True)
    client.get("/inquiry/")
    answer = client.post("/inquiry/", {**MESSAGE, "lang": "en"}, HTTP_ORIGIN="https://evil.example")
    assert answer.status_code == 403 and 'data-refused="csrf"' in answer.content.decode()
    assert Inquiry.objects.count() == 0


@pytest.mark.parametrize("path", ["/inquiry/", "/inquiry/embed/"])
def test_too_many_messages_are_throttled_with_a_clear_message_and_nothing_written(path):
    for n in range(5):
        conveyor.submit_inquiry(InquirySubmitted(email="hanako@example.com", topic="OTHER", message=f"m{n}"))
    client = Client(enforce_csrf_checks=True)
    fields = hidden_fields(client.get(f"{path}?lang=ja").content.decode())
    before = Inquiry.objects.count()
    answer = client.post(path, {**fields, **MESSAGE}, **SAME_ORIGIN)
    html = answer.content.decode()
    assert answer.status_code == 429 and 'data-error="form"' in html and "1時間ほどおいて" in html
    assert 'value="まだ届きません"' not in html and "まだ届きません</textarea>" in html  # what was typed is kept
    assert Inquiry.objects.count() == before


def test_the_same_client_address_is_throttled_across_emails():
    for n in range(20):
        conveyor.submit_inquiry(
            InquirySubmitted(email=f"p{n}@example.com", topic="OTHER", message="m", client_address="203.0.113.9")
        )
    client = Client()
    answer = client.post("/inquiry/", {**MESSAGE, "lang": "en"}, REMOTE_ADDR="203.0.113.9")
    assert answer.status_code == 429 and "try again in about an hour" in answer.content.decode()
    assert Inquiry.objects.count() == 20


@pytest.mark.parametrize("path", ["/inquiry/", "/inquiry/embed/"])
def test_a_nul_byte_in_the_message_is_refused_and_writes_nothing(path):
    client = Client()
    fields = hidden_fields(client.get(path).content.decode())
    answer = client.post(path, {**fields, **MESSAGE, "message": "a\x00b"}, **SAME_ORIGIN)
    assert answer.status_code == 400 and 'data-refused="bad_input"' in answer.content.decode()
    assert Inquiry.objects.count() == 0


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"email": "not-an-address"}, "email", "メールアドレスを正しく入力してください。"),
        ({"topic": ""}, "topic", "お問い合わせの種類をお選びください。"),
        ({"topic": "COMPLAINT"}, "topic", "お問い合わせの種類をお選びください。"),
        ({"message": "   "}, "message", "お問い合わせ内容をご記入ください。"),
        ({"message": "x" * 5001}, "message", "5,000文字以内"),
        ({"name": "a\nb"}, "name", "お名前は改行を含まない"),
        ({"order": "10 42"}, "order", "ご注文番号は空白を含まない"),
    ],
    ids=["email", "no-topic", "unknown-topic", "blank-message", "long-message", "two-line-name", "order-with-space"],
)
def test_a_refused_inquiry_shows_the_error_beside_its_field_in_japanese(change, error, words):
    client = Client()
    fields = hidden_fields(client.get("/inquiry/?lang=ja").content.decode())
    answer = client.post("/inquiry/", {**fields, **MESSAGE, **change})
    html = answer.content.decode()
    assert answer.status_code == 400 and f'data-error="{error}"' in html and words in html
    assert f'aria-describedby="{error}-error"' in html or f"{error}-hint {error}-error" in html
    assert Inquiry.objects.count() == 0


def test_the_privacy_note_stands_under_the_form(settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "privacy_note": "We use your address only to answer you."}
    for path in ("/inquiry/?lang=en", "/inquiry/embed/?lang=en"):
        html = Client().get(path).content.decode()
        assert html.index("</form>") < html.index("We use your address only to answer you.")


def test_the_embed_has_no_shop_frame_and_may_be_framed_by_any_site():
    page = Client().get("/inquiry/embed/?lang=en")
    html = page.content.decode()
    assert '<body class="embedded">' in html and "<header" not in html and "<footer" not in html
    assert "X-Frame-Options" not in page and "frame-ancestors *" in page["Content-Security-Policy"]
    assert "csrfmiddlewaretoken" not in html and "csrftoken" not in page.cookies  # no cookie to rely on
    assert inquiry.form_token_state(hidden_fields(html)["form_token"]) == "ok"


def test_the_embed_accepts_its_own_form_from_inside_a_frame_without_cookies():
    client = Client(enforce_csrf_checks=True)
    fields = embed_form(client, "en")
    client.cookies.clear()  # a third-party frame keeps none
    answer = client.post("/inquiry/embed/", {**fields, **MESSAGE}, **SAME_ORIGIN)
    assert answer.status_code == 303 and answer["Location"].startswith("/inquiry/embed/?")
    assert Inquiry.objects.get().topic == "SHIPPING"
    thanks = client.get(answer["Location"])
    assert 'data-state="sent"' in thanks.content.decode() and "X-Frame-Options" not in thanks


@pytest.mark.parametrize(
    "form_token, headers",
    [
        (None, SAME_ORIGIN),
        ("forged", SAME_ORIGIN),
        (signing.dumps({"f": "inquiry", "n": "x"}, salt="another.salt"), SAME_ORIGIN),
        (signing.dumps({"f": "survey", "n": "x"}, salt=inquiry.FORM_TOKEN_SALT), SAME_ORIGIN),
        ("valid", {"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"}),
        ("valid", {"HTTP_SEC_FETCH_SITE": "cross-site"}),
        ("valid", {"HTTP_SEC_FETCH_SITE": "same-site"}),
        ("valid", {"HTTP_ORIGIN": "https://evil.example"}),
        ("valid", {"HTTP_ORIGIN": "null"}),
    ],
    ids=[
        "no-token",
        "forged-token",
        "other-salt",
        "other-form",
        "cross-site",
        "fetch-cross-site",
        "fetch-same-site",
        "foreign-origin",
        "null-origin",
    ],
)
def test_the_embed_refuses_a_post_without_its_form_token_or_from_another_site(form_token, headers):
    client = Client(enforce_csrf_checks=True)
    fields = embed_form(client)
    if form_token is None:
        del fields["form_token"]
    elif form_token != "valid":
        fields["form_token"] = form_token
    answer = client.post("/inquiry/embed/", {**fields, **MESSAGE}, **headers)
    assert answer.status_code == 403 and 'data-refused="csrf"' in answer.content.decode()
    assert "X-Frame-Options" not in answer  # the refusal shows inside the storefront's frame
    assert Inquiry.objects.count() == 0


def test_an_embed_form_left_open_too_long_is_shown_again_with_what_was_typed():
    with freeze_time(timezone.now() - inquiry.FORM_TOKEN_MAX_AGE - timedelta(minutes=1)):
        fields = embed_form(Client())
    answer = Client().post("/inquiry/embed/", {**fields, **MESSAGE}, **SAME_ORIGIN)
    html = answer.content.decode()
    assert (
        answer.status_code == 400
        and "フォームを開いてから時間が経ちました" in html
        and "まだ届きません</textarea>" in html
    )
    assert inquiry.form_token_state(hidden_fields(html)["form_token"]) == "ok"  # a fresh one to send again
    assert Inquiry.objects.count() == 0


def test_a_get_of_the_form_writes_nothing():
    for path in ("/inquiry/?topic=RETURN&order=1042", "/inquiry/embed/?sent=1"):
        assert Client().get(path).status_code == 200
    assert Inquiry.objects.count() == 0
    html = Client().get("/inquiry/?topic=RETURN&order=1042&lang=en").content.decode()
    assert 'value="RETURN" checked' in html and 'value="1042"' in html
