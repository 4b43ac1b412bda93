"""Follow-ups (closing the loop): which answers open one, and how staff move one along. Pure rules, no Django.

A follow-up goes OPEN -> CONTACTED -> CLOSED (or OPEN -> CLOSED); it never goes back, and a closed one is final.
Closing needs an outcome; an outcome is only given when closing. The first contact is the first time staff marked
it contacted, or closed it without doing so first: that is when the customer heard back from the shop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .surveys import NpsCategory, nps_category

OPEN, CONTACTED, CLOSED = "OPEN", "CONTACTED", "CLOSED"
STATUSES = (OPEN, CONTACTED, CLOSED)
OUTCOMES = ("RESOLVED", "NO_ANSWER", "NOT_RESOLVABLE")
_ORDER = {status: index for index, status in enumerate(STATUSES)}


def opens_follow_up(score: int) -> bool:
    """A detractor's score (0-6) opens a follow-up."""
    return nps_category(score) is NpsCategory.DETRACTOR


@dataclass(frozen=True)
class FollowUpState:
    status: str
    outcome: str | None = None
    first_contact_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a change is refused: the input it concerns and what to tell staff."""

    field: str
    message: str


def follow_up_step(current: FollowUpState, status: str, outcome: str | None, now: datetime) -> FollowUpState | Refusal:
    """The follow-up after staff set `status` (and `outcome`), or why that cannot be done."""
    if status not in _ORDER:
        return Refusal("status", f"status must be one of {', '.join(STATUSES)}.")
    if outcome is not None and outcome not in OUTCOMES:
        return Refusal("outcome", f"outcome must be one of {', '.join(OUTCOMES)}.")
    if current.status == CLOSED:
        return Refusal("status", "This follow-up is closed; it cannot be changed or reopened.")
    if _ORDER[status] < _ORDER[current.status]:
        return Refusal("status", f"A {current.status.lower()} follow-up cannot go back to {status.lower()}.")
    if status == CLOSED and outcome is None:
        return Refusal("outcome", "Closing a follow-up needs its outcome.")
    if status != CLOSED and outcome is not None:
        return Refusal("outcome", "An outcome is given only when closing the follow-up.")
    first_contact_at = current.first_contact_at
    if status in (CONTACTED, CLOSED) and first_contact_at is None:
        first_contact_at = now
    return replace(
        current,
        status=status,
        outcome=outcome if status == CLOSED else None,
        first_contact_at=first_contact_at,
        closed_at=now if status == CLOSED else None,
    )
