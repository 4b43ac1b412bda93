"""The rule book as staff edit it: a save through the host, its history, and the rebuild that applies it.

`update_rule_book` validates a whole book (every bad entry is told, nothing is saved), writes it through
the host (`host.save_rule_book`: Saleor's plugin configuration, the sandbox's history row), records who
changed what (`RuleBookChange`) and, once committed, sends `rule_book_saved`: the delivery side
(`delivery.start_rebuild`) queues the `saleor_conveyor.rebuild_rule_book` task. `rebuild_step` applies the
book in force to the next batch of customers, as `manage.py conveyor_rebuild` does, and records its
progress on the change: a stopped rebuild resumes where it stopped, a rebuild run twice does nothing
more, and one made obsolete by a newer save stops.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import signals
from ..config import parse_rule_book, rule_book_issues
from ..engine import RuleBookError
from ..engine.rules import describe_changes
from ..errors import ConveyorError, ConveyorErrors, ErrorCode
from ..hosts import get_host
from ..models import FanProfile, RuleBookChange
from .outbox import rebuild_profile

logger = logging.getLogger(__name__)

REBUILD_BATCH = 200
CHANGED_BY_MAX = 254
_LOCK = "conveyor.rule_book"


def refused_entries(data: Any) -> list[ConveyorError]:
    """Each bad entry of a proposed rule book as an INVALID error whose `field` is its path (`rules[3].days`)."""
    return [ConveyorError(issue.message, field=issue.path or "json") for issue in rule_book_issues(data)]


def latest_change(*, using: str | None = None) -> RuleBookChange | None:
    """The last save (who, when, the rebuild's progress), or None if the book was never edited here."""
    rows = RuleBookChange.objects.using(using) if using else RuleBookChange.objects
    return rows.order_by("-created_at", "-id").first()


def fingerprint(book: Mapping[str, Any]) -> str:
    """A short digest of a book (`to_data()`): a form opened on it saves only if the book is still this one."""
    return hashlib.sha256(json.dumps(book, sort_keys=True, default=str).encode()).hexdigest()[:32]


def update_rule_book(
    data: Any, *, by: str, now: datetime | None = None, based_on: str | None = None
) -> RuleBookChange | None:
    """Save a whole rule book (`{"lapse_days", "amount_tiers", "rules"}`) through the host and record the change.

    Refused (ConveyorErrors, one per bad entry, nothing written) unless every entry is valid. The same book
    as the one in force changes nothing and returns None. `based_on` (the editor's: `fingerprint` of the book the
    form showed) refuses the save if someone changed the book since, so no one's edit is lost unseen. The rebuild
    starts after commit.
    """
    refused = refused_entries(data)
    if refused:
        raise ConveyorErrors(refused)
    try:
        book = parse_rule_book(data)
    except RuleBookError as error:  # check_rule_book and from_data agree; this is a guard, not a path
        raise ConveyorError(str(error), field="json") from None
    after = book.to_data()
    host = get_host()
    with host.writer(), transaction.atomic():
        with connection.cursor() as cursor:  # one save at a time: each change's "before" is the one it replaced
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_LOCK])
        host.forget_configuration()  # another process may have saved a moment ago
        before = host.config().rule_book.to_data()
        if based_on is not None and based_on != fingerprint(before):
            raise ConveyorError(
                "The rules were changed by someone else since this page was opened; reload it to see their change.",
                field="json",
                code=ErrorCode.ALREADY_EXISTS,
            )
        if before == after:
            return None
        change = RuleBookChange.objects.create(
            created_at=now or timezone.now(),
            changed_by=(by or "")[:CHANGED_BY_MAX],
            before=before,
            after=after,
            summary=describe_changes(before, after),
        )
        host.save_rule_book(after, by=change.changed_by)
        saved = change
        transaction.on_commit(lambda: signals.send(signals.rule_book_saved, sender=None, change=saved))
    return change


def rebuild_step(change_id: int, *, batch: int = REBUILD_BATCH, now: datetime | None = None) -> bool:
    """Apply the rule book in force to the next `batch` customers of this change's rebuild; True when more remain.

    The change row is locked for the batch, so two workers given the same rebuild take turns, never the
    same customers; a change that is no longer the latest stops (the newer one rebuilds everyone).
    """
    host = get_host()
    with host.writer(), transaction.atomic():
        change = RuleBookChange.objects.select_for_update().filter(pk=change_id).first()
        if change is None or change.rebuild_finished_at is not None:
            return False
        moment = now or timezone.now()
        newer = RuleBookChange.objects.filter(created_at__gt=change.created_at).exists()
        if newer:
            _finish(change, moment, "superseded by a later change")
            return False
        if change.rebuild_started_at is None:
            change.rebuild_started_at = moment
            change.rebuild_total = FanProfile.objects.count()
        change.rebuild_outcome = ""  # running again: a "stopped: ..." of an earlier try no longer holds
        ids = list(
            FanProfile.objects.filter(id__gt=change.rebuild_after_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        for profile_id in ids:
            rebuild_profile(profile_id, now=moment)
        change.rebuild_done += len(ids)
        change.rebuild_after_id = ids[-1] if ids else change.rebuild_after_id
        more = len(ids) == batch
        if not more:
            _finish(change, moment, "done")
            return False
        change.save(
            update_fields=["rebuild_started_at", "rebuild_total", "rebuild_done", "rebuild_after_id", "rebuild_outcome"]
        )
        return True


def run_rebuild(change_id: int, *, batch: int = REBUILD_BATCH, now: datetime | None = None) -> RuleBookChange | None:
    """The whole rebuild of one change, batch after batch (the task; tests call it directly)."""
    get_host().forget_configuration()  # this worker may hold the book from before the save
    try:
        while rebuild_step(change_id, batch=batch, now=now):
            pass
    except Exception as error:
        _record_failure(change_id, error)
        raise
    return RuleBookChange.objects.filter(pk=change_id).first()


def _finish(change: RuleBookChange, moment: datetime, outcome: str) -> None:
    change.rebuild_finished_at = moment
    change.rebuild_outcome = outcome[:255]
    change.save(
        update_fields=[
            "rebuild_started_at",
            "rebuild_total",
            "rebuild_done",
            "rebuild_after_id",
            "rebuild_finished_at",
            "rebuild_outcome",
        ]
    )


def _record_failure(change_id: int, error: Exception) -> None:
    """A rebuild that raised keeps its progress (it resumes there) and says why it stopped."""
    try:
        with get_host().writer():
            RuleBookChange.objects.filter(pk=change_id, rebuild_finished_at__isnull=True).update(
                rebuild_outcome=f"stopped: {type(error).__name__}"[:255]
            )
    except Exception:
        logger.exception("conveyor: could not record the failed rebuild of change %s", change_id)


def rebuild_progress(change: RuleBookChange | None) -> Mapping[str, Any] | None:
    """What the console shows of a change's rebuild: done, total, finished, outcome."""
    if change is None:
        return None
    return {
        "done": change.rebuild_done,
        "total": change.rebuild_total,
        "started": change.rebuild_started_at is not None,
        "finished": change.rebuild_finished_at is not None,
        "outcome": change.rebuild_outcome,
    }


__all__ = [
    "fingerprint",
    "latest_change",
    "rebuild_progress",
    "rebuild_step",
    "refused_entries",
    "run_rebuild",
    "update_rule_book",
]
