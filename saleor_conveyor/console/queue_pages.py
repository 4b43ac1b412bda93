"""What the work-queue pages share (console/inquiries.py, console/follow_ups.py): status tabs, paging, links to
an item, excerpts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from ..errors import ConveyorError
from .views import console_url

PAGE_SIZE = 50
EXCERPT = 120


def status_from(request: HttpRequest, statuses: Sequence[str]) -> str:
    """The list's `?status=`; anything else is the first (open) one."""
    status = request.GET.get("status", statuses[0])
    return status if status in statuses else statuses[0]


def page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


def excerpt(text: str) -> str:
    """One line of a customer's words for a list."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else f"{text[: EXCERPT - 1]}…"


def item_url(request: HttpRequest, page: str, item_id: Any, **query: Any) -> str:
    """An item's page below its list (`<list>/<id>/`), carrying the session and language as console_url does."""
    listed, _, carried = console_url(request, page, **query).partition("?")
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
            "url": console_url(request, page, status=value),
            "current": value == current,
        }
        for value in statuses
    ]


def paged(request: HttpRequest, page: str, rows: Any, status: str) -> tuple[list[Any], dict[str, str | None]]:
    """This page's rows (at most PAGE_SIZE, one query) and the links to the pages before and after it."""
    number = page_number(request)
    offset = (number - 1) * PAGE_SIZE
    listed = list(rows[offset : offset + PAGE_SIZE + 1])
    links = {
        "previous_url": console_url(request, page, status=status, page=number - 1) if number > 1 else None,
        "next_url": console_url(request, page, status=status, page=number + 1) if len(listed) > PAGE_SIZE else None,
    }
    return listed[:PAGE_SIZE], links


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
