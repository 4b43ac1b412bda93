"""What the work queues' pages share (console/tasks.py, console/returns.py): their entry in the navigation, the
filter read from the query, and a page of 50 with its pager (one query for the page, one for the count)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from . import views
from .customers import _page_number
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
        "found_text": words["found"].format(count=f"{total:,}"),
        "page_text": words["page"].format(page=number, pages=pages_count),
        "previous_url": views.console_url(request, name, **query, page=number - 1) if number > 1 else None,
        "next_url": views.console_url(request, name, **query, page=number + 1) if len(listed) > PAGE_SIZE else None,
    }
    return listed[:PAGE_SIZE], pager
