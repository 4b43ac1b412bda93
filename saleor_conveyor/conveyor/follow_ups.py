"""Follow-ups: staff closing the loop with a detractor (NPS 0-6) or a lapsed customer who answered the win-back survey.

Each answer opens exactly one follow-up, in the answer's own transaction (the database holds "one per answer":
a unique answer column each). An NPS answer the survey page may still replace (`replaceable_until`) carries its
follow-up along: a replacement that is still a detractor's updates the score and comment, one that is no longer a
detractor's removes the follow-up if staff have not touched it yet, and one that becomes a detractor's opens one.
Improvement answers (the detractor's survey after the honesty letter) open none: their detractor already has one,
and the answer shows in the customer's timeline beside it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..engine.follow_ups import FollowUpState, Refusal, follow_up_step, opens_follow_up
from ..errors import ConveyorError, ErrorCode
from ..events import bounded_text
from ..models import FollowUp, FollowUpSource, FollowUpStatus, NpsResponse, WinbackResponse
from ..sql import Batch

NOTE_MAX = 5000
_TABLE = FollowUp._meta.db_table

# The NPS answer's follow-up, written in record_nps's batch: opened (or, for a replaced answer, its score and
# comment updated); for a replaced answer no longer a detractor's, removed while staff have not touched it.
_OPEN_FOR_NPS = (
    f"INSERT INTO {_TABLE} (profile_id, source, nps_response_id, score, comment, status, note, created_at, "
    "closed_by, updated_by) VALUES (%s, 'DETRACTOR', %s, %s, %s, 'OPEN', '', %s, '', '') "
    "ON CONFLICT (nps_response_id) DO UPDATE SET score = EXCLUDED.score, comment = EXCLUDED.comment"
)
_DROP_UNTOUCHED = (
    f"DELETE FROM {_TABLE} WHERE nps_response_id = %s AND status = 'OPEN' AND first_contact_at IS NULL "
    "AND note = '' AND updated_by = ''"
)
_FOLLOW_REPLACED = f"UPDATE {_TABLE} SET score = %s, comment = %s WHERE nps_response_id = %s"


def plan_nps_follow_up(response: NpsResponse, *, replaced: bool, now: datetime, batch: Batch) -> None:
    """Add to `batch` what the answer means for its follow-up (record_nps flushes it with the answer)."""
    if opens_follow_up(response.score):
        batch.add(_OPEN_FOR_NPS, [response.profile_id, response.id, response.score, response.comment, now])
    elif replaced:
        batch.add(_DROP_UNTOUCHED, [response.id])
        batch.add(_FOLLOW_REPLACED, [response.score, response.comment, response.id])


def open_winback_follow_up(response: WinbackResponse, *, now: datetime) -> FollowUp | None:
    """A win-back answer's follow-up (inside the answer's transaction); improvement answers open none."""
    if response.kind != "winback":
        return None
    return FollowUp.objects.create(
        profile_id=response.profile_id,
        source=FollowUpSource.WINBACK,
        winback_response=response,
        comment=response.comment,
        created_at=now,
    )


def checked_note(note: object) -> str:
    """Staff's note: text of at most NOTE_MAX characters, storable (no NUL); INVALID / OUT_OF_RANGE otherwise."""
    return bounded_text(note, "note", NOTE_MAX)


def update_follow_up(
    follow_up_id: int,
    *,
    status: str,
    outcome: str | None = None,
    note: str | None = None,
    by: str,
    now: datetime | None = None,
) -> FollowUp:
    """Staff move a follow-up along (engine.follow_ups: forward only, closing needs an outcome) and keep a note."""
    if note is not None:
        note = checked_note(note)
    now = now or timezone.now()
    with transaction.atomic():
        found = FollowUp.objects.select_for_update().filter(pk=follow_up_id).first()
        if found is None:
            raise ConveyorError("No such follow-up.", field="id", code=ErrorCode.NOT_FOUND)
        current = FollowUpState(found.status, found.outcome, found.first_contact_at, found.closed_at)
        step = follow_up_step(current, status, outcome, now)
        if isinstance(step, Refusal):
            raise ConveyorError(step.message, field=step.field)
        found.status, found.outcome = step.status, step.outcome
        found.first_contact_at, found.closed_at = step.first_contact_at, step.closed_at
        if step.status == FollowUpStatus.CLOSED:
            found.closed_by = by[:254]
        if note is not None:
            found.note = note
        found.updated_by = by[:254]
        found.updated_at = now
        found.save(
            update_fields=[
                "status",
                "outcome",
                "first_contact_at",
                "closed_at",
                "closed_by",
                "note",
                "updated_by",
                "updated_at",
            ]
        )
        return found
