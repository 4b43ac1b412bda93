"""The conveyor's beat rows in the form Saleor's beat scheduler reads (on top of `beat.py`'s rows)."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from saleor.schedulers.models import CustomPeriodicTask

from ..beat import LAPSE_SCAN, SWEEP, WARM_CONSOLE
from ..beat import register_periodic_tasks as register

logger = logging.getLogger(__name__)


def register_periodic_tasks() -> list[str]:
    """The conveyor's beat rows, in the form Saleor's beat scheduler reads.

    Saleor runs beat with `saleor.schedulers.schedulers.DatabaseScheduler`, which only sees
    `CustomPeriodicTask` rows (a multi-table child of django-celery-beat's PeriodicTask), so
    each of our rows gets its child row too. Never raises: a failure must not stop `migrate`.
    """
    try:
        with transaction.atomic():
            changed = register()
            ids = list(
                PeriodicTask.objects.filter(name__in=[SWEEP, LAPSE_SCAN, WARM_CONSOLE]).values_list("id", flat=True)
            )
            table = connection.ops.quote_name(CustomPeriodicTask._meta.db_table)
            pointer = connection.ops.quote_name(CustomPeriodicTask._meta.pk.column)
            with connection.cursor() as cursor:
                for task_id in ids:
                    cursor.execute(
                        f"INSERT INTO {table} ({pointer}, custom_id) VALUES (%s, NULL) ON CONFLICT DO NOTHING",
                        [task_id],
                    )
            PeriodicTasks.update_changed()
        return changed
    except Exception:
        logger.exception("conveyor: could not register the periodic tasks; run `manage.py conveyor_schedule`")
        return []
