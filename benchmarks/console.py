"""The staff console's pages on a generated shop: server time (median) and SQL statements per page.

Run as `python -m benchmarks.console` (or `make bench-console`), on a database of its own
(conveyor_bench_console on DATABASE_URL's server, or BENCH_DATABASE_URL). For each size it writes
the shop with benchmarks/measures.py's generator (customers, three orders each on average over two
years, fan-survey answers, touchpoints with holdouts), adds what the console shows beyond it (stages,
engagement cells, shipments, NPS answers), VACUUMs and ANALYZEs, empties Django's cache, then asks each
page in PAGES through Django's test client as a staff member holding MANAGE_ORDERS and MANAGE_USERS
(one request first, then the measured ones). Target (issue 15): each page under a second at 100,000
customers and 300,000 orders, with the same statement count at every size. The overview keeps its
figures for CONVEYOR_CONSOLE_CACHE_SECONDS (300 by default; "figures as of HH:MM"), so "overview" is
the page as staff mostly get it (kept figures) and "overview, refreshed" (`?refresh=1`, the page's
refresh link) computes every figure on each request: what the first visitor of a window waits for.
A page is added by appending (name, path) to PAGES (or with --page name=path).

Where a Celery worker can be asked (CONVEYOR_DELIVERY["enqueue"], a shop's normal set-up), a window not kept
or a refresh is computed by the worker while the page answers at once (console.overview.ask_worker). The
rows above measure the page without a worker (it computes the figures itself: the fallback, and what
`enqueue: False` gets); WORKER_PAGES are then measured with a real Celery worker started in this process
on a Redis queue of the benchmark's own (BENCH_BROKER_URL, default redis://127.0.0.1:6379/14): how long the
page takes to answer, and how long until the worker's figures are kept (the page polled every 20 ms instead
of its 2 seconds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from benchmarks._setup import django_on_bench_database, markdown_table
from benchmarks.measures import END, generate

# (name, path below the sandbox's root) of every console page measured; other pages append theirs.
PAGES: list[tuple[str, str]] = [
    ("overview", "/console/overview/"),
    ("overview, refreshed", "/console/overview/?refresh=1"),
    ("overview, one year", "/console/overview/?since=2025-06-01&until=2026-05-31"),
    ("overview, one year, refreshed", "/console/overview/?since=2025-06-01&until=2026-05-31&refresh=1"),
    ("overview CSV (cohorts)", "/console/overview/csv/?part=cohorts"),
    ("customers", "/console/customers/"),
    ("customers, loyal and lapsed, page 3", "/console/customers/?stage=LOYAL&lapsed=yes&page=3"),
    ("customers, search", "/console/customers/?q=customer4"),
    ("a customer's timeline", "/console/customers/{customer}/"),
]


def enrich(seed: int = 1) -> None:
    """What the console shows beyond the measures' shop: each profile's stage and engagement cell as the
    service keeps them, first shipments (hours after the order) and NPS answers for a third of the orders."""
    from django.db import connection

    from saleor_conveyor.models import FanProfile, FanSurveyResponse, FollowUp, NpsResponse, Purchase

    profiles, purchases = FanProfile._meta.db_table, Purchase._meta.db_table
    surveys, answers = FanSurveyResponse._meta.db_table, NpsResponse._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setseed({1 / (seed + 1)})")
        cursor.execute(f"TRUNCATE {answers}, {FollowUp._meta.db_table} RESTART IDENTITY")  # follow-ups name answers
        cursor.execute(
            f"UPDATE {profiles} p SET stage = CASE WHEN c.n = 1 THEN 'FIRST_TIME' WHEN c.sale THEN 'CAMPAIGN_ONLY'"
            f" WHEN c.n >= 3 THEN 'LOYAL' ELSE 'SECOND_TIME' END"
            f" FROM (SELECT profile_id, COUNT(*) AS n, bool_and(used_sale) AS sale FROM {purchases}"
            f" WHERE cancelled_at IS NULL GROUP BY profile_id) c WHERE c.profile_id = p.id"
        )
        cursor.execute(f"UPDATE {profiles} p SET segment = s.segment FROM {surveys} s WHERE s.profile_id = p.id")
        cursor.execute(
            f"UPDATE {purchases} SET fulfilled_at = placed_at + (2 + random() * 70) * INTERVAL '1 hour'"
            f" WHERE cancelled_at IS NULL AND placed_at < %s",
            [END],
        )
        cursor.execute(
            f"INSERT INTO {answers} (profile_id, order_id, occasion, channel, score, comment, created_at)"
            f" SELECT profile_id, order_id, 'order:' || order_id, channel, floor(random() * 11)::int, '',"
            f" placed_at + INTERVAL '10 days' FROM {purchases} WHERE random() < 0.33 AND placed_at < %s",
            [END - timedelta(days=10)],
        )
        cursor.execute(f"VACUUM ANALYZE {profiles}, {purchases}, {answers}")


def staff_client():
    """Django's test client signed in as a staff member who may see every console page."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    from saleor_conveyor.console import auth

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff@example.com", defaults={"email": "bench-staff@example.com", "is_staff": True}
    )
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=("conveyor_manage_orders", "conveyor_manage_users"))
    )
    client = Client()
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return client


