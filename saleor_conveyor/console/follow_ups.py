"""Follow-ups (MANAGE_USERS): closing the loop with detractors and lapsed customers who answered the win-back survey.

Every detractor's NPS answer (0-6) and every win-back answer opens one (conveyor/follow_ups.py). The list shows
open, contacted and closed ones with the time to first contact (`measures.first_contact`: the median hours and the
share reached within a week, the method's anchor); one follow-up shows the score and comment beside the
customer's history (`timeline`, as the customer page), and staff mark it contacted or close it with an outcome and
a note (`conveyor.update_follow_up`). Lists read `work_queues.follow_up_list`, as the API's `followUps` does.
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .. import conveyor, measures, work_queues
from .. import timeline as timelines
from ..engine.follow_ups import OUTCOMES
from ..errors import ConveyorError
from ..hosts import MANAGE_USERS, get_config, get_host
from ..models import FollowUp, FollowUpStatus
from . import queues
from .customers import TEXTS as CUSTOMER_TEXTS
from .customers import TIMELINE_SHOWN, customer_url, profile_row
from .views import console_page, console_url, render_console, staff_form

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        **CUSTOMER_TEXTS["ja"],
        "follow_ups_title": "フォローアップ",
        "status_OPEN": "未対応",
        "status_CONTACTED": "連絡済み",
        "status_CLOSED": "完了",
        "source_DETRACTOR": "NPS 批判者",
        "source_WINBACK": "休眠アンケート",
        "outcome_RESOLVED": "解決",
        "outcome_NO_ANSWER": "応答なし",
        "outcome_NOT_RESOLVABLE": "解決できない",
        "opened": "発生",
        "customer": "顧客",
        "source": "きっかけ",
        "score": "スコア",
        "comment": "コメント",
        "reasons": "理由",
        "status": "状態",
        "waited": "経過",
        "days": "{days} 日",
        "no_follow_ups": "この状態のフォローアップはありません。",
        "first_contact": "初回連絡までの時間",
        "median_hours": "中央値",
        "hours": "{hours} 時間",
        "within_target": "{days} 日以内の割合",
        "overdue": "{days} 日を超えて未連絡",
        "target_hint": "目安: 1 週間以内に連絡(回答を受けてから)。",
        "follow_up": "フォローアップ",
        "back_to_follow_ups": "フォローアップ一覧へ",
        "no_follow_up": "このフォローアップは見つかりません。",
        "answer": "回答",
        "no_comment": "コメントはありません。",
        "first_contact_at": "初回連絡",
        "closed_at": "完了日時",
        "closed_by": "完了した人",
        "outcome": "結果",
        "note": "メモ",
        "note_hint": "社内のメモです。お客様には表示されません。",
        "mark_contacted": "連絡済みにする",
        "close_with": "結果を選んで完了にする",
        "close": "完了にする",
        "save_note": "メモを保存",
        "history": "顧客の履歴",
        "open_customer": "顧客のページを開く",
        "done_contacted": "連絡済みにしました。",
        "done_closed": "フォローアップを完了にしました。",
        "done_noted": "メモを保存しました。",
        "refused": "実行できませんでした: {message}",
        "closed_final": "完了したフォローアップは変更できません。",
    },
    "en": {
        **CUSTOMER_TEXTS["en"],
        "follow_ups_title": "Follow-ups",
        "status_OPEN": "Open",
        "status_CONTACTED": "Contacted",
        "status_CLOSED": "Closed",
        "source_DETRACTOR": "NPS detractor",
        "source_WINBACK": "Win-back answer",
        "outcome_RESOLVED": "Resolved",
        "outcome_NO_ANSWER": "No answer",
        "outcome_NOT_RESOLVABLE": "Not resolvable",
        "opened": "Opened",
        "customer": "Customer",
        "source": "Source",
        "score": "Score",
        "comment": "Comment",
        "reasons": "Reasons",
        "status": "Status",
        "waited": "Waited",
        "days": "{days} days",
        "no_follow_ups": "No follow-ups in this state.",
        "first_contact": "Time to first contact",
        "median_hours": "Median",
        "hours": "{hours} hours",
        "within_target": "Within {days} days",
        "overdue": "Waiting over {days} days",
        "target_hint": "The aim: contact within a week of the answer.",
        "follow_up": "Follow-up",
        "back_to_follow_ups": "Back to follow-ups",
        "no_follow_up": "There is no such follow-up.",
        "answer": "Answer",
        "no_comment": "No comment.",
        "first_contact_at": "First contact",
        "closed_at": "Closed",
        "closed_by": "Closed by",
        "outcome": "Outcome",
        "note": "Note",
        "note_hint": "For staff only; the customer never sees it.",
        "mark_contacted": "Mark contacted",
        "close_with": "Close with an outcome",
        "close": "Close",
        "save_note": "Save the note",
        "history": "The customer's history",
        "open_customer": "Open the customer's page",
        "done_contacted": "Marked contacted.",
        "done_closed": "The follow-up is closed.",
        "done_noted": "The note is saved.",
        "refused": "Not done: {message}",
        "closed_final": "A closed follow-up cannot be changed.",
    },
}

queues.add_to_navigation("follow-ups", {"ja": "フォローアップ", "en": "Follow-ups"})
DONE = ("contacted", "closed", "noted")


def follow_up_url(request: HttpRequest, follow_up_id: Any, **query: Any) -> str:
    """An item's page (`follow-ups/<id>/`)."""
    return queues.item_url(request, "follow-ups", follow_up_id, **query)


def _words(request: HttpRequest) -> dict[str, str]:
    return queues.page_words(request, TEXTS)


