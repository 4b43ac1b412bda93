"""The conveyor's periodic tasks as django-celery-beat rows (Saleor has no plugin API for beat)."""

from __future__ import annotations

from datetime import timedelta

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from . import conf
from .delivery import delivery_settings
from .hosts import get_config

SWEEP = "saleor_conveyor: deliver due touchpoints"
LAPSE_SCAN = "saleor_conveyor: daily lapse scan"
WARM_CONSOLE = "saleor_conveyor: keep the console's figures warm"


def register_periodic_tasks(*, sweep_every: timedelta | None = None, lapse_scan_hour: int | None = None) -> list[str]:
    """Create or update the sweep, the daily lapse scan and (console figures kept) their warming; disabled stays so."""
    knobs = delivery_settings()
    every = max(1, int((sweep_every or knobs.sweep_every).total_seconds()))
    hour = knobs.lapse_scan_hour if lapse_scan_hour is None else lapse_scan_hour
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=str(hour), day_of_week="*", day_of_month="*", month_of_year="*", timezone=get_config().zone
    )
    rows = [
        (SWEEP, "saleor_conveyor.sweep_due", {"interval": interval, "crontab": None}, "Every minute by default"),
        (LAPSE_SCAN, "saleor_conveyor.scan_lapsed", {"interval": None, "crontab": crontab}, "Daily, shop time"),
    ]
    expiring = {SWEEP: every}
    if conf.CONSOLE_CACHE_SECONDS:
        # Warmed a minute before the kept figures expire; a late run is pointless once the next is due.
        warm_every = max(60, conf.CONSOLE_CACHE_SECONDS - 60)
        warm, _ = IntervalSchedule.objects.get_or_create(every=warm_every, period=IntervalSchedule.SECONDS)
        rows.append(
            (
                WARM_CONSOLE,
                "saleor_conveyor.warm_console",
                {"interval": warm, "crontab": None},
                "The console overview's default figures, before they expire",
            )
        )
        expiring[WARM_CONSOLE] = warm_every
    changed = []
    for name, task, schedule, description in rows:
        # A sweep that could not run within one interval is pointless once the next is due.
        values = {"task": task, "description": description, "expires": None, "one_off": False, **schedule}
        if name in expiring:
            values["expire_seconds"] = expiring[name]
        periodic, created = PeriodicTask.objects.get_or_create(name=name, defaults={**values, "enabled": True})
        if created:
            changed.append(name)
            continue
        stale = {key: value for key, value in values.items() if getattr(periodic, key) != value}
        if stale:
            for key, value in stale.items():
                setattr(periodic, key, value)
            periodic.save()
            changed.append(name)
    return changed
