"""The outbox: make a customer's touchpoints match the rule book's plan; lapse scan, rebuild, staff tasks.

What to create, move and cancel is the engine's decision (`engine.diff_outbox`); this module reads
the rows it needs and writes the decision. The backfill's replay applies the same decision in memory.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from .. import signals
from ..config import ConveyorConfig
from ..engine import (
    FanDegree,
    FanStage,
    FanSurveyAnswer,
    Liking,
    NpsAnswer,
    NpsCategory,
    OutboxChanges,
    Placement,
    RuleBook,
    diff_outbox,
    plan_touchpoints,
    recent_sends,
)
from ..engine import Purchase as PurchaseFact
from ..engine.conditions import Conditions, CustomerView
from ..engine.occasions import ANNIVERSARY_LOOKAHEAD, add_years
from ..engine.outbox import OutboxRow, assigner
from ..engine.rules import FAN_TRIGGERS, NPS_TRIGGERS, PURCHASE_TRIGGERS
from ..errors import ConveyorError, ErrorCode
from ..events import RecordResult, storable
from ..hosts import get_config
from ..models import FanProfile, Touchpoint, TouchpointKind, TouchpointStatus
from ..sql import Batch, on_commit
from ._ledger import answer, fact, update_summary
from ._locking import profile_qs_select_for_update, staff_tasks_for_update
from ._tables import OUTBOX, TOUCHPOINT_PROFILE, TOUCHPOINTS

Row = TypeVar("Row")
LAPSED = frozenset({"lapsed"})
ANNIVERSARY = frozenset({"anniversary"})
# The columns a move and a cancellation change.
MOVED_FIELDS = ["status", "planned_at", "due_at", "outcome", "updated_at"]
CANCELLED_FIELDS = ["status", "outcome", "updated_at"]


def rule_names(book: RuleBook, triggers: frozenset[str]) -> list[str]:
    """Every rule of these triggers, switched on or off (the outbox the service reconciles)."""
    return [rule.name for rule in book.rules if rule.trigger in triggers]


def switched_off(book: RuleBook) -> frozenset[str]:
    """Rules switched off: what they scheduled and did not send yet is cancelled."""
    return frozenset(rule.name for rule in book.rules if not rule.active)


def has_conditions(book: RuleBook) -> bool:
    return any(rule.conditions is not None for rule in book.rules)


def customer_view(profile: Any, purchases: Sequence[PurchaseFact] | None = None) -> CustomerView:
    """What a rule's conditions see of a customer: the profile, with the purchase figures of `purchases` if given.

    With `purchases` the profile's own purchase columns are not read (the order path reads only a few columns).
    """
    view = CustomerView(
        nps_category=NpsCategory(profile.nps_category) if profile.nps_category else None,
        engagement_cell=profile.segment or None,
        has_account=profile.user_id is not None,
        language=profile.language_code or "",
    )
    if purchases is not None:
        return view.with_purchases(purchases)
    return dataclasses.replace(
        view,
        stage=FanStage(profile.stage) if profile.stage else None,
        purchase_count=profile.purchase_count,
        last_purchase_at=profile.last_purchase_at,
    )


def fan_answer(response: Any) -> FanSurveyAnswer:
    """A fan-survey answer as the engine plans from it."""
    return FanSurveyAnswer(FanDegree(response.fan_degree), Liking(response.liking), response.created_at)


def plan_changes(
    config: ConveyorConfig,
    existing: Mapping[str, OutboxRow],
    *,
    now: datetime,
    triggers: frozenset[str],
    purchases: Sequence[PurchaseFact] = (),
    answers: Sequence[NpsAnswer] = (),
    backfill: bool = False,
    customer: CustomerView | None = None,
    fan_answers: Sequence[FanSurveyAnswer] = (),
    customer_key: str = "",
) -> OutboxChanges:
    """The rule book's plan for these triggers, as changes to `existing` (the live path's and the replay's).

    `customer_key` (the profile's email) draws a new touchpoint's experiment arm (engine/experiments.py).
    """
    book = config.rule_book
    held_back: dict[str, str] = {}
    plan = plan_touchpoints(
        book,
        purchases,
        answers,
        now=now,
        triggers=triggers,
        recent_sends=recent_sends(existing.values()),
        fan_answers=fan_answers,
        customer=customer,
        held_back=held_back,
    )
    # A backfill sends nothing already due; a live event that arrived late still sends what fell due within the grace.
    late_before = now if backfill else now - config.late_grace
    return diff_outbox(
        plan,
        existing,
        late_before=late_before,
        backfill=backfill,
        purchases=purchases,
        switched_off=switched_off(book),
        held_back=held_back,
        arms=assigner(book, customer_key),
    )


def apply_changes(
    changes: OutboxChanges, existing: Mapping[str, Row], new_row: Callable[[Placement], Row]
) -> tuple[list[Row], list[Row], list[Row]]:
    """Apply the engine's decision to rows in memory: the created, the moved and the cancelled rows."""
    created = [new_row(placement) for placement in changes.create]
    moved = []
    for placement in changes.move:
        row = existing[placement.key]
        set_plan(row, placement)
        moved.append(row)
    cancelled = []
    for cancellation in changes.cancel:
        row = existing[cancellation.key]
        row.status = TouchpointStatus.CANCELLED
        row.outcome = cancellation.reason
        cancelled.append(row)
    return created, moved, cancelled


# What a new touchpoint takes from the planned one as it is (its time and status: `set_plan`).
PLANNED_FIELDS = ("rule", "key", "kind", "order_id", "marketing")


def planned_values(placement: Placement) -> dict[str, Any]:
    """A new row's fields from the placement: the plan's, and its experiment arm (set once, never moved)."""
    values = {name: getattr(placement.item, name) for name in PLANNED_FIELDS}
    values["experiment"], values["variant"] = placement.experiment, placement.variant
    return values


def set_plan(row: Any, placement: Placement) -> None:
    """Plan (or replan) a touchpoint in memory; `updated_at` is set when it is written."""
    row.planned_at = row.due_at = placement.item.due_at
    row.status = TouchpointStatus(placement.status)
    row.outcome = placement.outcome


def reconcile(
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
    # Switched-off rules are read too, so what they scheduled and did not send yet is cancelled.
    names = rule_names(config.rule_book, triggers)
    result = RecordResult(profile_id=profile.id)
    if not names:
        return result
    if purchases is None and triggers & PURCHASE_TRIGGERS:
        purchases = [fact(row) for row in profile.purchases.all()]
    if answers is None and triggers & NPS_TRIGGERS:
        answers = [answer(r) for r in profile.nps_responses.all()]
    fan_answers = [fan_answer(r) for r in profile.fan_surveys.all()] if triggers & FAN_TRIGGERS else []
    customer = customer_view(profile, purchases) if has_conditions(config.rule_book) else None
    if existing is None:
        wanted_rules = set(names)  # filtered here: a rule filter in SQL can mislead the planner
        existing = {tp.key: tp for tp in OUTBOX.select("profile_id = %s", [profile.id]) if tp.rule in wanted_rules}
    changes = plan_changes(
        config,
        existing,
        now=now,
        triggers=triggers,
        purchases=purchases or (),
        answers=answers or (),
        backfill=backfill,
        customer=customer,
        fan_answers=fan_answers,
        customer_key=profile.email,
    )
    created, moved, cancelled = apply_changes(changes, existing, functools.partial(new_touchpoint, profile))
    for tp in moved:
        TOUCHPOINTS.update(tp, MOVED_FIELDS, batch=batch)
    for tp in cancelled:
        TOUCHPOINTS.update(tp, CANCELLED_FIELDS, batch=batch)
    TOUCHPOINTS.insert(created, batch=batch, column_sql={"profile_id": owner_sql} if owner_sql else None)
    written = [*created, *moved, *cancelled]
    tally = {
        TouchpointStatus.SCHEDULED: result.scheduled,
        TouchpointStatus.CANCELLED: result.cancelled,
        TouchpointStatus.SKIPPED: result.skipped,
    }
    for tp in written:
        tally[tp.status].append(tp.key)
    scheduled = [tp for tp in written if tp.status == TouchpointStatus.SCHEDULED]
    if scheduled:  # ids of new rows (and of a new profile) exist only once the batch ran: read them at commit
        on_commit(functools.partial(_announce_scheduled, profile, scheduled))
    return result


def _announce_scheduled(profile: FanProfile, scheduled: list[Touchpoint]) -> None:
    for tp in scheduled:
        tp.profile_id = profile.id
    signals.send(
        signals.touchpoint_scheduled,
        Touchpoint,
        touchpoint_ids=[tp.id for tp in scheduled],
        profile_id=profile.id,
        touchpoints=scheduled,
    )


def new_touchpoint(profile: FanProfile, placement: Placement) -> Touchpoint:
    """A new outbox row of the profile, as the engine placed it."""
    tp = TOUCHPOINTS.new(profile_id=profile.id, **planned_values(placement))
    TOUCHPOINT_PROFILE.set_cached_value(tp, profile)
    set_plan(tp, placement)
    return tp


# --- time-driven ---------------------------------------------------------------------------


def schedule_lapsed(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Find customers who lapsed and have no win-back for this lapse yet; schedule it. Returns how many."""
    now = now or timezone.now()
    config = get_config()
    rules = [rule.name for rule in config.rule_book.active_rules(LAPSED)]
    if not rules:
        return 0
    cutoff = now - timedelta(days=config.lapse_days)
    has_winback = Touchpoint.objects.filter(
        profile=OuterRef("pk"), rule__in=rules, planned_at__gte=OuterRef("last_purchase_at")
    )
    # Customers no rule's conditions admit are left out here, or they would be read again on every scan.
    ids = list(
        FanProfile.objects.filter(last_purchase_at__lte=cutoff)
        .filter(any_rule_admits(config.rule_book.active_rules(LAPSED), now=now, lapse_days=config.lapse_days))
        .exclude(Exists(has_winback))
        .values_list("id", flat=True)[:batch_size]
    )
    return _reconcile_each(ids, now=now, triggers=LAPSED, config=config)


def _reconcile_each(ids: Iterable[int], *, now: datetime, triggers: frozenset[str], config: ConveyorConfig) -> int:
    """Plan the given triggers for each profile, one locked transaction each; how many touchpoints were scheduled."""
    scheduled = 0
    for profile_id in ids:
        with transaction.atomic():
            profile = profile_qs_select_for_update().get(pk=profile_id)
            scheduled += len(reconcile(profile, now=now, triggers=triggers, config=config).scheduled)
    return scheduled


def schedule_anniversaries(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Plan the first purchase's anniversary for customers whose next one is within the lookahead. Returns how many.

    Candidates are found in SQL (the latest anniversary before the horizon, and no touchpoint keyed
    for it yet); the plan itself is the engine's, so a candidate SQL and Python see differently is
    only read, never planned twice. Every candidate is visited once per call (pages by id).
    """
    now = now or timezone.now()
    config = get_config()
    scheduled = 0
    for rule in config.rule_book.active_rules(ANNIVERSARY):
        delay = timedelta(days=rule.days)
        horizon = now + ANNIVERSARY_LOOKAHEAD - delay
        years = RawSQL("date_part('year', age(%s, first_purchase_at))::int", [horizon])
        latest = RawSQL(
            "first_purchase_at + make_interval(years => date_part('year', age(%s, first_purchase_at))::int)", [horizon]
        )
        planned = Touchpoint.objects.filter(
            profile=OuterRef("pk"), key=Concat(Value(f"{rule.name}:year:"), Cast(OuterRef("years"), CharField()))
        )
        candidates = (
            FanProfile.objects.filter(first_purchase_at__lte=add_years(horizon, -1))
            .filter(conditions_q(rule.conditions, now=now, lapse_days=config.lapse_days))
            .annotate(years=years, latest=latest)
            .filter(latest__gte=now - 2 * ANNIVERSARY_LOOKAHEAD - delay)
            .exclude(Exists(planned))
        )
        after = 0
        while ids := list(candidates.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:batch_size]):
            after = ids[-1]
            scheduled += _reconcile_each(ids, now=now, triggers=ANNIVERSARY, config=config)
    return scheduled


def any_rule_admits(rules: Iterable[Any], *, now: datetime, lapse_days: int) -> Q:
    """Profiles the conditions of at least one of these rules admit (a rule without conditions admits all)."""
    admitted = Q(pk__in=[])
    for rule in rules:
        if rule.conditions is None:
            return Q()
        admitted |= conditions_q(rule.conditions, now=now, lapse_days=lapse_days)
    return admitted


def conditions_q(conditions: Conditions | None, *, now: datetime, lapse_days: int) -> Q:
    """A rule's customer conditions as a filter on profiles (the scans' SQL twin of `Conditions.failure`).

    The triggering order's conditions have no place here: the scanned triggers have no triggering order.
    """
    q = Q()
    if conditions is None:
        return q
    if conditions.stages is not None:
        q &= Q(stage__in=sorted(conditions.stages))
    if conditions.engagement is not None:
        q &= Q(segment__in=sorted(conditions.engagement_cells()))
    if conditions.nps is not None:
        q &= Q(nps_category__in=sorted(conditions.nps))
    if conditions.lapsed is not None:
        lapsed = Q(last_purchase_at__lte=now - timedelta(days=lapse_days))
        q &= lapsed if conditions.lapsed else ~lapsed | Q(last_purchase_at__isnull=True)
    if conditions.customer is not None:
        q &= Q(user__isnull=conditions.customer == "guest")
    if conditions.min_purchases is not None:
        q &= Q(purchase_count__gte=conditions.min_purchases)
    if conditions.max_purchases is not None:
        q &= Q(purchase_count__lte=conditions.max_purchases)
    if conditions.languages is not None:
        spoken = Q(pk__in=[])
        for language in sorted(conditions.languages):
            for spelling in {language, language.replace("-", "_")}:
                spoken |= Q(language_code__iexact=spelling) | Q(language_code__istartswith=f"{spelling}-")
                spoken |= Q(language_code__istartswith=f"{spelling}_")
        q &= spoken
    return q


def rebuild_profile(profile_id: int, *, now: datetime | None = None) -> RecordResult:
    """Recompute a profile and its outbox from the ledger (after a rule book change)."""
    with transaction.atomic():
        profile = profile_qs_select_for_update().get(pk=profile_id)
        return rebuild(profile, now=now or timezone.now())


def rebuild(profile: FanProfile, *, now: datetime) -> RecordResult:
    """Recompute a locked profile's figures and its outbox (every trigger) from its ledger and answers."""
    facts = [fact(row) for row in profile.purchases.all()]
    result = reconcile(profile, now=now, purchases=facts, triggers=PURCHASE_TRIGGERS | NPS_TRIGGERS | FAN_TRIGGERS)
    update_summary(profile, facts, now)
    return result


# --- delivery outcomes and staff tasks -----------------------------------------------------

_FINISHED = [TouchpointStatus.SENT, TouchpointStatus.SKIPPED, TouchpointStatus.FAILED, TouchpointStatus.CANCELLED]


def mark_touchpoints(ids: Iterable[int], status: str, *, outcome: str = "", now: datetime | None = None) -> int:
    """Record how touchpoints ended (delivery code calls this; it never re-opens a sent one)."""
    now = now or timezone.now()
    values: dict[str, Any] = {"status": status, "outcome": outcome, "updated_at": now}
    if status == TouchpointStatus.SENT:
        values["sent_at"] = now
    return Touchpoint.objects.filter(id__in=list(ids)).exclude(status__in=_FINISHED).update(**values)


def open_staff_tasks(*, due_by: datetime | None = None) -> QuerySet[Touchpoint]:
    """Staff tasks (the paper thank-you card) waiting for someone, oldest first."""
    tasks = Touchpoint.objects.filter(kind=TouchpointKind.STAFF_TASK, status=TouchpointStatus.SCHEDULED)
    if due_by is not None:
        tasks = tasks.filter(due_at__lte=due_by)
    return tasks.select_related("profile").order_by("due_at", "id")


STAFF_TASKS_MAX = 100  # tasks marked done in one call (a page of the console, the API's `first` at most)
STAFF_NOTE_MAX = 2000


# What staff see of a task: open (waiting; SENDING never happens to one, but is open if it did) or done.
STAFF_TASK_OPEN = (TouchpointStatus.SCHEDULED, TouchpointStatus.SENDING)
STAFF_TASK_DONE = (TouchpointStatus.SENT,)


def staff_tasks(status: str | None = None, *, using: str | None = None) -> QuerySet[Touchpoint]:
    """Staff tasks for the console and `staffTasks`: OPEN oldest due first, DONE latest done first, None both
    (cancelled and skipped ones are nobody's work); the customer read with each."""
    statuses = {"OPEN": STAFF_TASK_OPEN, "DONE": STAFF_TASK_DONE}.get(status or "", STAFF_TASK_OPEN + STAFF_TASK_DONE)
    tasks = Touchpoint.objects.using(using).filter(kind=TouchpointKind.STAFF_TASK, status__in=statuses)
    order = ("-done_at", "-id") if status == "DONE" else ("due_at", "id")
    return tasks.select_related("profile").order_by(*order)


def complete_staff_task(touchpoint_id: int, by: str, *, now: datetime | None = None) -> Touchpoint:
    """One staff task done (the command's `--done`): `complete_staff_tasks` with one id, refused on `id`."""
    try:
        (task,) = complete_staff_tasks([touchpoint_id], by, now=now)
    except ConveyorError as error:
        raise ConveyorError(error.message, field="id", code=error.code) from None
    return task


def complete_staff_tasks(
    ids: Sequence[int], by: str, note: str = "", *, now: datetime | None = None
) -> list[Touchpoint]:
    """Staff did these tasks (wrote the cards): SENT, with when, who and their note; all of them or none.

    An id that is no staff task is NOT_FOUND and a cancelled or skipped task INVALID (on `ids`): nothing is
    changed then. A task already done is left as it was (who did it first stays), so doing it twice is harmless.
    Returns the tasks in the order asked, each once.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted or len(wanted) > STAFF_TASKS_MAX:
        raise ConveyorError(f"Give 1 to {STAFF_TASKS_MAX} staff tasks.", field="ids")
    if not isinstance(note, str) or len(note) > STAFF_NOTE_MAX:
        raise ConveyorError(
            f"note must be text of at most {STAFF_NOTE_MAX} characters.", field="note", code=ErrorCode.OUT_OF_RANGE
        )
    note = storable(note.strip(), "note")
    by = storable(by if isinstance(by, str) else "", "by").strip()[:254]
    now = now or timezone.now()
    with transaction.atomic():
        found = {tp.id: tp for tp in staff_tasks_for_update(wanted)}
        missing = [task_id for task_id in wanted if task_id not in found]
        if missing:
            raise ConveyorError(f"No staff task {missing[0]}.", field="ids", code=ErrorCode.NOT_FOUND)
        closed = [tp for tp in found.values() if tp.status not in (TouchpointStatus.SCHEDULED, TouchpointStatus.SENT)]
        if closed:
            tp = closed[0]
            raise ConveyorError(f"Task {tp.id} is {tp.status.lower()}: {tp.outcome or 'nothing to do'}.", field="ids")
        todo = [tp for tp in found.values() if tp.status == TouchpointStatus.SCHEDULED]
        for tp in todo:
            tp.status, tp.sent_at, tp.done_at, tp.updated_at = TouchpointStatus.SENT, now, now, now
            tp.done_by, tp.note = by, note
            tp.outcome = f"done by {by}" if by else "done"
        if todo:
            Touchpoint.objects.bulk_update(todo, DONE_FIELDS)
        return [found[task_id] for task_id in wanted]


DONE_FIELDS = ["status", "sent_at", "done_at", "done_by", "note", "outcome", "updated_at"]
