"""The pages' shared refusals, seen in a real browser: an unknown page and a forged link each get a clear page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "language, heading", [("ja", "ページが見つかりません"), ("en", "Page not found")], ids=["ja", "en"]
)
def test_an_unknown_page_is_a_clear_page_in_the_customers_language(browser, language, heading):
    browser.phone()
    browser.open(f"/survey/no-such-page/?lang={language}")
    assert browser.wait_for("h1").text == heading
    assert browser.find("html").get_attribute("lang") == language
    assert browser.page_width_fits()
    browser.screenshot(f"not-found-{language}")
