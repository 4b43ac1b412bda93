"""Enqueueing after commit, beat rows, the lapse scan task, and models agreeing with migrations."""

from __future__ import annotations

import ast
import json
import os
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from saleor_conveyor import conveyor, delivery, tasks
from saleor_conveyor.beat import LAPSE_SCAN, SWEEP, WARM_CONSOLE, register_periodic_tasks
from saleor_conveyor.models import Touchpoint

from ..factories import customer, placed

pytestmark = pytest.mark.django_db


def queued_tasks() -> list[dict]:
    """The broker's queue, once this process's publisher thread sent what it was handed."""
    import redis

    from .helpers import LOCAL_REDIS

    assert delivery.flush_enqueued(timeout=10)

    client = redis.Redis.from_url(LOCAL_REDIS)
    try:
        # LPUSH puts each message at the head (workers take from the tail): oldest first, reversed.
        return [json.loads(raw)["headers"] for raw in reversed(client.lrange("celery", 0, -1))]
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


@pytest.mark.django_db(transaction=True)
def test_enqueueing_still_works_after_someone_called_a_task_with_delay(broker):
    # Celery's delay() (apply_async without options) adds ignore_result to the task's cached
    # options; passed beside our own ignore_result, every later enqueue failed with a TypeError.
    tasks.deliver_touchpoint.delay(10**9)
    now = timezone.now()
    conveyor.record_order_placed(placed(at=now - timedelta(days=7) + timedelta(minutes=10), who=customer()), now=now)
    step7 = Touchpoint.objects.get(rule="step_day7")
    assert [h["argsrepr"] for h in queued_tasks()] == [f"({10**9},)", f"({step7.id},)"]


