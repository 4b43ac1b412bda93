"""Enqueueing after commit, beat rows, the lapse scan task, and models agreeing with migrations."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from saleor_conveyor import conveyor, tasks
from saleor_conveyor.beat import LAPSE_SCAN, SWEEP, register_periodic_tasks
from saleor_conveyor.models import Touchpoint

from ..conftest import customer, placed

pytestmark = pytest.mark.django_db


def queued_tasks() -> list[dict]:
    import redis

    from .conftest import LOCAL_REDIS

    client = redis.Redis.from_url(LOCAL_REDIS)
    try:
        return [json.loads(raw)["headers"] for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()


@pytest.mark.django_db(transaction=True)
def test_recording_an_order_enqueues_what_falls_due_soon_with_its_due_time(broker):
    now = timezone.now()
    conveyor.record_order_placed(placed(at=now - timedelta(days=7) + timedelta(minutes=10), who=customer()), now=now)
    step7 = Touchpoint.objects.get(rule="step_day7")
    queued = queued_tasks()
    # step_day7 (due in 10 minutes) is queued with its ETA; day 14 and later wait for the sweep.
    assert [(h["task"], h["argsrepr"]) for h in queued] == [("saleor_conveyor.deliver_touchpoint", f"({step7.id},)")]
    assert queued[0]["eta"] == step7.due_at.isoformat()


@pytest.mark.django_db(transaction=True)
def test_a_touchpoint_planned_again_is_enqueued_again(broker):
    from saleor_conveyor.events import OrderCancelled

    now = timezone.now()
    first_at = now - timedelta(days=7) + timedelta(minutes=10)
    conveyor.record_order_placed(placed("o1", at=first_at, who=customer()), now=now)
    conveyor.record_order_cancelled(OrderCancelled("o1", now), now=now)
    # A new first order at the same moment revives the cancelled step mail: it is planned again.
    conveyor.record_order_placed(placed("o2", at=first_at, who=customer()), now=now)
    step7 = Touchpoint.objects.get(rule="step_day7")
    assert step7.status == "SCHEDULED"
    assert [h["argsrepr"] for h in queued_tasks()] == [f"({step7.id},)", f"({step7.id},)"]


def test_periodic_tasks_are_registered_once_and_updated_in_place():
    assert register_periodic_tasks() == [SWEEP, LAPSE_SCAN]
    assert register_periodic_tasks() == []
    sweep = PeriodicTask.objects.get(name=SWEEP)
    assert sweep.task == "saleor_conveyor.sweep_due" and sweep.interval.every == 60 and sweep.enabled
    scan = PeriodicTask.objects.get(name=LAPSE_SCAN)
    assert scan.task == "saleor_conveyor.scan_lapsed" and scan.crontab.hour == "3"
    assert str(scan.crontab.timezone) == "Asia/Tokyo"
    sweep.enabled = False
    sweep.save()
    assert register_periodic_tasks(sweep_every=timedelta(seconds=30)) == [SWEEP]
    sweep.refresh_from_db()
    assert sweep.interval.every == 30 and not sweep.enabled  # staff turned it off; it stays off
    assert PeriodicTask.objects.filter(name__startswith="saleor_conveyor").count() == 2


def test_conveyor_schedule_command_registers_the_tasks():
    out = StringIO()
    call_command("conveyor_schedule", stdout=out)
    call_command("conveyor_schedule", stdout=out)
    assert out.getvalue().splitlines() == [
        f"registered: {SWEEP}",
        f"registered: {LAPSE_SCAN}",
        "periodic tasks are up to date",
    ]


def test_daily_lapse_scan_task_schedules_the_win_back_survey():
    long_ago = timezone.now() - timedelta(days=91)  # lapsed yesterday (90 days)
    conveyor.record_order_placed(placed(at=long_ago, who=customer()), now=long_ago)
    assert tasks.scan_lapsed() == 1
    assert tasks.scan_lapsed() == 0
    assert Touchpoint.objects.filter(rule="winback_survey").count() == 1


def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "saleor_conveyor", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
