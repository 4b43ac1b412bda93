"""Email templates: every email rule in ja and en, escaping, plain text, overrides, one-click unsubscribe."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail as django_mail
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from saleor_conveyor import delivery, mail, tokens
from saleor_conveyor.engine.rules import DEFAULT_RULES
from saleor_conveyor.hosts import get_config
from saleor_conveyor.mail import build_message, choose_language, render_email, shipped_languages
from saleor_conveyor.models import TouchpointStatus

from ..factories import profile, touchpoint

pytestmark = pytest.mark.django_db

MAILED_RULES = [rule for rule in DEFAULT_RULES["rules"] if rule["kind"] in {"EMAIL", "COUPON"}]


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("rule", MAILED_RULES, ids=lambda rule: rule["name"])
def test_every_email_rule_has_a_template_in_japanese_and_english(rule, language):
    context = {"first_name": "Hanako", "shop_name": "Shop", "survey_url": "https://s/x", "nps_url": "https://s/n"}
    rendered = render_email(
        rule.get("template", rule["name"]), language, {**context, "coupon_code": "C-1"}, get_config()
    )
    assert rendered.subject and "{{" not in rendered.subject
    assert "Hanako" in rendered.html and "Hanako" in rendered.text
    assert "<p>" not in rendered.text
    if rule["kind"] == "COUPON":
        assert "C-1" in rendered.html and "C-1" in rendered.text


def test_both_languages_ship():
    assert {"ja", "en"} <= shipped_languages()


@pytest.mark.parametrize(
    ("customer_language", "chosen"),
    [("ja", "ja"), ("ja-JP", "ja"), ("JA_JP", "ja"), ("en", "en"), ("en-us", "en"), ("fr", "ja"), ("", "ja")],
)
def test_language_follows_the_customer_falling_back_to_the_shops_default(customer_language, chosen):
    assert choose_language(customer_language, get_config()) == chosen


def test_default_language_is_configurable(settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "default_language": "en"}
    assert choose_language("fr", get_config()) == "en"


def test_a_name_with_a_script_tag_is_escaped_in_html_and_kept_as_typed_in_text():
    hacker = profile(first_name="<script>alert(1)</script>", language_code="en")
    message = build_message(touchpoint(hacker), hacker, get_config(), "step_day7")
    html = message.alternatives[0][0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in message.body  # text/plain is not rendered as HTML


def test_marketing_email_carries_sender_unsubscribe_link_and_one_click_headers():
    hanako = profile(first_name="花子", language_code="ja")
    tp = touchpoint(hanako, "step_day7")
    message = build_message(tp, hanako, get_config(), "step_day7")
    assert message.from_email == "Sandbox Shop <shop@example.com>"
    one_click = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert one_click.startswith("http://localhost:8000/unsubscribe/?token=")  # the conveyor's own endpoint
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = parse_qs(urlsplit(one_click).query)["token"][0]
    assert tokens.read_token(token, tokens.UNSUBSCRIBE) == hanako.id
    page = re.search(r'href="(http://localhost:8000/preferences/\?token=[^"]+)"', message.alternatives[0][0])
    assert page is not None  # the body links to the mail-preferences page
    url = html.unescape(page.group(1))
    assert tokens.read_token(parse_qs(urlsplit(url).query)["token"][0], tokens.UNSUBSCRIBE) == hanako.id
    assert url in message.body
    assert "花子 様" in message.body and "配信停止" in message.body
    assert message.subject == "ほかのお客様の使い方をご紹介します"


def test_service_email_has_no_unsubscribe_header():
    hanako = profile(language_code="en")
    message = build_message(touchpoint(hanako, "step_day3"), hanako, get_config(), "step_day3")
    assert "List-Unsubscribe" not in message.extra_headers
    assert "unsubscribe" not in message.body.lower()
    assert message.body.startswith("Dear customer,")


def test_shop_overrides_subject_and_body_for_one_language(settings):
    settings.CONVEYOR = {
        **settings.CONVEYOR,
        "templates": {
            "step_day7": {"en": {"subject": "Stories for {{first_name}}", "html": "<p>Hi {{first_name}}</p>"}}
        },
    }
    config = get_config()
    en = render_email("step_day7", "en", {"first_name": "A&B"}, config)
    assert en.subject == "Stories for A&B"
    assert "<p>Hi A&amp;B</p>" in en.html
    assert "Hi A&B" in en.text
    ja = render_email("step_day7", "ja", {"first_name": "A"}, config)
    assert ja.subject == "ほかのお客様の使い方をご紹介します"


def test_a_broken_override_fails_the_touchpoint_at_once_with_the_reason(settings, knobs):
    settings.CONVEYOR = {**settings.CONVEYOR, "templates": {"step_day7": {"html": "{{#if x}}a{{/each}}"}}}
    tp = touchpoint(profile(language_code="en"), "step_day7")
    report = delivery.deliver_batch()
    tp.refresh_from_db()
    assert report.failed == [tp.id]
    assert tp.status == TouchpointStatus.FAILED and tp.attempts == 1
    assert "does not compile" in tp.outcome
    assert django_mail.outbox == []


# --- plain text: the fast reading of plain markup agrees with HTMLParser ------------------


def read_by_html_parser(html: str) -> str:
    maker = mail._TextMaker()
    maker.feed(html)
    maker.close()
    return maker.text()


NASTY_NAMES = [
    "Hanako",
    "<script>alert(1)</script>",
    "A & B",
    "  spaced\n\tout  ",
    "花子\u3000様",
    'O\'Brien "Bob"',
    "",
]


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("rule", MAILED_RULES, ids=lambda rule: rule["name"])
def test_every_shipped_email_is_read_as_text_exactly_as_html_parser_reads_it(rule, language):
    config = get_config()
    for marketing, name in [(True, n) for n in NASTY_NAMES] + [(False, "Taro")]:
        context = {
            "first_name": name,
            "shop_name": 'Shop <&> "quoted"',
            "sender_email": "shop@example.com",
            "storefront_url": "https://shop.example.com/?a=1&b=2",
            "survey_url": "https://s/x?token=a&b",
            "nps_url": "https://s/n",
            "unsubscribe_url": "https://s/u?token=t" if marketing else "",
            "return_url": "https://s/r?token=r&lang=ja",
            "coupon_code": "C-1",
            "marketing": marketing,
        }
        html = render_email(rule.get("template", rule["name"]), language, context, config).html
        assert mail._TextMaker().feed_plain_markup(html), "a shipped template left the fast path"
        assert mail.html_to_text(html) == read_by_html_parser(html)


MARKUP_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<P class=x>",
        '<div style="a:b">',
        "</div>",
        "<br>",
        "<br/>",
        "<BR />",
        "<li>",
        "</li>",
        "<ul>",
        "</ul>",
        '<a href="https://x/?a=1&amp;b=2">',
        "<a href='mailto:s@x'>",
        "<a href=bare>",
        "<a>",
        '<a title=" href=&quot;no&quot;" href="yes">',
        "</a>",
        "</A>",
        "<head>",
        "</head>",
        "<title>",
        "</title>",
        "<b>",
        "</b>",
        "<hr>",
        "<hr/>",
        "<!DOCTYPE html>",
        "<!-- a comment <p> -->",
        "<script>x<p>y</script>",
        "<style>p{}</style>",
        "<",
        ">",
        "&",
        "&amp;",
        "&lt;script&gt;",
        "&#39;",
        "&nbsp;",
        "&copy",
        "a < b",
        "<my-tag>",
        "<p/>",
        "</p x>",
        '<a href="unterminated>',
        " ",
        "\n",
        "\u3000",
        "text",
        "花子",
        "  two  ",
    ]
)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(MARKUP_PIECES, max_size=30))
def test_any_markup_is_read_as_text_exactly_as_html_parser_reads_it(pieces):
    html = "".join(pieces)
    assert mail.html_to_text(html) == read_by_html_parser(html)