@pytest.mark.django_db(transaction=True)
def test_touchpoints_already_due_from_concurrent_callers_share_one_message(broker, settings):
    settings.CONVEYOR_DELIVERY = {**settings.CONVEYOR_DELIVERY, "enqueue_window": 1.0}  # all 8 threads join in
    now = timezone.now()
    due = [Touchpoint(id=n, kind="EMAIL", due_at=now - timedelta(seconds=1)) for n in range(1, 7)]
    later = Touchpoint(id=99, kind="EMAIL", due_at=now + timedelta(minutes=5))
    staff = Touchpoint(id=98, kind="STAFF_TASK", due_at=now)
    threads = [threading.Thread(target=delivery.enqueue, args=([tp],)) for tp in [*due, later, staff]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queued = queued_tasks()
    # The due ones in one message, without an ETA; the later one alone, with its due time; no staff task.
    assert [h["task"] for h in queued] == ["saleor_conveyor.deliver_touchpoints", "saleor_conveyor.deliver_touchpoint"]
    (batch,) = ast.literal_eval(queued[0]["argsrepr"])
    assert sorted(batch) == [1, 2, 3, 4, 5, 6] and queued[0]["eta"] is None
    assert queued[1]["argsrepr"] == "(99,)" and queued[1]["eta"] == later.due_at.isoformat()


@pytest.mark.django_db(transaction=True)
def test_with_no_window_the_caller_sends_before_returning(broker, settings):
    settings.CONVEYOR_DELIVERY = {**settings.CONVEYOR_DELIVERY, "enqueue_window": 0}
    now = timezone.now()
    assert delivery.enqueue([Touchpoint(id=5, kind="EMAIL", due_at=now)]) == 1
    import redis

    from .helpers import LOCAL_REDIS

    client = redis.Redis.from_url(LOCAL_REDIS)
    try:
        raw = client.lrange("celery", 0, -1)  # read without waiting for the publisher thread
    finally:
        client.close()
    assert [json.loads(r)["headers"]["argsrepr"] for r in raw] == ["([5],)"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread is meant to die
def test_a_publisher_thread_that_died_is_started_again(broker, monkeypatch, caplog):
    def die(app, due):
        raise SystemExit  # not an Exception: it ends the thread

    monkeypatch.setattr(delivery, "_publish", die)
    now = timezone.now()
    assert delivery.enqueue([Touchpoint(id=1, kind="EMAIL", due_at=now)]) == 1
    assert delivery.flush_enqueued(timeout=10)  # what the dead thread held is counted as given up
    delivery._PUBLISHER._thread.join(timeout=10)
    assert not delivery._PUBLISHER._thread.is_alive()
    monkeypatch.undo()
    with caplog.at_level("WARNING", logger="saleor_conveyor"):
        assert delivery.enqueue([Touchpoint(id=2, kind="EMAIL", due_at=now)]) == 1
    assert [h["argsrepr"] for h in queued_tasks()] == ["([2],)"]
    assert delivery._PUBLISHER._thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_thread_that_cannot_start_hands_nothing_over_and_the_next_call_starts_one(broker, monkeypatch, caplog):
    delivery._PUBLISHER._thread = None  # as in a process that never enqueued

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    now = timezone.now()
    with caplog.at_level("WARNING", logger="saleor_conveyor"):
        assert delivery.enqueue([Touchpoint(id=3, kind="EMAIL", due_at=now)]) == 0
    assert any("the sweep will deliver it" in r.getMessage() for r in caplog.records)
    assert delivery.flush_enqueued(timeout=1)  # nothing counted as handed over
    monkeypatch.undo()
    assert delivery.enqueue([Touchpoint(id=4, kind="EMAIL", due_at=now)]) == 1
    assert [h["argsrepr"] for h in queued_tasks()] == ["([4],)"]


def test_a_negative_window_is_refused_with_its_name(settings):
    settings.CONVEYOR_DELIVERY = {"enqueue_window": -0.02}
    with pytest.raises(ValueError, match="enqueue_window must be at least 0 seconds, got -0.02"):
        delivery.delivery_settings()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # what is tested here
def test_a_forked_process_starts_a_publisher_of_its_own():
    delivery._PUBLISHER.submit([], 0.0)  # the parent's publisher thread runs
    assert delivery.flush_enqueued(timeout=10)
    child = os.fork()
    if child == 0:  # the child: no thread of the parent's, nothing handed over, a working flush
        fresh = delivery._PUBLISHER._thread is None and delivery._PUBLISHER._handed == 0
        os._exit(0 if fresh and delivery.flush_enqueued(timeout=1) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert delivery._PUBLISHER._thread.is_alive()  # the parent's is untouched


def test_a_batch_task_delivers_each_touchpoint_it_names(knobs):
    from ..factories import profile, touchpoint

    first = touchpoint(profile("a@example.com"), "step_day7")
    second = touchpoint(profile("b@example.com"), "step_day7")
    untouched = touchpoint(profile("c@example.com"), "step_day7")
    assert tasks.deliver_touchpoints([first.id, second.id])["sent"] == 2
    statuses = dict(Touchpoint.objects.values_list("id", "status"))
    assert statuses == {first.id: "SENT", second.id: "SENT", untouched.id: "SCHEDULED"}


def test_periodic_tasks_are_registered_once_and_updated_in_place(settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    assert register_periodic_tasks() == [SWEEP, LAPSE_SCAN, WARM_CONSOLE]
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
    warm = PeriodicTask.objects.get(name=WARM_CONSOLE)
    assert warm.task == "saleor_conveyor.warm_console" and warm.interval.every == 240 and warm.expire_seconds == 240
    assert PeriodicTask.objects.filter(name__startswith="saleor_conveyor").count() == 3


def test_the_console_is_warmed_a_minute_before_its_figures_expire_and_at_most_each_minute(settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 90
    assert WARM_CONSOLE in register_periodic_tasks()
    assert PeriodicTask.objects.get(name=WARM_CONSOLE).interval.every == 60
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 600
    assert register_periodic_tasks() == [WARM_CONSOLE]
    warm = PeriodicTask.objects.get(name=WARM_CONSOLE)
    assert warm.interval.every == 540 and warm.expire_seconds == 540


def test_no_warming_row_when_the_console_keeps_no_figures(settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 0
    assert register_periodic_tasks() == [SWEEP, LAPSE_SCAN]
    assert not PeriodicTask.objects.filter(name=WARM_CONSOLE).exists()
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
