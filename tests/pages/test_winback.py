"""The win-back survey page and the honesty letter's improvement survey: the emailed links open them, a GET
writes nothing, an answer is recorded once through the API's service path, and every refusal writes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import tokens
from saleor_conveyor.hosts import get_config
from saleor_conveyor.mail import build_message, email_context
from saleor_conveyor.models import FanProfile, Touchpoint, WinbackResponse

from ..factories import placed, profile, touchpoint
from ..graphql.helpers import snapshot

pytestmark = pytest.mark.django_db

PATH = "/survey/winback/"


def lapsed_customer(language: str = "ja") -> FanProfile:
    """A customer whose only order was 100 days ago."""
    from saleor_conveyor import conveyor

    at = timezone.now() - timedelta(days=100)
    conveyor.record_order_placed(placed("order-lapsed", at=at), now=at)
    customer = FanProfile.objects.get(email="hanako@example.com")
    customer.language_code = language
    customer.save(update_fields=["language_code"])
    return customer


def mailed_link(customer: FanProfile, rule: str, name: str) -> str:
    """The survey link of the email the rule sends (`name`: winback_url or improvement_url), as path?query."""
    message = build_message(touchpoint(customer, rule), customer, get_config(), rule)
    html = message.alternatives[0][0]
    links = [unescape(href) for href in re.findall(r'href="([^"]+)"', html) if "survey/winback/" in href]
    assert len(links) == 1, links
    assert links[0] in message.body  # the plain-text part carries the same link
    parts = urlsplit(links[0])
    return f"{parts.path}?{parts.query}"


def answer_count() -> int:
    return WinbackResponse.objects.count()


def form_fields(html: str) -> dict[str, str]:
    return {
        name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def post(client: Client, link: str, reasons=(), comment: str = "", **overrides) -> object:
    """Submit the page's own form as a browser would: open it, then post its fields back."""
    page = client.get(link)
    fields = form_fields(page.content.decode())
    data = {**fields, "reasons": list(reasons), "comment": comment, **overrides}
    return client.post(PATH, data)


def forged(token: str) -> str:
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


def expired(customer: FanProfile, purpose: str) -> str:
    with freeze_time(timezone.now() - tokens.MAX_AGE[purpose] - timedelta(minutes=1)):
        return tokens.make_token(customer, purpose)


# --- the emailed links --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, rule, name, heading",
    [
        ("ja", "winback_survey", "winback_url", "ご購入をお休みされている理由をお聞かせください"),
        ("en", "winback_survey", "winback_url", "May we ask why you stopped?"),
        ("ja", "honesty_letter", "improvement_url", "改善すべき点を教えてください"),
        ("en", "honesty_letter", "improvement_url", "What should we improve?"),
    ],
)
def test_a_get_of_the_emailed_link_shows_the_survey_and_writes_nothing(language, rule, name, heading):
    customer = lapsed_customer(language)
    link = mailed_link(customer, rule, name)
    assert parse_qs(urlsplit(link).query)["lang"] == [language]
    before, answers = snapshot(), answer_count()
    for _ in range(3):  # a link scanner, a preview, the customer
        page = Client().get(link)
        assert page.status_code == 200
    html = page.content.decode()
    assert f"<h1>{heading}</h1>" in html and f'lang="{language}"' in html
    assert snapshot() == before and answer_count() == answers == 0


def test_the_links_are_made_only_for_the_emails_that_use_them(monkeypatch):
    customer = lapsed_customer()
    made: list[dict] = []
    real_link = tokens.link

    def counting_link(*args, **params):
        made.append(params)
        return real_link(*args, **params)

    monkeypatch.setattr(tokens, "link", counting_link)
    config = get_config()
    step = email_context(touchpoint(customer, "step_day7"), customer, config, template="step_day7", language="ja")
    assert "winback_url" not in step and "improvement_url" not in step
    assert not [params for params in made if params.get("survey") == "winback"]
    letter = touchpoint(customer, "honesty_letter")
    context = email_context(letter, customer, config, template="honesty_letter", language="en")
    assert "improvement_url" in context and "winback_url" not in context
    assert parse_qs(urlsplit(context["improvement_url"]).query)["kind"] == ["improvement"]


