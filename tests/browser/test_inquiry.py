"""The contact form in a real browser, on a phone, in both languages; and its embeddable version framed by a
page of another site (a storefront), sent from inside the frame where the storefront's browser keeps no
cookies of ours."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from saleor_conveyor.models import Inquiry

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "ja": {"title": "お問い合わせ", "thanks": "お問い合わせありがとうございます", "message": "配送日を変更できますか"},
    "en": {"title": "Contact us", "thanks": "Thank you for your message", "message": "Can I change the delivery day?"},
}


def fill(browser, language: str, email: str) -> None:
    browser.find("#email").send_keys(email)
    browser.find("#name").send_keys("山田花子" if language == "ja" else "Hanako Yamada")
    browser.find("#order").send_keys("1042")
    browser.find('input[name="topic"][value="SHIPPING"]').click()
    browser.find("#message").send_keys(WORDS[language]["message"])


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_sends_the_contact_form_on_a_phone(browser, language, settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "privacy_note": "お預かりした情報は、お返事のためだけに使います。"}
    browser.phone()
    browser.open(f"/inquiry/?lang={language}")
    assert browser.wait_for("h1").text == WORDS[language]["title"]
    assert "お返事のためだけに使います" in browser.find(".privacy-note").text
    fill(browser, language, "hanako@example.com")
    assert browser.page_width_fits()
    browser.screenshot(f"inquiry-filled-{language}")
    browser.find('button[type="submit"]').click()
    assert browser.wait_for("[data-state=sent] h1").text == WORDS[language]["thanks"]
    assert browser.page_width_fits()
    browser.screenshot(f"inquiry-thanks-{language}")
    stored = Inquiry.objects.get()
    assert (stored.email, stored.topic, stored.order_id, stored.message) == (
        "hanako@example.com",
        "SHIPPING",
        "1042",
        WORDS[language]["message"],
    )
    assert stored.client_address == "127.0.0.1"


def test_a_refused_field_is_shown_beside_it_and_announced(browser):
    browser.phone()
    browser.open("/inquiry/?lang=ja")
    fill(browser, "ja", "not-an-address")
    browser.find('button[type="submit"]').click()
    error = browser.wait_for("#email-error")
    assert error.text == "メールアドレスを正しく入力してください。" and error.get_attribute("role") == "alert"
    assert browser.find("#email").get_attribute("aria-describedby") == "email-error"
    assert browser.find("#message").get_attribute("value") == WORDS["ja"]["message"]  # nothing typed is lost
    browser.screenshot("inquiry-error-ja")
    assert Inquiry.objects.count() == 0


@pytest.fixture
def storefront(live_server) -> Iterator[str]:
    """A page of another site framing the embed as docs/pages.md says: `localhost` and `127.0.0.1` are two sites."""
    frame_url = f"{live_server.url}/inquiry/embed/?lang=ja"
    html = (
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Storefront</title></head>'
        '<body style="margin:0;font-family:sans-serif"><h1 style="padding:8px">Storefront</h1>'
        f'<iframe id="conveyor-inquiry" src="{frame_url}" title="お問い合わせ" loading="lazy" '
        'style="width:100%;max-width:640px;height:1100px;border:0"></iframe></body></html>'
    ).encode()

    class Storefront(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Storefront)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        other_site = "127.0.0.1" if urlsplit(live_server.url).hostname == "localhost" else "localhost"
        yield f"http://{other_site}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_embedded_form_is_sent_from_inside_another_sites_frame(browser, storefront, live_server):
    assert urlsplit(storefront).hostname != urlsplit(live_server.url).hostname  # cross-site, not just cross-origin
    browser.phone()
    browser.open(storefront)
    assert browser.wait_for("h1").text == "Storefront"
    browser.driver.switch_to.frame(browser.wait_for("#conveyor-inquiry"))
    try:
        assert browser.wait_for("h1").text == WORDS["ja"]["title"]
        assert browser.find("body").get_attribute("class") == "embedded"
        assert browser.driver.get_cookies() == []  # the frame has no cookie of ours to send
        fill(browser, "ja", "hanako@example.com")
        browser.screenshot("inquiry-embedded-filled-ja")
        browser.find('button[type="submit"]').click()
        assert browser.wait_for("[data-state=sent] h1").text == WORDS["ja"]["thanks"]
    finally:
        browser.driver.switch_to.default_content()
    browser.driver.execute_script("window.scrollTo(0, 0)")
    assert browser.page_width_fits()
    browser.screenshot("inquiry-embedded-thanks-ja")
    assert Inquiry.objects.get().message == WORDS["ja"]["message"]
