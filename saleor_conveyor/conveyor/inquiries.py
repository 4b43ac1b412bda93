"""Inquiries: the contact form's messages, stored and announced; floods are refused (THROTTLED); staff answer them.

The shop's notice by mail is the delivery side's (`delivery.notify_shop_of_inquiry`, a receiver of
`signals.inquiry_submitted`), sent after commit: a mail failure never loses the stored inquiry.
Staff's reply is recorded first (`reply_to_inquiry`), then mailed to the customer after commit by the delivery
side (`delivery.mail_inquiry_reply`, a receiver of `signals.inquiry_replied`), which records how the send went
(`record_reply_mail`): a failed send leaves the reply recorded and FAILED, and staff may send it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..errors import ConveyorError, ErrorCode
from ..events import InquirySubmitted, bounded_text
from ..models import Inquiry, InquiryReply, InquiryStatus, ReplyMailStatus
from ..sql import on_commit
from ._locking import lock_inquiry_key
from .customers import find_profile
from .follow_ups import checked_note

REPLY_MAX = 5000
# A reply still PENDING this long after it was queued was never mailed (the process that was to mail it after
# commit died): staff may send it again, as a FAILED one.
PENDING_STUCK_AFTER = timedelta(minutes=10)

# Per key: at most `count` inquiries within `period`; beyond that THROTTLED.
INQUIRY_THROTTLE: dict[str, tuple[int, timedelta]] = {
    "email": (5, timedelta(hours=1)),
    "client_address": (20, timedelta(hours=1)),
}


def submit_inquiry(inquiry: InquirySubmitted, *, now: datetime | None = None) -> Inquiry:
    """The contact form: store the message, announce it to the shop after commit, refuse floods."""
    inquiry = inquiry.validate()
    now = now or timezone.now()
    keys = {"email": inquiry.email, "client_address": inquiry.client_address}
    with transaction.atomic():
        for name, value in keys.items():
            if not value:
                continue
            lock_inquiry_key(name, value)  # so concurrent requests cannot slip past the count
            limit, period = INQUIRY_THROTTLE[name]
            if Inquiry.objects.filter(**{name: value, "created_at__gte": now - period}).count() >= limit:
                raise ConveyorError(
                    "Too many messages in a short time; please try again later.",
                    field=name if name == "email" else None,
                    code=ErrorCode.THROTTLED,
                )
        profile = find_profile(user_id=inquiry.user_id, email=inquiry.email)
        stored = Inquiry.objects.create(
            profile=profile,
            email=inquiry.email,
            name=inquiry.name,
            order_id=inquiry.order_id,
            topic=inquiry.topic,
            message=inquiry.message,
            client_address=inquiry.client_address,
        )
        on_commit(lambda: signals.send(signals.inquiry_submitted, Inquiry, inquiry=stored))
        return stored


def reply_to_inquiry(inquiry_id: str, *, message: str, by: str, now: datetime | None = None) -> InquiryReply:
    """Record staff's reply and mark the inquiry ANSWERED; the delivery side mails it to the customer after commit."""
    message = bounded_text(message, "message", REPLY_MAX)
    if not message.strip():
        raise ConveyorError("Write a reply.", field="message")
    now = now or timezone.now()
    with transaction.atomic():
        inquiry = _inquiry_for_update(inquiry_id)
        if inquiry.status == InquiryStatus.CLOSED:
            raise ConveyorError("This inquiry is closed; reopen it to reply.", field="id")
        reply = InquiryReply.objects.create(inquiry=inquiry, at=now, by=by[:254], message=message, queued_at=now)
        inquiry.status = InquiryStatus.ANSWERED
        inquiry.answered_at = inquiry.answered_at or now
        inquiry.updated_by = by[:254]
        inquiry.save(update_fields=["status", "answered_at", "updated_by"])
        on_commit(lambda: signals.send(signals.inquiry_replied, InquiryReply, reply=reply, inquiry=inquiry))
        return reply


def may_be_resent(reply: InquiryReply, now: datetime | None = None) -> bool:
    """FAILED, or PENDING for longer than PENDING_STUCK_AFTER (its mailer never reported back)."""
    if reply.mail_status == ReplyMailStatus.FAILED:
        return True
    now = now or timezone.now()
    return reply.mail_status == ReplyMailStatus.PENDING and (reply.queued_at or reply.at) <= now - PENDING_STUCK_AFTER


