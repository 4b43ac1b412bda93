"""The win-back survey and the mail preferences page in a real browser, as a customer clicks through them at a
phone's width in both languages; the database is checked afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from saleor_conveyor import conveyor, tokens
from saleor_conveyor.models import ConsentChange, FanProfile, WinbackResponse

from ..factories import placed

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "ja": {
        "heading": "ご購入をお休みされている理由をお聞かせください",
        "thanks": "ご回答ありがとうございました",
        "error": "ひとつ以上お選びいただくか、ご意見をご記入ください。",
        "comment": "最近は近所のお店で買っています。",
        "unsubscribe": "お知らせメールを停止する",
        "resubscribe": "お知らせメールの受け取りを再開する",
        "stopped": "配信を停止しました。",
        "restarted": "配信を再開しました。",
    },
    "en": {
        "heading": "May we ask why you stopped?",
        "thanks": "Thank you for telling us",
        "error": "Choose at least one answer, or write a comment.",
        "comment": "I buy from a shop near me now.",
        "unsubscribe": "Stop news and offers",
        "resubscribe": "Receive news and offers again",
        "stopped": "Done: we will not send you news and offers any more.",
        "restarted": "Done: you will receive our news and offers again.",
    },
}


def lapsed_customer(language: str) -> FanProfile:
    at = timezone.now() - timedelta(days=100)
    conveyor.record_order_placed(placed(f"order-{language}", at=at), now=at)
    customer = FanProfile.objects.get(email="hanako@example.com")
    customer.language_code = language
    customer.save(update_fields=["language_code"])
    return customer


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_lapsed_customer_answers_the_winback_survey_on_a_phone(browser, language):
    words = WORDS[language]
    customer = lapsed_customer(language)
    browser.phone()
    browser.open(tokens.link(customer, tokens.SURVEY, page="survey/winback/", kind="winback"))
    assert browser.wait_for("h1").text == words["heading"]
    assert browser.find("html").get_attribute("lang") == language
    assert browser.page_width_fits()
    browser.screenshot(f"winback-form-{language}")
    assert WinbackResponse.objects.count() == 0  # opening the link wrote nothing

    browser.find("button[type=submit]").click()  # nothing chosen: refused, the form again
    assert words["error"] in browser.wait_for("#reasons-error").text
    assert browser.find("#errors").get_attribute("role") == "alert"
    assert browser.page_width_fits()
    browser.screenshot(f"winback-refused-{language}")
    assert WinbackResponse.objects.count() == 0

    browser.find("label[for=reason-PRICE]").click()
    browser.find("#reason-DELIVERY").click()
    browser.find("#comment").send_keys(words["comment"])
    browser.screenshot(f"winback-filled-{language}")
    browser.find("button[type=submit]").click()
    assert browser.wait_for("[data-step=thanks] h1").text == words["thanks"]
    assert browser.page_width_fits()
    browser.screenshot(f"winback-thanks-{language}")

    stored = WinbackResponse.objects.get()
    assert (stored.profile_id, stored.kind, stored.reasons) == (customer.pk, "winback", ["PRICE", "DELIVERY"])
    assert stored.comment == words["comment"] and stored.occasion == f"order-{language}"


def test_the_improvement_survey_is_answered_with_the_keyboard_only(browser):
    from selenium.webdriver.common.keys import Keys

    customer = lapsed_customer("en")
    browser.open(tokens.link(customer, tokens.SURVEY, page="survey/winback/", kind="improvement", lang="en"))
    assert browser.wait_for("h1").text == "What should we improve?"
    first = browser.find("#reason-PRODUCT_QUALITY")
    first.send_keys(Keys.SPACE)  # focus it and tick it, as a keyboard user would
    assert first.is_selected()
    browser.driver.switch_to.active_element.send_keys(Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(Keys.SPACE)  # the next box: Price
    browser.screenshot("improvement-keyboard-en")
    browser.find("#comment").send_keys("Smaller boxes, please.", Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)  # the Send button
    assert browser.wait_for("[data-step=thanks] h1").text == "Thank you for telling us"
    stored = WinbackResponse.objects.get()
    assert (stored.kind, stored.reasons) == ("improvement", ["PRODUCT_QUALITY", "PRICE"])


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_unsubscribes_then_resubscribes_on_the_preferences_page(browser, language):
    words = WORDS[language]
    customer = lapsed_customer(language)
    browser.phone()
    browser.open(tokens.link(customer, tokens.UNSUBSCRIBE, lang=language))
    browser.wait_for("h1")
    assert browser.find("[data-subscribed]").get_attribute("data-subscribed") == "true"
    assert browser.page_width_fits()
    browser.screenshot(f"preferences-subscribed-{language}")
    assert ConsentChange.objects.count() == 0

    browser.find("button[value=unsubscribe]").click()
    assert words["stopped"] in browser.wait_for("[data-done=unsubscribed]").text
    assert browser.find("button[value=resubscribe]").text == words["resubscribe"]
    browser.screenshot(f"preferences-unsubscribed-{language}")
    stopped_at = FanProfile.objects.get(pk=customer.pk).unsubscribed_at
    assert stopped_at is not None

    browser.find("button[value=resubscribe]").click()
    assert words["restarted"] in browser.wait_for("[data-done=resubscribed]").text
    assert browser.find("button[value=unsubscribe]").text == words["unsubscribe"]
    assert browser.page_width_fits()
    browser.screenshot(f"preferences-resubscribed-{language}")

    assert FanProfile.objects.get(pk=customer.pk).unsubscribed_at is None
    rows = list(ConsentChange.objects.order_by("id").values_list("profile_id", "subscribed", "source", "created_at"))
    assert [row[:3] for row in rows] == [
        (customer.pk, False, "preferences_page"),
        (customer.pk, True, "preferences_page"),
    ]
    assert rows[0][3] == stopped_at and rows[0][3] <= rows[1][3]
