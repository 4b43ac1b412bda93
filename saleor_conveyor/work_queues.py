"""Staff's work queues as the API and the console both read them: inquiries and follow-ups, in working order.

Each list is one query for the page (the customer's profile joined, replies prefetched: one more), one for a count.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, QuerySet

from .hosts.base import MANAGE_ORDERS, MANAGE_USERS
from .models import (
    FollowUp,
    FollowUpStatus,
    Inquiry,
    InquiryStatus,
    ReturnRequest,
    ReturnStatus,
    Touchpoint,
    TouchpointKind,
    TouchpointStatus,
)


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


# The work queues, each with the permission its page needs (console/tasks.py, returns.py, inquiries.py,
# follow_ups.py) and the console page that lists it.
QUEUES: tuple[tuple[str, str, str], ...] = (
    ("staff_tasks", MANAGE_ORDERS, "tasks"),
    ("returns", MANAGE_ORDERS, "returns"),
    ("inquiries", MANAGE_USERS, "inquiries"),
    ("follow_ups", MANAGE_USERS, "follow-ups"),
)


def open_work(can: Callable[[str], bool], *, using: str = DEFAULT_DB_ALIAS) -> dict[str, int | None]:
    """What waits for staff, per queue (one count each), None for a queue `can` does not allow: open staff
    tasks, requested returns, open inquiries and follow-ups not closed yet (open or contacted)."""
    counts: dict[str, Callable[[], int]] = {
        "staff_tasks": lambda: Touchpoint.objects.using(using)
        .filter(kind=TouchpointKind.STAFF_TASK, status=TouchpointStatus.SCHEDULED)
        .count(),
        "returns": lambda: ReturnRequest.objects.using(using).filter(status=ReturnStatus.REQUESTED).count(),
        "inquiries": lambda: Inquiry.objects.using(using).filter(status=InquiryStatus.OPEN).count(),
        "follow_ups": lambda: FollowUp.objects.using(using).exclude(status=FollowUpStatus.CLOSED).count(),
    }
    return {name: counts[name]() if can(permission) else None for name, permission, _page in QUEUES}
