"""Staff tasks (MANAGE_ORDERS): the paper thank-you cards and calls the rule book asks staff to do by hand.

The list reads `conveyor.staff_tasks` (what `staffTasks` reads) and marks a batch done with
`conveyor.complete_staff_tasks` (what `completeStaffTasks` calls), so the page and the API cannot disagree.
A page of 50 is a fixed number of queries: the page, its count, the orders' ledger rows and one host call for
the shipping addresses. The print page lays out the chosen cards one a sheet: address and card text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from .. import conveyor
from ..conveyor.outbox import STAFF_NOTE_MAX, STAFF_TASKS_MAX
from ..errors import ConveyorError, ErrorCode
from ..hosts import MANAGE_ORDERS, ShippingAddress, get_config, get_host
from ..models import Purchase, Touchpoint, TouchpointStatus
from ..pages import base as pages
from . import queues
from .customers import _money
from .views import console_page, console_url, render_console, staff_form

STATUSES = ("open", "done")

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "tasks": "スタッフタスク",
        "tasks_title": "スタッフタスク",
        "tasks_hint": "手書きのお礼状など、ルールがスタッフに頼む手作業です。"
        "済んだものを選び、まとめて完了にできます。",
        "show": "表示",
        "status_open": "未完了",
        "status_done": "完了済み",
        "select": "選択",
        "select_task": "{name} さんのタスクを選ぶ",
        "customer": "顧客",
        "order": "注文",
        "what_to_write": "書くこと",
        "address": "お届け先",
        "due": "期日",
        "overdue": "期日超過",
        "done_at": "完了日時",
        "done_by": "担当",
        "note": "メモ",
        "note_hint": "選んだタスクすべてに残ります。{max} 文字までです。",
        "mark_done": "選んだタスクを完了にする",
        "print_batch": "選んだカードを印刷用に表示",
        "no_address": "住所はショップにありません",
        "greeting": "{name} 様",
        "addressee": "{name} 様",
        "found": "{count} 件",
        "found_one": "{count} 件",
        "nothing_open": "未完了のタスクはありません。",
        "nothing_done": "完了したタスクはまだありません。",
        "previous": "前へ",
        "next": "次へ",
        "page": "{page} / {pages} ページ",
        "done_count": "{count} 件を完了にしました。",
        "error_none": "タスクを 1 件以上選んでください。",
        "error_too_many": "一度に選べるのは {max} 件までです。",
        "error_gone": "選んだタスクの一部が見つからないか、取り消されています。何も変更していません。",
        "error_note": "メモは {max} 文字までです。読めない文字は使えません。",
        "print_title": "お礼状の印刷",
        "print_hint": "1 枚のカードが 1 ページに印刷されます。",
        "print": "印刷する",
        "back_to_tasks": "スタッフタスクへ戻る",
        "print_none": "印刷するタスクがありません。一覧で選んでください。",
        "card_for_order": "ご注文 {number}",
        "none": "—",
    },
    "en": {
        "tasks": "Staff tasks",
        "tasks_title": "Staff tasks",
        "tasks_hint": "Work the rule book asks staff to do by hand (a hand-written thank-you card, a call). "
        "Select the ones you did and mark them done together.",
        "show": "Show",
        "status_open": "Open",
        "status_done": "Done",
        "select": "Select",
        "select_task": "Select the task for {name}",
        "customer": "Customer",
        "order": "Order",
        "what_to_write": "What to write",
        "address": "Ship to",
        "due": "Due",
        "overdue": "Overdue",
        "done_at": "Done",
        "done_by": "By",
        "note": "Note",
        "note_hint": "Kept on every selected task (at most {max} characters).",
        "mark_done": "Mark the selected tasks done",
        "print_batch": "Print the selected cards",
        "no_address": "The shop has no address for this order",
        "greeting": "Dear {name},",
        "addressee": "{name}",
        "found": "{count} tasks",
        "found_one": "{count} task",
        "nothing_open": "No open tasks.",
        "nothing_done": "No task done yet.",
        "previous": "Previous",
        "next": "Next",
        "page": "Page {page} of {pages}",
        "done_count": "{count} tasks marked done.",
        "error_none": "Select at least one task.",
        "error_too_many": "Select at most {max} tasks at a time.",
        "error_gone": "Some of the selected tasks no longer exist or were cancelled. Nothing was changed.",
        "error_note": "The note may have at most {max} characters, and no unreadable ones.",
        "print_title": "Print thank-you cards",
        "print_hint": "Each card prints on a page of its own.",
        "print": "Print",
        "back_to_tasks": "Back to staff tasks",
        "print_none": "No task to print. Select some in the list.",
        "card_for_order": "Order {number}",
        "none": "—",
    },
}

queues.add_to_navigation("tasks", {"ja": "スタッフタスク", "en": "Staff tasks"})


def _words(request: HttpRequest) -> dict[str, str]:
    return queues.page_words(request, TEXTS)


def task_rows(tasks: Sequence[Touchpoint], words: dict[str, str]) -> list[dict[str, Any]]:
    """What the list and the print page show of each task: the customer, the order, the card's text, the address.

    The orders' ledger rows in one query and the addresses in one host call, whatever the number of tasks."""
    order_ids = sorted({task.order_id for task in tasks if task.order_id})
    using = get_host().replica_alias()
    purchases = (
        {p.order_id: p for p in Purchase.objects.using(using).filter(order_id__in=order_ids)} if order_ids else {}
    )
    addresses = get_host().shipping_addresses(order_ids) if order_ids else {}
    book = get_config().rule_book
    now = timezone.now()
    rows = []
    for task in tasks:
        purchase = purchases.get(task.order_id or "")
        address: ShippingAddress | None = addresses.get(task.order_id or "")
        rule = book.rule(task.rule)
        name = (address.name if address else "") or task.profile.first_name or task.profile.email
        rows.append(
            {
                "task": task,
                "profile": task.profile,
                "name": name,
                "description": (rule.description if rule else "") or task.rule,
                "greeting": words["greeting"].format(name=name),
                "select_label": words["select_task"].format(name=name),
                "order_number": purchase.order_number if purchase else "",
                "order_label": words["card_for_order"].format(number=purchase.order_number) if purchase else "",
                "order_total": _money(purchase.total_gross_amount, purchase.currency) if purchase else "",
                "address": address.lines() if address else (),
                "addressee": words["addressee"].format(name=address.name) if address and address.name else "",
                "open": task.status != TouchpointStatus.SENT,
                "overdue": task.status != TouchpointStatus.SENT and task.due_at < now,
            }
        )
    return rows


