"""Recording one order through the conveyor service vs a bare ORM insert of one ledger row.

Run as `python -m benchmarks.record_order` (or `make bench`), on a database of its own
(conveyor_bench on DATABASE_URL's server, or BENCH_DATABASE_URL). Everything runs side by
side in one process, interleaved, in autocommit mode (each call pays its own commit), on the
same PostgreSQL. Reports medians, the time ratio, and SQL statements and round trips per order.
One connection serves the whole run, as a pooled or persistent one does in production: the
service's statements are prepared on it (sql.py), the ORM's are not (Django never prepares);
`CONVEYOR_PREPARED_STATEMENTS=0 make bench` measures without (the sandbox reads that variable).

`--variants` runs the service several ways in the same run, interleaved with each other and
with the bare insert (sql.py's settings, switched between calls):
    make bench BENCH_ARGS="--variants ours,pipeline,django-tx,libraries"
Targets (issue 2): at most 3x the bare insert, at most 8 SQL statements per recorded order.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from benchmarks._setup import django_on_bench_database, markdown_table

# Statements in one logged query: a batch joins several with "; " (EXECUTE: a prepared statement).
_STATEMENT = re.compile(r"(?:^|; )(?:SELECT|INSERT|UPDATE|DELETE|WITH|EXECUTE|BEGIN|COMMIT)\b")

# sql.py's ways: how a batch travels (CONVEYOR_SQL_BATCHING) and whose transaction (CONVEYOR_OWN_TRANSACTION).
VARIANTS = {
    "default": {},  # whatever the settings say
    "ours": {"CONVEYOR_SQL_BATCHING": "joined", "CONVEYOR_OWN_TRANSACTION": True},
    "pipeline": {"CONVEYOR_SQL_BATCHING": "pipeline", "CONVEYOR_OWN_TRANSACTION": True},
    "django-tx": {"CONVEYOR_SQL_BATCHING": "joined", "CONVEYOR_OWN_TRANSACTION": False},
    "libraries": {"CONVEYOR_SQL_BATCHING": "pipeline", "CONVEYOR_OWN_TRANSACTION": False},
}
BARE = "bare ORM insert of one ledger row (baseline)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=600, help="orders per scenario (default 600)")
    parser.add_argument(
        "--variants", default="default", help=f"comma-separated, of {', '.join(VARIANTS)} (default: default)"
    )
    args = parser.parse_args()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown or not variants:
        raise SystemExit(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    django_on_bench_database("conveyor_bench")
    from django.conf import settings

    # The service's own work is measured; handing near-due touchpoints to Celery after commit is not.
    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saleor_conveyor import conveyor
    from saleor_conveyor.events import Customer, OrderPlaced
    from saleor_conveyor.models import FanProfile, Purchase, Touchpoint

    run = uuid.uuid4().hex[:8]
    t0 = datetime.now(UTC)
    anchor = FanProfile.objects.create(email=f"bare-{run}@example.com")

    def switch(variant: str) -> None:
        for name, value in VARIANTS[variant].items():
            setattr(settings, name, value)

    def order(customer: Customer, n: int, at: datetime) -> OrderPlaced:
        return OrderPlaced(
            order_id=f"{run}-{customer.email}-{n}",
            customer=customer,
            channel="default-channel",
            currency="JPY",
            total=Decimal("12800"),
            placed_at=at,
            order_number=str(n),
        )

    # Each variant has customers of its own; returning ones get a history of four orders first (not timed).
    returning = {
        variant: [Customer(f"returning-{run}-{variant}-{n}@example.com") for n in range(args.rounds + 20)]
        for variant in variants
    }
    for variant in variants:
        switch(variant)
        for customer in returning[variant]:
            for n in range(4):
                conveyor.record_order_placed(order(customer, n, t0 - timedelta(days=40 - 7 * n)), now=t0)

    # Fresh statistics, as autovacuum keeps them on a live server (it is off on some machines, and
    # this database grows with every run): the service's reads are planned from them.
    with connection.cursor() as cursor:
        for model in (FanProfile, Purchase, Touchpoint):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

    def bare(i: int, variant: str) -> None:
        Purchase.objects.create(
            order_id=f"{run}-bare-{variant}-{i}",
            profile=anchor,
            channel="default-channel",
            currency="JPY",
            total_gross_amount=Decimal("12800"),
            placed_at=t0,
        )

    def new_customer(i: int, variant: str) -> None:
        conveyor.record_order_placed(order(Customer(f"new-{run}-{variant}-{i}@example.com"), 0, t0), now=t0)

    def returning_customer(i: int, variant: str) -> None:
        conveyor.record_order_placed(order(returning[variant][i], 9, t0), now=t0)

    scenarios = {
        "first order of a new customer": new_customer,
        "5th order of a returning customer": returning_customer,
        "the same order event again (duplicate)": returning_customer,
    }
    steps = [(BARE, variants[0], bare)] + [
        (name, variant, step) for name, step in scenarios.items() for variant in variants
    ]
    # Count statements and round trips on 20 rounds of their own (which also warm every path up),
    # so query logging does not touch the timings.
    statements = {(name, variant): 0 for name, variant, _ in steps}
    trips = dict(statements)
    for i in range(args.rounds, args.rounds + 20):
        for name, variant, step in steps:
            switch(variant)
            with CaptureQueriesContext(connection) as captured:
                step(i, variant)
            trips[name, variant] = max(trips[name, variant], len(captured))
            found = sum(len(_STATEMENT.findall(q["sql"])) for q in captured)
            statements[name, variant] = max(statements[name, variant], found)
    timings: dict[tuple[str, str], list[float]] = {(name, variant): [] for name, variant, _ in steps}
    for i in range(args.rounds):
        for name, variant, step in steps:  # interleaved: machine noise hits all alike
            switch(variant)
            started = time.perf_counter()
            step(i, variant)
            timings[name, variant].append(time.perf_counter() - started)

    baseline = statistics.median(timings[BARE, variants[0]])
    rows = []
    for name, variant, _ in steps:
        times = timings[name, variant]
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        label = name if name == BARE else f"service ({variant}): {name}" if len(variants) > 1 else f"service: {name}"
        rows.append(
            [
                label,
                f"{median * 1000:.3f}",
                f"{p90 * 1000:.3f}",
                f"{median / baseline:.2f}x",
                statements[name, variant],
                trips[name, variant],
            ]
        )
    print(
        f"Recording one order, {args.rounds} rounds each, interleaved, PostgreSQL "
        f"{connection.pg_version // 10000}, autocommit (each call pays its own commit)\n"
    )
    for variant in variants:
        if VARIANTS[variant]:
            print(f"- {variant}: " + ", ".join(f"{k}={v!r}" for k, v in VARIANTS[variant].items()))
    header = ["scenario", "median ms", "p90 ms", "vs bare insert", "SQL statements", "round trips"]
    print("\n" + markdown_table(header, rows))
    print("\nStatements and round trips include BEGIN and COMMIT; a batch sends several statements at once.")
    ok = True
    for variant in variants:
        mine = [(name, v) for name, v, _ in steps if v == variant and name != BARE]
        worst = max(statistics.median(timings[key]) / baseline for key in mine)
        most = max(statements[key] for key in mine)
        met = worst <= 3 and most <= 8
        ok = ok and met
        print(
            f"Targets ({variant}): <= 3x the bare insert (worst {worst:.2f}x), <= 8 SQL statements per order "
            f"(most {most}): {'met' if met else 'NOT met'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
