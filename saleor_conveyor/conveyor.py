"""The conveyor service: the only code that writes the conveyor's tables.

Every `record_*` function takes a plain event (see `events.py`), validates it, and in
one transaction updates the purchase ledger and the fan profile and reconciles the
outbox with the rule book's plan. Recording is idempotent: the same event twice, or
events out of order, leave the same state, and the unique (profile, key) constraint
means an occurrence is never written twice. A customer's row is locked for the
duration, so concurrent events for one customer are applied one after the other.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.core.mail import EmailMessage
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest
from django.utils import timezone

from . import signals
from .config import ConveyorConfig, get_config
from .engine import (
    NpsAnswer,
    PlannedTouchpoint,
    RuleBook,
    engagement_cell,
    nps_category,
    plan_touchpoints,
    summarize,
)
from .engine import Purchase as PurchaseFact
from .engine.pacing import Action, Pacing
from .engine.pacing import decide as pacing_decide
from .engine.rules import NPS_TRIGGERS, PURCHASE_TRIGGERS
from .engine.surveys import answer_occasion
from .errors import ConveyorError, ErrorCode
from .events import (
    Customer,
    FanSurveyAnswered,
    InquirySubmitted,
    NpsAnswered,
    OrderCancelled,
    OrderFulfilled,
    OrderPlaced,
    OrderReturned,
    RecordResult,
    ReturnRequested,
)
from .models import (
    FanProfile,
    FanSurveyResponse,
    Inquiry,
    InquiryTopic,
    NpsResponse,
    ProfileAlias,
    Purchase,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
    Touchpoint,
    TouchpointStatus,
)
from .sql import Batch, Table, on_commit
from .sql import atomic as one_transaction

logger = logging.getLogger(__name__)
_PROFILE_SUMMARY_FIELDS = (
    "stage",
    "purchase_count",
    "currency",
    "total_spent_amount",
    "average_order_value_amount",
    "lifetime_value_amount",
    "first_purchase_at",
    "last_purchase_at",
)
PROFILES = Table(FanProfile)
PURCHASES = Table(Purchase)
TOUCHPOINTS = Table(Touchpoint)
# What recording an order reads and writes, and no more: decoding columns is most of a read's cost.
# The profile's summary is recomputed from the ledger, so only what that keeps is read (others load if touched).
ORDER_PROFILES = Table(FanProfile, only=("id", "user", "email", "first_name", "language_code", "stage", "currency"))
LEDGER = Table(Purchase, only=[f.name for f in Purchase._meta.concrete_fields if f.name != "recorded_at"], light=True)
# What planning and "the latest answer" need of earlier NPS answers.
NPS_ANSWERS = Table(NpsResponse, only=("id", "profile", "order_id", "occasion", "score", "created_at"), light=True)
OUTBOX = Table(
    Touchpoint,
    only=("id", "profile", "rule", "key", "kind", "status", "planned_at", "order_id", "attempts", "sent_at"),
    light=True,
)

S = TouchpointStatus


# --- customers ---------------------------------------------------------------------------


def _customer_match(customer: Customer, *, alias: str | None = None) -> tuple[str, list[Any]]:
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


def _fresh_profile(customer: Customer) -> FanProfile:
    return PROFILES.new(
        email=customer.email,
        user_id=customer.user_id,
        first_name=customer.first_name,
        language_code=customer.language_code,
    )


def _add_profile_if_missing(customer: Customer, batch: Batch) -> None:
    """Insert a profile unless the account or the email has one (then it does nothing)."""
    PROFILES.insert([_fresh_profile(customer)], batch=batch, on_conflict="ON CONFLICT DO NOTHING")


def _choose(profiles: Iterable[FanProfile], customer: Customer) -> FanProfile | None:
    """The account's own profile first, else the guest profile of its email (never another account's).

    A guest profile (no account) found by an account's own email is the history that
    `link_customer` would merge into it: an account without a profile of its own takes it over.
    """
    found = list(profiles)
    if customer.user_id is None:
        return next((p for p in found if p.email == customer.email), None)
    mine = next((p for p in found if p.user_id == customer.user_id), None)
    return mine or next((p for p in found if p.email == customer.email and p.user_id is None), None)


def _email_of_another_account(customer: Customer) -> ConveyorError:
    """An account without a profile whose email is another account's profile: refused, nothing written.

    Emails are unique among profiles, so the account cannot have its own profile with that
    address, and it must never act on the other account's. Its events are recorded once its
    email is its own again (`link_customer` follows the host's email changes).
    """
    return ConveyorError(
        f"{customer.email} belongs to another account's profile.", field="email", code=ErrorCode.ALREADY_EXISTS
    )


def _email_held_by_another_account(customer: Customer) -> bool:
    if customer.user_id is None:
        return False
    return (
        FanProfile.objects.filter(email=customer.email, user__isnull=False).exclude(user_id=customer.user_id).exists()
    )


def _add_profile_lock(customer: Customer, batch: Batch, found: list[tuple], *, create: bool) -> None:
    """Queue locking the customer's profile row(s) (made first if `create` and missing); rows go to `found`.

    Whatever else should see what the lock's last holder wrote is read by later statements of the batch.
    """
    if create:
        _add_profile_if_missing(customer, batch)
    match, params = _customer_match(customer, alias="p")
    batch.add(
        f"SELECT {PROFILES.columns_as('p')} FROM {PROFILES.name} p WHERE {match} FOR UPDATE", params, found.extend
    )


def _locked_profile(customer: Customer, *, create: bool = True) -> FanProfile | None:
    """The customer's profile, locked; found by account first, then by email; made if new."""
    batch = Batch()
    found: list[tuple] = []
    _add_profile_lock(customer, batch, found, create=create)
    batch.flush()
    profile = _choose(map(PROFILES.from_row, found), customer)
    if profile is None:
        if create:  # made if missing, yet none matched: the email is another account's profile
            raise _email_of_another_account(customer)
        return None
    changed = _customer_changes(profile, customer)
    if changed:
        PROFILES.update(profile, [*changed, "updated_at"])
    return profile


def _customer_changes(profile: FanProfile, customer: Customer) -> list[str]:
    """Bring the profile's account link, name and language up to date (in memory); list what changed."""
    changed = []
    if customer.user_id is not None and profile.user_id is None:
        profile.user_id = customer.user_id
        changed.append("user")
    for field in ("first_name", "language_code"):
        value = getattr(customer, field)
        if value and getattr(profile, field) != value:
            setattr(profile, field, value)
            changed.append(field)
    return changed


def find_profile(
    *, user_id: int | None = None, email: str | None = None, using: str = DEFAULT_DB_ALIAS
) -> FanProfile | None:
    """A customer's profile by account or email, for readers (API, templates); `using` a replica for staff.

    With an account, the email only finds a guest profile: never another account's.
    """
    profiles = FanProfile.objects.using(using)
    if user_id is not None:
        profile = profiles.filter(user_id=user_id).first()
        if profile is not None:
            return profile
    if email:
        by_email = profiles.filter(email=email.strip().lower())
        if user_id is not None:
            by_email = by_email.filter(user__isnull=True)
        return by_email.first()
    return None


def link_customer(customer: Customer, *, previous_email: str | None = None) -> FanProfile:
    """An account was created or changed: its guest history joins it, its email follows it."""
    customer = customer.validate()
    if customer.user_id is None:
        raise ConveyorError("link_customer needs an account (user_id).", field="user_id")
    with transaction.atomic():
        emails = {customer.email} | ({previous_email.strip().lower()} if previous_email else set())
        found = list(
            FanProfile.objects.select_for_update()
            .filter(Q(user_id=customer.user_id) | Q(email__in=emails))
            .order_by("id")
        )
        account = next((p for p in found if p.user_id == customer.user_id), None)
        same_email = next((p for p in found if p.email == customer.email and p is not account), None)
        if same_email is not None and same_email.user_id is not None:
            raise _email_of_another_account(customer)
        if account is None and same_email is not None:
            account, same_email = same_email, None
        if account is None:
            account = FanProfile.objects.create(
                email=customer.email,
                user_id=customer.user_id,
                first_name=customer.first_name,
                language_code=customer.language_code,
            )
            return account
        if same_email is not None:
            _merge_into(account, same_email)
        account.user_id = customer.user_id
        account.email = customer.email
        account.first_name = customer.first_name or account.first_name
        account.language_code = customer.language_code or account.language_code
        account.save(update_fields=["user", "email", "first_name", "language_code", "updated_at"])
        if same_email is not None:
            _rebuild(account, now=timezone.now())
        return account


def _merge_into(account: FanProfile, guest: FanProfile) -> None:
    """Move a guest's history into the account and delete the guest profile.

    The guest's id stays an alias of the account, so links mailed to the guest (they name
    its id, and an opt-out link must work for a year) act on the account.
    """
    keep_key = {tp.key: tp for tp in account.touchpoints.all()}
    for tp in guest.touchpoints.all():
        mine = keep_key.get(tp.key)
        if mine is None:
            continue
        # One occurrence, two rows: keep whichever went further, so nothing is sent twice.
        if _progress(tp) > _progress(mine):
            mine.delete()
        else:
            tp.delete()
    for answers in (NpsResponse, FanSurveyResponse):
        # One answer per customer per occasion, after a merge too: the account's own answer stays.
        taken = answers.objects.filter(profile=account).values("occasion")
        answers.objects.filter(profile=guest, occasion__in=taken).delete()
    for model in (Purchase, Touchpoint, NpsResponse, FanSurveyResponse, ReturnRequest, Inquiry):
        model.objects.filter(profile=guest).update(profile=account)
    account.badges = sorted(set(account.badges) | set(guest.badges))
    account.referral_code = account.referral_code or guest.referral_code
    opt_outs = [t for t in (account.unsubscribed_at, guest.unsubscribed_at) if t]
    account.unsubscribed_at = min(opt_outs) if opt_outs else None
    for field in ("nps", "nps_category", "nps_answered_at"):
        if guest.nps_answered_at and (not account.nps_answered_at or guest.nps_answered_at > account.nps_answered_at):
            setattr(account, field, getattr(guest, field))
    if not account.fan_degree and guest.fan_degree:
        account.fan_degree, account.liking, account.segment = guest.fan_degree, guest.liking, guest.segment
    account.save()
    ProfileAlias.objects.filter(profile=guest).update(profile=account)
    ProfileAlias.objects.create(old_profile_id=guest.pk, profile=account)
    guest.delete()


def _progress(tp: Touchpoint) -> int:
    return {S.CANCELLED: 0, S.SCHEDULED: 1, S.SKIPPED: 2, S.FAILED: 3, S.SENDING: 4, S.SENT: 5}[tp.status]


# --- orders ------------------------------------------------------------------------------


class _RecordedElsewhere(Exception):
    """The order is already in another customer's ledger: roll back, change nothing."""


def record_order_placed(event: OrderPlaced, *, now: datetime | None = None, backfill: bool = False) -> RecordResult:
    """An order was placed: add it to the ledger, restage the customer, schedule what is due.

    The hot path: one round trip reads the customer (locked), their ledger and outbox; one
    more writes the order, the touchpoints and the profile.
    """
    event = event.validate()
    now = now or timezone.now()
    config = get_config()
    rule_names = _rule_names(config.rule_book, PURCHASE_TRIGGERS)
    try:
        try:
            with one_transaction():
                return _record_placed(event, now=now, backfill=backfill, config=config, rule_names=rule_names)
        except _Raced:  # another worker created this customer meanwhile: their profile exists now
            try:
                with one_transaction():
                    return _record_placed(event, now=now, backfill=backfill, config=config, rule_names=rule_names)
            except _Raced as again:  # not a race after all
                if _email_held_by_another_account(event.customer):
                    raise _email_of_another_account(event.customer) from None
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
    changed = _customer_changes(profile, event.customer)
    batch = Batch()
    existing = next((row for row in history if row.order_id == event.order_id), None)
    values = _placed_values(event)
    if existing is not None:
        if _unchanged_by_repeat(existing, event, values):
            if changed:
                PROFILES.update(profile, [*changed, "updated_at"])
            return RecordResult(profile_id=profile.id)
        PURCHASES.update(existing, list(values), batch=batch)
    else:
        purchase = PURCHASES.new(order_id=event.order_id, profile_id=profile.id, **values)
        _add_purchase(purchase, batch)
        history.append(purchase)
    facts = [_fact(row) for row in history]
    result = _reconcile(
        profile,
        now=now,
        purchases=facts,
        triggers=PURCHASE_TRIGGERS,
        backfill=backfill,
        config=config,
        existing=outbox,
        batch=batch,
    )
    _update_summary(profile, facts, now, extra=changed, batch=batch)
    _flush_order(batch)
    result.changed = True
    return result


def _add_purchase(purchase: Purchase, batch: Batch, *, owner_sql: tuple[str, list[Any]] | None = None) -> None:
    """Queue the ledger row; if the order is already in another customer's ledger, the batch fails."""
    PURCHASES.insert([purchase], batch=batch, column_sql={"profile_id": owner_sql} if owner_sql else None)


class _Raced(Exception):
    """Another worker created the customer's profile while this one was recording: start again."""


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
        if _violated(error) == _ORDER_UNIQUE:
            raise _RecordedElsewhere from None
        cause = error.__cause__
        if getattr(cause, "sqlstate", None) == _UNIQUE_VIOLATION and _table_of(cause) in _RACE_TABLES:
            raise _Raced from error
        raise


_ORDER_UNIQUE = "conveyor_purchase_order_unique"
_UNIQUE_VIOLATION = "23505"
_RACE_TABLES = frozenset({FanProfile._meta.db_table, Touchpoint._meta.db_table})


def _violated(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, as PostgreSQL reports it."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def _table_of(cause: Any) -> str | None:
    return getattr(getattr(cause, "diag", None), "table_name", None)


def _record_first_order(event: OrderPlaced, *, now: datetime, backfill: bool, config: ConveyorConfig) -> RecordResult:
    """A new customer: profile (with its summary), order and touchpoints written in one round trip.

    The order and touchpoints name the profile by a subquery on its email, since its id exists only
    once the first statement ran. If another worker inserted the profile first, the insert is skipped
    and the whole transaction starts again (`_Raced`), this time as a returning customer.
    """
    profile = _fresh_profile(event.customer)
    purchase = PURCHASES.new(order_id=event.order_id, **_placed_values(event))
    facts = [_fact(purchase)]
    owner = (f"(SELECT id FROM {PROFILES.name} WHERE email = %s)", [profile.email])
    batch = Batch()
    _update_summary(profile, facts, now, write=False)
    PROFILES.insert([profile], batch=batch)
    _add_purchase(purchase, batch, owner_sql=owner)
    result = _reconcile(
        profile,
        now=now,
        purchases=facts,
        triggers=PURCHASE_TRIGGERS,
        backfill=backfill,
        config=config,
        existing={},
        batch=batch,
        owner_sql=owner,
    )
    _flush_order(batch)
    purchase.profile = profile
    result.profile_id = profile.id
    result.changed = True
    return result


def _read_customer(customer: Customer, rule_names: list[str]) -> tuple[FanProfile | None, list[Purchase], dict]:
    """One round trip: the customer's profile (locked), its ledger, and its outbox for these rules.

    The lock is taken by a statement of its own: a statement that waits for a lock sees the
    other tables as they were when it started, so the ledger and outbox are read by the next
    one, which sees whatever the previous holder of the lock committed.
    """
    match, params = _customer_match(customer, alias="p")
    lock_sql, history_sql = _customer_read_sql(match, by_email_only=customer.user_id is None)
    rows: dict[str, list[tuple]] = {}
    batch = Batch()
    batch.add(lock_sql, params, lambda fetched: rows.__setitem__("profiles", fetched))
    batch.add(history_sql, params * 2, lambda fetched: rows.__setitem__("history", fetched))
    batch.flush()
    profile = _choose(map(ORDER_PROFILES.from_row, rows["profiles"]), customer)
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


def _owner_condition(match: str, *, by_email_only: bool) -> str:
    """`profile_id <this>`: the customer's profile(s) by a subquery, in the form planned fastest.

    By email alone at most one profile matches: `= (subquery)` plans in half the time of `IN`;
    by account or email, `= ANY(ARRAY(subquery))`, still faster than `IN`.
    """
    owners = f"(SELECT p.id FROM {PROFILES.name} p WHERE {match})"
    return f"= {owners}" if by_email_only else f"= ANY(ARRAY{owners})"


@cache
def _customer_read_sql(match: str, *, by_email_only: bool) -> tuple[str, str]:
    """The lock statement and the history statement (ledger rows, then outbox rows, in one result)."""
    owners = _owner_condition(match, by_email_only=by_email_only)
    no_ledger = ", ".join(["NULL"] * len(LEDGER.fields))
    no_outbox = ", ".join(["NULL"] * len(OUTBOX.fields))
    return (
        f"SELECT {ORDER_PROFILES.columns_as('p')} FROM {PROFILES.name} p WHERE {match} FOR UPDATE",
        f"SELECT {LEDGER.columns_as('o')}, {no_outbox} FROM {PURCHASES.name} o WHERE o.profile_id {owners} "
        f"UNION ALL SELECT {no_ledger}, {OUTBOX.columns_as('t')} FROM {OUTBOX.name} t WHERE t.profile_id {owners}",
    )


def _unchanged_by_repeat(existing: Any, event: OrderPlaced, values: dict[str, Any]) -> bool:
    """A placement event for a recorded order: True if it changes nothing, else apply it to `existing`."""
    if existing.currency != event.currency:
        raise ConveyorError(
            f"Order {event.order_id} is in {existing.currency}; this event says {event.currency}.",
            field="currency",
        )
    if all(getattr(existing, k) == v for k, v in values.items()):
        return True
    for key, value in values.items():
        setattr(existing, key, value)
    return False


def _placed_values(event: OrderPlaced) -> dict[str, Any]:
    return {
        "order_number": event.order_number,
        "channel": event.channel,
        "currency": event.currency,
        "total_gross_amount": event.total,
        "placed_at": event.placed_at,
        "used_voucher": event.used_voucher,
        "used_sale": event.used_sale,
        "used_campaign": event.used_campaign,
    }


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
    purchase = (
        Purchase.objects.select_related("profile")
        .select_for_update(of=("self", "profile"))
        .filter(order_id=order_id)
        .first()
    )
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
    facts = [_fact(row) for row in history]
    result = _reconcile(profile, now=now, purchases=facts, triggers=PURCHASE_TRIGGERS, backfill=backfill)
    _update_summary(profile, facts, now)
    result.changed = True
    return result


def _fact(row: Purchase) -> PurchaseFact:
    return PurchaseFact(
        order_id=row.order_id,
        placed_at=row.placed_at,
        currency=row.currency,
        total=row.total_gross_amount,
        discounted=Purchase.discounted.fget(row),  # the model's rule, on a light row too
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
        returned_at=row.returned_at,
    )


def _update_summary(
    profile: FanProfile,
    facts: Sequence[PurchaseFact],
    now: datetime,
    *,
    extra: Sequence[str] = (),
    batch: Batch | None = None,
    write: bool = True,
) -> None:
    """Recompute the profile's purchase figures and stage; `write=False` when the caller inserts the row."""
    summary = summarize(facts)
    previous_stage = profile.stage
    values = {
        "stage": summary.stage.value if summary.stage else None,
        "purchase_count": summary.purchase_count,
        "currency": summary.currency or profile.currency,
        "total_spent_amount": summary.total_spent,
        "average_order_value_amount": summary.average_order_value,
        "lifetime_value_amount": summary.lifetime_value,
        "first_purchase_at": summary.first_purchase_at,
        "last_purchase_at": summary.last_purchase_at,
    }
    for key, value in values.items():
        setattr(profile, key, value)
    update = [*_PROFILE_SUMMARY_FIELDS, *extra, "updated_at"]
    if previous_stage != profile.stage:
        profile.stage_changed_at = now
        update.append("stage_changed_at")
    if write:
        PROFILES.update(profile, update, batch=batch)
    if previous_stage != profile.stage:
        on_commit(
            lambda: signals.send(
                signals.stage_changed, FanProfile, profile=profile, previous=previous_stage, stage=profile.stage
            )
        )


# --- the outbox --------------------------------------------------------------------------


def _rule_names(book: RuleBook, triggers: frozenset[str]) -> list[str]:
    """Every rule of these triggers, switched on or off (the outbox the service reconciles)."""
    return [rule.name for rule in book.rules if rule.trigger in triggers]


def _reconcile(
    profile: FanProfile,
    *,
    now: datetime,
    triggers: frozenset[str],
    purchases: Sequence[PurchaseFact] | None = None,
    answers: Sequence[NpsAnswer] | None = None,
    backfill: bool = False,
    config: ConveyorConfig | None = None,
    existing: dict[str, Touchpoint] | None = None,
    batch: Batch | None = None,
    owner_sql: tuple[str, list[Any]] | None = None,
) -> RecordResult:
    """Make the outbox match the rule book's plan for the given triggers (profile is locked).

    `existing` is the outbox for these triggers when the caller already read it; with a
    `batch`, the writes join it and happen when the caller flushes.
    """
    config = config or get_config()
    book = config.rule_book
    # Switched-off rules are read too, so what they scheduled and did not send yet is cancelled.
    rule_names = _rule_names(book, triggers)
    switched_off = {rule.name for rule in book.rules if not rule.active}
    result = RecordResult(profile_id=profile.id)
    if not rule_names:
        return result
    if purchases is None and triggers & PURCHASE_TRIGGERS:
        purchases = [_fact(row) for row in profile.purchases.all()]
    if answers is None and triggers & NPS_TRIGGERS:
        answers = [_answer(r) for r in profile.nps_responses.all()]
    if existing is None:
        wanted_rules = set(rule_names)  # filtered here: a rule filter in SQL can mislead the planner
        existing = {tp.key: tp for tp in OUTBOX.select("profile_id = %s", [profile.id]) if tp.rule in wanted_rules}
    recent_sends: dict[str, list[datetime]] = {}
    for tp in existing.values():
        if tp.sent_at is not None and tp.status == S.SENT:
            recent_sends.setdefault(tp.rule, []).append(tp.sent_at)
    plan = plan_touchpoints(book, purchases or (), answers or (), now=now, triggers=triggers, recent_sends=recent_sends)
    wanted = {item.key: item for item in plan}
    late_before = now if backfill else now - config.late_grace
    create, update = [], []
    for item in plan:
        tp = existing.get(item.key)
        late = item.due_at < late_before
        if tp is None:
            create.append(_new_touchpoint(profile, item, late=late, backfill=backfill))
        elif (tp.status == S.CANCELLED and tp.attempts == 0 and tp.sent_at is None) or (
            tp.status == S.SCHEDULED and tp.planned_at != item.due_at
        ):
            _set_plan(tp, item, late=late, backfill=backfill)
            TOUCHPOINTS.update(tp, ["status", "planned_at", "due_at", "outcome", "updated_at"], batch=batch)
            update.append(tp)
    orders = {fact.order_id: fact for fact in purchases or ()}
    for key, tp in existing.items():
        if key not in wanted and tp.status == S.SCHEDULED:
            tp.status = S.CANCELLED
            tp.outcome = _cancel_reason(tp, orders, switched_off)
            TOUCHPOINTS.update(tp, ["status", "outcome", "updated_at"], batch=batch)
            update.append(tp)
    TOUCHPOINTS.insert(create, batch=batch, column_sql={"profile_id": owner_sql} if owner_sql else None)
    for tp in [*create, *update]:
        {S.SCHEDULED: result.scheduled, S.CANCELLED: result.cancelled, S.SKIPPED: result.skipped}[tp.status].append(
            tp.key
        )
    scheduled = [tp for tp in [*create, *update] if tp.status == S.SCHEDULED]
    if scheduled:  # ids of new rows (and of a new profile) exist only once the batch ran: read them at commit
        on_commit(functools.partial(_send_scheduled, profile, scheduled))
    return result


def _send_scheduled(profile: FanProfile, scheduled: list[Touchpoint]) -> None:
    for tp in scheduled:
        tp.profile_id = profile.id
    signals.send(
        signals.touchpoint_scheduled,
        Touchpoint,
        touchpoint_ids=[tp.id for tp in scheduled],
        profile_id=profile.id,
        touchpoints=scheduled,
    )


def _new_touchpoint(profile: FanProfile, item: PlannedTouchpoint, *, late: bool, backfill: bool) -> Touchpoint:
    tp = TOUCHPOINTS.new(
        profile_id=profile.id,
        rule=item.rule,
        key=item.key,
        kind=item.kind,
        order_id=item.order_id,
        marketing=item.marketing,
    )
    _TOUCHPOINT_PROFILE.set_cached_value(tp, profile)
    _set_plan(tp, item, late=late, backfill=backfill)
    return tp


_TOUCHPOINT_PROFILE = Touchpoint._meta.get_field("profile")


def _set_plan(tp: Touchpoint, item: PlannedTouchpoint, *, late: bool, backfill: bool) -> None:
    """Plan (or replan) a touchpoint; `updated_at` is set when it is written."""
    tp.planned_at = tp.due_at = item.due_at
    if late:
        tp.status = S.SKIPPED
        tp.outcome = (
            "due before the conveyor was enabled (backfill); not sent"
            if backfill
            else "its time had passed when it was scheduled; not sent"
        )
    else:
        tp.status = S.SCHEDULED
        tp.outcome = ""


def _cancel_reason(tp: Any, orders: dict[str, PurchaseFact], switched_off: set[str]) -> str:
    """Why a touchpoint that has not gone out is cancelled, in words staff understand."""
    if tp.rule in switched_off:
        return "its rule was switched off in the rule book"
    purchase = orders.get(tp.order_id or "")
    if purchase is not None and purchase.cancelled_at is not None:
        return f"order {purchase.order_id} was cancelled"
    if purchase is not None and purchase.returned_at is not None:
        return f"order {purchase.order_id} was returned"
    return "no longer applies to the customer's history"


def _answer(response: NpsResponse) -> NpsAnswer:
    """An answer as the engine plans from it (`response` may be a light row)."""
    return NpsAnswer(occasion=response.occasion, score=response.score, answered_at=response.created_at)


def record_nps(event: NpsAnswered, *, now: datetime | None = None) -> NpsResponse:
    """An NPS answer: at most one per customer per occasion; the latest one sets the profile's NPS.

    The occasion is the order, else the survey window (`answer_occasion`), and the database
    holds it (unique profile + occasion): a second answer is ALREADY_EXISTS and changes nothing,
    so aliased mutations or a replayed link make one answer and one follow-up, not hundreds.

    Two round trips: the customer's row locked with everything the answer is checked and
    planned against (the order, every earlier answer, the outbox, the answer's id drawn
    ahead); then the answer, the profile's NPS and the outbox's changes, with the commit.
    A customer without a profile yet costs one more: the first read, made again with the profile.
    """
    event = event.validate()
    now = now or timezone.now()
    config = get_config()
    rule_names = set(_rule_names(config.rule_book, NPS_TRIGGERS))
    occasion = answer_occasion(event.order_id, event.answered_at, config.rule_book.survey_window_days())
    match, params = _customer_match(event.customer, alias="p")
    owners = _owner_condition(match, by_email_only=event.customer.user_id is None)
    with one_transaction():
        # Most answers come from customers with a profile; the rest need it made first (a second read).
        found, orders, rows, outbox_rows, drawn = _nps_reads(event, params, owners, rule_names, create=False)
        if not found:
            found, orders, rows, outbox_rows, drawn = _nps_reads(event, params, owners, rule_names, create=True)
        profile = _choose(map(PROFILES.from_row, found), event.customer)
        if profile is None:  # made above if it was missing, unless the email is another account's profile
            raise _email_of_another_account(event.customer)
        answers = [answer for answer in map(NPS_ANSWERS.from_row, rows) if answer.profile_id == profile.id]
        channel = ""
        if event.order_id is not None:
            channel = next((channel for owner, channel in orders if owner == profile.id), None)
            if channel is None:
                raise ConveyorError(
                    f"No order {event.order_id!r} of this customer is recorded.",
                    field="orderId",
                    code=ErrorCode.NOT_FOUND,
                )
        if any(answer.occasion == occasion for answer in answers):
            raise _nps_already_answered(event)
        response = NEW_NPS_RESPONSES.new(
            id=drawn[0][0],
            profile_id=profile.id,
            order_id=event.order_id,
            occasion=occasion,
            channel=channel,
            score=event.score,
            comment=event.comment,
            created_at=event.answered_at,
        )
        _NPS_PROFILE.set_cached_value(response, profile)
        writes = Batch()
        NEW_NPS_RESPONSES.insert([response], batch=writes)
        changed = _customer_changes(profile, event.customer)
        # The latest answer sets the profile's NPS; answers at the same moment are ordered by order id
        # (then by id), so the result does not depend on which arrived first.
        latest = max([*answers, response], key=_answer_order)
        if latest is response:
            profile.nps = response.score
            profile.nps_category = nps_category(response.score).value
            profile.nps_answered_at = response.created_at
            changed += ["nps", "nps_category", "nps_answered_at"]
        if changed:
            PROFILES.update(profile, [*changed, "updated_at"], batch=writes)
        outbox = {tp.key: tp for tp in map(OUTBOX.from_row, outbox_rows) if tp.profile_id == profile.id}
        _reconcile(
            profile,
            now=now,
            triggers=NPS_TRIGGERS,
            answers=[_answer(answer) for answer in [*answers, response]],
            config=config,
            existing=outbox,
            batch=writes,
        )
        try:
            writes.flush(last=True)
        except IntegrityError as error:
            if _violated(error) == _NPS_ONCE:
                raise _nps_already_answered(event) from None
            raise
        on_commit(lambda: signals.send(signals.nps_recorded, NpsResponse, response=response, profile=profile))
        return response


def _nps_reads(
    event: NpsAnswered, params: list[Any], owners: str, rule_names: set[str], *, create: bool
) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple], list[tuple]]:
    """One round trip: the profile locked (made first if `create`), then, seeing what its last holder
    wrote, the order, the answers, the outbox, and a new answer id (`params`: of the customer match)."""
    found: list[tuple] = []
    orders: list[tuple] = []
    rows: list[tuple] = []
    outbox_rows: list[tuple] = []
    drawn: list[tuple] = []
    reads = Batch()
    _add_profile_lock(event.customer, reads, found, create=create)
    if event.order_id is not None:
        reads.add(
            f"SELECT profile_id, channel FROM {PURCHASES.name} WHERE order_id = %s", [event.order_id], orders.extend
        )
    reads.add(
        f"SELECT {NPS_ANSWERS.columns} FROM {NPS_ANSWERS.name} WHERE profile_id {owners}",
        params,
        rows.extend,
    )
    if rule_names:
        # Only the NPS rules' touchpoints: a customer's order rules hold most of the outbox.
        reads.add(
            f"SELECT {OUTBOX.columns} FROM {OUTBOX.name} WHERE profile_id {owners} AND rule = ANY(%s)",
            [*params, sorted(rule_names)],
            outbox_rows.extend,
        )
    reads.add(NEW_NPS_RESPONSES.next_id_sql, [], drawn.extend)
    reads.flush()
    return found, orders, rows, outbox_rows, drawn


