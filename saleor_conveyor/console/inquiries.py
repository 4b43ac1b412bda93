"""Inquiries (MANAGE_USERS): the contact form's messages by status, and one inquiry with the customer beside it.

Staff reply by email (recorded, then mailed through the host after commit: `conveyor.reply_to_inquiry`), keep an
internal note, close and reopen, and send again a reply whose mail failed. The list reads `work_queues.inquiry_list`,
as the API's `inquiries` does: one query for the page, one for its replies, one count per status tab.
Every form posts back to the inquiry's page, which answers with a redirect to it (reloading sends nothing twice).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .. import conveyor, work_queues
from ..errors import ConveyorError
from ..hosts import MANAGE_USERS, get_config, get_host
from ..models import Inquiry, InquiryStatus
from . import queues
from .customers import TEXTS as CUSTOMER_TEXTS
from .customers import customer_url, profile_row
from .views import console_page, console_url, render_console, staff_form

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        **CUSTOMER_TEXTS["ja"],
        "inquiries_title": "問い合わせ",
        "status_OPEN": "未対応",
        "status_ANSWERED": "回答済み",
        "status_CLOSED": "完了",
        "topic_PRODUCT": "商品",
        "topic_ORDER": "注文",
        "topic_SHIPPING": "配送",
        "topic_RETURN": "返品",
        "topic_OTHER": "その他",
        "received": "受付",
        "from": "差出人",
        "topic": "種類",
        "message": "内容",
        "replies": "返信",
        "no_inquiries": "この状態の問い合わせはありません。",
        "inquiry": "問い合わせ",
        "back_to_inquiries": "問い合わせ一覧へ",
        "no_inquiry": "この問い合わせは見つかりません。",
        "order": "注文",
        "status": "状態",
        "customer": "顧客",
        "no_profile": "まだ購入のないお客様です(コンベヤーのプロフィールはありません)。",
        "open_customer": "顧客のタイムラインを開く",
        "no_replies": "まだ返信していません。",
        "reply": "メールで返信",
        "reply_hint": "お客様のメールアドレス({email})に送信され、この問い合わせに記録されます。",
        "send_reply": "返信を送信",
        "mail_SENT": "送信済み",
        "mail_PENDING": "送信中",
        "mail_FAILED": "送信失敗",
        "send_again": "もう一度送信",
        "note": "社内メモ",
        "note_hint": "お客様には表示されません。",
        "save_note": "メモを保存",
        "close": "完了にする",
        "reopen": "未対応に戻す",
        "closed_at": "完了日時",
        "done_replied": "返信を記録し、メールで送信しました。",
        "done_reply_failed": "返信を記録しましたが、メールを送信できませんでした。下の「もう一度送信」で再送できます。",
        "done_reply_queued": "返信を記録しました。メールはまもなく送信されます。",
        "done_noted": "メモを保存しました。",
        "done_closed": "問い合わせを完了にしました。",
        "done_reopened": "問い合わせを未対応に戻しました。",
        "done_resent": "返信をもう一度送信しました。",
        "refused": "実行できませんでした: {message}",
    },
    "en": {
        **CUSTOMER_TEXTS["en"],
        "inquiries_title": "Inquiries",
        "status_OPEN": "Open",
        "status_ANSWERED": "Answered",
        "status_CLOSED": "Closed",
        "topic_PRODUCT": "Product",
        "topic_ORDER": "Order",
        "topic_SHIPPING": "Shipping",
        "topic_RETURN": "Return",
        "topic_OTHER": "Other",
        "received": "Received",
        "from": "From",
        "topic": "Topic",
        "message": "Message",
        "replies": "Replies",
        "no_inquiries": "No inquiries in this state.",
        "inquiry": "Inquiry",
        "back_to_inquiries": "Back to inquiries",
        "no_inquiry": "There is no such inquiry.",
        "order": "Order",
        "status": "Status",
        "customer": "Customer",
        "no_profile": "Not a customer yet (no profile on the conveyor).",
        "open_customer": "Open the customer's timeline",
        "no_replies": "No reply yet.",
        "reply": "Reply by email",
        "reply_hint": "Sent to the customer's address ({email}) and recorded on this inquiry.",
        "send_reply": "Send the reply",
        "mail_SENT": "Sent",
        "mail_PENDING": "Sending",
        "mail_FAILED": "Not sent",
        "send_again": "Send again",
        "note": "Internal note",
        "note_hint": "The customer never sees it.",
        "save_note": "Save the note",
        "close": "Close",
        "reopen": "Reopen",
        "closed_at": "Closed",
        "done_replied": "The reply is recorded and was emailed.",
        "done_reply_failed": "The reply is recorded, but the email could not be sent. Use “Send again” below.",
        "done_reply_queued": "The reply is recorded; its email goes out in a moment.",
        "done_noted": "The note is saved.",
        "done_closed": "The inquiry is closed.",
        "done_reopened": "The inquiry is open again.",
        "done_resent": "The reply was sent again.",
        "refused": "Not done: {message}",
    },
}

queues.add_to_navigation("inquiries", {"ja": "問い合わせ", "en": "Inquiries"})
DONE = ("replied", "reply_failed", "reply_queued", "noted", "closed", "reopened", "resent")


def inquiry_url(request: HttpRequest, inquiry_id: Any, **query: Any) -> str:
    """An item's page (`inquiries/<id>/`)."""
    return queues.item_url(request, "inquiries", inquiry_id, **query)


