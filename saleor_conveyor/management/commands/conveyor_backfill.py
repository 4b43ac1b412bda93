"""`python manage.py conveyor_backfill`: put a shop's existing Saleor orders on the conveyor."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ...hosts import get_host
from ...saleor.backfill import run_backfill
from ...sql import analyze_conveyor_tables


def _since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r} is not a date like 2024-01-31 or 2024-01-31T09:00+09:00")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Read Saleor's existing orders and build the conveyor's purchase ledger and fan profiles, so loyal "
        "customers are not treated as first-time buyers. Touchpoints whose time has passed are recorded as "
        "skipped, never sent. Stop it any time: a rerun resumes where it stopped and counts nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_since, help="only orders placed on or after this date")
        parser.add_argument("--dry-run", action="store_true", help="print what would be scheduled; write nothing")
        parser.add_argument("--batch-size", type=int, default=1000, help="orders per batch (default 1000)")
        parser.add_argument("--restart", action="store_true", help="ignore the checkpoint and read every order again")

    def handle(self, *args: Any, **options: Any) -> None:
        if "saleor.order" not in settings.INSTALLED_APPS:
            raise CommandError(
                "conveyor_backfill reads Saleor's orders; run it in the Saleor project (saleor manage.py)."
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more")
        dry_run = options["dry_run"]

        def report(progress: Any) -> None:
            self.stderr.write(f"\rbackfill: {progress.line()}  ", ending="")
            self.stderr.flush()

        with get_host().writer():  # Saleor's allow_writer(): the backfill writes
            result = run_backfill(
                since=options["since"],
                batch_size=options["batch_size"],
                dry_run=dry_run,
                restart=options["restart"],
                report=report,
            )
            if not dry_run and result.recorded:
                analyze_conveyor_tables()  # the planner sees the history just written (the writer's database)
        self.stderr.write("")
        verb = "would record" if dry_run else "recorded"
        self.stdout.write(
            f"{'DRY RUN, nothing written: ' if dry_run else ''}{result.orders:,} orders read, {verb} "
            f"{result.recorded:,} ({result.unchanged:,} already on the conveyor), "
            f"{result.profiles_created:,} new fan profiles."
        )
        rules = sorted(set(result.scheduled) | set(result.skipped) | set(result.cancelled))
        if rules:
            self.stdout.write(f"{'rule':<20} {'scheduled':>10} {'skipped (past)':>15} {'cancelled':>10}")
            for rule in rules:
                counts = (result.scheduled[rule], result.skipped[rule], result.cancelled[rule])
                self.stdout.write(f"{rule:<20} {counts[0]:>10,} {counts[1]:>15,} {counts[2]:>10,}")
        if dry_run and result.upcoming:
            self.stdout.write("Would schedule:")
            for email, rule, due_at in sorted(result.upcoming, key=lambda item: item[2]):
                self.stdout.write(f"  {due_at:%Y-%m-%d %H:%M} {rule:<20} {email}")
        for problem in result.rejected:
            self.stderr.write(f"not recorded: {problem}")