NEW_NPS_RESPONSES = Table(NpsResponse, insert_pk=True)
_NPS_PROFILE = NpsResponse._meta.get_field("profile")


def _answer_order(answer: NpsResponse) -> tuple:
    return (answer.created_at, answer.order_id is not None, answer.order_id or "", answer.id)


_NPS_ONCE = "conveyor_nps_once_per_occasion"
_FAN_SURVEY_ONCE = "conveyor_fan_survey_once_per_occasion"


def _nps_already_answered(event: NpsAnswered) -> ConveyorError:
    if event.order_id is None:
        return ConveyorError(
            "This survey already has your answer; the next survey will ask again.", code=ErrorCode.ALREADY_EXISTS
        )
    return ConveyorError(
        "This order already has an NPS answer from this customer.", field="orderId", code=ErrorCode.ALREADY_EXISTS
    )


def record_fan_survey(event: FanSurveyAnswered, *, now: datetime | None = None) -> FanSurveyResponse:
    """A fan-degree answer places the customer on the engagement grid (the latest answer wins).

    One answer per customer per survey window (`answer_occasion`, held by the database): the
    same event again returns the stored answer; another answer in the window is ALREADY_EXISTS.
    """
    event = event.validate()
    occasion = answer_occasion(None, event.answered_at, get_config().rule_book.survey_window_days())
    values = {"fan_degree": event.fan_degree.value, "liking": event.liking.value, "comment": event.comment}
    try:
        with transaction.atomic():
            profile = _locked_profile(event.customer)
            assert profile is not None  # made if missing (else refused)
            stored = profile.fan_surveys.filter(occasion=occasion).first()
            if stored is not None:
                if stored.created_at == event.answered_at and all(getattr(stored, k) == v for k, v in values.items()):
                    return stored
                raise _fan_survey_already_answered()
            response = FanSurveyResponse.objects.create(
                profile=profile,
                occasion=occasion,
                created_at=event.answered_at,
                segment=engagement_cell(event.fan_degree, event.liking),
                **values,
            )
            latest = profile.fan_surveys.order_by("-created_at", "-id").first()
            if latest is not None:
                profile.fan_degree, profile.liking, profile.segment = latest.fan_degree, latest.liking, latest.segment
                profile.save(update_fields=["fan_degree", "liking", "segment", "updated_at"])
            return response
    except IntegrityError as error:
        if _violated(error) == _FAN_SURVEY_ONCE:
            raise _fan_survey_already_answered() from None
        raise


