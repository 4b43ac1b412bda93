"""Returns (MANAGE_ORDERS): requested returns with their lines and reasons; staff approve or reject each with a note.

The decision is `conveyor.decide_return`, what `decideReturn` calls: approving creates the return in the host
(Saleor: a RETURNED fulfillment on the order) inside the same transaction, so a refusal there changes nothing.
A page of 50 is a fixed number of queries: the page with its customers and orders, their lines, the count.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from .. import conveyor
from ..errors import ConveyorError
from ..hosts import MANAGE_ORDERS, get_host
from ..models import ReturnRequest, ReturnStatus
from ..pages import base as pages
from ..pages.returns import TEXTS as CUSTOMER_WORDS
from . import queues
from .views import console_page, console_url, render_console, staff_form

NO_REQUEST = str(uuid.UUID(int=0))
NOTE_MAX = 2000
SHOWN = ("requested", "decided")
_REASONS = [f"reason_{reason}" for reason in ("DAMAGED", "WRONG_ITEM", "NOT_AS_DESCRIBED", "CHANGED_MIND", "OTHER")]

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "returns": "返品",
        "returns_title": "返品依頼",
        "returns_hint": "承認するとショップの注文に返品が記録されます。却下の理由はメモに残してください。",
        "show": "表示",
        "shown_requested": "未対応",
        "shown_decided": "対応済み",
        "customer": "顧客",
        "order": "注文",
        "requested_at": "依頼日",
        "reason": "理由",
        "comment": "お客様のコメント",
        "lines": "返品する商品",
        "quantity": "{name}: {quantity} 点",
        "note": "メモ",
        "note_hint": "判断とともに残ります。{max} 文字までです。",
        "approve": "承認する",
        "reject": "却下する",
        "decided": "判断",
        "host_reference": "ショップの返品番号",
        "status_REQUESTED": "未対応",
        "status_APPROVED": "承認済み",
        "status_REJECTED": "却下",
        "status_RECEIVED": "受領済み",
        "status_REFUNDED": "返金済み",
        "found": "{count} 件",
        "found_one": "{count} 件",
        "nothing_requested": "未対応の返品依頼はありません。",
        "nothing_decided": "対応済みの返品依頼はまだありません。",
        "previous": "前へ",
        "next": "次へ",
        "page": "{page} / {pages} ページ",
        "done_APPROVED": "返品を承認し、ショップの注文に記録しました。",
        "done_REJECTED": "返品依頼を却下しました。",
        "error_gone": "この返品依頼は見つからないか、すでに判断されています。何も変更していません。",
        "error_note": "メモは {max} 文字までです。読めない文字は使えません。",
        "error_host": "ショップが返品を受け付けませんでした: {message} 何も変更していません。",
        "none": "—",
    },
    "en": {
        "returns": "Returns",
        "returns_title": "Return requests",
        "returns_hint": "Approving records the return on the shop's order. Say why in the note when you reject one.",
        "show": "Show",
        "shown_requested": "To decide",
        "shown_decided": "Decided",
        "customer": "Customer",
        "order": "Order",
        "requested_at": "Requested",
        "reason": "Reason",
        "comment": "Customer's comment",
        "lines": "Items to return",
        "quantity": "{name}: {quantity}",
        "note": "Note",
        "note_hint": "Kept with the decision (at most {max} characters).",
        "approve": "Approve",
        "reject": "Reject",
        "decided": "Decision",
        "host_reference": "Shop's return reference",
        "status_REQUESTED": "To decide",
        "status_APPROVED": "Approved",
        "status_REJECTED": "Rejected",
        "status_RECEIVED": "Received",
        "status_REFUNDED": "Refunded",
        "found": "{count} return requests",
        "found_one": "{count} return request",
        "nothing_requested": "No return request waits for a decision.",
        "nothing_decided": "No return request decided yet.",
        "previous": "Previous",
        "next": "Next",
        "page": "Page {page} of {pages}",
        "done_APPROVED": "Return approved and recorded on the shop's order.",
        "done_REJECTED": "Return request rejected.",
        "error_gone": "This return request no longer exists or was already decided. Nothing was changed.",
        "error_note": "The note may have at most {max} characters, and no unreadable ones.",
        "error_host": "The shop did not accept the return: {message} Nothing was changed.",
        "none": "—",
    },
}
# The reasons as the customer's return page names them.
for _language, _words in TEXTS.items():
    _words.update({key: CUSTOMER_WORDS[_language][key] for key in _REASONS})

queues.add_to_navigation("returns", {"ja": "返品", "en": "Returns"})


def _words(request: HttpRequest) -> dict[str, str]:
    return queues.page_words(request, TEXTS)


def return_requests(shown: str, *, using: str) -> QuerySet[ReturnRequest]:
    """Requested ones oldest first (the queue); decided ones latest decided first."""
    rows = ReturnRequest.objects.using(using).select_related("purchase", "profile").prefetch_related("lines")
    if shown == "requested":
        return rows.filter(status=ReturnStatus.REQUESTED).order_by("created_at", "id")
    return rows.exclude(status=ReturnStatus.REQUESTED).order_by("-decided_at", "-created_at", "id")


@console_page(MANAGE_ORDERS)
@staff_form
def return_list(request: HttpRequest) -> HttpResponse:
    """Requested returns to approve or reject, 50 a page, or the decided ones; POST records one decision."""
    words = _words(request)
    if request.method == "POST":
        return _decide(request, words)
    decided = request.GET.get("decided", "")
    notice = words.get(f"done_{decided}", "") if decided in (ReturnStatus.APPROVED, ReturnStatus.REJECTED) else ""
    return _render(request, words, notice=notice)


def _decide(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    return_id = request.POST.get("return", "")
    decision = request.POST.get("decision", "")
    note = request.POST.get("note", "")
    if decision not in ("approve", "reject") or pages._unreadable(request.POST):
        return _render(request, words, error=words["error_note"].format(max=NOTE_MAX), status=400, failed=return_id)
    staff = request.conveyor_staff  # type: ignore[attr-defined]
    try:
        with get_host().writer():
            decided = conveyor.decide_return(
                _uuid_or_none(return_id), approve=decision == "approve", note=note.strip(), decided_by=staff.email
            )
    except ConveyorError as error:
        if error.field == "note":
            message = words["error_note"].format(max=NOTE_MAX)
        elif error.field == "id":
            message = words["error_gone"]
        else:
            message = words["error_host"].format(message=error.message)
        return _render(request, words, error=message, status=400, failed=return_id, note=note)
    return HttpResponseRedirect(console_url(request, "returns", decided=decided.status), status=303)


def _uuid_or_none(value: str) -> str:
    """A return request's id as the service looks it up; anything else is an id no request has."""
    try:
        return str(uuid.UUID(value)) if value.isascii() and len(value) <= 36 else NO_REQUEST
    except ValueError:
        return NO_REQUEST


