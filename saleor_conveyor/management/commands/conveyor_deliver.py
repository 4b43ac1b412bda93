"""`manage.py conveyor_deliver`: run one delivery sweep now, without Celery (operators, cron, debugging)."""

from django.core.management.base import BaseCommand

from saleor_conveyor.delivery import sweep


class Command(BaseCommand):
    help = "Deliver every due touchpoint now (the same sweep the periodic task runs) and print what happened."

    def handle(self, *args, **options) -> None:
        report = sweep()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in report.as_dict().items()))
