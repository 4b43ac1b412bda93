"""The win-back survey (a lapsed customer: why they stopped) and the improvement survey (a detractor: what to
improve): one answer per customer per survey and occasion, held by the database, for staff to follow up."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import signals
from ..engine import WinbackKind, winback_occasion
from ..errors import ConveyorError, ErrorCode
from ..events import WinbackAnswered
from ..hosts import get_config
from ..models import FanProfile, WinbackResponse
from ..sql import on_commit
from ._locking import profile_qs_select_for_update
from ._tables import violated
from .follow_ups import open_winback_follow_up

WINBACK_ONCE = "conveyor_winback_once"


def occasion_of(profile: FanProfile, kind: WinbackKind, at: datetime) -> str:
    """Which occasion an answer given now is about: the lapse after the last order that counts (win-back), the
    latest NPS answer (improvement: the honesty letter follows it), else the survey window."""
    last_order_id = nps_occasion = None
    if WinbackKind(kind) is WinbackKind.WINBACK:
        last_order_id = (
            profile.purchases.filter(cancelled_at__isnull=True, returned_at__isnull=True)
            .order_by("-placed_at", "-order_id")
            .values_list("order_id", flat=True)
            .first()
        )
    else:
        nps_occasion = profile.nps_responses.order_by("-created_at", "-id").values_list("occasion", flat=True).first()
    window_days = get_config().rule_book.survey_window_days()
    return winback_occasion(kind, at, last_order_id=last_order_id, nps_occasion=nps_occasion, window_days=window_days)


def stored_answer(profile: FanProfile, kind: WinbackKind, *, now: datetime | None = None) -> WinbackResponse | None:
    """The customer's answer for the occasion a survey opened now would be about (a page shows its thanks)."""
    occasion = occasion_of(profile, kind, now or timezone.now())
    return profile.winback_responses.filter(kind=WinbackKind(kind).value, occasion=occasion).first()


def record_winback_survey(event: WinbackAnswered) -> WinbackResponse:
    """A win-back or improvement answer; a second one for the same occasion is ALREADY_EXISTS and changes nothing."""
    event = event.validate()
    try:
        with transaction.atomic():
            profile = profile_qs_select_for_update().filter(pk=event.profile_id).first()
            if profile is None:
                raise ConveyorError("No such customer.", code=ErrorCode.NOT_FOUND)
            occasion = occasion_of(profile, event.kind, event.answered_at)
            if profile.winback_responses.filter(kind=event.kind.value, occasion=occasion).exists():
                raise _already_answered()
            response = WinbackResponse.objects.create(
                profile=profile,
                kind=event.kind.value,
                occasion=occasion,
                reasons=list(event.reasons),
                comment=event.comment,
                created_at=event.answered_at,
            )
            open_winback_follow_up(response, now=timezone.now())  # a win-back answer: staff follow it up
    except IntegrityError as error:
        if violated(error) == WINBACK_ONCE:
            raise _already_answered() from None
        raise
    on_commit(lambda: signals.send(signals.winback_recorded, WinbackResponse, response=response, profile=profile))
    return response


def _already_answered() -> ConveyorError:
    return ConveyorError("This survey already has your answer; thank you.", code=ErrorCode.ALREADY_EXISTS)
