"""The outbox diff: given the rule book's plan and the touchpoints already written, what to change.

The live service (`conveyor/outbox.py`) and the backfill's in-memory replay (`conveyor/backfill.py`)
both apply these decisions, so the two paths cannot disagree about which touchpoint lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .experiments import HOLDOUT, Assignment, assign
from .rules import PlannedTouchpoint, RuleBook
from .stages import Purchase


class OutboxStatus(StrEnum):
    """The touchpoint states the diff reads or decides (values of the model's TouchpointStatus)."""

    SCHEDULED = "SCHEDULED"
    SENT = "SENT"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


BACKFILL_SKIP = "due before the conveyor was enabled (backfill); not sent"
LATE_SKIP = "its time had passed when it was scheduled; not sent"


class OutboxRow(Protocol):
    """What the diff reads of a written touchpoint (a model row or an `ExistingTouchpoint`)."""

    key: str
    rule: str
    status: str
    planned_at: datetime | None
    order_id: str | None
    attempts: int
    sent_at: datetime | None


@dataclass(frozen=True)
class ExistingTouchpoint:
    """A touchpoint already in the outbox, as plain data."""

    key: str
    rule: str
    status: str
    planned_at: datetime | None = None
    order_id: str | None = None
    attempts: int = 0
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Placement:
    """A planned touchpoint to write (new) or to move to its new time (existing): its status and outcome."""

    item: PlannedTouchpoint
    status: OutboxStatus
    outcome: str
    # The experiment arm of a new touchpoint (stored with it, never recomputed); "" outside experiments.
    experiment: str = ""
    variant: str = ""

    @property
    def key(self) -> str:
        return self.item.key


@dataclass(frozen=True)
class Cancellation:
    """An unsent touchpoint the plan no longer has, and why, in words staff understand."""

    key: str
    reason: str


@dataclass
class OutboxChanges:
    """What makes the outbox match the plan: rows to create, to move (or reopen), to cancel."""

    create: list[Placement] = field(default_factory=list)
    move: list[Placement] = field(default_factory=list)
    cancel: list[Cancellation] = field(default_factory=list)


def recent_sends(existing: Iterable[OutboxRow]) -> dict[str, list[datetime]]:
    """When each rule's touchpoints went out: the planner's cooldowns count from these."""
    sends: dict[str, list[datetime]] = {}
    for row in existing:
        if row.sent_at is not None and row.status == OutboxStatus.SENT:
            sends.setdefault(row.rule, []).append(row.sent_at)
    return sends


def placement(
    item: PlannedTouchpoint, *, late_before: datetime, backfill: bool, assignment: Assignment | None = None
) -> Placement:
    """Scheduled, or skipped when it was due before `late_before` (its moment has passed: not sent).

    A held-out customer's touchpoint is SKIPPED with outcome "holdout": never sent, counted as the
    comparison. A late one is skipped as late even if held out (it is neither reached nor held out).
    """
    arm = {"experiment": assignment.experiment, "variant": assignment.variant} if assignment else {}
    if item.due_at < late_before:
        return Placement(item, OutboxStatus.SKIPPED, BACKFILL_SKIP if backfill else LATE_SKIP, **arm)
    if assignment is not None and assignment.held_out:
        return Placement(item, OutboxStatus.SKIPPED, HOLDOUT, **arm)
    return Placement(item, OutboxStatus.SCHEDULED, "", **arm)


Assigner = Callable[[PlannedTouchpoint], Assignment | None]


def assigner(book: RuleBook, customer_key: str) -> Assigner:
    """Each planned touchpoint's arm in its rule's running experiment, for one customer (engine/experiments.py)."""
    trials = {rule.name: rule.trial for rule in book.rules if rule.trial.running}

    def arm(item: PlannedTouchpoint) -> Assignment | None:
        trial = trials.get(item.rule)
        return assign(item.rule, trial, customer_key) if trial is not None else None

    return arm


def diff_outbox(
    plan: Sequence[PlannedTouchpoint],
    existing: Mapping[str, OutboxRow],
    *,
    late_before: datetime,
    backfill: bool,
    purchases: Sequence[Purchase] = (),
    switched_off: Iterable[str] = (),
    held_back: Mapping[str, str] | None = None,
    arms: Assigner | None = None,
) -> OutboxChanges:
    """What to create, move and cancel so that `existing` (by key) matches `plan`.

    A row the plan has is moved only while it still waits (SCHEDULED at another time), or reopened
    if it was cancelled before any attempt; one that went further is left as it is. A waiting row
    the plan no longer has is cancelled; rows that were sent, skipped or failed are history.
    `held_back` gives, by key, why the planner left an occurrence out (a rule's condition).
    `arms` gives a new touchpoint its experiment arm; a row already written keeps the one it has.
    """
    changes = OutboxChanges()
    wanted = set()
    for item in plan:
        wanted.add(item.key)
        row = existing.get(item.key)
        if row is None:
            arm = arms(item) if arms is not None else None
            changes.create.append(placement(item, late_before=late_before, backfill=backfill, assignment=arm))
        elif (row.status == OutboxStatus.CANCELLED and row.attempts == 0 and row.sent_at is None) or (
            row.status == OutboxStatus.SCHEDULED and row.planned_at != item.due_at
        ):
            changes.move.append(placement(item, late_before=late_before, backfill=backfill))
    orders = {purchase.order_id: purchase for purchase in purchases}
    off = frozenset(switched_off)
    for key, row in existing.items():
        if key not in wanted and row.status == OutboxStatus.SCHEDULED:
            reason = (held_back or {}).get(key) if row.rule not in off else None
            changes.cancel.append(Cancellation(key, reason or cancel_reason(row, orders, off)))
    return changes


def cancel_reason(row: OutboxRow, orders: Mapping[str, Purchase], switched_off: frozenset[str]) -> str:
    """Why a touchpoint that has not gone out is cancelled, in words staff understand."""
    if row.rule in switched_off:
        return "its rule was switched off in the rule book"
    purchase = orders.get(row.order_id or "")
    if purchase is not None and purchase.cancelled_at is not None:
        return f"order {purchase.order_id} was cancelled"
    if purchase is not None and purchase.returned_at is not None:
        return f"order {purchase.order_id} was returned"
    return "no longer applies to the customer's history"
