"""What the survey page tests share: a customer with an order, the NPS email's links, forms read from pages."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import get_user_model
from django.test import Client

from saleor_conveyor import mail
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, FanSurveyResponse, NpsResponse, Touchpoint

from ..factories import shop_order, touchpoint


def customer_with_order(email: str = "hanako@example.com", language: str = "ja") -> tuple[FanProfile, Any]:
    """A signed-up customer whose order shipped (the NPS email is about it)."""
    user = get_user_model().objects.create_user(username=email, email=email, password="x")
    order = shop_order(user)
    profile = FanProfile.objects.get(email=email)
    profile.language_code = language
    profile.save(update_fields=["language_code"])
    return profile, order


class Links(HTMLParser):
    """Every <a href> of a document, with the text inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open.append([dict(attrs).get("href") or "", ""])

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            href, text = self._open.pop()
            self.links.append((href, text.strip()))


def links_of(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    parser.close()
    return parser.links


def nps_email(profile: FanProfile, order_id: str | None) -> str:
    """The NPS survey email's HTML, as delivery builds it."""
    tp = touchpoint(profile, "nps_survey", order_id=order_id)
    message = mail.build_message(tp, profile, get_config(), "nps_survey")
    return next(content for content, kind in message.alternatives if kind == "text/html")


def score_links(html: str) -> list[tuple[str, dict[str, str]]]:
    """The email's links to the NPS page that carry a score: (path with query, query values)."""
    found = []
    for href, _text in links_of(html):
        parts = urlsplit(href)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path.endswith("/survey/nps/") and "score" in query:
            found.append((f"{parts.path}?{parts.query}", query))
    return found


class FormReader(HTMLParser):
    """The hidden and checked values of a page's form, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.checked: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag != "input" or not found.get("name"):
            return
        if found.get("type") == "hidden":
            self.values[found["name"]] = found.get("value") or ""
        elif found.get("type") == "radio" and "checked" in found:
            self.checked[found["name"]] = found.get("value") or ""


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    reader.close()
    return reader


def rows() -> dict[str, int]:
    """How many answers and touchpoints there are: a refused or read-only request changes none."""
    return {
        "nps": NpsResponse.objects.count(),
        "fan": FanSurveyResponse.objects.count(),
        "touchpoints": Touchpoint.objects.count(),
    }


def csrf_client() -> Client:
    """A browser's cookie jar with Django's CSRF check on, as on the plugin's route."""
    return Client(enforce_csrf_checks=True)
