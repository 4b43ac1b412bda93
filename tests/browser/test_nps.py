"""The NPS page in a real browser: open the email's link, change the score, send; and the page's confirmation,
which waits for the customer's own touch (a scanner's headless visit records nothing)."""

from __future__ import annotations

import time

import pytest

from saleor_conveyor.models import NpsResponse

from ..pages.helpers import customer_with_order, nps_email, score_links

pytestmark = pytest.mark.django_db(transaction=True)

THANKS = {"ja": "ご回答ありがとうございます", "en": "Thank you for answering"}


def email_link(language: str, score: int) -> tuple[object, str]:
    profile, order = customer_with_order(language=language)
    links = dict((query["score"], url) for url, query in score_links(nps_email(profile, str(order.pk))))
    return profile, links[str(score)]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_opens_the_score_7_link_changes_to_9_writes_a_comment_and_sends(browser, language):
    profile, url = email_link(language, 7)
    browser.phone()
    browser.open(url)
    assert browser.wait_for("h1").text
    assert browser.find("input[name=score][value='7']").is_selected()
    assert browser.find("html").get_attribute("lang") == language
    assert browser.page_width_fits()
    browser.screenshot(f"nps-opened-{language}")
    browser.find("input[name=score][value='9']").find_element("xpath", "..").click()
    assert browser.find("input[name=score][value='9']").is_selected()
    browser.find("#comment").send_keys("とても良い" if language == "ja" else "Really good tea")
    browser.screenshot(f"nps-changed-{language}")
    browser.find("button[type=submit]").click()
    assert browser.wait_for("[data-state=thanks] h1").text == THANKS[language]
    assert browser.page_width_fits()
    browser.screenshot(f"nps-thanks-{language}")
    stored = list(NpsResponse.objects.filter(profile=profile).values_list("score", "comment"))
    assert stored == [(9, "とても良い" if language == "ja" else "Really good tea")]


def wait_for_answer(profile, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scores = list(NpsResponse.objects.filter(profile=profile).values_list("score", flat=True))
        if scores:
            return scores
        time.sleep(0.1)
    return []


def test_opening_the_page_records_nothing_until_the_customer_touches_it(browser):
    profile, url = email_link("en", 4)
    browser.phone()
    browser.open(url)
    browser.wait_for("#nps-form")
    time.sleep(3)  # what a scanner's headless browser does: load, run the scripts, interact with nothing
    assert NpsResponse.objects.filter(profile=profile).count() == 0
    browser.find("h1").click()  # the customer's first touch anywhere on the page
    assert wait_for_answer(profile) == [4]
    assert browser.wait_for("#nps-status").text == "Your answer (4) is saved."
    browser.screenshot("nps-confirmed")


def test_a_key_press_confirms_and_picking_another_score_replaces_it(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    profile, url = email_link("ja", 2)
    browser.open(url)
    browser.wait_for("#nps-form")
    time.sleep(1)
    assert NpsResponse.objects.filter(profile=profile).count() == 0
    ActionChains(browser.driver).send_keys(Keys.TAB).perform()
    assert wait_for_answer(profile) == [2]
    browser.find("input[name=score][value='8']").find_element("xpath", "..").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and NpsResponse.objects.get(profile=profile).score != 8:
        time.sleep(0.1)
    assert list(NpsResponse.objects.filter(profile=profile).values_list("score", flat=True)) == [8]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_nps_emails_eleven_buttons_fit_a_phone_and_each_opens_its_score(browser, language, tmp_path):
    profile, order = customer_with_order(language=language)
    email = tmp_path / "nps.html"
    email.write_text(nps_email(profile, str(order.pk)), encoding="utf-8")
    browser.phone()
    browser.open(email.as_uri())
    buttons = [a for a in browser.find_all("a") if "score=" in (a.get_attribute("href") or "")]
    assert [a.text for a in buttons] == [str(n) for n in range(11)]
    assert browser.page_width_fits()
    assert len({a.location["y"] for a in buttons}) == 1  # one row, 0 to 10
    browser.screenshot(f"nps-email-{language}")
    buttons[10].click()
    assert browser.wait_for("#nps-form") and browser.find("input[name=score][value='10']").is_selected()
    assert NpsResponse.objects.count() == 0
