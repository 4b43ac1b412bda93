"""The console inside a stand-in for Saleor's Dashboard, in real Chromium: a host page on another origin frames
the app and posts the handshake, a widget opens by form post; bad tokens get a clear refusal and no data."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saleor_conveyor.hosts.django import make_app_token
from saleor_conveyor.models import FanProfile, Purchase
from tests.console.shop import customer_with_history, staff_member
from tests.console.test_dashboard import expired_app_token
from tests.factories import gid

pytestmark = pytest.mark.django_db(transaction=True)
WIDGET_WIDTH = 400


class Dashboard:
    """A page on its own 127.0.0.1 port (another origin than the live server) standing in for the Dashboard."""

    def __init__(self) -> None:
        self.html = "<!DOCTYPE html><title>empty</title>"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.domain = self.origin.removeprefix("http://")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def frame_app(self, console: str, token: str) -> None:
        """The Dashboard's app page: the iframe, a handshake on load and in answer to notifyReady."""
        src = f"{console}/console/app/?domain={self.domain}&saleorApiUrl=http://{self.domain}/graphql/&id=QXBwOjE%3D"
        self.html = f"""<!DOCTYPE html><html><head><title>Dashboard</title></head><body style="margin:0">
<iframe id="app" src="{src}" style="width:100%;height:860px;border:0"></iframe>
<script>
var token = {json.dumps(token)};
var frame = document.getElementById("app");
var appOrigin = {json.dumps(console)};
function handshake() {{
  frame.contentWindow.postMessage({{type: "handshake", payload: {{token: token, version: 1}}}}, appOrigin);
}}
frame.addEventListener("load", handshake);
window.notified = 0;
window.addEventListener("message", function (event) {{
  if (event.origin === appOrigin && event.data && event.data.type === "notifyReady") {{
    window.notified += 1;
    handshake();
  }}
}});
window.refreshToken = function (fresh) {{
  frame.contentWindow.postMessage({{type: "tokenRefresh", payload: {{token: fresh}}}}, appOrigin);
}};
</script></body></html>"""

    def post_widget(self, console: str, path: str, token: str, query: str) -> None:
        """A widget in POST mode: an auto-submitted form into a ~400px iframe, as the Dashboard does it."""
        action = f"{console}/console/widgets/{path}/?{query}"
        self.html = f"""<!DOCTYPE html><html><head><title>Dashboard widget</title></head><body style="margin:8px">
<form id="widget-form" method="POST" action="{action}" target="widget">
<input type="hidden" name="accessToken" value="{token}">
<input type="hidden" name="appId" value="QXBwOjE=">
<input type="hidden" name="saleorApiUrl" value="http://{self.domain}/graphql/">
</form>
<iframe name="widget" id="widget" style="width:{WIDGET_WIDTH}px;height:560px;border:1px solid #999"></iframe>
<script>document.getElementById("widget-form").submit();</script></body></html>"""

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dashboard() -> Iterator[Dashboard]:
    host = Dashboard()
    yield host
    host.close()


def in_frame(browser, css: str) -> None:
    browser.driver.switch_to.default_content()
    browser.driver.switch_to.frame(browser.wait_for(css))


def frame_url(browser) -> str:
    return browser.driver.execute_script("return window.location.href")


def frame_text(browser) -> str:
    return browser.find("body").text


def test_the_dashboard_hands_over_its_token_and_the_framed_console_shows_customers(browser, dashboard):
    customer_with_history("hanako@example.com", "Hanako")
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    dashboard.frame_app(browser.base_url, make_app_token(staff))
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#app")
    browser.wait_for('[data-customer="hanako@example.com"]', timeout=15)
    assert "/console/customers/" in frame_url(browser) and "s=" in frame_url(browser)
    assert "¥17,000" in frame_text(browser)
    browser.driver.switch_to.default_content()
    assert browser.driver.execute_script("return window.notified") >= 1  # the page asked for the handshake
    browser.screenshot("framed-customers-desktop")
    # the Dashboard renews its token: the page trades it for a new session and its links carry it
    in_frame(browser, "#app")
    old_link = browser.find('[data-customer="hanako@example.com"] a').get_attribute("href")
    browser.driver.switch_to.default_content()
    time.sleep(1.1)  # sessions are signed to the second: a new one made in the same second would be the same
    browser.driver.execute_script("window.refreshToken(arguments[0])", make_app_token(staff))
    in_frame(browser, "#app")
    browser.wait_for("html[data-session-renewed='yes'] body")
    new_link = browser.find('[data-customer="hanako@example.com"] a').get_attribute("href")
    assert new_link != old_link and "s=" in new_link
    browser.find('[data-customer="hanako@example.com"] a').click()
    browser.wait_for('h1[data-customer="hanako@example.com"]')
    assert "When does it ship?" in frame_text(browser)
    browser.driver.switch_to.default_content()
    browser.screenshot("framed-customer-timeline-desktop")


@pytest.mark.parametrize("kind", ["none", "expired", "another-app", "customer"])
def test_a_bad_handshake_gets_a_clear_refusal_and_no_data(browser, dashboard, kind):
    hanako = customer_with_history("hanako@example.com", "Hanako")
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    token = {
        "none": "",
        "expired": expired_app_token(staff),
        "another-app": make_app_token(staff, app="another.app"),
        "customer": make_app_token(hanako),
    }[kind]
    dashboard.frame_app(browser.base_url, token)
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#app")
    refusal = browser.wait_for("#app-refused", timeout=15)
    assert "refused" in refusal.text and "/console/app/" in frame_url(browser)
    assert "hanako" not in browser.driver.page_source.lower() and "¥" not in frame_text(browser)
    browser.driver.switch_to.default_content()
    browser.screenshot(f"refused-{kind}")


