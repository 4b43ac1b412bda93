"""The periodic sweep reaches Saleor's beat scheduler without the shop editing Saleor's settings."""

from __future__ import annotations

from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from saleor.schedulers.models import CustomPeriodicTask

from saleor_conveyor.beat import LAPSE_SCAN, SWEEP, WARM_CONSOLE


def seen_by_saleor_beat() -> set[str]:
    """What `saleor.schedulers.schedulers.DatabaseScheduler` loads (its Model is CustomPeriodicTask)."""
    return set(CustomPeriodicTask.objects.enabled().values_list("name", flat=True))


def test_migrate_registers_the_sweep_and_lapse_scan_where_saleors_beat_sees_them(db):
    PeriodicTask.objects.filter(name__in=[SWEEP, LAPSE_SCAN]).delete()
    assert not {SWEEP, LAPSE_SCAN} & seen_by_saleor_beat()

    call_command("migrate", "saleor_conveyor", verbosity=0)

    assert {SWEEP, LAPSE_SCAN} <= seen_by_saleor_beat()
    sweep = CustomPeriodicTask.objects.get(name=SWEEP)
    assert sweep.task == "saleor_conveyor.sweep_due" and sweep.interval is not None


def test_conveyor_schedule_in_saleor_also_makes_rows_saleors_beat_sees(db):
    PeriodicTask.objects.filter(name__in=[SWEEP, LAPSE_SCAN]).delete()

    call_command("conveyor_schedule", verbosity=0)

    assert {SWEEP, LAPSE_SCAN} <= seen_by_saleor_beat()


def test_a_task_staff_disabled_stays_disabled_after_the_next_migrate(db):
    call_command("migrate", "saleor_conveyor", verbosity=0)
    PeriodicTask.objects.filter(name=SWEEP).update(enabled=False)

    call_command("migrate", "saleor_conveyor", verbosity=0)

    assert SWEEP not in seen_by_saleor_beat() and LAPSE_SCAN in seen_by_saleor_beat()


def test_migrate_registers_the_console_warming_where_saleors_beat_sees_it(db):
    PeriodicTask.objects.filter(name=WARM_CONSOLE).delete()

    call_command("migrate", "saleor_conveyor", verbosity=0)

    assert WARM_CONSOLE in seen_by_saleor_beat()  # CONVEYOR_CONSOLE_CACHE_SECONDS is its default, 300, here
    assert CustomPeriodicTask.objects.get(name=WARM_CONSOLE).task == "saleor_conveyor.warm_console"
