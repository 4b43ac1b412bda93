"""Orders: placed, fulfilled, cancelled, returned. Each updates the ledger, the profile and the outbox.

Recording is idempotent: the same event twice, or events out of order, leave the same state; the
earliest time of a fulfilment, cancellation or return wins. Placing an order is the hot path: one
round trip reads the customer (locked), their ledger and outbox; one more writes everything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..config import ConveyorConfig
from ..engine import Purchase as PurchaseFact
from ..engine.rules import PURCHASE_TRIGGERS
from ..errors import ConveyorError, ErrorCode
from ..events import Customer, OrderCancelled, OrderFulfilled, OrderPlaced, OrderReturned, RecordResult
from ..hosts import get_config
from ..models import FanProfile, Purchase
from ..sql import Batch
from ..sql import atomic as one_transaction
from ._ledger import fact, placed_values, unchanged_by_repeat, update_summary
from ._locking import customer_match, owner_condition, purchase_with_profile_for_update
from ._tables import (
    LEDGER,
    ORDER_PROFILES,
    ORDER_UNIQUE,
    OUTBOX,
    PROFILES,
    PURCHASES,
    RACE_TABLES,
    UNIQUE_VIOLATION,
    table_of,
    violated,
)
from .customers import choose, customer_changes, email_held_by_another_account, email_of_another_account, fresh_profile
from .outbox import reconcile, rule_names

logger = logging.getLogger(__name__)


class _RecordedElsewhere(Exception):
    """The order is already in another customer's ledger: roll back, change nothing."""


class _Raced(Exception):
    """Another worker created the customer's profile while this one was recording: start again."""


def record_order_placed(event: OrderPlaced, *, now: datetime | None = None, backfill: bool = False) -> RecordResult:
    """An order was placed: add it to the ledger, restage the customer, schedule what is due."""
    event = event.validate()
    now = now or timezone.now()
    config = get_config()
    names = rule_names(config.rule_book, PURCHASE_TRIGGERS)
    try:
        try:
            with one_transaction():
                return _record_placed(event, now=now, backfill=backfill, config=config, rule_names=names)
        except _Raced:  # another worker created this customer meanwhile: their profile exists now
            try:
                with one_transaction():
                    return _record_placed(event, now=now, backfill=backfill, config=config, rule_names=names)
            except _Raced as again:  # not a race after all
                if email_held_by_another_account(event.customer):
                    raise email_of_another_account(event.customer) from None
                raise again.__cause__ from None  # the database's own error, as it is
    except _RecordedElsewhere:
        owner = Purchase.objects.filter(order_id=event.order_id).values_list("profile_id", flat=True).first()
        logger.info("order %s is already recorded for another customer", event.order_id)
        return RecordResult(profile_id=owner)


def _record_placed(
    event: OrderPlaced, *, now: datetime, backfill: bool, config: ConveyorConfig, rule_names: list[str]
) -> RecordResult:
    profile, history, outbox = _read_customer(event.customer, rule_names)
    if profile is None:
        return _record_first_order(event, now=now, backfill=backfill, config=config)
    changed = customer_changes(profile, event.customer)
    batch = Batch()
    existing = next((row for row in history if row.order_id == event.order_id), None)
    values = placed_values(event)
    if existing is not None:
        if unchanged_by_repeat(existing, event, values):
            if changed:
                PROFILES.update(profile, [*changed, "updated_at"])
            return RecordResult(profile_id=profile.id)
        PURCHASES.update(existing, list(values), batch=batch)
    else:
        purchase = PURCHASES.new(order_id=event.order_id, profile_id=profile.id, **values)
        _add_purchase(purchase, batch)
        history.append(purchase)
    facts = [fact(row) for row in history]
    result = _reconcile_order(profile, facts, now=now, backfill=backfill, config=config, existing=outbox, batch=batch)
    update_summary(profile, facts, now, extra=changed, batch=batch)
    _flush_order(batch)
    result.changed = True
    return result


def _add_purchase(purchase: Purchase, batch: Batch, *, owner_sql: tuple[str, list[Any]] | None = None) -> None:
    """Queue the ledger row; if the order is already in another customer's ledger, the batch fails."""
    PURCHASES.insert([purchase], batch=batch, column_sql={"profile_id": owner_sql} if owner_sql else None)


def _flush_order(batch: Batch) -> None:
    """Write an order's batch and commit with it; a unique key taken meanwhile undoes all of it.

    The order id taken means another customer's ledger has the order (`_RecordedElsewhere`);
    another unique key of a profile or touchpoint (the email or account of a new profile, an
    occurrence) means a concurrent worker got there first (`_Raced`: start again, as a
    returning customer). Any other error (a foreign key, a check) is raised as it is.
    """
    try:
        batch.flush(last=True)
    except IntegrityError as error:
        if violated(error) == ORDER_UNIQUE:
            raise _RecordedElsewhere from None
        cause = error.__cause__
        if getattr(cause, "sqlstate", None) == UNIQUE_VIOLATION and table_of(cause) in RACE_TABLES:
            raise _Raced from error
        raise


def _record_first_order(event: OrderPlaced, *, now: datetime, backfill: bool, config: ConveyorConfig) -> RecordResult:
    """A new customer: profile (with its summary), order and touchpoints written in one round trip.

    The order and touchpoints name the profile by a subquery on its email, since its id exists only
    once the first statement ran. If another worker inserted the profile first, the insert is skipped
    and the whole transaction starts again (`_Raced`), this time as a returning customer.
    """
    profile = fresh_profile(event.customer)
    purchase = PURCHASES.new(order_id=event.order_id, **placed_values(event))
    facts = [fact(purchase)]
    owner = (f"(SELECT id FROM {PROFILES.name} WHERE email = %s)", [profile.email])
    batch = Batch()
    update_summary(profile, facts, now, write=False)
    PROFILES.insert([profile], batch=batch)
    _add_purchase(purchase, batch, owner_sql=owner)
    result = _reconcile_order(
        profile, facts, now=now, backfill=backfill, config=config, existing={}, batch=batch, owner_sql=owner
    )
    _flush_order(batch)
    purchase.profile = profile
    result.profile_id = profile.id
    result.changed = True
    return result


