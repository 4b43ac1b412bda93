"""rulePerformance, stageFlow and cohorts on a generated shop: time (median) and SQL statements per call.

Run as `python -m benchmarks.measures` (or `make bench-measures`), on a database of its own
(conveyor_bench_measures on DATABASE_URL's server, or BENCH_DATABASE_URL). For each size it
empties the conveyor's tables, writes the shop with COPY (customers, three orders each on
average over two years, fan-survey answers, touchpoints of two rules run against a 20% holdout
and one without), VACUUMs and ANALYZEs (as autovacuum leaves a running shop's tables), then
calls each measure as the GraphQL resolvers do (one year's window) several times. Target
(issue 14): each under a second at 100,000 customers and 300,000 orders, with the same
statement count at every size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from benchmarks._setup import django_on_bench_database, markdown_table

END = datetime(2026, 6, 1, tzinfo=UTC)
START = END - timedelta(days=730)
SEGMENTS = ["LOW/LOW", "LOW/MID", "MID/MID", "HIGH/MID", "HIGH/HIGH", "MID/LOW", "MID/HIGH"]


def generate(customers: int, orders: int, seed: int = 1) -> None:
    """Empty the conveyor's tables and COPY a shop of this size into them."""
    from django.db import connection

    from saleor_conveyor.models import FanProfile, FanSurveyResponse, Purchase, Touchpoint

    rng = random.Random(seed)
    tables = [m._meta.db_table for m in (Touchpoint, FanSurveyResponse, Purchase, FanProfile)]
    span = (END - START).total_seconds()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        raw = cursor.cursor
        with raw.copy(f"COPY {FanProfile._meta.db_table} (id, email) FROM STDIN") as copy:
            for n in range(1, customers + 1):
                copy.write_row((n, f"bench{n}@example.jp"))
        # Orders: each customer's first, the rest spread at random (three per customer on average).
        owners = list(range(1, customers + 1)) + [rng.randint(1, customers) for _ in range(orders - customers)]
        firsts: dict[int, datetime] = {}
        columns = (
            "order_id, order_number, profile_id, channel, currency, total_gross_amount, used_voucher, used_sale,"
            " used_campaign, placed_at, cancelled_at, returned_at, recorded_at"
        )
        with raw.copy(f"COPY {Purchase._meta.db_table} ({columns}) FROM STDIN") as copy:
            for number, owner in enumerate(owners, 1):
                placed = START + timedelta(seconds=rng.uniform(0, span))
                firsts[owner] = min(firsts.get(owner, placed), placed)
                cancelled = placed + timedelta(hours=2) if rng.random() < 0.03 else None
                copy.write_row(
                    (
                        f"o{number}",
                        str(number),
                        owner,
                        "default-channel",
                        "JPY",
                        Decimal(rng.randrange(1000, 30000, 10)),
                        False,
                        rng.random() < 0.3,
                        False,
                        placed,
                        cancelled,
                        None,
                        END,
                    )
                )
        columns = "profile_id, occasion, fan_degree, liking, segment, comment, created_at"
        with raw.copy(f"COPY {FanSurveyResponse._meta.db_table} ({columns}) FROM STDIN") as copy:
            for owner, first in firsts.items():
                if rng.random() < 0.3:
                    at = first + timedelta(days=rng.uniform(21, 60))
                    copy.write_row((owner, f"w{owner}", "NEW_FAN", "LIKE", rng.choice(SEGMENTS), "", at))
        columns = (
            "profile_id, rule, key, kind, status, planned_at, due_at, marketing, attempts, outcome, detail,"
            " experiment, variant, created_at, updated_at"
        )
        with raw.copy(f"COPY {Touchpoint._meta.db_table} ({columns}) FROM STDIN") as copy:
            for owner, first in firsts.items():
                for rule, days, holdout in (("step_day3", 3, 0.0), ("step_day7", 7, 0.2), ("step_day14", 14, 0.2)):
                    due = first + timedelta(days=days)
                    held = rng.random() < holdout
                    status, outcome = ("SKIPPED", "holdout") if held else ("SENT", "")
                    experiment = "bench-1" if holdout else ""
                    copy.write_row(
                        (owner, rule, rule, "EMAIL", status, due, due, True, 0, outcome, "", experiment, "", END, END)
                    )
        # VACUUM as well: a shop's tables have the visibility map autovacuum keeps, so the measures' index-only
        # scans (migration 0010) skip the heap; a table just written by COPY has none yet.
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")


def measure(runs: int) -> dict[str, tuple[float, int, int]]:
    """Median seconds, statements per call and rows answered, per measure."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saleor_conveyor import measures
    from saleor_conveyor.stats import StatsWindow

    window = StatsWindow(since=END - timedelta(days=365), until=END, channel=None, zone="Asia/Tokyo")
    calls = {
        "rulePerformance": lambda: measures.rule_performance(window, within_days=30, now=END),
        "stageFlow": lambda: measures.stage_flow(window),
        "cohorts": lambda: measures.cohorts(window),
    }
    results = {}
    for name, call in calls.items():
        call()  # warm: plans, caches
        timings = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                answer = call()
                timings.append(time.perf_counter() - started)
        results[name] = (statistics.median(timings), len(queries), len(answer))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:30000,100000:300000", help="customers:orders, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="calls per measure and size (median; default 5)")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in size.split(":")) for size in args.sizes.split(",")]
    django_on_bench_database("conveyor_bench_measures")
    rows, by_size = [], []
    for customers, orders in sizes:
        started = time.perf_counter()
        generate(customers, orders)
        print(f"generated {customers:,} customers, {orders:,} orders in {time.perf_counter() - started:.1f}s")
        results = measure(args.runs)
        by_size.append(results)
        for name, (seconds, statements, answered) in results.items():
            rows.append([name, f"{customers:,}", f"{orders:,}", f"{seconds * 1000:.0f} ms", statements, answered])
    print(markdown_table(["measure", "customers", "orders", "median", "SQL statements", "rows answered"], rows))
    if len(by_size) > 1:
        growth = [
            f"{name} x{by_size[-1][name][0] / by_size[0][name][0]:.1f}" for name in by_size[0] if by_size[0][name][0]
        ]
        print(f"time from the smallest to the largest size: {', '.join(growth)}")
    last = by_size[-1]
    slow = [name for name, (seconds, _, _) in last.items() if seconds >= 1]
    same = all(by_size[0][name][1] == last[name][1] for name in last)
    print(
        ("every measure under a second" if not slow else f"over a second: {', '.join(slow)}") + " at the largest size;"
    )
    print("statement counts the same at every size" if same else "statement counts differ between sizes")
    return 0 if not slow and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
