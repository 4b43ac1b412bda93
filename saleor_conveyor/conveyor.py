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
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import signals
from .config import ConveyorConfig, get_config
from .engine import (
    NpsAnswer,
    PlannedTouchpoint,
    engagement_cell,
    nps_category,
    plan_touchpoints,
    summarize,
)
from .engine import Purchase as PurchaseFact
from .engine.rules import NPS_TRIGGERS, PURCHASE_TRIGGERS
from .errors import ConveyorError, ErrorCode
from .events import (
    Customer,
    FanSurveyAnswered,
    NpsAnswered,
    OrderCancelled,
    OrderFulfilled,
    OrderPlaced,
    OrderReturned,
    RecordResult,
)
from .models import (
    FanProfile,
    FanSurveyResponse,
    Inquiry,
    NpsResponse,
    Purchase,
    ReturnRequest,
    Touchpoint,
    TouchpointStatus,
)

logger = logging.getLogger(__name__)

S = TouchpointStatus
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


# --- customers ---------------------------------------------------------------------------


def _locked_profile(customer: Customer, *, create: bool = True) -> FanProfile | None:
    """The customer's profile, locked; found by account first, then by email; made if new."""
    match = Q(email=customer.email)
    if customer.user_id is not None:
        match |= Q(user_id=customer.user_id)
    found = list(FanProfile.objects.select_for_update().filter(match))
    profile = next((p for p in found if customer.user_id and p.user_id == customer.user_id), None)
    profile = profile or next((p for p in found if p.email == customer.email), None)
    if profile is None:
        if not create:
            return None
        return _insert_profile(customer)
    changed = []
    if customer.user_id is not None and profile.user_id is None:
        profile.user_id = customer.user_id
        changed.append("user")
    for field in ("first_name", "language_code"):
        value = getattr(customer, field)
        if value and getattr(profile, field) != value:
            setattr(profile, field, value)
            changed.append(field)
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])
    return profile


def _insert_profile(customer: Customer) -> FanProfile:
    """Insert a profile, or lock the one another worker inserted a moment ago: one statement."""
    fresh = FanProfile(
        email=customer.email,
        user_id=customer.user_id,
        first_name=customer.first_name,
        language_code=customer.language_code,
    )
    fields = [f for f in FanProfile._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(fresh, add=True), connection) for f in fields]
    table = connection.ops.quote_name(FanProfile._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        'ON CONFLICT ("email") DO UPDATE SET "email" = EXCLUDED."email" RETURNING *'
    )
    return next(iter(FanProfile.objects.raw(sql, values)))


def find_profile(*, user_id: int | None = None, email: str | None = None) -> FanProfile | None:
    """A customer's profile by account or email, for readers (API, templates)."""
    if user_id is not None:
        profile = FanProfile.objects.filter(user_id=user_id).first()
        if profile is not None:
            return profile
    if email:
        return FanProfile.objects.filter(email=email.strip().lower()).first()
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
        if account is None and same_email is not None and same_email.user_id is None:
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
            if same_email.user_id is not None:
                raise ConveyorError(
                    f"{customer.email} already belongs to another account.",
                    field="email",
                    code=ErrorCode.ALREADY_EXISTS,
                )
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
    """Move a guest's history into the account and delete the guest profile."""
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
    guest.delete()


def _progress(tp: Touchpoint) -> int:
    return {S.CANCELLED: 0, S.SCHEDULED: 1, S.SKIPPED: 2, S.FAILED: 3, S.SENDING: 4, S.SENT: 5}[tp.status]


# --- orders ------------------------------------------------------------------------------