def _words(request: HttpRequest) -> dict[str, str]:
    return queues.page_words(request, TEXTS)


@console_page(MANAGE_USERS)
def inquiry_list(request: HttpRequest) -> HttpResponse:
    """Staff's inbox: open, answered or closed inquiries, newest first, 50 a page."""
    words = _words(request)
    status = queues.choice(request, "status", InquiryStatus.values)
    using = get_host().replica_alias()
    listed, pager = queues.page_of(
        request, work_queues.inquiry_list(status, using=using), words, "inquiries", status=status
    )
    counts = work_queues.inquiry_counts(using=using)
    context = {
        "tabs": queues.tabs(request, "inquiries", InquiryStatus.values, status, counts, words),
        "rows": [
            {
                "inquiry": row,
                "topic": words.get(f"topic_{row.topic}", row.topic),
                "excerpt": queues.excerpt(row.message),
                "replies": len(row.replies.all()),
                "url": inquiry_url(request, row.pk),
            }
            for row in listed
        ],
        "status_label": words[f"status_{status}"],
        **pager,
    }
    return render_console(request, "inquiries.html", context, words=TEXTS)


def _found(inquiry_id: str) -> Inquiry | None:
    try:
        uuid.UUID(str(inquiry_id))
    except ValueError:
        return None
    return work_queues.inquiry_list(None).filter(pk=inquiry_id).first()


@console_page(MANAGE_USERS)
@staff_form
def inquiry_page(request: HttpRequest, inquiry_id: uuid.UUID) -> HttpResponse:
    """One inquiry: the message, the customer beside it, the replies; reply by email, note, close, reopen."""
    words = _words(request)
    inquiry = _found(str(inquiry_id))
    if inquiry is None:
        context = {"reason": "not_found", "heading": words["no_inquiry"], "message": words["back_to_inquiries"]}
        return render_console(request, "notice.html", context, words=TEXTS, status=404)
    return queues.item_page(request, inquiry, act=_act, show=functools.partial(_show, words=words), url=inquiry_url)


def _act(request: HttpRequest, inquiry: Inquiry) -> str:
    """Do what the form asked; the word of what was done (DONE), or a ConveyorError."""
    by = request.conveyor_staff.email  # type: ignore[attr-defined]
    action = request.POST.get("action", "")
    if action == "reply":
        reply = conveyor.reply_to_inquiry(str(inquiry.pk), message=request.POST.get("message", ""), by=by)
        reply.refresh_from_db()  # the mail went out (or failed) after the commit
        # PENDING: the host runs this request in a transaction of its own; the mail goes when it commits.
        return {"SENT": "replied", "FAILED": "reply_failed"}.get(reply.mail_status, "reply_queued")
    if action == "note":
        conveyor.update_inquiry(str(inquiry.pk), status=None, note=request.POST.get("note", ""), by=by)
        return "noted"
    if action == "close":
        note = request.POST.get("note")
        conveyor.update_inquiry(str(inquiry.pk), status=InquiryStatus.CLOSED, note=note, by=by)
        return "closed"
    if action == "reopen":
        conveyor.update_inquiry(str(inquiry.pk), status=InquiryStatus.OPEN, by=by)
        return "reopened"
    if action == "resend":
        raw = request.POST.get("reply", "")
        reply_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0
        if not inquiry.replies.filter(pk=reply_id).exists():
            raise ConveyorError("No such reply to this inquiry.", field="reply")
        conveyor.resend_inquiry_reply(reply_id, by=by)
        return "resent"
    raise ConveyorError("Unknown action.", field="action")


def _show(
    request: HttpRequest,
    inquiry: Inquiry,
    *,
    words: dict[str, str],
    refused: ConveyorError | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = inquiry.profile
    done = request.GET.get("done")
    now = timezone.now()
    context = {
        "inquiry": inquiry,
        "topic": words.get(f"topic_{inquiry.topic}", inquiry.topic),
        "status_label": words[f"status_{inquiry.status}"],
        "replies": [
            {
                "reply": reply,
                "mail": words.get(f"mail_{reply.mail_status}", reply.mail_status),
                "resendable": conveyor.may_be_resent(reply, now),
            }
            for reply in inquiry.replies.all()
        ],
        "row": profile_row(profile, words, now=now, lapse_days=get_config().lapse_days) if profile else None,
        "customer_url": customer_url(request, profile.pk) if profile else None,
        "action": inquiry_url(request, inquiry.pk),
        "back_url": console_url(request, "inquiries", status=inquiry.status),
        "reply_hint": words["reply_hint"].format(email=inquiry.email),
        "done": words.get(f"done_{done}") if done in DONE else None,
        "done_key": done if done in DONE else "",
        "done_failed": done == "reply_failed",
        "refused": words["refused"].format(message=refused.message) if refused else None,
        "refused_field": refused.field if refused else None,
        "typed": request.POST.get("message", "") if refused and request.POST.get("action") == "reply" else "",
        "closed": inquiry.status == InquiryStatus.CLOSED,
        "lang_param": queues.language_param(request),
    }
    return render_console(request, "inquiry.html", context, words=TEXTS, status=status)