def _fan_survey_already_answered() -> ConveyorError:
    return ConveyorError(
        "This survey already has your answer; the next survey will ask again.", code=ErrorCode.ALREADY_EXISTS
    )


# --- time-driven -------------------------------------------------------------------------


def schedule_lapsed(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Find customers who lapsed and have no win-back for this lapse yet; schedule it. Returns how many."""
    now = now or timezone.now()
    config = get_config()
    rules = [rule.name for rule in config.rule_book.active_rules({"lapsed"})]
    if not rules:
        return 0
    cutoff = now - timedelta(days=config.lapse_days)
    has_winback = Touchpoint.objects.filter(
        profile=OuterRef("pk"), rule__in=rules, planned_at__gte=OuterRef("last_purchase_at")
    )
    ids = list(
        FanProfile.objects.filter(last_purchase_at__lte=cutoff)
        .exclude(Exists(has_winback))
        .values_list("id", flat=True)[:batch_size]
    )
    scheduled = 0
    for profile_id in ids:
        with transaction.atomic():
            profile = FanProfile.objects.select_for_update().get(pk=profile_id)
            result = _reconcile(profile, now=now, triggers=frozenset({"lapsed"}), config=config)
            scheduled += len(result.scheduled)
    return scheduled


def rebuild_profile(profile_id: int, *, now: datetime | None = None) -> RecordResult:
    """Recompute a profile and its outbox from the ledger (after a rule book change)."""
    with transaction.atomic():
        profile = FanProfile.objects.select_for_update().get(pk=profile_id)
        return _rebuild(profile, now=now or timezone.now())


def _rebuild(profile: FanProfile, *, now: datetime) -> RecordResult:
    facts = [_fact(row) for row in profile.purchases.all()]
    result = _reconcile(profile, now=now, purchases=facts, triggers=PURCHASE_TRIGGERS | NPS_TRIGGERS)
    _update_summary(profile, facts, now)
    return result


# --- delivery outcomes -------------------------------------------------------------------


def mark_touchpoints(ids: Iterable[int], status: str, *, outcome: str = "", now: datetime | None = None) -> int:
    """Record how touchpoints ended (delivery code calls this; it never re-opens a sent one)."""
    now = now or timezone.now()
    values: dict[str, Any] = {"status": status, "outcome": outcome, "updated_at": now}
    if status == S.SENT:
        values["sent_at"] = now
    return (
        Touchpoint.objects.filter(id__in=list(ids))
        .exclude(status__in=[S.SENT, S.SKIPPED, S.FAILED, S.CANCELLED])
        .update(**values)
    )


# --- returns, inquiries, unsubscribe -----------------------------------------------------


# Per key: at most `count` inquiries within `period`; beyond that THROTTLED.
INQUIRY_THROTTLE: dict[str, tuple[int, timedelta]] = {
    "email": (5, timedelta(hours=1)),
    "client_address": (20, timedelta(hours=1)),
}


# --- returns -------------------------------------------------------------------------------


def request_return(request: ReturnRequested, *, now: datetime | None = None) -> ReturnRequest:
    """A customer asks to return lines of their own fulfilled order, inside the return window."""
    from .hosts import get_host

    request = request.validate()
    now = now or timezone.now()
    host = get_host()
    order = host.order_info(request.order_id)
    if order is None or order.user_id is None or order.user_id != request.customer.user_id:
        # Someone else's order looks exactly like a missing one: nothing about it is revealed.
        raise ConveyorError("No such order of yours.", field="orderId", code=ErrorCode.NOT_FOUND)
    with transaction.atomic():
        # The ledger row must be the account's own too: a host's word on the order is not enough
        # for the return to land on (and be listed for) whichever profile recorded it.
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .filter(order_id=request.order_id, profile__user_id=request.customer.user_id)
            .first()
        )
        if purchase is None:
            raise ConveyorError("No such order of yours.", field="orderId", code=ErrorCode.NOT_FOUND)
        # The window counts from the first shipment; before one is recorded, from the order itself.
        window_start = purchase.fulfilled_at or purchase.placed_at
        window_days = host.config().return_window_days
        if now > window_start + timedelta(days=window_days):
            raise ConveyorError(
                f"Returns are accepted within {window_days} days of delivery.",
                field="orderId",
                code=ErrorCode.WINDOW_CLOSED,
            )
        order_lines = {line.id: line for line in order.lines}
        requested = dict(
            ReturnLine.objects.filter(request__purchase=purchase)
            .exclude(request__status=ReturnStatus.REJECTED)
            .values_list("order_line_id")
            .annotate(total=Sum("quantity"))
        )
        for index, line in enumerate(request.lines):
            order_line = order_lines.get(line.order_line_id)
            if order_line is None:
                raise ConveyorError(
                    "This line is not part of the order.", field=f"lines.{index}.orderLineId", code=ErrorCode.NOT_FOUND
                )
            available = order_line.quantity_fulfilled - requested.get(line.order_line_id, 0)
            if line.quantity > available:
                raise ConveyorError(
                    f"At most {max(available, 0)} of {order_line.product_name or 'this line'} can be returned.",
                    field=f"lines.{index}.quantity",
                    code=ErrorCode.OUT_OF_RANGE,
                )
        return_request = ReturnRequest.objects.create(
            profile_id=purchase.profile_id, purchase=purchase, reason=request.reason, comment=request.comment
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(
                request=return_request,
                order_line_id=line.order_line_id,
                quantity=line.quantity,
                product_name=order_lines[line.order_line_id].product_name[:386],
            )
            for line in request.lines
        )
        return return_request


def decide_return(
    return_id: str, *, approve: bool, note: str = "", decided_by: str = "", now: datetime | None = None
) -> ReturnRequest:
    """Staff approve (the host records the return on the order) or reject a requested return."""
    from .hosts import get_host

    if not isinstance(note, str) or len(note) > 2000:
        raise ConveyorError("note must be text of at most 2000 characters.", field="note", code=ErrorCode.OUT_OF_RANGE)
    now = now or timezone.now()
    with transaction.atomic():
        found = (
            ReturnRequest.objects.select_for_update(of=("self",))
            .select_related("purchase")
            .filter(pk=return_id)
            .first()
        )
        if found is None:
            raise ConveyorError("No such return request.", field="id", code=ErrorCode.NOT_FOUND)
        if found.status != ReturnStatus.REQUESTED:
            raise ConveyorError(f"This return was already {found.status.lower()}.", field="id")
        if approve:
            lines = [(line.order_line_id, line.quantity) for line in found.lines.all()]
            # Inside the transaction: if the host refuses, the request stays as it was.
            found.host_reference = get_host().create_return(found.purchase.order_id, lines)[:64]
        found.status = ReturnStatus.APPROVED if approve else ReturnStatus.REJECTED
        found.note = note
        found.decided_by = decided_by[:254]
        found.decided_at = now
        found.save(update_fields=["status", "note", "decided_by", "decided_at", "host_reference", "updated_at"])
        return found


# --- inquiries -----------------------------------------------------------------------------


def submit_inquiry(inquiry: InquirySubmitted, *, now: datetime | None = None) -> Inquiry:
    """The contact form: store the message, tell the shop by mail, refuse floods (THROTTLED)."""
    inquiry = inquiry.validate()
    now = now or timezone.now()
    keys = {"email": inquiry.email, "client_address": inquiry.client_address}
    with transaction.atomic():
        for name, value in keys.items():
            if not value:
                continue
            # Serialise submissions per key so concurrent requests cannot slip past the count.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"conveyor.inquiry.{name}:{value}"])
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
        on_commit(lambda: _notify_shop_of_inquiry(stored))
        return stored


def _notify_shop_of_inquiry(inquiry: Inquiry) -> None:
    """Mail the shop's sender address; a mail failure never loses the stored inquiry."""
    from .hosts import get_host

    host = get_host()
    config = host.config()
    if not config.sender_email:
        return
    topic = InquiryTopic(inquiry.topic).label
    body = "\n".join(
        [
            f"From: {inquiry.name or '-'} <{inquiry.email}>",
            f"Topic: {topic}",
            f"Order: {inquiry.order_id or '-'}",
            f"Received: {inquiry.created_at:%Y-%m-%d %H:%M %Z}",
            "",
            inquiry.message,
        ]
    )
    message = EmailMessage(
        subject=f"[{config.sender_name or 'Shop'}] New inquiry ({topic}) from {inquiry.email}",
        body=body,
        from_email=config.sender_email,
        to=[config.sender_email],
        reply_to=[inquiry.email],
    )
    try:
        from .delivery import REQUEST_MAIL_TIMEOUT, mail_connection

        message.connection = mail_connection(host, REQUEST_MAIL_TIMEOUT)  # the caller waits for it: bounded
        host.send_mail(message)
    except Exception:
        logger.exception("could not mail the shop about inquiry %s", inquiry.id)


# --- unsubscribe ---------------------------------------------------------------------------


def unsubscribe(profile_id: int, *, now: datetime | None = None) -> FanProfile:
    """The customer opts out of marketing mail; repeating it keeps the first opt-out time."""
    now = now or timezone.now()
    with transaction.atomic():
        profile = FanProfile.objects.select_for_update().filter(pk=profile_id).first()
        if profile is None:
            raise ConveyorError("No such customer.", code=ErrorCode.NOT_FOUND)
        if profile.unsubscribed_at is None:
            profile.unsubscribed_at = now
            profile.save(update_fields=["unsubscribed_at", "updated_at"])
        return profile


# --- delivery ----------------------------------------------------------------------------
# State changes of the delivery code (delivery.py). A due touchpoint is first *reserved*
# (stays SCHEDULED, claimed_at = the reservation, so other sweeps leave it alone for a
# lease), then *claimed* a small chunk at a time right before its rows are sent (SENDING,
# one durable commit per chunk), then each row is finished as soon as it is sent (SENT /
# back to SCHEDULED for a retry / FAILED). A worker that dies leaves its reserved rows
# SCHEDULED (another sweep takes them when the lease ends) and at most one chunk in
# SENDING, which the sweep marks FAILED rather than send anything twice. That is the
# trade-off of claiming in chunks: a crash can mark up to `claim_chunk` rows FAILED
# ("may or may not have gone out") that were never sent; with a chunk of 1 only the one
# row in flight.

NOT_MESSAGES = frozenset({"BADGE", "STAFF_TASK"})
STALE_OUTCOME = (
    "the worker stopped while sending it (claimed {minutes:g}+ minutes ago): not sent again so the "
    "customer never gets two copies; check the mail log, the email may or may not have gone out"
)


@dataclass
class Reservation:
    """What one reservation pass decided: rows to send now, and how many were paced."""

    reserved: list[Touchpoint] = dataclass_field(default_factory=list)
    deferred: list[Touchpoint] = dataclass_field(default_factory=list)
    skipped: list[Touchpoint] = dataclass_field(default_factory=list)


def reserve_due_touchpoints(
    *,
    now: datetime,
    limit: int,
    pacing: Pacing,
    lease: timedelta,
    ids: Sequence[int] | None = None,
) -> Reservation:
    """Lock due rows (SKIP LOCKED, so workers share without overlap), pace them, reserve the sendable ones.

    The frequency cap holds marketing messages and the follow-ups of a customer's answers (NPS
    rules), marketing or not: answers to many orders at once never make a burst of mail.
    """
    result = Reservation()
    follow_ups = get_config().rule_book.follow_up_rules()
    with transaction.atomic():
        due = (
            Touchpoint.objects.filter(status=S.SCHEDULED, due_at__lte=now)
            .exclude(kind="STAFF_TASK")
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease))
        )
        if ids is not None:
            due = due.filter(id__in=list(ids))
        candidates = list(due.order_by("due_at", "id").select_for_update(skip_locked=True)[:limit])
        if not candidates:
            return result
        # Profiles are locked too: the frequency cap needs one decision per customer at a time,
        # and a customer whose order is being recorded right now waits for the next pass.
        profiles = {
            profile.id: profile
            for profile in FanProfile.objects.select_for_update(skip_locked=True)
            .filter(id__in={tp.profile_id for tp in candidates})
            .order_by("id")
        }
        pending_returns = set(
            ReturnRequest.objects.filter(profile_id__in=profiles, status=ReturnStatus.REQUESTED).values_list(
                "profile_id", flat=True
            )
        )
        last_marketing = _last_marketing_sends(profiles, now=now, pacing=pacing, lease=lease, follow_ups=follow_ups)
        for tp in candidates:
            profile = profiles.get(tp.profile_id)
            if profile is None:
                continue
            tp.profile = profile
            message = tp.kind not in NOT_MESSAGES
            capped = tp.marketing or tp.rule in follow_ups
            decision = pacing_decide(
                now,
                pacing,
                marketing=tp.marketing,
                message=message,
                unsubscribed_at=profile.unsubscribed_at,
                return_pending=profile.id in pending_returns,
                last_marketing_at=last_marketing.get(profile.id),
                capped=capped,
            )
            tp.updated_at = now
            if decision.action == Action.SKIP:
                tp.status, tp.outcome = S.SKIPPED, decision.reason
                result.skipped.append(tp)
            elif decision.action == Action.DEFER:
                assert decision.at is not None
                tp.due_at, tp.outcome = decision.at, decision.reason
                result.deferred.append(tp)
            else:
                tp.claimed_at = now
                result.reserved.append(tp)
                if message and capped:
                    last_marketing[profile.id] = now
        paced = [*result.skipped, *result.deferred]
        if paced:
            Touchpoint.objects.bulk_update(paced, ["status", "outcome", "due_at", "updated_at"])
        if result.reserved:
            # Every reserved row gets the same two values: one plain UPDATE, not a CASE per row.
            Touchpoint.objects.filter(id__in=[tp.id for tp in result.reserved]).update(claimed_at=now, updated_at=now)
    return result


