"""`manage.py conveyor_schedule`: register the conveyor's periodic tasks with django-celery-beat."""

from django.conf import settings
from django.core.management.base import BaseCommand

from saleor_conveyor.beat import register_periodic_tasks


class Command(BaseCommand):
    help = "Create or update the conveyor's periodic tasks (delivery sweep, daily lapse scan) as beat rows."

    def handle(self, *args, **options) -> None:
        if "saleor.plugins" in settings.INSTALLED_APPS:
            # Saleor's beat scheduler reads its own CustomPeriodicTask rows; `migrate` does this too.
            # Imported only here: that module imports Saleor, which the sandbox does not have.
            from saleor_conveyor.saleor.beat import register_periodic_tasks as register_for_saleor

            changed = register_for_saleor()
        else:
            changed = register_periodic_tasks()
        if changed:
            for name in changed:
                self.stdout.write(f"registered: {name}")
        else:
            self.stdout.write("periodic tasks are up to date")