def test_a_handshake_from_another_origin_than_the_dashboards_is_ignored(browser, dashboard):
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    dashboard.frame_app(browser.base_url, make_app_token(staff))
    dashboard.html = dashboard.html.replace("domain=127.0.0.1", "domain=shop.example.com&x=127.0.0.1")
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#app")
    browser.wait_for("#app-outside", timeout=15)  # never answered: after its wait the page says where it opens
    assert "/console/app/" in frame_url(browser)


def test_the_entry_page_outside_the_dashboard_says_where_it_opens(browser):
    browser.open("/console/app/?domain=shop.example.com&lang=ja")
    assert "ダッシュボード" in browser.wait_for("#app-outside").text
    browser.screenshot("outside-ja")


def test_the_customer_widget_opened_by_form_post_shows_its_customer(browser, dashboard):
    hanako = customer_with_history("hanako@example.com", "Hanako")
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    dashboard.post_widget(browser.base_url, "customer", make_app_token(staff), f"customerId={gid('User', hanako.pk)}")
    browser.driver.set_window_size(WIDGET_WIDTH + 40, 700)
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#widget")
    browser.wait_for('[data-widget="customer"][data-customer="hanako@example.com"]')
    assert "¥17,000" in frame_text(browser) and "MID/MID" in frame_text(browser)
    assert browser.driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    profile = FanProfile.objects.get(user=hanako)
    assert f"/console/customers/{profile.pk}/" in browser.find('a[target="_blank"]').get_attribute("href")
    browser.driver.switch_to.default_content()
    browser.screenshot("widget-customer-400")


def test_the_order_and_home_widgets_open_by_form_post(browser, dashboard):
    customer_with_history("hanako@example.com", "Hanako")
    purchase = Purchase.objects.filter(return_requests__isnull=False).get()
    staff = staff_member("staff@example.com", "MANAGE_USERS", "MANAGE_ORDERS")
    browser.driver.set_window_size(WIDGET_WIDTH + 40, 700)
    dashboard.post_widget(
        browser.base_url, "order", make_app_token(staff), f"orderId={gid('Order', purchase.order_id)}"
    )
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#widget")
    assert "DAMAGED" in browser.wait_for('[data-widget="order"]').text
    browser.driver.switch_to.default_content()
    browser.screenshot("widget-order-400")
    dashboard.post_widget(browser.base_url, "home", make_app_token(staff), "lang=ja")
    browser.open(f"{dashboard.origin}/?home")
    in_frame(browser, "#widget")
    assert "スタッフタスク" in browser.wait_for('[data-widget="home"]').find_element("xpath", "..").text
    browser.driver.switch_to.default_content()
    browser.screenshot("widget-home-400-ja")


@pytest.mark.parametrize("kind", ["none", "expired", "another-app", "customer"])
def test_a_widget_posted_with_a_bad_token_is_refused_without_data(browser, dashboard, kind):
    hanako = customer_with_history("hanako@example.com", "Hanako")
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    token = {
        "none": "",
        "expired": expired_app_token(staff),
        "another-app": make_app_token(staff, app="another.app"),
        "customer": make_app_token(hanako),
    }[kind]
    dashboard.post_widget(browser.base_url, "customer", token, f"customerId={gid('User', hanako.pk)}")
    browser.driver.set_window_size(WIDGET_WIDTH + 40, 700)
    browser.open(f"{dashboard.origin}/")
    in_frame(browser, "#widget")
    assert browser.wait_for('[data-refused="token"]').text
    assert "hanako" not in browser.driver.page_source.lower() and "¥" not in frame_text(browser)
    browser.driver.switch_to.default_content()
    browser.screenshot(f"widget-refused-{kind}")


def test_the_customer_pages_on_their_own_at_desktop_and_phone_width(browser):
    customer_with_history("hanako@example.com", "Hanako")
    customer_with_history("taro@example.com", "Taro", nps=4)
    staff_member("staff@example.com", "MANAGE_USERS")
    browser.open("/console/sign-in/?lang=en")
    browser.find("#email").send_keys("staff@example.com")
    browser.find("#password").send_keys("pw-staff")
    browser.follow("form[data-form='sign-in'] button")
    browser.wait_for("nav[aria-label]")  # signed in: the console's navigation, only shown to staff
    browser.open("/console/customers/?lang=en")
    browser.wait_for('[data-customer="taro@example.com"]')
    browser.screenshot("customers-desktop-en")
    browser.find("#nps").send_keys("Detractor")
    browser.follow("form[data-form='customer-filters'] button")  # the filtered page has replaced it
    browser.wait_for('[data-customer="taro@example.com"]')
    assert not browser.find_all('[data-customer="hanako@example.com"]')
    browser.find('[data-customer="taro@example.com"] a').click()
    browser.wait_for(".timeline")
    browser.screenshot("customer-timeline-desktop-en")
    browser.phone()
    assert browser.page_width_fits()
    browser.screenshot("customer-timeline-phone-en")
    browser.open("/console/customers/?lang=ja")
    assert "顧客一覧" in browser.wait_for("h1").text
    browser.screenshot("customers-phone-ja")