def _last_marketing_sends(
    profile_ids: Iterable[int], *, now: datetime, pacing: Pacing, lease: timedelta, follow_ups: Iterable[str] = ()
) -> dict[int, datetime]:
    """When each customer last got (or is about to get) a capped message (marketing, a follow-up), within the cap."""
    since = now - max(pacing.frequency_cap, lease)
    capped = Q(marketing=True) | Q(rule__in=list(follow_ups)) if follow_ups else Q(marketing=True)
    rows = (
        Touchpoint.objects.filter(capped, profile_id__in=list(profile_ids))
        .exclude(kind__in=NOT_MESSAGES)
        .filter(
            Q(status=S.SENT, sent_at__gt=since)
            | Q(status=S.SENDING)
            | Q(status=S.SCHEDULED, claimed_at__gte=now - lease)
        )
        .values_list("profile_id", "status", "sent_at", "claimed_at")
    )
    last: dict[int, datetime] = {}
    for profile_id, status, sent_at, claimed_at in rows:
        when = sent_at if status == S.SENT else claimed_at
        if when is not None and (profile_id not in last or when > last[profile_id]):
            last[profile_id] = when
    return last


def _column(name: str) -> str:
    return connection.ops.quote_name(Touchpoint._meta.get_field(name).column)


def claim_touchpoints(touchpoint_ids: Sequence[int], reserved_at: datetime, *, now: datetime) -> list[int]:
    """SCHEDULED (reserved by us) -> SENDING, attempts + 1, in one commit made durable before anything is sent.

    Returns the ids actually claimed: a row cancelled, or taken by another sweep after our lease ran
    out, since the reservation is left out.
    """
    if not touchpoint_ids:
        return []
    c = _column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TOUCHPOINTS.name} SET {c('status')} = %s, {c('claimed_at')} = %s, "
            f"{c('attempts')} = {c('attempts')} + 1, {c('updated_at')} = %s "
            f"WHERE {c('id')} = ANY(%s) AND {c('status')} = %s AND {c('claimed_at')} = %s RETURNING {c('id')}",
            [S.SENDING, now, now, list(touchpoint_ids), S.SCHEDULED, reserved_at],
        )
        return sorted(row[0] for row in cursor.fetchall())