def _render(
    request: HttpRequest,
    words: dict[str, str],
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    failed: str = "",
    note: str = "",
) -> HttpResponse:
    shown = queues.choice(request, "show", SHOWN)
    rows = return_requests(shown, using=get_host().replica_alias())
    listed, pager = queues.page_of(request, rows, words, "returns", show=shown)
    context = {
        "rows": [_row(found, words, failed=failed, error=error, note=note) for found in listed],
        "shown": shown,
        "filters": [(value, words[f"shown_{value}"], console_url(request, "returns", show=value)) for value in SHOWN],
        **pager,
        "action": console_url(request, "returns", show=shown),
        "note_hint": words["note_hint"].format(max=NOTE_MAX),
        "note_max": NOTE_MAX,
        "notice": notice,
        "error": error if not any(str(found.pk) == failed for found in listed) else "",
    }
    return render_console(request, "returns.html", context, words=TEXTS, status=status)


def _row(found: ReturnRequest, words: dict[str, str], *, failed: str, error: str, note: str) -> dict[str, Any]:
    own_error = str(found.pk) == failed
    return {
        "request": found,
        "name": found.profile.first_name or found.profile.email,
        "reason": words.get(f"reason_{found.reason}", found.reason),
        "status": words.get(f"status_{found.status}", found.status),
        "lines": [
            words["quantity"].format(name=line.product_name, quantity=line.quantity) for line in found.lines.all()
        ],
        "error": error if own_error else "",
        "note": note[:NOTE_MAX] if own_error else "",
    }