def record_order_placed(event: OrderPlaced, *, now: datetime | None = None, backfill: bool = False) -> RecordResult:
    """An order was placed: add it to the ledger, restage the customer, schedule what is due."""
    event = event.validate()
    now = now or timezone.now()
    with transaction.atomic():
        profile = _locked_profile(event.customer)
        assert profile is not None
        rows = list(Purchase.objects.filter(Q(profile=profile) | Q(order_id=event.order_id)))
        existing = next((row for row in rows if row.order_id == event.order_id), None)
        if existing is not None:
            if existing.currency != event.currency:
                raise ConveyorError(
                    f"Order {event.order_id} is in {existing.currency}; this event says {event.currency}.",
                    field="currency",
                )
            if existing.profile_id != profile.id:
                logger.info("order %s is already recorded for another profile", event.order_id)
                return RecordResult(profile_id=existing.profile_id)
            values = _placed_values(event)
            if all(getattr(existing, k) == v for k, v in values.items()):
                return RecordResult(profile_id=profile.id)
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save(update_fields=list(values))
        else:
            rows.append(Purchase.objects.create(order_id=event.order_id, profile=profile, **_placed_values(event)))
        history = [row for row in rows if row.profile_id == profile.id]
        return _apply(profile, history, now=now, backfill=backfill)


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
        discounted=row.discounted,
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
        returned_at=row.returned_at,
    )


def _update_summary(profile: FanProfile, facts: Sequence[PurchaseFact], now: datetime) -> None:
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
    update = [*_PROFILE_SUMMARY_FIELDS, "updated_at"]
    if previous_stage != profile.stage:
        profile.stage_changed_at = now
        update.append("stage_changed_at")
    profile.save(update_fields=update)
    if previous_stage != profile.stage:
        transaction.on_commit(
            lambda: signals.stage_changed.send(
                sender=FanProfile, profile=profile, previous=previous_stage, stage=profile.stage
            )
        )


# --- the outbox --------------------------------------------------------------------------


def _reconcile(
    profile: FanProfile,
    *,
    now: datetime,
    triggers: frozenset[str],
    purchases: Sequence[PurchaseFact] | None = None,
    answers: Sequence[NpsAnswer] | None = None,
    backfill: bool = False,
    config: ConveyorConfig | None = None,
) -> RecordResult:
    """Make the outbox match the rule book's plan for the given triggers (profile is locked)."""
    config = config or get_config()
    book = config.rule_book
    rule_names = [rule.name for rule in book.active_rules(triggers)]
    result = RecordResult(profile_id=profile.id)
    if not rule_names:
        return result
    if purchases is None and triggers & PURCHASE_TRIGGERS:
        purchases = [_fact(row) for row in profile.purchases.all()]
    if answers is None and triggers & NPS_TRIGGERS:
        answers = [_answer(r) for r in profile.nps_responses.all()]
    existing = {tp.key: tp for tp in Touchpoint.objects.filter(profile=profile, rule__in=rule_names)}
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
            update.append(tp)
    orders = {fact.order_id: fact for fact in purchases or ()}
    for key, tp in existing.items():
        if key not in wanted and tp.status == S.SCHEDULED:
            tp.status = S.CANCELLED
            tp.outcome = _cancel_reason(orders.get(tp.order_id or ""))
            update.append(tp)
    if create:
        Touchpoint.objects.bulk_create(create)
    if update:
        Touchpoint.objects.bulk_update(update, ["status", "planned_at", "due_at", "outcome", "updated_at"])
    for tp in [*create, *update]:
        {S.SCHEDULED: result.scheduled, S.CANCELLED: result.cancelled, S.SKIPPED: result.skipped}[tp.status].append(
            tp.key
        )
    scheduled_ids = [tp.id for tp in [*create, *update] if tp.status == S.SCHEDULED]
    if scheduled_ids:
        transaction.on_commit(
            lambda: signals.touchpoint_scheduled.send(
                sender=Touchpoint, touchpoint_ids=scheduled_ids, profile_id=profile.id
            )
        )
    return result


def _new_touchpoint(profile: FanProfile, item: PlannedTouchpoint, *, late: bool, backfill: bool) -> Touchpoint:
    tp = Touchpoint(
        profile=profile, rule=item.rule, key=item.key, kind=item.kind, order_id=item.order_id, marketing=item.marketing
    )
    _set_plan(tp, item, late=late, backfill=backfill)
    tp.updated_at = timezone.now()
    return tp