def _reconcile_order(
    profile: FanProfile, facts: list[PurchaseFact], *, now: datetime, backfill: bool, **read: Any
) -> RecordResult:
    """The outbox of the purchase triggers made to match the ledger (`read`: what the caller read or batches)."""
    return reconcile(profile, now=now, purchases=facts, triggers=PURCHASE_TRIGGERS, backfill=backfill, **read)


def _read_customer(customer: Customer, rule_names: list[str]) -> tuple[FanProfile | None, list[Purchase], dict]:
    """One round trip: the customer's profile (locked), its ledger, and its outbox for these rules.

    The lock is taken by a statement of its own: a statement that waits for a lock sees the
    other tables as they were when it started, so the ledger and outbox are read by the next
    one, which sees whatever the previous holder of the lock committed.
    """
    match, params = customer_match(customer, alias="p")
    lock_sql, history_sql = _customer_read_sql(match, by_email_only=customer.user_id is None)
    rows: dict[str, list[tuple]] = {}
    batch = Batch()
    batch.add(lock_sql, params, lambda fetched: rows.__setitem__("profiles", fetched))
    batch.add(history_sql, params * 2, lambda fetched: rows.__setitem__("history", fetched))
    batch.flush()
    profile = choose(map(ORDER_PROFILES.from_row, rows["profiles"]), customer)
    if profile is None:
        return None, [], {}
    width = len(LEDGER.fields)
    wanted = set(rule_names)
    ledger, outbox = [], {}
    for row in rows["history"]:  # ledger rows carry their id first; outbox rows leave it NULL
        if row[0] is not None:
            purchase = LEDGER.from_row(row[:width])
            if purchase.profile_id == profile.id:
                ledger.append(purchase)
        else:
            tp = OUTBOX.from_row(row[width:])
            if tp.profile_id == profile.id and tp.rule in wanted:
                outbox[tp.key] = tp
    return profile, ledger, outbox


@cache
def _customer_read_sql(match: str, *, by_email_only: bool) -> tuple[str, str]:
    """The lock statement and the history statement (ledger rows, then outbox rows, in one result)."""
    owners = owner_condition(match, by_email_only=by_email_only)
    no_ledger = ", ".join(["NULL"] * len(LEDGER.fields))
    no_outbox = ", ".join(["NULL"] * len(OUTBOX.fields))
    return (
        f"SELECT {ORDER_PROFILES.columns_as('p')} FROM {PROFILES.name} p WHERE {match} FOR UPDATE",
        f"SELECT {LEDGER.columns_as('o')}, {no_outbox} FROM {PURCHASES.name} o WHERE o.profile_id {owners} "
        f"UNION ALL SELECT {no_ledger}, {OUTBOX.columns_as('t')} FROM {OUTBOX.name} t WHERE t.profile_id {owners}",
    )


def record_fulfillment(event: OrderFulfilled, *, now: datetime | None = None, backfill: bool = False) -> RecordResult:
    """An order shipped: the first shipment counts (lead time, NPS survey anchor)."""
    event = event.validate()
    return _update_order(event.order_id, "fulfilled_at", event.fulfilled_at, now=now, backfill=backfill)


def record_order_cancelled(
    event: OrderCancelled, *, now: datetime | None = None, backfill: bool = False
) -> RecordResult:
    """An order was cancelled or fully refunded: it no longer counts; its unsent touchpoints stop."""
    event = event.validate()
    return _update_order(event.order_id, "cancelled_at", event.cancelled_at, now=now, backfill=backfill)


def record_return(event: OrderReturned, *, now: datetime | None = None, backfill: bool = False) -> RecordResult:
    """Goods came back; a full return takes the order off the count like a cancellation."""
    event = event.validate()
    if not event.fully_returned:
        with transaction.atomic():
            _locked_purchase(event.order_id)
        return RecordResult()
    return _update_order(event.order_id, "returned_at", event.returned_at, now=now, backfill=backfill)


def _locked_purchase(order_id: str) -> Purchase:
    purchase = purchase_with_profile_for_update(order_id)
    if purchase is None:
        raise ConveyorError(f"No order {order_id!r} is recorded.", field="order_id", code=ErrorCode.NOT_FOUND)
    return purchase


def _update_order(order_id: str, field: str, when: datetime, *, now: datetime | None, backfill: bool) -> RecordResult:
    """Set an order's time; the earliest wins, so repeats and reordering change nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        purchase = _locked_purchase(order_id)
        current = getattr(purchase, field)
        if current is not None and current <= when:
            return RecordResult(profile_id=purchase.profile_id)
        setattr(purchase, field, when)
        purchase.save(update_fields=[field])
        profile = purchase.profile
        history = [row if row.pk != purchase.pk else purchase for row in profile.purchases.all()]
        return _apply(profile, history, now=now, backfill=backfill)


def _apply(profile: FanProfile, history: Sequence[Purchase], *, now: datetime, backfill: bool) -> RecordResult:
    facts = [fact(row) for row in history]
    result = _reconcile_order(profile, facts, now=now, backfill=backfill)
    update_summary(profile, facts, now)
    result.changed = True
    return result
