"""What the work queues' pages share (console/tasks.py, returns.py, inquiries.py, follow_ups.py): their entry in
the navigation, the filter read from the query, a page of 50 with its pager (one query for the page, one for the
count), status tabs, links to an item's page and the item page's POST-then-redirect."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from ..errors import ConveyorError
from . import views
from .customers import _page_number, found_text
from .texts import COMMON

PAGE_SIZE = 50


def add_to_navigation(name: str, labels: Mapping[str, str]) -> None:
    """A page's entry in the navigation, labelled in the common words: the navigation is drawn on every page."""
    key = f"nav_{name}"
    views.NAVIGATION.append((name, key))
    for language, label in labels.items():
        COMMON[language][key] = label


def page_words(request: HttpRequest, catalog: dict[str, dict[str, str]]) -> dict[str, str]:
    """The page's words in the staff member's language."""
    return views.texts(views.staff_language(request, request.conveyor_staff), catalog)  # type: ignore[attr-defined]


def choice(request: HttpRequest, parameter: str, allowed: Sequence[str]) -> str:
    """The query's choice among `allowed`; anything else is the first (the page's default)."""
    value = request.GET.get(parameter, allowed[0])
    return value if value in allowed else allowed[0]


def page_of(
    request: HttpRequest, rows: QuerySet[Any], words: Mapping[str, str], name: str, **query: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The `page` of `rows` this request asks for (50 a page) and the pager's context (`_pager.html`; the words
    `found`, `page`, `previous`, `next`); links keep `query` (the filter)."""
    number = _page_number(request)
    offset = (number - 1) * PAGE_SIZE
    listed = list(rows[offset : offset + PAGE_SIZE + 1])
    total = rows.count()  # always: the page's query count does not depend on the shop's size
    pages_count = max(1, -(-total // PAGE_SIZE))
    pager = {
        "found_text": found_text(words, total),
        "page_text": words["page"].format(page=number, pages=pages_count),
        "previous_url": views.console_url(request, name, **query, page=number - 1) if number > 1 else None,
        "next_url": views.console_url(request, name, **query, page=number + 1) if len(listed) > PAGE_SIZE else None,
    }
    return listed[:PAGE_SIZE], pager


EXCERPT = 120


def excerpt(text: str) -> str:
    """One line of a customer's words for a list."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else f"{text[: EXCERPT - 1]}…"


def item_url(request: HttpRequest, page: str, item_id: Any, **query: Any) -> str:
    """An item's page below its list (`<list>/<id>/`), carrying the session and language as console_url does."""
    listed, _, carried = views.console_url(request, page, **query).partition("?")
    return f"{listed}{item_id}/{'?' + carried if carried else ''}"


def tabs(
    request: HttpRequest, page: str, statuses: Sequence[str], current: str, counts: Mapping[str, int], words: Any
) -> list[dict[str, Any]]:
    """A tab per status with its count (`_queue_tabs.html`)."""
    return [
        {
            "status": value,
            "label": words[f"status_{value}"],
            "count": counts.get(value, 0),
            "url": views.console_url(request, page, status=value),
            "current": value == current,
        }
        for value in statuses
    ]


def item_page(
    request: HttpRequest,
    item: Any,
    *,
    act: Callable[[HttpRequest, Any], str],
    show: Callable[..., HttpResponse],
    url: Callable[..., str],
) -> HttpResponse:
    """An item's page: a POST does what its form asks (`act` answers what was done) and redirects back to the page
    saying so (a reload sends nothing twice); a refused one shows the page again with the refusal (400)."""
    if request.method == "POST":
        try:
            done = act(request, item)
        except ConveyorError as error:
            return show(request, item, refused=error, status=400)
        return HttpResponseRedirect(url(request, item.pk, done=done), status=303)
    return show(request, item)


def language_param(request: HttpRequest) -> str | None:
    """The `?lang=` a form carries on (only the console's languages)."""
    return request.GET.get("lang") if request.GET.get("lang") in ("ja", "en") else None
