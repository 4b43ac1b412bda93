"""`manage.py conveyor_rebuild`: apply a changed rule book to every customer's outbox."""

import time

from django.core.management.base import BaseCommand, CommandParser

from saleor_conveyor import conveyor
from saleor_conveyor.models import FanProfile


class Command(BaseCommand):
    help = (
        "Replans every customer's touchpoints with the rule book in force: new rules schedule, changed delays "
        "move what has not gone out, switched-off rules cancel it. Sent touchpoints are never touched; "
        "safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="profiles per progress line (default 500)")

    def handle(self, *args, batch_size: int, **options) -> None:
        ids = list(FanProfile.objects.order_by("id").values_list("id", flat=True))
        started, scheduled, cancelled = time.monotonic(), 0, 0
        for done, profile_id in enumerate(ids, start=1):
            result = conveyor.rebuild_profile(profile_id)
            scheduled += len(result.scheduled)
            cancelled += len(result.cancelled)
            if done % max(batch_size, 1) == 0 or done == len(ids):
                rate = done / max(time.monotonic() - started, 1e-9)
                self.stderr.write(f"{done:,}/{len(ids):,} customers  {rate:,.0f}/s")
        self.stdout.write(
            f"Rebuilt {len(ids):,} customers: {scheduled:,} touchpoints scheduled or moved, {cancelled:,} cancelled."
        )
