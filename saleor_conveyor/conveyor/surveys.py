"""Surveys: NPS answers (with their follow-ups: touchpoints, and staff's for a detractor) and the fan-degree survey.

One answer per customer per occasion (the order, else the survey window), held by the database:
aliased mutations or a replayed link make one answer and one follow-up, not hundreds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import signals
from ..engine import engagement_cell, nps_category
from ..engine.rules import FAN_TRIGGERS, NPS_TRIGGERS
from ..engine.surveys import answer_occasion
from ..errors import ConveyorError, ErrorCode
from ..events import FanSurveyAnswered, NpsAnswered
from ..hosts import get_config
from ..models import FanSurveyResponse, NpsResponse
from ..sql import Batch, on_commit
from ..sql import atomic as one_transaction
from ._ledger import answer
from ._locking import customer_match, owner_condition
from ._tables import (
    FAN_SURVEY_ONCE,
    NEW_NPS_RESPONSES,
    NPS_ANSWERS,
    NPS_ONCE,
    NPS_PROFILE,
    OUTBOX,
    PROFILES,
    PURCHASES,
    violated,
)
from .customers import add_profile_lock, choose, customer_changes, email_of_another_account, locked_profile
from .follow_ups import plan_nps_follow_up
from .outbox import reconcile, rule_names

# How long the survey page's answer may still be changed (a second score picked on the page replaces it);
# its follow-ups wait as long.
PAGE_REPLACE_WINDOW = timedelta(minutes=30)


def record_nps(
    event: NpsAnswered, *, now: datetime | None = None, replace_within: timedelta | None = None
) -> NpsResponse:
    """An NPS answer: at most one per customer per occasion; the latest one sets the profile's NPS.

    A second answer for an occasion is ALREADY_EXISTS and changes nothing, except that an answer made
    with `replace_within` (the survey page's: a customer clicks a score in the email, then picks
    another) may be replaced by another such answer until that long after it was first given: its
    score and comment change, its time stays, and its follow-ups are planned anew. Until then they
    wait, so a corrected score never sends the first one's follow-up. The API passes no window:
    its second answer stays ALREADY_EXISTS.

    Two round trips: the customer's row locked with everything the answer is checked and
    planned against (the order, every earlier answer, the outbox, the answer's id drawn
    ahead); then the answer, the profile's NPS and the outbox's changes, with the commit.
    A customer without a profile yet costs one more: the first read, made again with the profile.
    """
    event = event.validate()
    now = now or timezone.now()
    config = get_config()
    nps_rules = set(rule_names(config.rule_book, NPS_TRIGGERS))
    occasion = answer_occasion(event.order_id, event.answered_at, config.rule_book.survey_window_days())
    match, params = customer_match(event.customer, alias="p")
    owners = owner_condition(match, by_email_only=event.customer.user_id is None)
    with one_transaction():
        # Most answers come from customers with a profile; the rest need it made first (a second read).
        found, orders, rows, outbox_rows, drawn = _nps_reads(event, params, owners, nps_rules, create=False)
        if not found:
            found, orders, rows, outbox_rows, drawn = _nps_reads(event, params, owners, nps_rules, create=True)
        profile = choose(map(PROFILES.from_row, found), event.customer)
        if profile is None:  # made above if it was missing, unless the email is another account's profile
            raise email_of_another_account(event.customer)
        answers = [earlier for earlier in map(NPS_ANSWERS.from_row, rows) if earlier.profile_id == profile.id]
        channel = ""
        if event.order_id is not None:
            channel = next((channel for owner, channel in orders if owner == profile.id), None)
            if channel is None:
                raise ConveyorError(
                    f"No order {event.order_id!r} of this customer is recorded.",
                    field="orderId",
                    code=ErrorCode.NOT_FOUND,
                )
        given = next((earlier for earlier in answers if earlier.occasion == occasion), None)
        if given is not None and not _replaceable(given, now, replace_within):
            raise _nps_already_answered(event)
        writes = Batch()
        if given is None:
            response = NEW_NPS_RESPONSES.new(
                id=drawn[0][0],
                profile_id=profile.id,
                order_id=event.order_id,
                occasion=occasion,
                channel=channel,
                score=event.score,
                comment=event.comment,
                created_at=event.answered_at,
                replaceable_until=event.answered_at + replace_within if replace_within else None,
            )
            NEW_NPS_RESPONSES.insert([response], batch=writes)
        else:
            response = _replaced(given, event, channel)
            writes.add(
                f"UPDATE {NEW_NPS_RESPONSES.name} SET score = %s, comment = %s WHERE id = %s",
                [response.score, response.comment, response.id],
            )
            answers = [earlier for earlier in answers if earlier is not given]
        # Its follow-up (a detractor's answer opens one) follows the answer, replaced or not, in the same commit.
        plan_nps_follow_up(response, replaced=given is not None, now=now, batch=writes)
        NPS_PROFILE.set_cached_value(response, profile)
        changed = customer_changes(profile, event.customer)
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
        reconcile(
            profile,
            now=now,
            triggers=NPS_TRIGGERS,
            answers=[answer(earlier) for earlier in [*answers, response]],
            config=config,
            existing=outbox,
            batch=writes,
        )
        try:
            writes.flush(last=True)
        except IntegrityError as error:
            if violated(error) == NPS_ONCE:
                raise _nps_already_answered(event) from None
            raise
        on_commit(lambda: signals.send(signals.nps_recorded, NpsResponse, response=response, profile=profile))
        return response


def _nps_reads(
    event: NpsAnswered, params: list[Any], owners: str, nps_rules: set[str], *, create: bool
) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple], list[tuple]]:
    """One round trip: the profile locked (made first if `create`), then, seeing what its last holder
    wrote, the order, the answers, the outbox, and a new answer id (`params`: of the customer match)."""
    found: list[tuple] = []
    orders: list[tuple] = []
    rows: list[tuple] = []
    outbox_rows: list[tuple] = []
    drawn: list[tuple] = []
    reads = Batch()
    add_profile_lock(event.customer, reads, found, create=create)
    if event.order_id is not None:
        reads.add(
            f"SELECT profile_id, channel FROM {PURCHASES.name} WHERE order_id = %s", [event.order_id], orders.extend
        )
    reads.add(
        f"SELECT {NPS_ANSWERS.columns} FROM {NPS_ANSWERS.name} WHERE profile_id {owners}",
        params,
        rows.extend,
    )
    if nps_rules:
        # Only the NPS rules' touchpoints: a customer's order rules hold most of the outbox.
        reads.add(
            f"SELECT {OUTBOX.columns} FROM {OUTBOX.name} WHERE profile_id {owners} AND rule = ANY(%s)",
            [*params, sorted(nps_rules)],
            outbox_rows.extend,
        )
    reads.add(NEW_NPS_RESPONSES.next_id_sql, [], drawn.extend)
    reads.flush()
    return found, orders, rows, outbox_rows, drawn


def _replaceable(given: Any, now: datetime, replace_within: timedelta | None) -> bool:
    """Whether a new answer may replace `given`: both from the page, within the first one's window."""
    until = given.replaceable_until
    return replace_within is not None and until is not None and now < until


