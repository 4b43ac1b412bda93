"""`manage.py conveyor_demo`: seed a synthetic shop, run the conveyor over simulated time, summarize."""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.test import override_settings

from saleor_conveyor.hosts import get_config
from saleor_conveyor.sql import analyze_conveyor_tables
from sandbox.demo.links import example_links
from sandbox.demo.simulation import DEMO_EFFECTS, Simulation, demo_rule_book, summary


class Command(BaseCommand):
    help = "Seeds a synthetic shop in the sandbox database and runs the conveyor over six simulated months."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=3000, help="how many customers (default 3000)")
        parser.add_argument("--days", type=int, default=180, help="simulated days (default 180, six months)")
        parser.add_argument("--seed", type=int, default=42, help="random seed, for a repeatable shop")

    def handle(self, *args, customers: int, days: int, seed: int, **options) -> None:
        if customers < 1 or days < 1:
            self.stderr.write("--customers and --days must be at least 1")
            sys.exit(2)
        # Simulated time: delivery is simulated too, so nothing is published to the Celery broker.
        settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}
        # Two rules run against 30% holdouts, one with a planted effect, so the summary can measure them.
        with override_settings(CONVEYOR={**getattr(settings, "CONVEYOR", {}), "rule_book": demo_rule_book()}):
            self._run(customers, days, seed)

    def _forget_kept_figures(self) -> None:
        """The console's figures kept in the sandbox's cache (Redis database 1, its own: clear() empties the whole
        database) are of the shop before this run."""
        from django.core.cache import cache

        try:
            cache.clear()
        except Exception as error:  # a Redis that is down: `make serve` needs it, the demo does not
            self.stderr.write(f"(the console's kept figures could not be cleared: {error})")

    def _run(self, customers: int, days: int, seed: int) -> None:
        started = time.monotonic()
        simulation = Simulation(customers=customers, days=days, seed=seed, effects=DEMO_EFFECTS)
        self.stderr.write("Resetting the sandbox shop and seeding customers...")
        simulation.reset()
        simulation.populate()
        self.stderr.write(f"{customers:,} customers with {simulation.orders:,} orders to replay over {days} days.")

        live = self.stderr.isatty()

        def progress(day: int, total: int, counts: dict[str, int]) -> None:
            if day % (5 if live else 30) and day != total:
                return
            width = 30
            done = int(width * day / total)
            elapsed = time.monotonic() - started
            self.stderr.write(
                f"{'\r' if live else ''}[{'#' * done}{'.' * (width - done)}] day {day}/{total}  "
                f"orders {counts['orders']:,}  survey answers {counts['answers']:,}  {elapsed:.0f}s",
                ending="" if live else "\n",
            )
            self.stderr.flush()

        result = simulation.run(progress)
        analyze_conveyor_tables()  # half a year of history just written: the console's plans need its statistics
        self._forget_kept_figures()  # after the run: a worker may have kept figures of the half-built shop
        self.stderr.write("")
        self.stdout.write("")
        config = get_config()
        self.stdout.write(summary(result, lapse_days=config.lapse_days, zone=config.time_zone))
        self.stdout.write("")
        self.stdout.write("Customer pages: start the sandbox with `make serve` (another terminal), then open")
        self.stdout.write("(the showcase customer Hanako's links, signed like her emails' links):")
        for label, url in example_links():
            self.stdout.write(f"  {label}:\n    {url}")
        self.stderr.write(f"Done in {time.monotonic() - started:.0f}s.")
