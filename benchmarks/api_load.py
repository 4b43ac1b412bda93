"""Load benchmark of the GraphQL API against the floor: the same server, the same clients, one run.

Serves the sandbox with uvicorn (Saleor's server, its pinned version) on 127.0.0.1 in two
profiles: `saleor-asgi`, exactly as Saleor's Dockerfile runs it (ASGI, 2 workers, a
database connection per request), and `wsgi`, uvicorn's WSGI interface with persistent
connections, whose floor is much faster. For each profile it drives three endpoints in
turn with concurrent keep-alive clients for a bounded time: the floor (a plain Django
view returning fixed JSON), `myFanProfile` with its touchpoints, and `submitNps` (a
write: lock, insert, restage, reconcile the outbox).
Prints a markdown table with requests/s, p50/p99 latency and ratios to the floor.

    make bench-api                          # defaults below
    python benchmarks/api_load.py --concurrency 16 --seconds 10

The benchmark uses its own database (BENCH_DATABASE_URL, default conveyor_bench_api),
which it empties first. Only loopback traffic; every run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/conveyor_bench_api")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
os.environ.pop("DEBUG", None)

MY_PROFILE = (
    "query { myFanProfile { stage purchaseCount lapsed nps npsCategory segment badges"
    " totalSpent { amount currency } lifetimeValue { amount currency }"
    " touchpoints { id rule kind status dueAt sentAt } } }"
)
SUBMIT_NPS = (
    "mutation($score: Int!, $comment: String) { submitNps(score: $score, comment: $comment)"
    " { response { score category } errors { code } } }"
)


@dataclass
class Outcome:
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def seed(customers: int, orders: int) -> list[str]:
    """Empty the benchmark database, create customers with order history; returns their access tokens."""
    import django

    subprocess.run([sys.executable, str(ROOT / "scripts" / "ensure_database.py")], check=True)
    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from saleor_conveyor import conveyor
    from saleor_conveyor.events import Customer, OrderPlaced
    from saleor_conveyor.hosts.django import make_access_token

    call_command("migrate", interactive=False, verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"fan{n}", email=f"fan{n}@bench.example") for n in range(customers)
    )
    start = timezone.now() - timedelta(days=orders * 10)
    for user in users:
        for n in range(orders):
            at = start + timedelta(days=n * 10)
            conveyor.record_order_placed(
                OrderPlaced(
                    order_id=f"{user.pk}-{n}",
                    customer=Customer(user.email, user.pk),
                    channel="default-channel",
                    currency="JPY",
                    total="5000",
                    placed_at=at,
                ),
                now=at,
            )
    from django.db import connections

    connections.close_all()
    return [make_access_token(user) for user in users]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# How each server profile runs the sandbox; both serve the floor and the API side by side.
SERVERS = {
    # Saleor's own Dockerfile: uvicorn ASGI, 2 workers, DB_CONN_MAX_AGE=0 (a connection per request).
    "saleor-asgi": (["sandbox.asgi:application"], {"DB_CONN_MAX_AGE": "0"}),
    # uvicorn's WSGI interface: a fixed thread pool, one persistent connection per thread; a faster floor.
    "wsgi": (["sandbox.wsgi:application", "--interface", "wsgi"], {"DB_CONN_MAX_AGE": "60"}),
}


def start_server(port: int, workers: int, profile: str) -> subprocess.Popen:
    app, env = SERVERS[profile]
    command = [
        sys.executable, "-m", "uvicorn", *app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--lifespan", "off", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if connection.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit("the server did not start")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def http_request(method: str, path: str, body: bytes = b"", token: str | None = None) -> bytes:
    headers = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if token:
        headers.append(f"Authorization: Bearer {token}")
    if method == "POST":
        headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def one_client(port: int, make: callable, check: callable, stop_at: float, outcome: Outcome, warm: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (now := time.perf_counter()) < stop_at:
            started = now
            writer.write(make())
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            if started < warm:
                continue  # warm-up: connections, caches, the workers' first queries
            if status.startswith(b"HTTP/1.1 200") and check(body):
                outcome.latencies.append(time.perf_counter() - started)
            else:
                outcome.failures += 1
    finally:
        writer.close()


async def drive(port: int, name: str, make: callable, check: callable, concurrency: int, seconds: float) -> Outcome:
    outcome = Outcome(name)
    warm = time.perf_counter() + 1.0
    stop_at = warm + seconds
    await asyncio.gather(*(one_client(port, make, check, stop_at, outcome, warm) for _ in range(concurrency)))
    outcome.seconds = seconds
    return outcome


def scenarios(tokens: list[str]) -> list[tuple[str, callable, callable]]:
    """(name, request maker, response check): the floor, a read and a write, each as a random customer."""
    floor = http_request("GET", "/health/")
    profile_body = json.dumps({"query": MY_PROFILE}).encode()

    def profile_request() -> bytes:
        return http_request("POST", "/graphql/", profile_body, random.choice(tokens))

    def profile_ok(body: bytes) -> bool:
        data = json.loads(body)
        return "errors" not in data and data["data"]["myFanProfile"]["purchaseCount"] > 0

    def nps_request() -> bytes:
        variables = {"score": random.randint(0, 10), "comment": "benchmark"}
        body = json.dumps({"query": SUBMIT_NPS, "variables": variables}).encode()
        return http_request("POST", "/graphql/", body, random.choice(tokens))

    def nps_ok(body: bytes) -> bool:
        data = json.loads(body)
        return "errors" not in data and data["data"]["submitNps"]["errors"] == []

    return [
        ("floor: plain Django JSON view", lambda: floor, lambda body: body == b'{"ok": true}'),
        ("myFanProfile + touchpoints", profile_request, profile_ok),
        ("submitNps (write)", nps_request, nps_ok),
    ]


def table(outcomes: list[Outcome], concurrency: int, workers: int, profile: str) -> str:
    floor = outcomes[0]
    lines = [
        f"### {profile}: uvicorn, {workers} workers on 127.0.0.1, {concurrency} keep-alive clients, "
        f"{floor.seconds:.0f} s each (after 1 s warm-up), {os.cpu_count()} CPUs shared by server, database, clients",
        "",
        "| endpoint | requests | failed | req/s | p50 ms | p99 ms | throughput vs floor | p99 < 100 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for outcome in outcomes:
        ratio = outcome.rate / floor.rate if floor.rate else float("nan")
        p99 = outcome.percentile_ms(0.99)
        lines.append(
            f"| {outcome.name} | {len(outcome.latencies)} | {outcome.failures} | {outcome.rate:,.0f} "
            f"| {outcome.percentile_ms(0.5):.1f} | {p99:.1f} | {ratio:.2f} | {'yes' if p99 < 100 else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--orders", type=int, default=5, help="orders per customer (history behind myFanProfile)")
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    args = parser.parse_args()
    if not (1 <= args.concurrency <= 64 and 1 <= args.seconds <= 120):
        raise SystemExit("keep it bounded: concurrency 1..64, seconds 1..120")
    below = []
    for profile in SERVERS if args.server == "both" else [args.server]:
        # Fresh history for each profile, so myFanProfile reads the same amount of data every time.
        print(f"[{profile}] seeding {args.customers} customers x {args.orders} orders ...", file=sys.stderr)
        tokens = seed(args.customers, args.orders)
        port = free_port()
        server = start_server(port, args.workers, profile)
        try:
            outcomes = []
            for name, make, check in scenarios(tokens):
                print(f"[{profile}] driving {name} ...", file=sys.stderr)
                outcomes.append(asyncio.run(drive(port, name, make, check, args.concurrency, args.seconds)))
        finally:
            stop_server(server)
        print(table(outcomes, args.concurrency, args.workers, profile) + "\n")
        floor, *api = outcomes
        below += [
            f"{profile}: {o.name}"
            for o in api
            if o.rate < 0.3 * floor.rate or o.percentile_ms(0.99) >= 100 or o.failures
        ]
    if below:
        print(f"below target (>= 0.3 x floor throughput, p99 < 100 ms, no failures): {'; '.join(below)}")


if __name__ == "__main__":
    main()
