"""Celery tasks of the conveyor (autodiscovered by the host's Celery app). Ids in, rows re-read, safe twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import conveyor, delivery
from .hosts import get_host


@shared_task(name=delivery.DELIVER_TOUCHPOINT, ignore_result=True)
def deliver_touchpoint(touchpoint_id: int) -> dict[str, int]:
    """Deliver one touchpoint if it is still due and nobody else has it (a second run finds nothing to do)."""
    return delivery.deliver_batch(ids=[touchpoint_id], limit=1).as_dict()


@shared_task(name=delivery.DELIVER_TOUCHPOINTS, ignore_result=True)
def deliver_touchpoints(touchpoint_ids: list[int]) -> dict[str, int]:
    """Deliver the touchpoints of one enqueue window that were due when it was sent (each at most once)."""
    return delivery.deliver_batch(ids=touchpoint_ids, limit=len(touchpoint_ids)).as_dict()


@shared_task(name="saleor_conveyor.sweep_due", ignore_result=True)
def sweep_due() -> dict[str, int]:
    """Every minute: deliver whatever is due and was not (lost message, dead worker, broker down)."""
    return delivery.sweep().as_dict()


@shared_task(name="saleor_conveyor.scan_lapsed", ignore_result=True)
def scan_lapsed(max_batches: int = 200) -> int:
    """Daily: schedule the win-back survey of customers who went quiet, and the first purchase's anniversaries."""
    total = 0
    with get_host().writer():
        for _ in range(max_batches):
            scheduled = conveyor.schedule_lapsed(now=timezone.now())
            total += scheduled
            if not scheduled:
                break
        total += conveyor.schedule_anniversaries(now=timezone.now())
    return total


@shared_task(name="saleor_conveyor.warm_console", ignore_result=True)
def warm_console() -> None:
    """Before the kept ones expire: compute the console overview's default figures (reads only, the host's replica)."""
    from .console.overview import warm_default_figures

    warm_default_figures(now=timezone.now())


@shared_task(name=delivery.COMPUTE_CONSOLE_FIGURES, ignore_result=True)
def compute_console_figures(since: str, until: str, channel: str, asked_at: str = "", figures_key: str = "") -> None:
    """A window's overview figures, asked for by a console page that answered at once (reads only, the replica);
    the page reloads itself until they are kept (console.overview.ask_worker)."""
    from .console.overview import compute_asked_figures

    compute_asked_figures(since, until, channel, asked_at, figures_key)


@shared_task(name=delivery.REBUILD_RULE_BOOK, ignore_result=True)
def rebuild_rule_book(change_id: int) -> None:
    """After a rule book save: replan every customer's outbox with it, recording progress on the change
    (conveyor/rule_book.py; resumes where a stopped run left off, a second run does nothing more)."""
    with get_host().writer():
        conveyor.rule_book.run_rebuild(change_id)
