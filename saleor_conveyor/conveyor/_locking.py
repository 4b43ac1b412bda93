"""Named locking queries, as Saleor's `order/lock_objects.py`: every row lock the service takes is here.

A customer's profile row is the lock for everything of that customer (ledger, outbox, answers):
concurrent events for one customer are applied one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from ..events import Customer
from ..models import FanProfile, Purchase, ReturnRequest, Touchpoint, TouchpointKind
from ._tables import PROFILES


def customer_match(customer: Customer, *, alias: str | None = None) -> tuple[str, list[Any]]:
    """WHERE clause finding a customer's profile: an account's own, or a guest's by email.

    An account never matches another account's profile through a shared email (two accounts
    may show one address: an email changed without the hook, a host whose emails are not unique).
    A guest event (no account) matches the profile holding its email, as a guest checkout does.
    """
    table = alias or PROFILES.name
    if customer.user_id is not None:
        return (
            f"{table}.user_id = %s OR ({table}.email = %s AND {table}.user_id IS NULL)",
            [customer.user_id, customer.email],
        )
    return f"{table}.email = %s", [customer.email]


def profile_lock_sql(customer: Customer) -> tuple[str, list[Any]]:
    """The statement locking the customer's profile row(s), every column (for a batch)."""
    match, params = customer_match(customer, alias="p")
    return f"SELECT {PROFILES.columns_as('p')} FROM {PROFILES.name} p WHERE {match} FOR UPDATE", params


def owner_condition(match: str, *, by_email_only: bool) -> str:
    """`profile_id <this>`: the customer's profile(s) by a subquery, in the form planned fastest.

    By email alone at most one profile matches: `= (subquery)`; by account or email,
    `= ANY(ARRAY(subquery))`; both plan faster than `IN`.
    """
    owners = f"(SELECT p.id FROM {PROFILES.name} p WHERE {match})"
    return f"= {owners}" if by_email_only else f"= ANY(ARRAY{owners})"


def profile_qs_select_for_update(*, skip_locked: bool = False) -> QuerySet[FanProfile]:
    return FanProfile.objects.select_for_update(skip_locked=skip_locked)


def profiles_of_accounts_or_emails_for_update(user_id: int, emails: set[str]) -> list[FanProfile]:
    """An account's profile and those of its emails, locked in id order (so two merges never deadlock)."""
    return list(profile_qs_select_for_update().filter(Q(user_id=user_id) | Q(email__in=emails)).order_by("id"))


def purchase_with_profile_for_update(order_id: str) -> Purchase | None:
    """An order's ledger row and its customer's profile, both locked."""
    return (
        Purchase.objects.select_related("profile")
        .select_for_update(of=("self", "profile"))
        .filter(order_id=order_id)
        .first()
    )


def own_purchase_for_update(order_id: str, user_id: int | None) -> Purchase | None:
    """An account's own ledger row of an order, locked (a host's word on the order is not enough)."""
    return Purchase.objects.select_for_update(of=("self",)).filter(order_id=order_id, profile__user_id=user_id).first()


def return_request_for_update(return_id: str) -> ReturnRequest | None:
    return ReturnRequest.objects.select_for_update(of=("self",)).select_related("purchase").filter(pk=return_id).first()


def staff_tasks_for_update(ids: Sequence[int]) -> list[Touchpoint]:
    """These staff tasks locked with their customers' profiles: the profiles first, in id order (the customer's
    lock, which an order event or a rebuild holds while it moves or cancels the customer's touchpoints, so a task
    marked done is never written over), then the tasks, in id order (two staff marking overlapping batches wait,
    never deadlock)."""
    owners = Touchpoint.objects.filter(pk__in=ids, kind=TouchpointKind.STAFF_TASK).values("profile_id")
    list(profile_qs_select_for_update().filter(id__in=owners).order_by("id").values_list("id", flat=True))
    return list(
        Touchpoint.objects.select_for_update(of=("self",))
        .select_related("profile")
        .filter(pk__in=ids, kind=TouchpointKind.STAFF_TASK)
        .order_by("id")
    )


def due_touchpoints_for_update(due: QuerySet[Touchpoint], limit: int) -> list[Touchpoint]:
    """Due rows locked SKIP LOCKED, oldest first, so workers share them without overlap."""
    return list(due.order_by("due_at", "id").select_for_update(skip_locked=True)[:limit])


def profiles_for_update_skip_locked(ids: set[int]) -> dict[int, FanProfile]:
    """Profiles not being recorded right now, locked (a locked one waits for the next pass)."""
    return {
        profile.id: profile
        for profile in profile_qs_select_for_update(skip_locked=True).filter(id__in=ids).order_by("id")
    }


def lock_inquiry_key(name: str, value: str) -> None:
    """Serialise inquiries per key (email, client address) until commit, so a flood cannot slip past the count."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"conveyor.inquiry.{name}:{value}"])