def test_a_shops_own_template_naming_the_link_gets_it(settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "templates": {"step_day7": {"html": '<a href="{{winback_url}}">w</a>'}}}
    customer = lapsed_customer()
    context = email_context(
        touchpoint(customer, "step_day7"), customer, get_config(), template="step_day7", language="ja"
    )
    assert "survey/winback/" in context["winback_url"]


# --- answering ------------------------------------------------------------------------------------


def test_two_reasons_and_a_comment_are_recorded_and_the_thanks_follows():
    customer = lapsed_customer("en")
    link = mailed_link(customer, "winback_survey", "winback_url")
    client = Client()
    response = post(client, link, ["QUALITY", "PRICE"], "The last tea was stale.")
    assert response.status_code == 303
    stored = WinbackResponse.objects.get()
    assert (stored.profile_id, stored.kind, stored.reasons) == (customer.pk, "winback", ["PRICE", "QUALITY"])
    assert stored.comment == "The last tea was stale." and stored.occasion == "order-lapsed"
    thanks = client.get(response["Location"])
    assert "Thank you for telling us" in thanks.content.decode() and 'data-step="thanks"' in thanks.content.decode()
    # The emailed link, opened again, says thanks instead of asking again.
    assert 'data-step="thanks"' in Client().get(link).content.decode()


def test_the_improvement_survey_records_areas_as_its_own_kind():
    customer = lapsed_customer("ja")
    link = mailed_link(customer, "honesty_letter", "improvement_url")
    response = post(Client(), link, ["PACKAGING"], "箱がつぶれていました")
    assert response.status_code == 303
    stored = WinbackResponse.objects.get()
    assert (stored.kind, stored.reasons, stored.comment) == ("improvement", ["PACKAGING"], "箱がつぶれていました")


def test_a_double_submit_records_one_answer_and_thanks_twice():
    customer = lapsed_customer("en")
    link = mailed_link(customer, "winback_survey", "winback_url")
    client = Client()
    page = client.get(link)
    data = {**form_fields(page.content.decode()), "reasons": ["PRICE"], "comment": ""}
    first = client.post(PATH, data)
    second = client.post(PATH, data)
    assert first.status_code == 303 and second.status_code == 200
    assert "We already have your answer" in second.content.decode()
    assert answer_count() == 1


@pytest.mark.parametrize(
    "language, reasons, comment, message",
    [
        ("ja", [], "", "ひとつ以上お選びいただくか、ご意見をご記入ください。"),
        ("en", [], "  ", "Choose at least one answer, or write a comment."),
        ("en", ["PRICE", "FREE_GIFT"], "", "Choose at least one answer, or write a comment."),
        ("ja", ["PRICE"], "あ" * 2001, "ご意見は2,000文字以内でご記入ください。"),
        ("en", ["PRICE"], "a" * 2001, "Please keep the comment to 2,000 characters."),
    ],
    ids=["nothing-ja", "blank-en", "unknown-code", "long-ja", "long-en"],
)
def test_a_refused_answer_shows_the_form_again_with_the_error_beside_its_field(language, reasons, comment, message):
    customer = lapsed_customer(language)
    link = mailed_link(customer, "winback_survey", "winback_url")
    before, answers = snapshot(), answer_count()
    response = post(Client(), link, reasons, comment)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html and 'role="alert"' in html
    field = "comment" if len(comment) > 2000 else "reasons"
    assert f'id="{field}-error"' in html and f'aria-describedby="{field}-error"' in html
    assert snapshot() == before and answer_count() == answers == 0
    if comment.strip():
        assert comment in unescape(html)  # what the customer wrote is not lost


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose", "missing"])
def test_a_bad_link_is_a_clear_page_and_writes_nothing(spoil):
    customer = lapsed_customer("en")
    token = {
        "forged": lambda: forged(tokens.make_token(customer, tokens.SURVEY)),
        "expired": lambda: expired(customer, tokens.SURVEY),
        "wrong_purpose": lambda: tokens.make_token(customer, tokens.UNSUBSCRIBE),
        "missing": lambda: "",
    }[spoil]()
    before = snapshot()
    client = Client()
    page = client.get(PATH, {"token": token, "lang": "en"})
    assert page.status_code == 400
    assert 'data-refused="link_' in page.content.decode() and "Traceback" not in page.content.decode()
    # The form posted with the bad token (the CSRF cookie from a good page of the same browser).
    good = client.get(PATH, {"token": tokens.make_token(customer, tokens.SURVEY)})
    fields = form_fields(good.content.decode())
    refused = client.post(PATH, {**fields, "token": token, "reasons": ["PRICE"]})
    assert refused.status_code == 400 and 'data-refused="link_' in refused.content.decode()
    assert snapshot() == before and answer_count() == 0


