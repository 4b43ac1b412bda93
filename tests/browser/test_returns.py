"""The return request page in a real browser, as a customer on a phone: open the emailed link, choose a
quantity and a reason, send, see the request's status; then the rows in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from saleor_conveyor import tokens
from saleor_conveyor.models import FanProfile, ReturnLine, ReturnRequest

from ..factories import shop_order

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "ja": {"title": "返品のお申し込み", "sent": "返品のお申し込みを受け付けました", "status": "確認中"},
    "en": {"title": "Request a return", "sent": "We have your return request", "status": "Being checked"},
}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_requests_a_return_from_the_emailed_link_on_a_phone(browser, language):
    user = get_user_model().objects.create_user(username="hanako", email="hanako@example.com", password="x")
    now = timezone.now()
    order = shop_order(
        user,
        (("Green tea 100g", 3, 3), ("Tea cup", 1, 1)),
        placed_at=now - timedelta(days=4),
        fulfilled_at=now - timedelta(days=3),
    )
    tea = order.lines.get(product_name="Green tea 100g")
    url = tokens.link(FanProfile.objects.get(user=user), tokens.RETURN, order_id=str(order.pk), lang=language)
    browser.phone()
    browser.open(url)
    assert browser.wait_for("h1").text == WORDS[language]["title"]
    assert browser.find("html").get_attribute("lang") == language
    assert ReturnRequest.objects.count() == 0  # opening the link wrote nothing
    assert browser.page_width_fits()
    browser.screenshot(f"return-form-{language}")

    from selenium.webdriver.support.ui import Select

    Select(browser.find(f"#quantity-{tea.pk}")).select_by_value("2")
    browser.find('input[name="reason"][value="DAMAGED"]').click()
    browser.find("#comment").send_keys("箱がつぶれていました" if language == "ja" else "The box was crushed")
    browser.screenshot(f"return-filled-{language}")
    browser.find('button[type="submit"]').click()

    browser.screenshot(f"return-after-{language}")
    assert WORDS[language]["sent"] in browser.wait_for("[data-sent]").text, browser.driver.page_source[:3000]
    status = browser.find('[data-status="REQUESTED"]')
    assert WORDS[language]["status"] in status.text
    assert browser.page_width_fits()
    browser.screenshot(f"return-sent-{language}")
    asked = ReturnRequest.objects.get()
    assert (asked.reason, asked.status, asked.purchase.order_id) == ("DAMAGED", "REQUESTED", str(order.pk))
    assert list(ReturnLine.objects.values_list("order_line_id", "quantity", "product_name")) == [
        (str(tea.pk), 2, "Green tea 100g")
    ]
    # Reopening the link later shows the request, and only one more of the tea is left to return.
    browser.open(url)
    browser.wait_for('[data-status="REQUESTED"]')
    options = [o.get_attribute("value") for o in browser.find_all(f"#quantity-{tea.pk} option")]
    assert options == ["0", "1"]
