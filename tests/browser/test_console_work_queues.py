"""The work queues in real Chromium: a staff member prints three thank-you cards and marks them done together, and
approves a return (the host records it); both pages in English and Japanese, on a desktop and a phone."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys

from saleor_conveyor.models import ReturnRequest, Touchpoint
from sandbox.shop.models import OrderReturn
from tests.console.queues_shop import card_customers, requested_return, staff_member

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(browser, email: str = "orders@example.com") -> None:
    staff_member(email, "MANAGE_ORDERS")
    browser.open("/console/sign-in/?lang=en")
    browser.find("#email").send_keys(email)
    browser.find("#password").send_keys("pw-staff")
    browser.follow("form[data-form='sign-in'] button")
    browser.wait_for("nav[aria-label]")


def whole_page(browser, name: str) -> None:
    width = browser.driver.get_window_size()["width"]
    height = browser.driver.execute_script("return document.documentElement.scrollHeight")
    browser.driver.set_window_size(width, min(height + 120, 8000))
    browser.screenshot(name)


def test_a_staff_member_prints_three_cards_and_marks_them_done_in_bulk(browser):
    tasks = card_customers(4)
    sign_in(browser)
    browser.open("/console/tasks/?lang=en")
    browser.wait_for(f'[data-task="{tasks[0].pk}"]')
    assert "Hand-written thank-you card (paper)" in browser.text() and "〒150-0001" in browser.text()
    whole_page(browser, "tasks-en-desktop")
    browser.desktop()
    chosen = tasks[:3]
    browser.find(f"#task-{chosen[0].pk}").send_keys(Keys.SPACE)  # the keyboard ticks a box
    for task in chosen[1:]:
        label = browser.find(f"label[for='task-{task.pk}']")
        browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
        label.click()  # so does the customer's name
    assert [box.is_selected() for box in browser.find_all("input[name=task]")] == [True, True, True, False]
    browser.follow("button[data-action=print]")
    browser.wait_for(".print-sheet")
    assert len(browser.find_all(".print-sheet")) == 3
    assert "Dear 山田 花子," in browser.text() and "card3@example.com" not in browser.text()
    whole_page(browser, "print-en-desktop")
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find(".console-bar").is_displayed() and not browser.find(".print-controls").is_displayed()
    whole_page(browser, "print-en-as-printed")
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    browser.desktop()
    assert not Touchpoint.objects.filter(status="SENT").exists()

    browser.driver.back()
    browser.wait_for(f'[data-task="{tasks[0].pk}"]')
    for task in chosen:
        box = browser.find(f"#task-{task.pk}")
        if not box.is_selected():
            box.send_keys(Keys.SPACE)
    browser.find("#note").send_keys("Written with the green pen")
    browser.follow("button[data-action=done]")
    assert "3 tasks marked done." in browser.wait_for("[data-notice=done]").text
    assert len(browser.find_all("[data-task]")) == 1
    done = Touchpoint.objects.filter(pk__in=[task.pk for task in chosen])
    assert {(row.status, row.done_by, row.note) for row in done} == {
        ("SENT", "orders@example.com", "Written with the green pen")
    }
    browser.screenshot("tasks-en-after-done")
    browser.follow("[data-filter=done]")
    assert len(browser.find_all('[data-status="DONE"]')) == 3
    whole_page(browser, "tasks-en-done")
    browser.desktop()

    browser.open("/console/tasks/?lang=ja")
    assert "スタッフタスク" in browser.wait_for("h1").text and "高橋 健" in browser.text()
    assert "返品" in browser.find("nav[aria-label]").text
    whole_page(browser, "tasks-ja-desktop")
    browser.phone()
    browser.open("/console/tasks/?lang=ja")
    browser.wait_for("[data-task]")
    assert browser.page_width_fits()
    whole_page(browser, "tasks-ja-phone")
    browser.phone()
    browser.open("/console/tasks/?lang=en")
    browser.wait_for("[data-task]")
    assert browser.page_width_fits()
    whole_page(browser, "tasks-en-phone")
    browser.phone()
    browser.open(f"/console/tasks/print/?ids={','.join(str(t.pk) for t in chosen)}&lang=ja")
    browser.wait_for(".print-sheet")
    assert browser.page_width_fits() and "山田 花子 様" in browser.text()
    whole_page(browser, "print-ja-phone")


def test_a_staff_member_approves_a_return_and_the_shop_records_it(browser):
    asked = requested_return()
    requested_return("taro@example.com", "Taro")
    sign_in(browser)
    browser.open("/console/returns/?lang=en")
    browser.wait_for(f'[data-return="{asked.pk}"]')
    assert "Damaged or dirty" in browser.text() and "The lid was cracked" in browser.text()
    whole_page(browser, "returns-en-desktop")
    browser.desktop()
    browser.find(f"#note-{asked.pk}").send_keys("Sorry about the lid")
    browser.follow(f'[data-return="{asked.pk}"] button[data-action=approve]')
    assert "approved" in browser.wait_for("[data-notice=decided]").text.lower()
    asked.refresh_from_db()
    assert (asked.status, asked.note, asked.decided_by) == ("APPROVED", "Sorry about the lid", "orders@example.com")
    created = OrderReturn.objects.get()  # the return the shop (the host) recorded on the order
    assert asked.host_reference == str(created.pk) and str(created.order_id) == asked.purchase.order_id
    assert not browser.find_all(f'[data-return="{asked.pk}"]')
    browser.follow("[data-filter=decided]")
    assert browser.wait_for(f'[data-return="{asked.pk}"][data-status="APPROVED"]')
    whole_page(browser, "returns-en-decided")
    browser.desktop()
    browser.open("/console/returns/?lang=ja")
    assert "返品依頼" in browser.wait_for("h1").text
    whole_page(browser, "returns-ja-desktop")
    browser.phone()
    browser.open("/console/returns/?lang=ja")
    browser.wait_for("[data-return]")
    assert browser.page_width_fits()
    whole_page(browser, "returns-ja-phone")
    browser.phone()
    browser.open("/console/returns/?lang=en&show=decided")
    browser.wait_for("[data-return]")
    assert browser.page_width_fits()
    whole_page(browser, "returns-en-phone")
    assert ReturnRequest.objects.filter(status="REQUESTED").count() == 1