def _first_contact_figures(figures: measures.FirstContact, words: dict[str, str]) -> list[dict[str, str]]:
    rate = figures.within_target_rate
    hours = figures.median_hours
    return [
        {
            "name": "median-hours",
            "label": words["median_hours"],
            "value": "" if hours is None else str(hours),
            "text": words["none"] if hours is None else words["hours"].format(hours=f"{hours:g}"),
        },
        {
            "name": "within-week",
            "label": words["within_target"].format(days=figures.target_days),
            "value": "" if rate is None else f"{rate:.4f}",
            "text": words["none"] if rate is None else f"{rate * 100:.0f}%",
        },
        {
            "name": "overdue",
            "label": words["overdue"].format(days=figures.target_days),
            "value": str(figures.overdue),
            "text": str(figures.overdue),
        },
    ]


@console_page(MANAGE_USERS)
def follow_up_list(request: HttpRequest) -> HttpResponse:
    """Staff's call list: open (who waited longest first), contacted, closed; the time to first contact above it."""
    words = _words(request)
    status = queues.choice(request, "status", FollowUpStatus.values)
    using = get_host().replica_alias()
    now = timezone.now()
    listed, pager = queues.page_of(
        request, work_queues.follow_up_list(status, using=using), words, "follow-ups", status=status
    )
    counts = work_queues.follow_up_counts(using=using)
    context = {
        "tabs": queues.tabs(request, "follow-ups", FollowUpStatus.values, status, counts, words),
        "figures": _first_contact_figures(measures.first_contact(now=now, using=using), words),
        "rows": [_row(request, follow_up, words, now) for follow_up in listed],
        "status_label": words[f"status_{status}"],
        **pager,
    }
    return render_console(request, "follow_ups.html", context, words=TEXTS)


def _row(request: HttpRequest, follow_up: FollowUp, words: dict[str, str], now: Any) -> dict[str, Any]:
    until = follow_up.first_contact_at or now
    return {
        "follow_up": follow_up,
        "source": words[f"source_{follow_up.source}"],
        "status": words[f"status_{follow_up.status}"],
        "outcome": words.get(f"outcome_{follow_up.outcome}", "") if follow_up.outcome else "",
        "excerpt": queues.excerpt(follow_up.comment),
        "waited": words["days"].format(days=max((until - follow_up.created_at).days, 0)),
        "url": follow_up_url(request, follow_up.pk),
    }


@console_page(MANAGE_USERS)
@staff_form
def follow_up_page(request: HttpRequest, follow_up_id: int) -> HttpResponse:
    """One follow-up: the answer, the customer's history; mark contacted, close with an outcome, keep a note."""
    words = _words(request)
    follow_up = work_queues.follow_up_list(None).filter(pk=follow_up_id).first() if follow_up_id < 2**63 else None
    if follow_up is None:
        context = {"reason": "not_found", "heading": words["no_follow_up"], "message": words["back_to_follow_ups"]}
        return render_console(request, "notice.html", context, words=TEXTS, status=404)
    return queues.item_page(request, follow_up, act=_act, show=functools.partial(_show, words=words), url=follow_up_url)


def _act(request: HttpRequest, follow_up: FollowUp) -> str:
    by = request.conveyor_staff.email  # type: ignore[attr-defined]
    action = request.POST.get("action", "")
    note = request.POST.get("note")
    if action == "contacted":
        conveyor.update_follow_up(follow_up.pk, status=FollowUpStatus.CONTACTED, note=note, by=by)
        return "contacted"
    if action == "close":
        outcome = request.POST.get("outcome") or None
        conveyor.update_follow_up(follow_up.pk, status=FollowUpStatus.CLOSED, outcome=outcome, note=note, by=by)
        return "closed"
    if action == "note":
        conveyor.update_follow_up(follow_up.pk, status=follow_up.status, note=note, by=by)
        return "noted"
    raise ConveyorError("Unknown action.", field="action")


def _show(
    request: HttpRequest,
    follow_up: FollowUp,
    *,
    words: dict[str, str],
    refused: ConveyorError | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = follow_up.profile
    done = request.GET.get("done")
    answer = follow_up.winback_response
    entries = timelines.timeline(profile, TIMELINE_SHOWN)
    context = {
        "follow_up": follow_up,
        "source": words[f"source_{follow_up.source}"],
        "status_label": words[f"status_{follow_up.status}"],
        "outcome_label": words.get(f"outcome_{follow_up.outcome}", "") if follow_up.outcome else "",
        "reasons": ", ".join(str(reason) for reason in (answer.reasons if answer else []) or []),
        "row": profile_row(profile, words, now=timezone.now(), lapse_days=get_config().lapse_days),
        "entries": [{"entry": entry, "kind": words.get(f"kind_{entry.kind}", entry.kind)} for entry in entries],
        "customer_url": customer_url(request, profile.pk),
        "action": follow_up_url(request, follow_up.pk),
        "back_url": console_url(request, "follow-ups", status=follow_up.status),
        "outcomes": [(value, words[f"outcome_{value}"]) for value in OUTCOMES],
        "closed": follow_up.status == FollowUpStatus.CLOSED,
        "contacted": follow_up.status == FollowUpStatus.CONTACTED,
        "done": words.get(f"done_{done}") if done in DONE else None,
        "done_key": done if done in DONE else "",
        "refused": words["refused"].format(message=refused.message) if refused else None,
        "refused_field": refused.field if refused else None,
        "typed_note": request.POST.get("note", follow_up.note) if refused else follow_up.note,
        "lang_param": queues.language_param(request),
    }
    return render_console(request, "follow_up.html", context, words=TEXTS, status=status)