def claim_touchpoint(touchpoint_id: int, reserved_at: datetime, *, now: datetime) -> bool:
    """Claim one reserved touchpoint (a chunk of one)."""
    return claim_touchpoints([touchpoint_id], reserved_at, now=now) == [touchpoint_id]


def renew_claims(touchpoint_ids: Sequence[int], claimed_at: datetime, *, now: datetime) -> list[int]:
    """Refresh our claim on rows of a chunk still waiting to be sent, so the stale rule never sees a live claim.

    Returns the ids still ours; a row the stale rule already FAILED is left out (and so never sent).
    """
    if not touchpoint_ids:
        return []
    c = _column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TOUCHPOINTS.name} SET {c('claimed_at')} = %s, {c('updated_at')} = %s "
            f"WHERE {c('id')} = ANY(%s) AND {c('status')} = %s AND {c('claimed_at')} = %s RETURNING {c('id')}",
            [now, now, list(touchpoint_ids), S.SENDING, claimed_at],
        )
        return sorted(row[0] for row in cursor.fetchall())


def release_claims(touchpoint_ids: Sequence[int], claimed_at: datetime, *, now: datetime) -> int:
    """Claimed rows never tried (delivery stopped on an error): back to SCHEDULED, free for any sweep."""
    if not touchpoint_ids:
        return 0
    return Touchpoint.objects.filter(id__in=list(touchpoint_ids), status=S.SENDING, claimed_at=claimed_at).update(
        status=S.SCHEDULED,
        claimed_at=None,
        attempts=Greatest(F("attempts") - 1, Value(0)),
        updated_at=now,
    )