def _set_plan(tp: Touchpoint, item: PlannedTouchpoint, *, late: bool, backfill: bool) -> None:
    tp.planned_at = tp.due_at = item.due_at
    tp.updated_at = timezone.now()
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


def _cancel_reason(purchase: PurchaseFact | None) -> str:
    if purchase is not None and purchase.cancelled_at is not None:
        return f"order {purchase.order_id} was cancelled"
    if purchase is not None and purchase.returned_at is not None:
        return f"order {purchase.order_id} was returned"
    return "no longer applies to the customer's history"


# --- surveys -----------------------------------------------------------------------------


def _answer(response: NpsResponse) -> NpsAnswer:
    return NpsAnswer(occasion=response.occasion, score=response.score, answered_at=response.created_at)


def record_nps(event: NpsAnswered, *, now: datetime | None = None) -> NpsResponse:
    """An NPS answer: at most one per customer per order; the latest one sets the profile's NPS."""
    event = event.validate()
    now = now or timezone.now()
    with transaction.atomic():
        profile = _locked_profile(event.customer)
        assert profile is not None
        channel = ""
        if event.order_id is not None:
            purchase = Purchase.objects.filter(order_id=event.order_id, profile=profile).first()
            if purchase is None:
                raise ConveyorError(
                    f"No order {event.order_id!r} of this customer is recorded.",
                    field="orderId",
                    code=ErrorCode.NOT_FOUND,
                )
            channel = purchase.channel
            if NpsResponse.objects.filter(profile=profile, order_id=event.order_id).exists():
                raise ConveyorError(
                    "This order already has an NPS answer from this customer.",
                    field="orderId",
                    code=ErrorCode.ALREADY_EXISTS,
                )
        response = NpsResponse.objects.create(
            profile=profile,
            order_id=event.order_id,
            channel=channel,
            score=event.score,
            comment=event.comment,
            created_at=event.answered_at,
        )
        if profile.nps_answered_at is None or event.answered_at >= profile.nps_answered_at:
            profile.nps = event.score
            profile.nps_category = nps_category(event.score).value
            profile.nps_answered_at = event.answered_at
            profile.save(update_fields=["nps", "nps_category", "nps_answered_at", "updated_at"])
        _reconcile(profile, now=now, triggers=NPS_TRIGGERS)
        transaction.on_commit(lambda: signals.nps_recorded.send(sender=NpsResponse, response=response, profile=profile))
        return response


