"""Backfill: a shop that enables the conveyor today has years of orders to record.

`record_order_history` is the reference: each past order through the ordinary service calls,
one after the other. `record_orders_backfill` gives the same end state for a whole batch with a
handful of bulk statements: it replays the same steps in memory over the batch's customers (the
same customer matching, ledger rules, summary and outbox decision, `engine.diff_outbox`), then
writes what changed. Every row it writes is stamped with its own clock, `now`.

Reading a host's orders (Saleor's) and the checkpoint is `saleor_conveyor/backfill.py`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from ..config import ConveyorConfig
from ..engine import Placement
from ..engine.rules import PURCHASE_TRIGGERS
from ..errors import ConveyorError, ErrorCode
from ..events import Customer, OrderCancelled, OrderFulfilled, OrderPlaced, OrderReturned
from ..hosts import get_config
from ..models import FanProfile, Purchase, Touchpoint, TouchpointStatus
from ..sql import any_of, copy_rows, on_commit, update_rows
from ._ledger import apply_summary, fact, placed_values, unchanged_by_repeat
from ._locking import profile_qs_select_for_update
from ._tables import PLACED_FIELDS, PROFILE_SUMMARY_FIELDS
from .customers import customer_changes, email_of_another_account, fresh_profile
from .orders import record_fulfillment, record_order_cancelled, record_order_placed, record_return
from .outbox import (
    MOVED_FIELDS,
    apply_changes,
    customer_view,
    has_conditions,
    plan_changes,
    planned_values,
    rule_names,
    set_plan,
)


@dataclasses.dataclass(frozen=True)
class BackfillOrder:
    """A past order and what already happened to it, as a host reads it for the backfill."""

    placed: OrderPlaced
    fulfilled_at: datetime | None = None
    cancelled_at: datetime | None = None
    # Only a full return takes an order off the count (a partial one changes nothing).
    returned_at: datetime | None = None


@dataclasses.dataclass
class BackfillResult:
    """What a backfill batch did (or, in a dry run, would do)."""

    orders: int = 0
    recorded: int = 0
    unchanged: int = 0
    profiles_created: int = 0
    rejected: list[str] = dataclasses.field(default_factory=list)
    scheduled: Counter[str] = dataclasses.field(default_factory=Counter)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    cancelled: Counter[str] = dataclasses.field(default_factory=Counter)
    upcoming: list[tuple[str, str, datetime]] = dataclasses.field(default_factory=list)

    def add(self, other: BackfillResult) -> None:
        self.orders += other.orders
        self.recorded += other.recorded
        self.unchanged += other.unchanged
        self.profiles_created += other.profiles_created
        self.rejected.extend(other.rejected)
        self.scheduled.update(other.scheduled)
        self.skipped.update(other.skipped)
        self.cancelled.update(other.cancelled)
        self.upcoming.extend(other.upcoming)


def record_order_history(order: BackfillOrder, *, now: datetime | None = None, backfill: bool = True) -> None:
    """One past order through the ordinary service calls (the reference the bulk path matches)."""
    now = now or timezone.now()
    record_order_placed(order.placed, now=now, backfill=backfill)
    order_id = order.placed.order_id
    if order.fulfilled_at is not None:
        record_fulfillment(OrderFulfilled(order_id, order.fulfilled_at), now=now, backfill=backfill)
    if order.cancelled_at is not None:
        record_order_cancelled(OrderCancelled(order_id, order.cancelled_at), now=now, backfill=backfill)
    if order.returned_at is not None:
        record_return(OrderReturned(order_id, order.returned_at, fully_returned=True), now=now, backfill=backfill)


def record_orders_backfill(orders: Sequence[BackfillOrder], *, now: datetime | None = None) -> BackfillResult:
    """Record a batch of past orders (oldest first) in bulk; same end state as one by one."""
    now = now or timezone.now()
    with transaction.atomic():
        replay = _Replay(orders, now=now, config=get_config())
        replay.run()
        replay.write()
    return replay.result


class _Replay:
    """The service's steps for a batch of orders, replayed in memory over locked rows."""

    def __init__(self, orders: Sequence[BackfillOrder], *, now: datetime, config: ConveyorConfig):
        self.now = now
        self.config = config
        self.rule_names = set(rule_names(config.rule_book, PURCHASE_TRIGGERS))
        self.result = BackfillResult()
        self.orders: list[BackfillOrder] = []
        for order in orders:
            try:
                self.orders.append(dataclasses.replace(order, placed=order.placed.validate()))
            except ConveyorError as error:
                self.result.rejected.append(f"{order.placed.order_id}: {error.message}")
        self.by_user: dict[int, FanProfile] = {}
        self.by_email: dict[str, FanProfile] = {}
        self.by_order: dict[str, Purchase] = {}
        self.history: dict[int, list[Purchase]] = {}  # id(profile) -> its ledger rows
        self.touchpoints: dict[int, dict[str, Touchpoint]] = {}  # id(profile) -> key -> row
        self.initial_stage: dict[int, str | None] = {}
        self.new_profiles: list[FanProfile] = []
        self.dirty_profiles: dict[int, FanProfile] = {}
        self.new_purchases: list[Purchase] = []
        self.dirty_purchases: dict[int, Purchase] = {}
        self.new_touchpoints: list[Touchpoint] = []
        self.dirty_touchpoints: dict[int, Touchpoint] = {}
        self._load()

    def _load(self) -> None:
        emails = {order.placed.customer.email for order in self.orders}
        user_ids = {order.placed.customer.user_id for order in self.orders} - {None}
        order_ids = [order.placed.order_id for order in self.orders]
        profiles = list(
            profile_qs_select_for_update()
            .filter(Q(email__in=any_of(emails, "text")) | Q(user_id__in=any_of(user_ids, "bigint")))
            .order_by("id")
        )
        mine = Q(order_id__in=any_of(order_ids, "text")) | Q(profile_id__in=any_of([p.id for p in profiles], "bigint"))
        purchases = _ledger_rows(Purchase.objects.filter(mine))
        owners = {p.profile_id for p in purchases} - {p.id for p in profiles}
        if owners:  # orders of this batch already recorded under another customer's profile
            profiles += list(profile_qs_select_for_update().filter(id__in=owners).order_by("id"))
            purchases += _ledger_rows(Purchase.objects.filter(profile_id__in=owners).exclude(order_id__in=order_ids))
        by_id = {}
        for profile in profiles:
            by_id[profile.id] = profile
            self._index(profile)
        for purchase in {p.id: p for p in purchases}.values():
            purchase.profile = by_id[purchase.profile_id]
            self.by_order[purchase.order_id] = purchase
            self.history.setdefault(id(purchase.profile), []).append(purchase)
        # Plain rows, not model instances: a customer's outbox is most of what a batch reads.
        outbox = Touchpoint.objects.filter(profile_id__in=any_of(by_id, "bigint"), rule__in=self.rule_names)
        for values in outbox.values_list(*_OUTBOX_FIELDS):
            tp = _Row(**dict(zip(_OUTBOX_FIELDS, values, strict=True)))
            tp.pk = tp.id
            tp.profile = by_id[tp.profile_id]
            self.touchpoints.setdefault(id(tp.profile), {})[tp.key] = tp

    def _index(self, profile: FanProfile) -> None:
        self.by_email[profile.email] = profile
        if profile.user_id is not None:
            self.by_user[profile.user_id] = profile
        self.history.setdefault(id(profile), [])
        self.touchpoints.setdefault(id(profile), {})
        self.initial_stage.setdefault(id(profile), profile.stage)

    # -- the steps, as record_order_history takes them --

    def run(self) -> None:
        for order in self.orders:
            self.result.orders += 1
            try:
                self._placed(order.placed)
                order_id = order.placed.order_id
                for field_name, when in (
                    ("fulfilled_at", order.fulfilled_at),
                    ("cancelled_at", order.cancelled_at),
                    ("returned_at", order.returned_at),
                ):
                    if when is not None:
                        self._update_order(order_id, field_name, when)
            except ConveyorError as error:
                self.result.rejected.append(f"{order.placed.order_id}: {error.message}")

    def _find(self, customer: Customer) -> FanProfile | None:
        """As `customers.choose`: the account's own profile first, else the guest profile of the email."""
        by_email = self.by_email.get(customer.email)
        if customer.user_id is None:
            return by_email
        mine = self.by_user.get(customer.user_id)
        return mine or (by_email if by_email is not None and by_email.user_id is None else None)

    def _refuse_another_accounts_email(self, customer: Customer) -> None:
        """As the service: an account without a profile never takes another account's (its email's)."""
        if self._find(customer) is None and customer.user_id is not None and customer.email in self.by_email:
            raise email_of_another_account(customer)

    def _profile(self, customer: Customer) -> FanProfile:
        """As `customers.locked_profile`: by account first, then by email; made if new."""
        profile = self._find(customer)
        if profile is None:
            profile = fresh_profile(customer)
            self.new_profiles.append(profile)
            self.result.profiles_created += 1
            self._index(profile)
            return profile
        if customer_changes(profile, customer):
            if profile.user_id is not None:
                self.by_user[profile.user_id] = profile
            self._touch(profile)
        return profile

    def _placed(self, event: OrderPlaced) -> None:
        self._refuse_another_accounts_email(event.customer)
        existing = self.by_order.get(event.order_id)
        if existing is not None and existing.profile is not self._find(event.customer):
            self.result.unchanged += 1  # in another customer's ledger: the service changes nothing at all
            return
        profile = self._profile(event.customer)
        values = placed_values(event)
        if existing is not None:
            if unchanged_by_repeat(existing, event, values):
                self.result.unchanged += 1
                return
            self._dirty_purchase(existing)
        else:
            purchase = _LedgerRow(**_purchase_defaults())
            purchase.__dict__.update(values, order_id=event.order_id, profile=profile)
            self.new_purchases.append(purchase)
            self.by_order[event.order_id] = purchase
            self.history[id(profile)].append(purchase)
        self.result.recorded += 1
        self._apply(profile)

    def _update_order(self, order_id: str, field_name: str, when: datetime) -> None:
        purchase = self.by_order.get(order_id)
        if purchase is None:
            raise ConveyorError(f"No order {order_id!r} is recorded.", field="order_id", code=ErrorCode.NOT_FOUND)
        current = getattr(purchase, field_name)
        if current is not None and current <= when:
            return
        setattr(purchase, field_name, when)
        self._dirty_purchase(purchase)
        self._apply(purchase.profile)

    def _apply(self, profile: FanProfile) -> None:
        """As `orders._apply`: the outbox decision, then the profile's figures, from the ledger."""
        facts = [fact(row) for row in self.history[id(profile)]]
        existing = self.touchpoints[id(profile)]
        customer = customer_view(profile, facts) if has_conditions(self.config.rule_book) else None
        changes = plan_changes(
            self.config,
            existing,
            now=self.now,
            triggers=PURCHASE_TRIGGERS,
            purchases=facts,
            backfill=True,
            customer=customer,
            customer_key=profile.email,
        )
        created, moved, cancelled = apply_changes(changes, existing, functools.partial(self._new_touchpoint, profile))
        for tp in created:
            existing[tp.key] = tp
            self.new_touchpoints.append(tp)
        for tp in [*moved, *cancelled]:
            tp.updated_at = self.now
            if tp.pk is not None:
                self.dirty_touchpoints[tp.pk] = tp
        apply_summary(profile, facts, self.now)
        self._touch(profile)

    def _new_touchpoint(self, profile: FanProfile, placement: Placement) -> _Row:
        """As `outbox.new_touchpoint`, without a model instance."""
        tp = _Row(**(_touchpoint_defaults() | planned_values(placement)), profile=profile)
        set_plan(tp, placement)
        return tp

    def _touch(self, profile: FanProfile) -> None:
        profile.updated_at = self.now
        if profile.pk is not None:
            self.dirty_profiles[profile.pk] = profile

    def _dirty_purchase(self, purchase: Purchase) -> None:
        if purchase.pk is not None:
            self.dirty_purchases[purchase.pk] = purchase

    # -- writing what changed --

    def write(self) -> None:
        """COPY the new rows (ids drawn first, so rows can point at each other) and UPDATE the changed ones."""
        copy_rows(FanProfile, self.new_profiles, _NEW_PROFILE_FIELDS, now=self.now)
        update_rows(
            FanProfile,
            self.dirty_profiles.values(),
            ["user", "first_name", "language_code", *PROFILE_SUMMARY_FIELDS, "stage_changed_at", "updated_at"],
        )
        for row in [*self.new_purchases, *self.new_touchpoints]:
            row.profile_id = row.profile.pk  # profiles made in this batch have their ids now
        copy_rows(Purchase, self.new_purchases, now=self.now)
        update_rows(
            Purchase, self.dirty_purchases.values(), [*PLACED_FIELDS, "fulfilled_at", "cancelled_at", "returned_at"]
        )
        copy_rows(Touchpoint, self.new_touchpoints, now=self.now)
        update_rows(Touchpoint, self.dirty_touchpoints.values(), MOVED_FIELDS)  # a cancellation's are among them
        self._report()

    def _report(self) -> None:
        tally = {
            TouchpointStatus.SCHEDULED: self.result.scheduled,
            TouchpointStatus.SKIPPED: self.result.skipped,
            TouchpointStatus.CANCELLED: self.result.cancelled,
        }
        scheduled: dict[int, list[int]] = {}
        for tp in [*self.new_touchpoints, *self.dirty_touchpoints.values()]:
            tally[tp.status][tp.rule] += 1
            if tp.status == TouchpointStatus.SCHEDULED:
                scheduled.setdefault(tp.profile_id, []).append(tp.id)
                self.result.upcoming.append((tp.profile.email, tp.rule, tp.due_at))
        for profile_id, ids in scheduled.items():
            on_commit(
                lambda ids=ids, profile_id=profile_id: signals.send(
                    signals.touchpoint_scheduled, Touchpoint, touchpoint_ids=ids, profile_id=profile_id
                )
            )
        profiles = [*self.new_profiles, *self.dirty_profiles.values()]
        for profile in profiles:
            previous = self.initial_stage.get(id(profile))
            if previous != profile.stage:
                on_commit(
                    lambda profile=profile, previous=previous: signals.send(
                        signals.stage_changed, FanProfile, profile=profile, previous=previous, stage=profile.stage
                    )
                )