def record_delivery_sent(
    touchpoint_id: int, claimed_at: datetime, *, outcome: str, now: datetime, detail: str | None = None
) -> bool:
    """Our claim went out: SENT, even if the row was marked meanwhile (the truth is that it was sent).

    Committed without waiting for the disk flush, in one statement (one round trip): only a
    PostgreSQL crash can lose it, and then the row stays SENDING and the sweep marks it
    FAILED ("may or may not have gone out"); it is never sent twice.
    """
    params: list[Any] = [S.SENT, now, outcome, now]
    if detail is not None:
        params.append(detail)
    with connection.cursor() as cursor:
        cursor.execute(_record_sent_sql(with_detail=detail is not None), [*params, touchpoint_id, claimed_at])
        return cursor.rowcount == 1


@cache
def _record_sent_sql(*, with_detail: bool) -> str:
    c = _column
    assignments = f"{c('status')} = %s, {c('sent_at')} = %s, {c('outcome')} = %s, {c('updated_at')} = %s"
    if with_detail:
        assignments += f", {c('detail')} = %s"
    # set_config(..., true) lasts for this statement's own transaction (or the caller's, if inside one).
    return (
        "WITH asynchronous_commit AS (SELECT set_config('synchronous_commit', 'off', true)) "
        f"UPDATE {TOUCHPOINTS.name} SET {assignments} FROM asynchronous_commit "
        f"WHERE {c('id')} = %s AND {c('claimed_at')} = %s"
    )


