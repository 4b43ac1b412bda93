"""Delivery throughput: 10,000 due touchpoints through the sweep vs the same messages sent straight
through Django's mail API (one SMTP connection: the floor), to the same local SMTP server, in one run.

    make bench-delivery            (or: python benchmarks/delivery.py --count 10000 --workers 1,2 --rounds 1)
    make bench-delivery BENCH_ARGS="--rounds 3 --claim-chunk 1"

It runs on a database of its own (conveyor_bench_delivery on DATABASE_URL's server, or
BENCH_DATABASE_URL), never the sandbox's, where `make demo` leaves due touchpoints a sweep would send.
The SMTP server runs in its own process so it does not share the interpreter with the sender. The
sweep is measured with one sweep process, then with several at once (`--workers`), as Celery runs
them: they share the rows through SKIP LOCKED. `--rounds` repeats floor and sweeps interleaved and
prints the median ratios, for a machine whose load changes under the benchmark.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """The counting SMTP server process."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "smtp_sink.py"), str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> dict[str, int]:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def sweep_worker() -> None:
    """`--sweep-worker`: one sweep process of a parallel run; set up, say ready, sweep on `go`, print the report."""
    import django

    django.setup()
    from saleor_conveyor import delivery

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    print(json.dumps(delivery.sweep().as_dict()), flush=True)


def parallel_sweep(workers: int) -> dict[str, int]:
    """Run `workers` sweep processes at once (they share the rows through SKIP LOCKED); their reports summed."""
    processes = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--sweep-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a sweep worker did not start")
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    total: dict[str, int] = {}
    for process in processes:
        out, _ = process.communicate(timeout=3600)
        for name, value in json.loads(out.strip().splitlines()[-1]).items():
            total[name] = total.get(name, 0) + value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--workers", default="1", help="sweep processes, or a comma-separated list to measure each (e.g. 1,2)"
    )
    parser.add_argument("--claim-chunk", type=int, default=None, help="rows claimed per commit (default: the setting)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat floor and sweeps, interleaved (for a noisy machine)"
    )
    parser.add_argument("--sweep-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_worker:
        sweep_worker()
        return
    worker_counts = [int(n) for n in args.workers.split(",")]
    knobs = {"enqueue": False, "sweep_time_limit": 3600}
    if args.claim_chunk is not None:
        knobs["claim_chunk"] = args.claim_chunk
    port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        CONVEYOR_SETTINGS_JSON=json.dumps({"quiet_hours": ""}),
        CONVEYOR_DELIVERY_JSON=json.dumps(knobs),
    )
    from benchmarks._setup import django_on_bench_database

    # Its own database (the sweep workers inherit it): a sweep sends whatever is due where it runs.
    django_on_bench_database("conveyor_bench_delivery")
    from datetime import timedelta

    from django.core.mail import get_connection
    from django.db import connection
    from django.utils import timezone

    from saleor_conveyor import delivery, mail
    from saleor_conveyor.hosts import get_config
    from saleor_conveyor.models import FanProfile, Touchpoint

    prefix = "bench-delivery-"
    FanProfile.objects.filter(email__startswith=prefix).delete()
    now = timezone.now() - timedelta(seconds=1)
    FanProfile.objects.bulk_create(
        FanProfile(email=f"{prefix}{i}@example.com", first_name=f"Fan {i}", language_code="ja" if i % 2 else "en")
        for i in range(args.count)
    )
    profiles = list(FanProfile.objects.filter(email__startswith=prefix).order_by("id"))
    rules = ["step_day7", "step_day14", "second_purchase", "secret_info"]
    Touchpoint.objects.bulk_create(
        Touchpoint(profile=p, rule=rules[i % 4], key=f"{rules[i % 4]}:bench", kind="EMAIL", planned_at=now, due_at=now)
        for i, p in enumerate(profiles)
    )
    del profiles
    ours = Touchpoint.objects.filter(profile__email__startswith=prefix)
    config = get_config()

    def floor_messages() -> list:
        """The very messages the conveyor renders, built before timing starts."""
        return [mail.build_message(tp, tp.profile, config, tp.rule) for tp in ours.select_related("profile")]

    rows, notes = [], []
    ratios: dict[int, list[float]] = {workers: [] for workers in worker_counts}
    for round_ in range(1, args.rounds + 1):
        label = f" (round {round_})" if args.rounds > 1 else ""
        messages = floor_messages()
        sink = Sink(port)
        started = time.perf_counter()
        with get_connection() as smtp:
            smtp.send_messages(messages)
        floor_seconds = time.perf_counter() - started
        floor = sink.stop()
        assert floor["received"] == args.count, floor
        # The objects built for the floor are dropped so the sweep's process does not carry (and
        # garbage-collect over) tens of thousands of objects it never uses; the sweep reads the database.
        del messages
        gc.collect()
        floor_rate = args.count / floor_seconds
        rows.append(
            f"| Django mail API, one connection (floor){label} | {floor_seconds:.2f} | {floor_rate:,.0f} | 1.00 |"
        )
        for workers in worker_counts:
            # Due again, as the bulk insert left them; then the same starting point every time:
            # no dead rows, fresh statistics.
            ours.update(status="SCHEDULED", claimed_at=None, attempts=0, outcome="", sent_at=None)
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(Touchpoint._meta.db_table)}")
            sink = Sink(port)
            started = time.perf_counter()
            if workers == 1:
                report = delivery.sweep().as_dict()
            else:
                connection.close()
                report = parallel_sweep(workers)
            sweep_seconds = time.perf_counter() - started
            swept = sink.stop()
            sent = ours.filter(status="SENT").count()
            assert swept["received"] == args.count and swept["duplicates"] == 0 and sent == args.count, (
                swept,
                sent,
                report,
            )
            sweep_rate = args.count / sweep_seconds
            ratios[workers].append(sweep_rate / floor_rate)
            processes = "one sweep process" if workers == 1 else f"{workers} sweep processes"
            rows.append(
                f"| conveyor sweep, {processes} (reserve, claim, render, send, record){label} | {sweep_seconds:.2f} "
                f"| {sweep_rate:,.0f} | {sweep_rate / floor_rate:.2f} |"
            )
            notes.append(f"{processes}{label}: {report}; duplicates at the server: {swept['duplicates']}")
    FanProfile.objects.filter(email__startswith=prefix).delete()
    connection.close()

    version = connection.pg_version // 10000
    chunk = delivery.delivery_settings().claim_chunk
    database = connection.settings_dict["NAME"]
    print(
        f"\n{args.count:,} messages to a local aiosmtpd server (PostgreSQL {version}, database {database}, "
        f"claim_chunk {chunk})\n"
    )
    print("| path | seconds | messages/s | ratio to floor |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))
    print("\n" + "\n".join(notes))
    if args.rounds > 1:
        for workers, found in ratios.items():
            print(f"median ratio, {workers} sweep process(es): {statistics.median(found):.2f} ({args.rounds} rounds)")
    print("target ratio >= 0.5")


if __name__ == "__main__":
    main()