class _Row:
    """A touchpoint as the replay handles it: a model instance's attributes, none of its cost."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _LedgerRow(_Row):
    """A purchase as the replay handles it."""

    discounted = Purchase.discounted


def _ledger_rows(queryset: Any) -> list[_LedgerRow]:
    names = [f.attname for f in Purchase._meta.concrete_fields]
    rows = [_LedgerRow(**dict(zip(names, values, strict=True))) for values in queryset.values_list(*names)]
    for row in rows:
        row.pk = row.id
    return rows


@functools.cache
def _purchase_defaults() -> dict[str, Any]:
    return {f.attname: f.get_default() for f in Purchase._meta.concrete_fields} | {"pk": None}


@functools.cache
def _touchpoint_defaults() -> dict[str, Any]:
    return {f.attname: f.get_default() for f in Touchpoint._meta.concrete_fields} | {"pk": None}


# What the replay reads of existing touchpoints (and all it may change).
_OUTBOX_FIELDS = (
    "id",
    "profile_id",
    "rule",
    "key",
    "kind",
    "status",
    "planned_at",
    "due_at",
    "order_id",
    "attempts",
    "sent_at",
    "marketing",
)  # outcome and updated_at are set before any write, never read
# Columns a new profile gets from the backfill; the rest take their database defaults.
_NEW_PROFILE_FIELDS = (
    "id",
    "email",
    "user",
    "first_name",
    "language_code",
    "stage_changed_at",
    *PROFILE_SUMMARY_FIELDS,
    "created_at",
    "updated_at",
)