def busiest_customer() -> int:
    """The profile with the most purchases: the longest timeline a customer page shows."""
    from saleor_conveyor.models import FanProfile

    return FanProfile.objects.order_by("-purchase_count", "pk").values_list("pk", flat=True).first() or 0


# (name, path) of the overview windows computed by a worker: a refresh of the kept default window, and a
# window opened for the first time (nothing kept for it).
WORKER_PAGES: list[tuple[str, str]] = [
    ("overview, refreshed", "/console/overview/?refresh=1"),
    ("overview, one year, first visit", "/console/overview/?since=2025-06-01&until=2026-05-31"),
]


# PAGES whose figures a worker computes where there is one (WORKER_PAGES measures them that way).
WORKER_COMPUTES = {"overview, refreshed", "overview, one year, refreshed"}


class Statements:
    """Counts the SQL statements of every connection, the request's and those the overview opens for its figures
    (CONVEYOR_CONSOLE_CONNECTIONS): Django's CaptureQueriesContext sees only this thread's."""

    def __init__(self) -> None:
        import threading

        from django.db import connection
        from django.db.backends.signals import connection_created

        self.count, self._lock = 0, threading.Lock()
        connection.execute_wrappers.append(self)
        connection_created.connect(self._created, weak=False)

    def _created(self, sender, connection, **kwargs) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)


def measure(pages: list[tuple[str, str]], runs: int) -> dict[str, tuple[float, int, int]]:
    """Median seconds, SQL statements and response bytes, per page."""
    from freezegun import freeze_time

    results = {}
    counted = Statements()
    # The generated shop ends at END: "now" is its last day (psycopg's own clock is left alone: its connect timeout).
    with freeze_time(END, tick=True, ignore=["psycopg"]):
        client = staff_client()
        customer = busiest_customer()
        for name, path in pages:
            path = path.replace("{customer}", str(customer))
            warm = client.get(path)  # plans, caches, templates
            if warm.status_code != 200:
                raise SystemExit(f"{name}: {path} answered {warm.status_code}")
            timings, statements = [], 0
            for _ in range(runs):
                before = counted.count
                started = time.perf_counter()
                response = client.get(path)
                timings.append(time.perf_counter() - started)
                statements = counted.count - before
            results[name] = (statistics.median(timings), statements, len(response.content))
    return results


