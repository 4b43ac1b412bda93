"""Inquiries: the contact form's messages, stored and announced; floods are refused (THROTTLED).

The shop's notice by mail is the delivery side's (`delivery.notify_shop_of_inquiry`, a receiver of
`signals.inquiry_submitted`), sent after commit: a mail failure never loses the stored inquiry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..errors import ConveyorError, ErrorCode
from ..events import InquirySubmitted
from ..models import Inquiry
from ..sql import on_commit
from ._locking import lock_inquiry_key
from .customers import find_profile

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
