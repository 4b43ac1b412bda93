"""The fan-degree survey in a real browser, in both languages at a phone's width."""

from __future__ import annotations

import pytest

from saleor_conveyor import tokens
from saleor_conveyor.models import FanSurveyResponse

from ..pages.helpers import customer_with_order

pytestmark = pytest.mark.django_db(transaction=True)

THANKS = {"ja": "ご回答ありがとうございます", "en": "Thank you for answering"}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_answers_the_two_questions_on_a_phone(browser, language):
    profile, _order = customer_with_order(language=language)
    browser.phone()
    browser.open(f"/survey/fan/?token={tokens.make_token(profile, tokens.SURVEY)}")
    assert browser.wait_for("h1").text
    assert browser.find("html").get_attribute("lang") == language
    assert browser.page_width_fits()
    browser.screenshot(f"fan-opened-{language}")
    browser.find("button[type=submit]").click()  # nothing chosen: both questions say so
    assert browser.wait_for("#fan-degree-error").is_displayed() and browser.find("#liking-error").is_displayed()
    assert FanSurveyResponse.objects.count() == 0
    browser.screenshot(f"fan-errors-{language}")
    browser.find("input[name=fan_degree][value=KEEP_SUPPORTING]").find_element("xpath", "..").click()
    browser.find("input[name=liking][value=LOVE]").find_element("xpath", "..").click()
    browser.find("button[type=submit]").click()
    assert browser.wait_for("[data-state=thanks] h1").text == THANKS[language]
    assert browser.page_width_fits()
    browser.screenshot(f"fan-thanks-{language}")
    stored = list(FanSurveyResponse.objects.filter(profile=profile).values_list("fan_degree", "liking", "segment"))
    assert len(stored) == 1 and stored[0][:2] == ("KEEP_SUPPORTING", "LOVE")
