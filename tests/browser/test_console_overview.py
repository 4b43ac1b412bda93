"""The overview in real Chromium: a simulated shop's figures equal conveyorStats', the filter form changes them
(keeping the Dashboard session), the charts are drawn, readable in both languages, on a phone, in dark mode."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from saleor_conveyor.console import auth
from tests.console.overview_shop import simulated_shop, staff_member
from tests.console.test_overview import STATS
from tests.graphql.helpers import Api

pytestmark = pytest.mark.django_db(transaction=True)


def shown(browser) -> dict[str, str]:
    """The figures as the browser has them (data-value) and their visible text, by data-figure name."""
    return {
        element.get_attribute("data-figure"): (element.get_attribute("data-value"), element.text)
        for element in browser.find_all("[data-figure]")
    }


def whole_page(browser, name: str) -> None:
    """A screenshot of the whole page, not only the window's height."""
    width = browser.driver.get_window_size()["width"]
    height = browser.driver.execute_script("return document.documentElement.scrollHeight")
    browser.driver.set_window_size(width, min(height + 120, 12000))
    browser.screenshot(name)


def check_against_the_api(browser, answer: dict) -> None:
    figures = shown(browser)
    api = answer["conveyorStats"]
    score = api["nps"]["score"]
    assert figures["nps-score"] == ("" if score is None else str(score), "—" if score is None else str(score))
    for name in ("promoters", "passives", "detractors"):
        assert figures[name][0] == str(api["nps"][name]) and figures[name][1].endswith(str(api["nps"][name]))
    assert figures["streak"][0] == str(api["improvingStreak"])
    stages = {row["stage"]: row["count"] for row in api["stages"]}
    assert figures["campaign-only"][0] == str(stages["CAMPAIGN_ONLY"])
    f2 = api["f2ConversionRate"]
    assert figures["f2"][1].endswith("—" if f2 is None else f"{f2 * 100:.1f}%")
    heat = {
        element.get_attribute("data-cell"): int(element.get_attribute("data-value"))
        for element in browser.find_all("[data-cell]")
    }
    assert heat == {row["cell"]: row["count"] for row in api["engagementGrid"]}


def test_the_overview_shows_the_shops_numbers_and_the_filter_changes_them(browser):
    simulated_shop()
    user = staff_member("orders@example.com", "conveyor_manage_orders")
    session = auth.session_token(user, auth.VIA_DASHBOARD)  # as inside the Dashboard's cookieless iframe
    browser.open(f"/console/overview/?s={session}&lang=en")
    browser.wait_for("[data-figure='nps-score']")
    assert "Overview" in browser.driver.title
    assert len(browser.find_all(".chart svg")) >= 7
    check_against_the_api(browser, Api()(STATS, user=user).data)
    whole_page(browser, "en-desktop")
    browser.desktop()
    browser.driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    whole_page(browser, "en-desktop-tables")
    browser.desktop()
    browser.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    whole_page(browser, "en-desktop-dark")
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.phone()
    assert browser.page_width_fits()
    whole_page(browser, "en-phone")
    browser.phone()

    browser.desktop()
    before = shown(browser)
    since = (timezone.localdate() - timedelta(days=40)).isoformat()
    browser.driver.execute_script("document.getElementById('f-since').value = arguments[0]", since)
    browser.follow("[data-form='overview-filter'] button[type=submit]")
    browser.wait_for("[data-window]")
    assert f"since={since}" in browser.driver.current_url and f"s={session[:20]}" in browser.driver.current_url
    after = shown(browser)
    assert after != before
    check_against_the_api(browser, Api()(STATS, {"since": since}, user=user).data)
    assert since in browser.find("[data-window]").text
    assert browser.find("#f-since").get_attribute("value") == since  # the form shows the window it applied
    csv_link = browser.find("[data-csv='nps']").get_attribute("href")
    assert f"since={since}" in csv_link and "part=nps" in csv_link
    browser.screenshot("en-filtered")


def test_the_overview_in_japanese_on_desktop_and_phone(browser):
    simulated_shop()
    user = staff_member("orders@example.com", "conveyor_manage_orders")
    browser.open(f"/console/overview/?s={auth.session_token(user, auth.VIA_DASHBOARD)}&lang=ja")
    browser.wait_for("[data-figure='nps-score']")
    text = browser.text()
    assert "概要" in text and "ステージ別の顧客数" in text and "ルールの効果" in text
    check_against_the_api(browser, Api()(STATS, user=user).data)
    whole_page(browser, "ja-desktop")
    browser.phone()
    assert browser.page_width_fits()
    whole_page(browser, "ja-phone")


def test_a_staff_member_without_manage_orders_sees_the_refusal_and_no_chart(browser):
    simulated_shop(customers=10, days=40)
    user = staff_member("users@example.com", "conveyor_manage_users")
    browser.open(f"/console/overview/?s={auth.session_token(user, auth.VIA_DASHBOARD)}&lang=en")
    assert "MANAGE_ORDERS" in browser.text()
    assert not browser.find_all("svg") and not browser.find_all("[data-figure]")
    browser.screenshot("refused")


def test_a_window_a_worker_computes_reloads_itself_until_its_figures_are_there(browser, settings, monkeypatch):
    from django.core.cache import cache

    from saleor_conveyor import delivery, tasks
    from saleor_conveyor.hosts import get_host
    from tests.console.conftest import shared_cache

    simulated_shop()
    settings.CACHES, settings.CONVEYOR_CONSOLE_CACHE_SECONDS = shared_cache(), 300  # kept, as in a shop
    cache.clear()
    settings.CONVEYOR_DELIVERY = {"enqueue": True}
    asked: list[tuple] = []
    task = get_host().celery_app().tasks[delivery.COMPUTE_CONSOLE_FIGURES]
    monkeypatch.setattr(task, "apply_async", lambda arguments, **options: asked.append(tuple(arguments)))
    user = staff_member("orders@example.com", "conveyor_manage_orders")
    session = auth.session_token(user, auth.VIA_DASHBOARD)
    since = (timezone.localdate() - timedelta(days=40)).isoformat()
    browser.open(f"/console/overview/?s={session}&lang=ja&since={since}")
    notice = browser.wait_for("[data-computing]")
    assert "計算しています" in notice.text and not browser.find_all("[data-figure='nps-score']")
    browser.screenshot("ja-computing")
    waiting = browser.find("html")
    browser.wait_replaced(waiting)  # it reloads itself, no script needed
    browser.wait_for("[data-computing]")
    assert len(asked) == 1  # the reload did not ask again
    tasks.compute_console_figures(*asked[0])  # the worker keeps them
    browser.wait_for("[data-figure='nps-score']", timeout=10)
    query = parse_qs(urlsplit(browser.driver.current_url).query)
    assert query["s"] == [session] and query["since"] == [since] and "refresh" not in query
    assert not browser.find_all("[data-computing]") and len(browser.find_all(".chart svg")) >= 7
    whole_page(browser, "ja-computed-by-the-worker")
    cache.clear()