def _selected_ids(values: Sequence[str]) -> list[int] | None:
    """The task ids of the checkboxes (or `ids=1,2,3`); None when one is not an id."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or len(part) > 18:
                return None
            ids.append(int(part))
    return list(dict.fromkeys(ids))


@console_page(MANAGE_ORDERS)
@staff_form
def task_list(request: HttpRequest) -> HttpResponse:
    """Open (or done) staff tasks, 50 a page; POST marks the selected ones done, or opens their print page."""
    words = _words(request)
    if request.method == "POST":
        return _post(request, words)
    if pages._unreadable(request.GET):
        return _render(request, words, error=words["error_none"], status=400)
    done = request.GET.get("done", "")
    notice = words["done_count"].format(count=done) if done.isascii() and done.isdigit() and len(done) < 4 else ""
    return _render(request, words, notice=notice)


def _post(request: HttpRequest, words: dict[str, str]) -> HttpResponse:
    ids = _selected_ids(request.POST.getlist("task"))
    note = request.POST.get("note", "")
    if not ids:
        return _render(request, words, error=words["error_none"], status=400, note=note)
    if len(ids) > STAFF_TASKS_MAX:
        return _render(request, words, error=words["error_too_many"].format(max=STAFF_TASKS_MAX), status=400, note=note)
    if request.POST.get("action") == "print":
        return HttpResponseRedirect(console_url(request, "tasks-print", ids=",".join(map(str, ids))), status=303)
    staff = request.conveyor_staff  # type: ignore[attr-defined]
    try:
        with get_host().writer():
            done = conveyor.complete_staff_tasks(ids, staff.email, note)
    except ConveyorError as error:
        key = "error_note" if error.field == "note" else "error_gone" if error.code == ErrorCode.NOT_FOUND else ""
        message = words[key or "error_gone"].format(max=STAFF_NOTE_MAX)
        return _render(request, words, error=message, status=400, note=note, checked=set(ids))
    return HttpResponseRedirect(console_url(request, "tasks", done=len(done)), status=303)


def _render(
    request: HttpRequest,
    words: dict[str, str],
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    note: str = "",
    checked: set[int] | None = None,
) -> HttpResponse:
    shown = queues.choice(request, "status", STATUSES)
    tasks = conveyor.staff_tasks(shown.upper(), using=get_host().replica_alias())
    listed, pager = queues.page_of(request, tasks, words, "tasks", status=shown)
    lang = request.GET.get("lang") if request.GET.get("lang") in ("ja", "en") else None
    context = {
        "rows": task_rows(listed, words),
        "shown": shown,
        "statuses": [
            (value, words[f"status_{value}"], console_url(request, "tasks", status=value)) for value in STATUSES
        ],
        **pager,
        "action": console_url(request, "tasks", status=shown),
        "note_hint": words["note_hint"].format(max=STAFF_NOTE_MAX),
        "note_max": STAFF_NOTE_MAX,
        "note": note[:STAFF_NOTE_MAX],
        "checked": checked or set(),
        "notice": notice,
        "error": error,
        "lang_param": lang,
    }
    return render_console(request, "tasks.html", context, words=TEXTS, status=status)


@console_page(MANAGE_ORDERS)
def print_batch(request: HttpRequest) -> HttpResponse:
    """The chosen tasks (`?ids=1,2,3`, at most 100) as printable cards: address and card text, a sheet each."""
    words = _words(request)
    ids = _selected_ids(request.GET.getlist("ids")) if not pages._unreadable(request.GET) else None
    ids = (ids or [])[:STAFF_TASKS_MAX]
    found = {task.pk: task for task in conveyor.staff_tasks(using=get_host().replica_alias()).filter(pk__in=ids)}
    tasks = [found[task_id] for task_id in ids if task_id in found]
    context = {"rows": task_rows(tasks, words), "back_url": console_url(request, "tasks")}
    return render_console(request, "tasks_print.html", context, words=TEXTS)
