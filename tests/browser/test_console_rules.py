"""The rule editor in real Chromium: a staff member edits a rule's delay and adds a condition, is told beside the
field that a negative delay cannot be used, fixes it, saves, and once the rebuild has run the customer's scheduled
touchpoint has moved. Both languages, desktop and phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from saleor_conveyor.console import auth
from saleor_conveyor.conveyor import rule_book
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, RuleBookChange, Touchpoint
from tests.browser.test_console_overview import whole_page
from tests.factories import shop_order

pytestmark = pytest.mark.django_db(transaction=True)


def choose(element, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(element).select_by_value(value)


def retype(element, text: str) -> None:
    element.clear()
    element.send_keys(text)


def admin_session() -> str:
    user = get_user_model().objects.create_user(
        username="admin@example.com", email="admin@example.com", password="pw", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="conveyor_manage_plugins"))
    return auth.session_token(user, auth.VIA_DASHBOARD)


def test_a_staff_member_edits_a_delay_and_a_condition_and_the_touchpoint_moves(browser):
    hanako = get_user_model().objects.create_user(username="h@example.com", email="h@example.com", password="x")
    placed = timezone.now() - timedelta(days=1)
    shop_order(hanako, placed_at=placed)
    scheduled = Touchpoint.objects.get(profile=FanProfile.objects.get(user=hanako), rule="step_day7")
    assert scheduled.due_at == placed + timedelta(days=7)
    i = [rule.name for rule in get_config().rule_book.rules].index("step_day7")
    session = admin_session()

    browser.open(f"/console/rules/?s={session}&lang=en")
    browser.wait_for(f"#r{i}-days")
    retype(browser.find(f"#r{i}-days"), "-3")
    add = browser.find(f"[data-add-condition='r{i}-']")
    assert add.is_displayed()
    add.click()  # a second, empty condition row (the first empty one is there without script)
    assert browser.find(f"#r{i}-c1-key") is not None
    choose(browser.find(f"#r{i}-c0-key"), "customer")
    retype(browser.find(f"#r{i}-c0-value"), "account")
    browser.follow("[data-save]")

    error = browser.wait_for(f"#r{i}-days-error")
    days = browser.find(f"#r{i}-days")
    assert "negative" in error.text and days.get_attribute("aria-invalid") == "true"
    assert f"r{i}-days-error" in days.get_attribute("aria-describedby")
    gap = error.location["y"] - (days.location["y"] + days.size["height"])
    assert 0 <= gap < 40 and abs(error.location["x"] - days.location["x"]) < 40  # right under the field
    assert browser.find(f"#r{i}-c0-value").get_attribute("value") == "account"  # nothing typed was lost
    assert RuleBookChange.objects.count() == 0
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", days)
    browser.screenshot("en-desktop-refused")
    browser.phone()
    assert browser.page_width_fits()
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", days)
    browser.screenshot("en-phone-refused")
    browser.desktop()

    browser.find("#rule-errors a").click()  # the summary's link goes to the field
    assert browser.driver.switch_to.active_element == days
    retype(days, "10")
    browser.follow("[data-save]")

    notice = browser.wait_for("[data-notice]")
    assert "Saved" in notice.text
    change = RuleBookChange.objects.get()
    assert change.changed_by == "admin@example.com"
    assert get_config().rule_book.rule("step_day7").conditions.customer == "account"
    rule_book.run_rebuild(change.pk)  # what the worker does in the background
    assert Touchpoint.objects.get(pk=scheduled.pk).due_at == placed + timedelta(days=10)

    browser.open(f"/console/rules/?s={session}&lang=en")
    assert "Done (1 of 1 customers)" in browser.wait_for("#rebuild-progress").text
    assert "step_day7.days: 7 → 10" in browser.find(f"[data-change='{change.pk}']").text
    whole_page(browser, "en-desktop")
    browser.phone()
    assert browser.page_width_fits()
    browser.screenshot("en-phone")

    browser.desktop()
    browser.open(f"/console/rules/?s={session}&lang=ja")
    browser.wait_for(f"#r{i}-days")
    assert "ルールの編集" in browser.text() and "完了" in browser.find("#rebuild-progress").text
    browser.screenshot("ja-desktop")
    browser.phone()
    assert browser.page_width_fits()
    browser.screenshot("ja-phone")

    browser.desktop()
    browser.open(f"/console/rules/preview/?s={session}&lang=ja&rule=step_day7&lang_preview=ja")
    assert browser.wait_for("[data-subject]").text and "花子" in browser.text()  # the sample customer
    assert browser.find("iframe.email-preview").get_attribute("sandbox") == ""  # the email runs nothing
    browser.screenshot("ja-preview")