def _replaced(given: Any, event: NpsAnswered, channel: str) -> NpsResponse:
    """The stored answer with the new score and comment; the occasion's first time and window stay."""
    return NEW_NPS_RESPONSES.new(
        id=given.id,
        profile_id=given.profile_id,
        order_id=given.order_id,
        occasion=given.occasion,
        channel=channel,
        score=event.score,
        comment=event.comment,
        created_at=given.created_at,
        replaceable_until=given.replaceable_until,
    )


def _answer_order(response: NpsResponse) -> tuple:
    return (response.created_at, response.order_id is not None, response.order_id or "", response.id)


def _nps_already_answered(event: NpsAnswered) -> ConveyorError:
    if event.order_id is None:
        return _fan_survey_already_answered()
    return ConveyorError(
        "This order already has an NPS answer from this customer.", field="orderId", code=ErrorCode.ALREADY_EXISTS
    )


def record_fan_survey(event: FanSurveyAnswered, *, now: datetime | None = None) -> FanSurveyResponse:
    """A fan-degree answer places the customer on the engagement grid (the latest answer wins).

    One answer per customer per survey window (`answer_occasion`, held by the database): the
    same event again returns the stored answer; another answer in the window is ALREADY_EXISTS.
    """
    event = event.validate()
    now = now or timezone.now()
    config = get_config()
    occasion = answer_occasion(None, event.answered_at, config.rule_book.survey_window_days())
    values = {"fan_degree": event.fan_degree.value, "liking": event.liking.value, "comment": event.comment}
    try:
        with transaction.atomic():
            profile = locked_profile(event.customer)
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
            # Entering an engagement cell is a trigger of its own (`engagement_entry` rules).
            reconcile(profile, now=now, triggers=FAN_TRIGGERS, config=config)
            return response
    except IntegrityError as error:
        if violated(error) == FAN_SURVEY_ONCE:
            raise _fan_survey_already_answered() from None
        raise


def _fan_survey_already_answered() -> ConveyorError:
    """A survey without an order (the window's) answered twice: the same words for NPS and fan survey."""
    return ConveyorError(
        "This survey already has your answer; the next survey will ask again.", code=ErrorCode.ALREADY_EXISTS
    )