def test_another_customers_token_answers_only_for_that_customer():
    mine = lapsed_customer("en")
    theirs = profile("taro@example.com")
    client = Client()
    page = client.get(PATH, {"token": tokens.make_token(mine, tokens.SURVEY)})
    fields = form_fields(page.content.decode())
    # The page's hidden token swapped for another customer's: the answer is that customer's, never mine.
    client.post(PATH, {**fields, "token": tokens.make_token(theirs, tokens.SURVEY), "reasons": ["OTHER"]})
    assert list(WinbackResponse.objects.values_list("profile_id", flat=True)) == [theirs.pk]


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing():
    customer = lapsed_customer("en")
    link = mailed_link(customer, "winback_survey", "winback_url")
    client = Client(enforce_csrf_checks=True)
    fields = form_fields(client.get(link).content.decode())
    before = snapshot()
    without = {key: value for key, value in fields.items() if key != "csrfmiddlewaretoken"}
    refused = client.post(PATH, {**without, "reasons": ["PRICE"]})
    assert refused.status_code == 403 and 'data-refused="csrf"' in refused.content.decode()
    cross_site = Client(enforce_csrf_checks=True).post(PATH, {**without, "reasons": ["PRICE"]})
    assert cross_site.status_code == 403
    assert snapshot() == before and answer_count() == 0


def test_a_post_from_another_origin_is_refused_even_with_a_token():
    customer = lapsed_customer("en")
    link = mailed_link(customer, "winback_survey", "winback_url")
    client = Client(enforce_csrf_checks=True)
    fields = form_fields(client.get(link).content.decode())
    refused = client.post(PATH, {**fields, "reasons": ["PRICE"]}, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403 and answer_count() == 0
    accepted = client.post(PATH, {**fields, "reasons": ["PRICE"]})
    assert accepted.status_code == 303 and answer_count() == 1


@pytest.mark.parametrize("comment", ["a\x00b", "x" * 10_001])
def test_unreadable_input_is_refused_before_anything_is_written(comment):
    customer = lapsed_customer("en")
    link = mailed_link(customer, "winback_survey", "winback_url")
    before = snapshot()
    response = post(Client(), link, ["PRICE"], comment)
    assert response.status_code == 400 and 'data-refused="bad_input"' in response.content.decode()
    assert snapshot() == before and answer_count() == 0


def test_a_link_naming_no_such_survey_is_a_clear_page():
    customer = lapsed_customer("en")
    page = Client().get(PATH, {"token": tokens.make_token(customer, tokens.SURVEY), "kind": "bonus"})
    assert page.status_code == 400 and 'data-refused="link_invalid"' in page.content.decode()
    assert Touchpoint.objects.filter(rule="bonus").count() == 0 and answer_count() == 0
