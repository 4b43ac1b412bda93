"""Recording one order through the conveyor service vs a bare ORM insert of one ledger row.

Run as `python -m benchmarks.record_order` (or `make bench`). Both run side by side in one
process, interleaved, in autocommit mode (each pays its own commit), on the same
PostgreSQL. Reports medians, the time ratio, and SQL statements and round trips per order.
One connection serves the whole run, as a pooled or persistent one does in production: the
service's statements are prepared on it (sql.py), the ORM's are not (Django never prepares);
`CONVEYOR_PREPARED_STATEMENTS=0 make bench` measures without (the sandbox reads that variable).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=600, help="orders per scenario (default 600)")
    args = parser.parse_args()
    django_on_bench_database()
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
    returning = [Customer(f"returning-{run}-{n}@example.com") for n in range(args.rounds + 20)]

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

    # Returning customers get a history of four orders first (not timed).
    for customer in returning:
        for n in range(4):
            conveyor.record_order_placed(order(customer, n, t0 - timedelta(days=40 - 7 * n)), now=t0)

    # Fresh statistics, as autovacuum keeps them on a live server (it is off on some machines, and
    # this database grows with every run): the service's reads are planned from them.
    with connection.cursor() as cursor:
        for model in (FanProfile, Purchase, Touchpoint):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

    def bare(i: int) -> None:
        Purchase.objects.create(
            order_id=f"{run}-bare-{i}",
            profile=anchor,
            channel="default-channel",
            currency="JPY",
            total_gross_amount=Decimal("12800"),
            placed_at=t0,
        )

    def new_customer(i: int) -> None:
        conveyor.record_order_placed(order(Customer(f"new-{run}-{i}@example.com"), 0, t0), now=t0)

    def returning_customer(i: int) -> None:
        conveyor.record_order_placed(order(returning[i], 9, t0), now=t0)

    def duplicate(i: int) -> None:
        conveyor.record_order_placed(order(returning[i], 9, t0), now=t0)

    scenarios = {
        "bare ORM insert of one ledger row (baseline)": bare,
        "service: first order of a new customer": new_customer,
        "service: 5th order of a returning customer": returning_customer,
        "service: the same order event again (duplicate)": duplicate,
    }
    # Count statements and round trips on 20 rounds of their own (which also warm every path up),
    # so query logging does not touch the timings.
    statements: dict[str, int] = dict.fromkeys(scenarios, 0)
    trips: dict[str, int] = dict.fromkeys(scenarios, 0)
    for i in range(args.rounds, args.rounds + 20):
        for name, step in scenarios.items():
            with CaptureQueriesContext(connection) as captured:
                step(i)
            trips[name] = max(trips[name], len(captured))
            statements[name] = max(statements[name], sum(len(_STATEMENT.findall(q["sql"])) for q in captured))
    timings: dict[str, list[float]] = {name: [] for name in scenarios}
    for i in range(args.rounds):
        for name, step in scenarios.items():  # interleaved: machine noise hits all alike
            started = time.perf_counter()
            step(i)
            timings[name].append(time.perf_counter() - started)

    baseline = statistics.median(timings["bare ORM insert of one ledger row (baseline)"])
    rows = []
    for name in scenarios:
        median = statistics.median(timings[name])
        p90 = statistics.quantiles(timings[name], n=10)[-1]
        ratio = f"{median / baseline:.2f}x"
        rows.append([name, f"{median * 1000:.3f}", f"{p90 * 1000:.3f}", ratio, statements[name], trips[name]])
    print(
        f"Recording one order, {args.rounds} rounds each, interleaved, PostgreSQL "
        f"{connection.pg_version // 10000}, autocommit (each call pays its own commit)\n"
    )
    header = ["scenario", "median ms", "p90 ms", "vs bare insert", "SQL statements", "round trips"]
    print(markdown_table(header, rows))
    print("\nStatements and round trips include BEGIN and COMMIT; a batch sends several statements at once.")
    worst = max(statistics.median(timings[name]) / baseline for name in scenarios)
    most = max(statements.values())
    ok = worst <= 3 and most <= 8
    print(
        f"\nTargets: <= 3x the bare insert (worst {worst:.2f}x), <= 8 SQL statements per order (most {most}): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