def record_fan_survey(event: FanSurveyAnswered, *, now: datetime | None = None) -> FanSurveyResponse:
    """A fan-degree answer places the customer on the engagement grid (the latest answer wins)."""
    event = event.validate()
    with transaction.atomic():
        profile = _locked_profile(event.customer)
        assert profile is not None
        cell = engagement_cell(event.fan_degree, event.liking)
        response, _ = FanSurveyResponse.objects.get_or_create(
            profile=profile,
            created_at=event.answered_at,
            defaults={
                "fan_degree": event.fan_degree.value,
                "liking": event.liking.value,
                "segment": cell,
                "comment": event.comment,
            },
        )
        latest = profile.fan_surveys.order_by("-created_at", "-id").first()
        if latest is not None:
            profile.fan_degree, profile.liking, profile.segment = latest.fan_degree, latest.liking, latest.segment
            profile.save(update_fields=["fan_degree", "liking", "segment", "updated_at"])
        return response


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
        self.rule_names = {rule.name for rule in config.rule_book.active_rules(PURCHASE_TRIGGERS)}
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
            FanProfile.objects.select_for_update().filter(Q(email__in=emails) | Q(user_id__in=user_ids)).order_by("id")
        )
        purchases = list(Purchase.objects.filter(Q(order_id__in=order_ids) | Q(profile__in=profiles)))
        owners = {p.profile_id for p in purchases} - {p.id for p in profiles}
        if owners:  # orders of this batch already recorded under another customer's profile
            profiles += list(FanProfile.objects.select_for_update().filter(id__in=owners).order_by("id"))
            purchases += list(Purchase.objects.filter(profile_id__in=owners).exclude(order_id__in=order_ids))
        by_id = {}
        for profile in profiles:
            by_id[profile.id] = profile
            self._index(profile)
        for purchase in {p.id: p for p in purchases}.values():
            purchase.profile = by_id[purchase.profile_id]
            self.by_order[purchase.order_id] = purchase
            self.history.setdefault(id(purchase.profile), []).append(purchase)
        for tp in Touchpoint.objects.filter(profile_id__in=by_id, rule__in=self.rule_names):
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

    def _profile(self, customer: Customer) -> FanProfile:
        """As `_locked_profile`: by account first, then by email; made if new."""
        profile = (self.by_user.get(customer.user_id) if customer.user_id is not None else None) or self.by_email.get(
            customer.email
        )
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
        profile = self._profile(event.customer)
        existing = self.by_order.get(event.order_id)
        values = _placed_values(event)
        if existing is not None:
            if existing.currency != event.currency:
                raise ConveyorError(
                    f"Order {event.order_id} is in {existing.currency}; this event says {event.currency}.",
                    field="currency",
                )
            if existing.profile is not profile or all(getattr(existing, k) == v for k, v in values.items()):
                self.result.unchanged += 1
                return
            for key, value in values.items():
                setattr(existing, key, value)
            self._dirty_purchase(existing)
        else:
            purchase = Purchase(order_id=event.order_id, profile=profile, recorded_at=self.now, **values)
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
                tp = _new_touchpoint(profile, item, late=late, backfill=True)
                existing[item.key] = tp
                self.new_touchpoints.append(tp)
            elif (tp.status == S.CANCELLED and tp.attempts == 0 and tp.sent_at is None) or (
                tp.status == S.SCHEDULED and tp.planned_at != item.due_at
            ):
                _set_plan(tp, item, late=late, backfill=True)
                self._dirty_touchpoint(tp)
        orders = {fact.order_id: fact for fact in facts}
        for key, tp in existing.items():
            if key not in wanted and tp.status == S.SCHEDULED:
                tp.status = S.CANCELLED
                tp.outcome = _cancel_reason(orders.get(tp.order_id or ""))
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
        FanProfile.objects.bulk_create(self.new_profiles)
        if self.dirty_profiles:
            FanProfile.objects.bulk_update(
                list(self.dirty_profiles.values()),
                ["user", "first_name", "language_code", *_PROFILE_SUMMARY_FIELDS, "stage_changed_at", "updated_at"],
            )
        for purchase in self.new_purchases:
            purchase.profile = purchase.profile  # picks up the id of a profile created just now
        Purchase.objects.bulk_create(self.new_purchases)
        if self.dirty_purchases:
            Purchase.objects.bulk_update(
                list(self.dirty_purchases.values()),
                [*_placed_fields(), "fulfilled_at", "cancelled_at", "returned_at"],
            )
        for tp in self.new_touchpoints:
            tp.profile = tp.profile
        Touchpoint.objects.bulk_create(self.new_touchpoints)
        if self.dirty_touchpoints:
            Touchpoint.objects.bulk_update(
                list(self.dirty_touchpoints.values()), ["status", "planned_at", "due_at", "outcome", "updated_at"]
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
            transaction.on_commit(
                lambda ids=ids, profile_id=profile_id: signals.touchpoint_scheduled.send(
                    sender=Touchpoint, touchpoint_ids=ids, profile_id=profile_id
                )
            )
        profiles = [*self.new_profiles, *self.dirty_profiles.values()]
        for profile in profiles:
            previous = self.initial_stage.get(id(profile))
            if previous != profile.stage:
                transaction.on_commit(
                    lambda profile=profile, previous=previous: signals.stage_changed.send(
                        sender=FanProfile, profile=profile, previous=previous, stage=profile.stage
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