def record_delivery_retry(
    touchpoint_id: int, claimed_at: datetime, *, error: str, due_at: datetime, now: datetime
) -> bool:
    """A transient failure: back to SCHEDULED, due later (the backoff), the error shown to staff."""
    return (
        Touchpoint.objects.filter(id=touchpoint_id, claimed_at=claimed_at, status=S.SENDING).update(
            status=S.SCHEDULED, due_at=due_at, claimed_at=None, outcome=error, updated_at=now
        )
        == 1
    )


def record_delivery_failed(touchpoint_id: int, claimed_at: datetime, *, error: str, now: datetime) -> bool:
    """Out of attempts, or a failure retrying cannot fix: FAILED with the error, for staff to see."""
    return (
        Touchpoint.objects.filter(id=touchpoint_id, claimed_at=claimed_at, status=S.SENDING).update(
            status=S.FAILED, outcome=error, updated_at=now
        )
        == 1
    )


def record_coupon_code(touchpoint_id: int, claimed_at: datetime, code: str, *, referral_for: int | None) -> None:
    """Keep a new code before the email goes out, so a retry sends the same code (referral: on the profile too)."""
    with transaction.atomic():
        Touchpoint.objects.filter(id=touchpoint_id, claimed_at=claimed_at).update(detail=code)
        if referral_for is not None:
            FanProfile.objects.filter(id=referral_for, referral_code="").update(referral_code=code)


def add_badge(profile_id: int, badge: str) -> bool:
    """Give a customer a badge; False when they already had it (so twice changes nothing)."""
    with transaction.atomic():
        profile = FanProfile.objects.select_for_update().get(pk=profile_id)
        if badge in profile.badges:
            return False
        profile.badges = [*profile.badges, badge]
        profile.save(update_fields=["badges", "updated_at"])
        return True


def fail_stale_sending(*, now: datetime, stale_after: timedelta) -> int:
    """Rows left SENDING by a worker that died: FAILED with a visible reason, never sent again."""
    outcome = STALE_OUTCOME.format(minutes=stale_after.total_seconds() / 60)
    return Touchpoint.objects.filter(status=S.SENDING, claimed_at__lt=now - stale_after).update(
        status=S.FAILED, outcome=outcome, updated_at=now
    )


def open_staff_tasks(*, due_by: datetime | None = None) -> QuerySet[Touchpoint]:
    """Staff tasks (the paper thank-you card) waiting for someone, oldest first."""
    tasks = Touchpoint.objects.filter(kind="STAFF_TASK", status=S.SCHEDULED)
    if due_by is not None:
        tasks = tasks.filter(due_at__lte=due_by)
    return tasks.select_related("profile").order_by("due_at", "id")


