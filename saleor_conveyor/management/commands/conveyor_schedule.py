"""`manage.py conveyor_schedule`: register the conveyor's periodic tasks with django-celery-beat."""

from django.core.management.base import BaseCommand

from saleor_conveyor.beat import register_periodic_tasks


class Command(BaseCommand):
    help = "Create or update the conveyor's periodic tasks (delivery sweep, daily lapse scan) as beat rows."

    def handle(self, *args, **options) -> None:
        changed = register_periodic_tasks()
        if changed:
            for name in changed:
                self.stdout.write(f"registered: {name}")
        else:
            self.stdout.write("periodic tasks are up to date")
