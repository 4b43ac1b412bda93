"""Staff's work queues as the API and the console both read them: inquiries and follow-ups, in working order.

Each list is one query for the page (the customer's profile joined, replies prefetched: one more), one for a count.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, QuerySet

from .models import FollowUp, FollowUpStatus, Inquiry, InquiryStatus


def follow_up_list(status: str | None = None, *, using: str = DEFAULT_DB_ALIAS) -> QuerySet[FollowUp]:
    """Open and contacted follow-ups oldest first (who waited longest); closed ones latest closed first."""
    rows = FollowUp.objects.using(using).select_related("profile", "winback_response")
    if status is not None:
        rows = rows.filter(status=status)
    if status == FollowUpStatus.CLOSED:
        return rows.order_by("-closed_at", "-id")
    return rows.order_by("created_at", "id")


def inquiry_list(status: str | None = None, *, using: str = DEFAULT_DB_ALIAS) -> QuerySet[Inquiry]:
    """Inquiries newest first, with their replies (prefetched) and the customer's profile."""
    rows = Inquiry.objects.using(using).select_related("profile").prefetch_related("replies").defer("client_address")
    if status is not None:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "id")


def inquiry_counts(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Inquiries per status (one query)."""
    rows = Inquiry.objects.using(using).values_list("status").annotate(count=Count("id")).order_by()
    return dict(rows)


def follow_up_counts(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Follow-ups per status (one query)."""
    rows = FollowUp.objects.using(using).values_list("status").annotate(count=Count("id")).order_by()
    return dict(rows)


def open_counts(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """What waits for staff: open inquiries and follow-ups not closed yet (one query each)."""
    return {
        "inquiries": Inquiry.objects.using(using).filter(status=InquiryStatus.OPEN).count(),
        "follow_ups": FollowUp.objects.using(using).exclude(status=FollowUpStatus.CLOSED).count(),
    }