def complete_staff_task(touchpoint_id: int, by: str, *, now: datetime | None = None) -> Touchpoint:
    """Staff did the task (wrote the card): SENT with done_at and who did it; doing it twice changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        tp = Touchpoint.objects.select_for_update().filter(pk=touchpoint_id).first()
        if tp is None or tp.kind != "STAFF_TASK":
            raise ConveyorError(f"No staff task {touchpoint_id}.", field="id", code=ErrorCode.NOT_FOUND)
        if tp.status == S.SENT:
            return tp
        if tp.status != S.SCHEDULED:
            raise ConveyorError(f"This task is {tp.status.lower()}: {tp.outcome or 'nothing to do'}.", field="id")
        tp.status, tp.sent_at, tp.done_at, tp.updated_at = S.SENT, now, now, now
        tp.outcome = f"done by {by}" if by else "done"
        tp.save(update_fields=["status", "sent_at", "done_at", "outcome", "updated_at"])
        return tp


# --- backfill ----------------------------------------------------------------------------
#
# A shop that enables the conveyor today has years of orders. `record_order_history` is the
# reference: each past order through the ordinary service calls, one after the other.
# `record_orders_backfill` gives the same end state for a whole batch with a handful of
# bulk statements: it replays the same steps in memory (same planner, same reconciliation
# rules) over the batch's customers, then writes what changed.


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
        self.rule_names = set(_rule_names(config.rule_book, PURCHASE_TRIGGERS))
        self.switched_off = {rule.name for rule in config.rule_book.rules if not rule.active}
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
            FanProfile.objects.select_for_update()
            .filter(Q(email__in=any_of(emails, "text")) | Q(user_id__in=any_of(user_ids, "bigint")))
            .order_by("id")
        )
        mine = Q(order_id__in=any_of(order_ids, "text")) | Q(profile_id__in=any_of([p.id for p in profiles], "bigint"))
        purchases = _ledger_rows(Purchase.objects.filter(mine))
        owners = {p.profile_id for p in purchases} - {p.id for p in profiles}
        if owners:  # orders of this batch already recorded under another customer's profile
            profiles += list(FanProfile.objects.select_for_update().filter(id__in=owners).order_by("id"))
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
        """As `_choose`: the account's own profile first, else the guest profile of the email."""
        by_email = self.by_email.get(customer.email)
        if customer.user_id is None:
            return by_email
        mine = self.by_user.get(customer.user_id)
        return mine or (by_email if by_email is not None and by_email.user_id is None else None)

    def _refuse_another_accounts_email(self, customer: Customer) -> None:
        """As the service: an account without a profile never takes another account's (its email's)."""
        if self._find(customer) is None and customer.user_id is not None and customer.email in self.by_email:
            raise _email_of_another_account(customer)

    def _profile(self, customer: Customer) -> FanProfile:
        """As `_locked_profile`: by account first, then by email; made if new."""
        profile = self._find(customer)
        if profile is None:
            profile = FanProfile(
                email=customer.email,
                user_id=customer.user_id,
                first_name=customer.first_name,
                language_code=customer.language_code,
                created_at=self.now,
                updated_at=self.now,
            )
            self.new_profiles.append(profile)
            self.result.profiles_created += 1
            self._index(profile)
            return profile
        changed = False
        if customer.user_id is not None and profile.user_id is None:
            profile.user_id = customer.user_id
            self.by_user[customer.user_id] = profile
            changed = True
        for name in ("first_name", "language_code"):
            value = getattr(customer, name)
            if value and getattr(profile, name) != value:
                setattr(profile, name, value)
                changed = True
        if changed:
            self._touch(profile)
        return profile

    def _placed(self, event: OrderPlaced) -> None:
        self._refuse_another_accounts_email(event.customer)
        existing = self.by_order.get(event.order_id)
        if existing is not None and existing.profile is not self._find(event.customer):
            self.result.unchanged += 1  # in another customer's ledger: the service changes nothing at all
            return
        profile = self._profile(event.customer)
        values = _placed_values(event)
        if existing is not None:
            if _unchanged_by_repeat(existing, event, values):
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
        facts = [_fact(row) for row in self.history[id(profile)]]
        self._reconcile(profile, facts)
        summary = summarize(facts)
        previous_stage = profile.stage
        profile.stage = summary.stage.value if summary.stage else None
        profile.purchase_count = summary.purchase_count
        profile.currency = summary.currency or profile.currency
        profile.total_spent_amount = summary.total_spent
        profile.average_order_value_amount = summary.average_order_value
        profile.lifetime_value_amount = summary.lifetime_value
        profile.first_purchase_at = summary.first_purchase_at
        profile.last_purchase_at = summary.last_purchase_at
        if previous_stage != profile.stage:
            profile.stage_changed_at = self.now
        self._touch(profile)

    def _reconcile(self, profile: FanProfile, facts: Sequence[PurchaseFact]) -> None:
        """As `_reconcile` for the purchase triggers with backfill=True, on the in-memory outbox."""
        existing = self.touchpoints[id(profile)]
        recent_sends: dict[str, list[datetime]] = {}
        for tp in existing.values():
            if tp.sent_at is not None and tp.status == S.SENT:
                recent_sends.setdefault(tp.rule, []).append(tp.sent_at)
        plan = plan_touchpoints(
            self.config.rule_book, facts, (), now=self.now, triggers=PURCHASE_TRIGGERS, recent_sends=recent_sends
        )
        wanted = {item.key for item in plan}
        for item in plan:
            tp = existing.get(item.key)
            late = item.due_at < self.now
            if tp is None:
                tp = _Row(**_touchpoint_defaults())
                tp.profile, tp.rule, tp.key, tp.kind = profile, item.rule, item.key, item.kind
                tp.order_id, tp.marketing = item.order_id, item.marketing
                _set_plan(tp, item, late=late, backfill=True)  # as `_new_touchpoint`, without a model instance
                existing[item.key] = tp
                self.new_touchpoints.append(tp)
            elif (tp.status == S.CANCELLED and tp.attempts == 0 and tp.sent_at is None) or (
                tp.status == S.SCHEDULED and tp.planned_at != item.due_at
            ):
                _set_plan(tp, item, late=late, backfill=True)
                tp.updated_at = timezone.now()
                self._dirty_touchpoint(tp)
        orders = {fact.order_id: fact for fact in facts}
        for key, tp in existing.items():
            if key not in wanted and tp.status == S.SCHEDULED:
                tp.status = S.CANCELLED
                tp.outcome = _cancel_reason(tp, orders, self.switched_off)
                tp.updated_at = timezone.now()
                self._dirty_touchpoint(tp)

    def _touch(self, profile: FanProfile) -> None:
        profile.updated_at = self.now
        if profile.pk is not None:
            self.dirty_profiles[profile.pk] = profile

    def _dirty_purchase(self, purchase: Purchase) -> None:
        if purchase.pk is not None:
            self.dirty_purchases[purchase.pk] = purchase

    def _dirty_touchpoint(self, tp: Touchpoint) -> None:
        if tp.pk is not None:
            self.dirty_touchpoints[tp.pk] = tp

    # -- writing what changed --

    def write(self) -> None:
        """COPY the new rows (ids drawn first, so rows can point at each other) and UPDATE the changed ones."""
        _copy_rows(FanProfile, self.new_profiles, _NEW_PROFILE_FIELDS)
        _update_rows(
            FanProfile,
            self.dirty_profiles.values(),
            ["user", "first_name", "language_code", *_PROFILE_SUMMARY_FIELDS, "stage_changed_at", "updated_at"],
        )
        for row in [*self.new_purchases, *self.new_touchpoints]:
            row.profile_id = row.profile.pk  # profiles made in this batch have their ids now
        _copy_rows(Purchase, self.new_purchases)
        _update_rows(
            Purchase, self.dirty_purchases.values(), [*_placed_fields(), "fulfilled_at", "cancelled_at", "returned_at"]
        )
        _copy_rows(Touchpoint, self.new_touchpoints)
        _update_rows(
            Touchpoint, self.dirty_touchpoints.values(), ["status", "planned_at", "due_at", "outcome", "updated_at"]
        )
        self._report()

    def _report(self) -> None:
        scheduled: dict[int, list[int]] = {}
        for tp in [*self.new_touchpoints, *self.dirty_touchpoints.values()]:
            {S.SCHEDULED: self.result.scheduled, S.SKIPPED: self.result.skipped, S.CANCELLED: self.result.cancelled}[
                tp.status
            ][tp.rule] += 1
            if tp.status == S.SCHEDULED:
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


def _placed_fields() -> list[str]:
    return [
        "order_number",
        "channel",
        "currency",
        "total_gross_amount",
        "placed_at",
        "used_voucher",
        "used_sale",
        "used_campaign",
    ]


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
    *_PROFILE_SUMMARY_FIELDS,
    "created_at",
    "updated_at",
)


def _copy_rows(model: type[Any], rows: Sequence[Any], field_names: Sequence[str] | None = None) -> None:
    """Insert with COPY, the fastest way into PostgreSQL; primary keys are drawn from the sequence first."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names] if field_names else list(meta.concrete_fields)
    db = connections[Purchase.objects.db]
    quote = db.ops.quote_name
    value_of = _column_values(fields, db)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            setattr(row, meta.pk.attname, pk)
            row.pk = pk
            if hasattr(row, "_state"):
                row._state.adding = False
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(value_of(row))


def _column_values(fields: Sequence[Any], db: Any) -> Any:
    """A fast row -> column values function: plain attributes where the driver takes them as they are."""
    now = timezone.now()
    plain = (
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.BooleanField,
        models.DecimalField,
        models.DateTimeField,
        models.ForeignKey,
    )
    getters = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            getters.append(lambda row, now=now: now)
        elif isinstance(field, plain):
            getters.append(operator.attrgetter(field.attname))
        else:
            getters.append(lambda row, field=field: field.get_db_prep_save(field.pre_save(row, add=True), db))
    return lambda row: [get(row) for get in getters]


def _update_rows(model: type[Any], rows: Iterable[Any], field_names: Sequence[str]) -> None:
    """UPDATE many rows in one statement: one array parameter per column, joined on the primary key."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    arrays = [[getattr(row, f.attname) for row in rows] for f in fields]  # plain columns only
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    names = ", ".join(f"c{index}" for index in range(len(fields)))
    assignments = ", ".join(f"{quote(f.column)} = v.c{index}" for index, f in enumerate(fields) if index)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} FROM unnest({unnest}) AS v({names}) "
            f"WHERE {quote(meta.db_table)}.{quote(meta.pk.column)} = v.c0",
            arrays,
        )


def any_of(values: Iterable[Any], sql_type: str) -> RawSQL:
    """`field__in=any_of(ids, "uuid")`: one array parameter instead of a placeholder per value."""
    return RawSQL(f"SELECT unnest(%s::{sql_type}[])", [list(values)])
