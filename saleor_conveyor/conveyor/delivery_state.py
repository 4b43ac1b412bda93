"""The delivery state machine: the outbox rows' state changes that delivery (`delivery.py`) makes.

A due touchpoint is first *reserved* (stays SCHEDULED, claimed_at = the reservation, so other
sweeps leave it alone for a lease), then *claimed* a small chunk at a time right before its rows
are sent (SENDING, one durable commit per chunk), then each row is finished as soon as it is sent
(SENT / back to SCHEDULED for a retry / FAILED). A worker that dies leaves its reserved rows
SCHEDULED (another sweep takes them when the lease ends) and at most one chunk in SENDING, which
the sweep marks FAILED rather than send anything twice. That is the trade-off of claiming in
chunks: a crash can mark up to `claim_chunk` rows FAILED ("may or may not have gone out") that
were never sent; with a chunk of 1 only the one row in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest

from ..engine.pacing import Action, Pacing
from ..engine.pacing import decide as pacing_decide
from ..hosts import get_config
from ..models import FanProfile, ReturnRequest, ReturnStatus, Touchpoint, TouchpointKind, TouchpointStatus
from ._locking import due_touchpoints_for_update, profile_qs_select_for_update, profiles_for_update_skip_locked
from ._tables import TOUCHPOINTS, touchpoint_column
from .outbox import customer_view

# Kinds that are no message to the customer (the frequency cap counts messages only).
NOT_MESSAGES = frozenset({TouchpointKind.BADGE, TouchpointKind.STAFF_TASK})
MOVED_ON = "condition no longer holds: {reason}"
STALE_OUTCOME = (
    "the worker stopped while sending it (claimed {minutes:g}+ minutes ago): not sent again so the "
    "customer never gets two copies; check the mail log, the email may or may not have gone out"
)


@dataclass
class Reservation:
    """What one reservation pass decided: rows to send now, and how many were paced."""

    reserved: list[Touchpoint] = field(default_factory=list)
    deferred: list[Touchpoint] = field(default_factory=list)
    skipped: list[Touchpoint] = field(default_factory=list)


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
    book = get_config().rule_book
    follow_ups = book.follow_up_rules()
    # A rule's conditions are checked again on the locked profile (no other read): a customer who
    # moved on since it was planned is skipped, never sent a stale message. The triggering order's
    # facts (discount, gift, channel) do not change and were checked when it was planned.
    conditional = {rule.name: rule.conditions for rule in book.rules if rule.conditions is not None}
    with transaction.atomic():
        due = (
            Touchpoint.objects.filter(status=TouchpointStatus.SCHEDULED, due_at__lte=now)
            .exclude(kind=TouchpointKind.STAFF_TASK)  # staff tasks wait for staff
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease))
        )
        if ids is not None:
            due = due.filter(id__in=list(ids))
        candidates = due_touchpoints_for_update(due, limit)
        if not candidates:
            return result
        # Profiles are locked too: the frequency cap needs one decision per customer at a time,
        # and a customer whose order is being recorded right now waits for the next pass.
        profiles = profiles_for_update_skip_locked({tp.profile_id for tp in candidates})
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
            conditions = conditional.get(tp.rule) if conditional else None
            if conditions is not None:
                reason = conditions.failure(
                    customer_view(profile), None, now=now, lapse_days=book.lapse_days, orders=False
                )
                if reason is not None:
                    tp.updated_at, tp.status, tp.outcome = now, TouchpointStatus.SKIPPED, MOVED_ON.format(reason=reason)
                    result.skipped.append(tp)
                    continue
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
                tp.status, tp.outcome = TouchpointStatus.SKIPPED, decision.reason
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
            Q(status=TouchpointStatus.SENT, sent_at__gt=since)
            | Q(status=TouchpointStatus.SENDING)
            | Q(status=TouchpointStatus.SCHEDULED, claimed_at__gte=now - lease)
        )
        .values_list("profile_id", "status", "sent_at", "claimed_at")
    )
    last: dict[int, datetime] = {}
    for profile_id, status, sent_at, claimed_at in rows:
        when = sent_at if status == TouchpointStatus.SENT else claimed_at
        if when is not None and (profile_id not in last or when > last[profile_id]):
            last[profile_id] = when
    return last


def claim_touchpoints(touchpoint_ids: Sequence[int], reserved_at: datetime, *, now: datetime) -> list[int]:
    """SCHEDULED (reserved by us) -> SENDING, attempts + 1, in one commit made durable before anything is sent.

    Returns the ids actually claimed: a row cancelled, or taken by another sweep after our lease ran
    out, since the reservation is left out.
    """
    column = touchpoint_column
    return _update_claimed(
        f"{column('status')} = %s, {column('claimed_at')} = %s, "
        f"{column('attempts')} = {column('attempts')} + 1, {column('updated_at')} = %s",
        [TouchpointStatus.SENDING, now, now],
        touchpoint_ids,
        status=TouchpointStatus.SCHEDULED,
        claimed_at=reserved_at,
    )


def _update_claimed(
    assignments: str, values: list[Any], touchpoint_ids: Sequence[int], *, status: str, claimed_at: datetime
) -> list[int]:
    """UPDATE the rows of these ids still in `status` under the claim `claimed_at`; the ids it changed, sorted."""
    if not touchpoint_ids:
        return []
    column = touchpoint_column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TOUCHPOINTS.name} SET {assignments} "
            f"WHERE {column('id')} = ANY(%s) AND {column('status')} = %s AND {column('claimed_at')} = %s "
            f"RETURNING {column('id')}",
            [*values, list(touchpoint_ids), status, claimed_at],
        )
        return sorted(row[0] for row in cursor.fetchall())


def claim_touchpoint(touchpoint_id: int, reserved_at: datetime, *, now: datetime) -> bool:
    """Claim one reserved touchpoint (a chunk of one)."""
    return claim_touchpoints([touchpoint_id], reserved_at, now=now) == [touchpoint_id]


def renew_claims(touchpoint_ids: Sequence[int], claimed_at: datetime, *, now: datetime) -> list[int]:
    """Refresh our claim on rows of a chunk still waiting to be sent, so the stale rule never sees a live claim.

    Returns the ids still ours; a row the stale rule already FAILED is left out (and so never sent).
    """
    column = touchpoint_column
    return _update_claimed(
        f"{column('claimed_at')} = %s, {column('updated_at')} = %s",
        [now, now],
        touchpoint_ids,
        status=TouchpointStatus.SENDING,
        claimed_at=claimed_at,
    )


def release_claims(touchpoint_ids: Sequence[int], claimed_at: datetime, *, now: datetime) -> int:
    """Claimed rows never tried (delivery stopped on an error): back to SCHEDULED, free for any sweep."""
    if not touchpoint_ids:
        return 0
    return _ours(touchpoint_ids, claimed_at).update(
        status=TouchpointStatus.SCHEDULED,
        claimed_at=None,
        attempts=Greatest(F("attempts") - 1, Value(0)),
        updated_at=now,
    )


def _ours(touchpoint_ids: Sequence[int], claimed_at: datetime) -> Any:
    """Rows still SENDING under our claim (a row the stale rule FAILED, or another claim's, is not)."""
    return Touchpoint.objects.filter(
        id__in=list(touchpoint_ids), status=TouchpointStatus.SENDING, claimed_at=claimed_at
    )


def record_delivery_sent(
    touchpoint_id: int, claimed_at: datetime, *, outcome: str, now: datetime, detail: str | None = None
) -> bool:
    """Our claim went out: SENT, even if the row was marked meanwhile (the truth is that it was sent).

    Committed without waiting for the disk flush, in one statement (one round trip): only a
    PostgreSQL crash can lose it, and then the row stays SENDING and the sweep marks it
    FAILED ("may or may not have gone out"); it is never sent twice.
    """
    params: list[Any] = [TouchpointStatus.SENT, now, outcome, now]
    if detail is not None:
        params.append(detail)
    with connection.cursor() as cursor:
        cursor.execute(_record_sent_sql(with_detail=detail is not None), [*params, touchpoint_id, claimed_at])
        return cursor.rowcount == 1


@cache
def _record_sent_sql(*, with_detail: bool) -> str:
    column = touchpoint_column
    assignments = (
        f"{column('status')} = %s, {column('sent_at')} = %s, {column('outcome')} = %s, {column('updated_at')} = %s"
    )
    if with_detail:
        assignments += f", {column('detail')} = %s"
    # set_config(..., true) lasts for this statement's own transaction (or the caller's, if inside one).
    return (
        "WITH asynchronous_commit AS (SELECT set_config('synchronous_commit', 'off', true)) "
        f"UPDATE {TOUCHPOINTS.name} SET {assignments} FROM asynchronous_commit "
        f"WHERE {column('id')} = %s AND {column('claimed_at')} = %s"
    )


def record_delivery_retry(
    touchpoint_id: int, claimed_at: datetime, *, error: str, due_at: datetime, now: datetime
) -> bool:
    """A transient failure: back to SCHEDULED, due later (the backoff), the error shown to staff."""
    return (
        _ours([touchpoint_id], claimed_at).update(
            status=TouchpointStatus.SCHEDULED, due_at=due_at, claimed_at=None, outcome=error, updated_at=now
        )
        == 1
    )


def record_delivery_failed(touchpoint_id: int, claimed_at: datetime, *, error: str, now: datetime) -> bool:
    """Out of attempts, or a failure retrying cannot fix: FAILED with the error, for staff to see."""
    return _ours([touchpoint_id], claimed_at).update(status=TouchpointStatus.FAILED, outcome=error, updated_at=now) == 1


def record_coupon_code(touchpoint_id: int, claimed_at: datetime, code: str, *, referral_for: int | None) -> None:
    """Keep a new code before the email goes out, so a retry sends the same code (referral: on the profile too)."""
    with transaction.atomic():
        Touchpoint.objects.filter(id=touchpoint_id, claimed_at=claimed_at).update(detail=code)
        if referral_for is not None:
            FanProfile.objects.filter(id=referral_for, referral_code="").update(referral_code=code)


def add_badge(profile_id: int, badge: str) -> bool:
    """Give a customer a badge; False when they already had it (so twice changes nothing)."""
    with transaction.atomic():
        profile = profile_qs_select_for_update().get(pk=profile_id)
        if badge in profile.badges:
            return False
        profile.badges = [*profile.badges, badge]
        profile.save(update_fields=["badges", "updated_at"])
        return True


def fail_stale_sending(*, now: datetime, stale_after: timedelta) -> int:
    """Rows left SENDING by a worker that died: FAILED with a visible reason, never sent again."""
    outcome = STALE_OUTCOME.format(minutes=stale_after.total_seconds() / 60)
    return Touchpoint.objects.filter(status=TouchpointStatus.SENDING, claimed_at__lt=now - stale_after).update(
        status=TouchpointStatus.FAILED, outcome=outcome, updated_at=now
    )
