"""The browser tier: real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium against
the sandbox served by pytest-django's live server on 127.0.0.1.

Skipped, with the reason, where no browser is installed; `CONVEYOR_REQUIRE_BROWSER=1` (set by .ci/run, which
installs the browser) turns that skip into a failure. Every test writes screenshots to
`build/screenshots/` (or `CONVEYOR_SCREENSHOTS`) for a reviewer to look at; they are not committed.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CONVEYOR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONVEYOR_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(
    os.environ.get("CONVEYOR_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots")
)
PHONE = (390, 844)  # an iPhone 12-15's CSS pixels
DESKTOP = (1280, 900)


def _missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (shutil.which(path) or os.access(path, os.X_OK)):
            return f"{path} not found: apt-get install chromium chromium-driver (Debian's {package} package)"
    return None


@pytest.fixture(scope="session")
def _chromium() -> Iterator[object]:
    missing = _missing_browser()
    if missing:
        if os.environ.get("CONVEYOR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tier required but unavailable: {missing}")
        pytest.skip(f"browser tier skipped: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    options.add_argument("--lang=en-US")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _unless_swapped(read: Callable[[], object], *, swapped: object = False) -> object:
    """`read()`, or `swapped` when the element it reads belongs to a document Chromium has replaced: it answers
    StaleElementReferenceException or, mid-swap, "Node with given id does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        return read()
    except StaleElementReferenceException:
        return swapped
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return swapped
        raise


class Browser:
    """The test's view of Chromium: open a page of the live sandbox, resize, read, screenshot."""

    def __init__(self, driver: object, base_url: str, test_name: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:120]
        self.shots: list[Path] = []

    def open(self, url: str) -> None:
        """Open a path of the sandbox (`/survey/nps/?...`) or a full URL."""
        self.driver.get(url if "://" in url else f"{self.base_url}/{url.lstrip('/')}")

    def phone(self) -> None:
        self.driver.set_window_size(*PHONE)

    def desktop(self) -> None:
        self.driver.set_window_size(*DESKTOP)

    def find(self, css: str) -> object:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[object]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css: str, timeout: float = 10) -> object:
        """The first visible element `css` finds, once there is one. A page that reloads itself (the overview
        while a worker computes) may swap documents between finding an element and reading it: that read is
        tried again, as a stale element is."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        visible = expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
        return WebDriverWait(self.driver, timeout).until(lambda driver: _unless_swapped(lambda: visible(driver)))

    def follow(self, css: str, timeout: float = 10) -> None:
        """Click what `css` finds and wait until the page it loads has replaced this one. Waiting for an element
        the old page also has would find it there, and reading it while the browser swaps pages fails."""
        old_page = self.find("html")
        self.find(css).click()
        self.wait_replaced(old_page, timeout)

    def wait_replaced(self, old_page: object, timeout: float = 10) -> None:
        """Wait until `old_page` (an `<html>` element) is gone and the document that replaced it is complete.

        Selenium's `staleness_of` knows only StaleElementReferenceException; while Chromium swaps documents the
        old node can also answer "Node with given id does not belong to the document", which means the same."""
        from selenium.webdriver.support.ui import WebDriverWait

        def still_there() -> bool:
            old_page.is_enabled()  # type: ignore[attr-defined]  # raises once the page is replaced
            return False

        def gone(driver: object) -> object:
            return _unless_swapped(still_there, swapped=True)

        WebDriverWait(self.driver, timeout).until(gone)
        WebDriverWait(self.driver, timeout).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )

    def text(self) -> str:
        return self.find("body").text

    def page_width_fits(self) -> bool:
        """No sideways scrolling: what a phone user sees is the whole width of the page."""
        return self.driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}--{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path


def _close_server_thread_connections(**kwargs: object) -> None:
    """The live server answers on its own threads; with the sandbox's CONN_MAX_AGE their connections would stay
    open after the test and keep the test database from being dropped."""
    import threading

    from django.db import connections

    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


@pytest.fixture
def browser(_chromium, live_server, request, settings) -> Iterator[Browser]:
    """Chromium on a fresh cookie jar, pointed at the live sandbox; email links built during the test point
    there too (CONVEYOR_PUBLIC_URL)."""
    from django.core.signals import request_finished

    settings.CONVEYOR_PUBLIC_URL = live_server.url
    request_finished.connect(_close_server_thread_connections, dispatch_uid="conveyor.browser.close")
    _chromium.delete_all_cookies()
    _chromium.set_window_size(*DESKTOP)
    yield Browser(_chromium, live_server.url, request.node.name)
    _chromium.delete_all_cookies()
    request_finished.disconnect(dispatch_uid="conveyor.browser.close")