def resend_inquiry_reply(reply_id: int, *, by: str, now: datetime | None = None) -> InquiryReply:
    """Send again a reply whose mail failed or never went (`may_be_resent`), after commit as the first time;
    one already sent, or still on its way, is INVALID."""
    now = now or timezone.now()
    with transaction.atomic():
        reply = InquiryReply.objects.select_for_update().select_related("inquiry").filter(pk=reply_id).first()
        if reply is None:
            raise ConveyorError("No such reply.", field="id", code=ErrorCode.NOT_FOUND)
        if not may_be_resent(reply, now):
            minutes = int(PENDING_STUCK_AFTER.total_seconds() // 60)
            raise ConveyorError(
                f"Only a reply whose mail failed, or has waited over {minutes} minutes, is sent again.", field="id"
            )
        reply.mail_status = ReplyMailStatus.PENDING
        reply.queued_at = now
        reply.save(update_fields=["mail_status", "queued_at"])
        inquiry = reply.inquiry
        on_commit(lambda: signals.send(signals.inquiry_replied, InquiryReply, reply=reply, inquiry=inquiry))
        return reply


def record_reply_mail(
    reply_id: int, *, sent: bool, outcome: str, queued_at: datetime | None = None, now: datetime | None = None
) -> None:
    """What the delivery side saw when it mailed a reply (SENT or FAILED, and what the server said).

    `queued_at` names the attempt (the reply's `queued_at` when it was handed to the mailer): a failure reported
    by an earlier attempt after staff sent the reply again is not recorded, so it cannot offer "send again"
    while the newer send is still on its way."""
    now = now or timezone.now()
    with transaction.atomic():
        reply = InquiryReply.objects.select_for_update().filter(pk=reply_id).first()
        if reply is None or reply.mail_status == ReplyMailStatus.SENT:
            return  # gone, or already sent (a second send of the same reply changes nothing)
        if not sent and queued_at is not None and reply.queued_at is not None and queued_at < reply.queued_at:
            return  # an older attempt's failure: the newer one reports for itself
        reply.mail_status = ReplyMailStatus.SENT if sent else ReplyMailStatus.FAILED
        reply.mail_outcome = outcome[:2000]
        reply.mail_attempts += 1
        reply.mailed_at = now if sent else reply.mailed_at
        reply.save(update_fields=["mail_status", "mail_outcome", "mail_attempts", "mailed_at"])


def update_inquiry(
    inquiry_id: str, *, status: str | None, note: str | None = None, by: str, now: datetime | None = None
) -> Inquiry:
    """Staff set an inquiry's status (OPEN, ANSWERED once replied to, CLOSED) and its internal note.

    `status=None` keeps the status the inquiry has when it is locked (the console's "save the note"), so a
    note saved from a page opened before someone else closed the inquiry does not reopen it.
    """
    if status is not None and status not in InquiryStatus.values:
        raise ConveyorError(f"status must be one of {', '.join(InquiryStatus.values)}.", field="status")
    if note is not None:
        note = checked_note(note)
    now = now or timezone.now()
    with transaction.atomic():
        inquiry = _inquiry_for_update(inquiry_id)
        if status is None:
            status = inquiry.status
        if status == InquiryStatus.ANSWERED and not inquiry.replies.exists():
            raise ConveyorError("An inquiry is answered by a reply: reply to it first.", field="status")
        if status == InquiryStatus.CLOSED and inquiry.status != InquiryStatus.CLOSED:
            inquiry.closed_at = now
        elif status != InquiryStatus.CLOSED:
            inquiry.closed_at = None
        inquiry.status = status
        if note is not None:
            inquiry.note = note
        inquiry.updated_by = by[:254]
        inquiry.save(update_fields=["status", "closed_at", "note", "updated_by"])
        return inquiry


def _inquiry_for_update(inquiry_id: str) -> Inquiry:
    found = Inquiry.objects.select_for_update(of=("self",)).filter(pk=inquiry_id).first()
    if found is None:
        raise ConveyorError("No such inquiry.", field="id", code=ErrorCode.NOT_FOUND)
    return found