def measure_with_worker(pages: list[tuple[str, str]], runs: int) -> dict[str, tuple[float, float, int]]:
    """Per window computed by a worker: median seconds until the page answered (a refresh: its 303 and the
    page it leads to), median seconds until the worker's figures were kept, and SQL statements of the answer
    (the request's connection; the worker's are its own)."""
    import os
    import re

    from celery.contrib.testing.worker import start_worker
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from freezegun import freeze_time

    from saleor_conveyor.console import overview
    from saleor_conveyor.hosts import get_host

    def waiting(body: str) -> bool:  # the page says the worker's figures are still to come
        return "data-computing" in body or "data-updating" in body

    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": True}
    app = get_host().celery_app()
    app.conf.broker_url = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    results = {}
    with freeze_time(END, tick=True, ignore=["psycopg"]), start_worker(app, pool="threads", perform_ping_check=False):
        client = staff_client()
        for name, path in pages:
            answered, kept, statements = [], [], 0
            for _ in range(runs):
                cache.clear()
                overview.warm_default_figures()  # the default window is kept, as the beat task keeps it
                started = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:  # the request's, not the worker's
                    response = client.get(path)
                    if response.status_code == 303:  # a refresh: the kept figures, marked as being updated
                        response = client.get(response["Location"])
                answered.append(time.perf_counter() - started)
                statements = len(queries)
                body = response.content.decode()
                if not waiting(body):
                    raise SystemExit(f"{name}: the page did not hand its figures to the worker")
                follow = re.search(r'url=([^"]+)">', body).group(1).replace("&amp;", "&")
                while True:
                    body = client.get(follow).content.decode()
                    if not waiting(body):
                        break
                    if time.perf_counter() - started > 120:
                        raise SystemExit(f"{name}: the worker kept no figures within 2 minutes")
                    time.sleep(0.02)
                kept.append(time.perf_counter() - started)
            results[name] = (statistics.median(answered), statistics.median(kept), statements)
    settings.CONVEYOR_DELIVERY = {**settings.CONVEYOR_DELIVERY, "enqueue": False}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:30000,100000:300000", help="customers:orders, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="requests per page and size (median; default 5)")
    parser.add_argument("--page", action="append", default=[], help="name=path of another page to measure")
    parser.add_argument(
        "--connections", type=int, help="CONVEYOR_CONSOLE_CONNECTIONS for the overview's figures (default: the setting)"
    )
    parser.add_argument("--no-worker", action="store_true", help="measure only the pages without a Celery worker")
    args = parser.parse_args()
    pages = PAGES + [tuple(page.split("=", 1)) for page in args.page]  # type: ignore[misc]
    sizes = [tuple(int(n) for n in size.split(":")) for size in args.sizes.split(",")]
    django_on_bench_database("conveyor_bench_console")
    from django.conf import settings

    if args.connections:
        settings.CONVEYOR_CONSOLE_CONNECTIONS = args.connections
    rows, by_size, worker_rows, worker_by_size = [], [], [], []
    for customers, orders in sizes:
        started = time.perf_counter()
        generate(customers, orders)
        enrich()
        from django.core.cache import cache

        cache.clear()  # figures kept for the size before are not this shop's
        print(f"generated {customers:,} customers, {orders:,} orders in {time.perf_counter() - started:.1f}s")
        settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}
        results = measure(pages, args.runs)  # without a worker: the page computes what is not kept
        by_size.append(results)
        for name, (seconds, statements, size) in results.items():
            rows.append([name, f"{customers:,}", f"{orders:,}", f"{seconds * 1000:.0f} ms", statements, f"{size:,}"])
        with_worker = {} if args.no_worker else measure_with_worker(WORKER_PAGES, args.runs)
        worker_by_size.append(with_worker)
        for name, (answered, kept, statements) in with_worker.items():
            worker_rows.append(
                [
                    name,
                    f"{customers:,}",
                    f"{orders:,}",
                    f"{answered * 1000:.0f} ms",
                    f"{kept * 1000:.0f} ms",
                    statements,
                ]
            )
    print("Without a worker (the page computes what is not kept):")
    print(markdown_table(["page", "customers", "orders", "median", "SQL statements", "bytes"], rows))
    if worker_rows:
        print("\nWith a Celery worker (the page answers at once; the worker keeps the figures):")
        print(
            markdown_table(
                ["page", "customers", "orders", "page answered", "figures kept after", "SQL statements"], worker_rows
            )
        )
    last = by_size[-1]
    handed = WORKER_COMPUTES if worker_rows else set()  # where a worker runs, its rows are these pages' answer
    slow = [name for name, (seconds, _, _) in last.items() if seconds >= 1 and name not in handed]
    slow += [f"{name} (worker)" for name, (answered, _, _) in worker_by_size[-1].items() if answered >= 1]
    fallback = [name for name in handed if last.get(name, (0,))[0] >= 1]
    same = all(by_size[0][name][1] == last[name][1] for name in last)
    same = same and all(worker_by_size[0][name][2] == worker_by_size[-1][name][2] for name in worker_by_size[-1])
    print(("every page under a second" if not slow else f"over a second: {', '.join(slow)}") + " at the largest size;")
    if fallback:
        print(f"without a worker over a second: {', '.join(sorted(fallback))};")
    print("statement counts the same at every size" if same else "statement counts differ between sizes")
    return 0 if not slow and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
