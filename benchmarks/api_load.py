"""Load benchmark of the GraphQL API against the floor: the same server, the same clients, one run.

Serves the sandbox with uvicorn (Saleor's server, its pinned version, 2 workers) on 127.0.0.1
in three profiles:
- `saleor-asgi`: as Saleor's Dockerfile runs it with Saleor's default DB_CONN_MAX_AGE=0, so a
  new database connection for every request (under ASGI each request runs on a new thread);
- `asgi-pool`: the same server with Django's own connection pool (DB_POOL_MAX_SIZE=8 per
  worker), so connections outlive requests: what docs/install.md advises shops to run;
- `wsgi`: uvicorn's WSGI interface with persistent connections, whose floor is much faster.
For each profile it drives four endpoints in turn with concurrent keep-alive clients for a
bounded time: the floor (a plain Django view returning fixed JSON), a reference (the same
view after one `SELECT 1`: the cheapest request that uses the database, which shows what
getting a connection costs in each profile), `myFanProfile` with its touchpoints, and
`submitNps` (a write: lock, insert, restage, reconcile the outbox, enqueue the delivery),
in interleaved rounds (floor, reference, read, write, floor, ...) so that the machine's
noise hits all of them alike.
Prints a markdown table per profile with requests/s and the ratio to the floor (medians of
the rounds' figures) and p50/p99 latency over all rounds, then which endpoints meet the
target (>= 0.3 of the floor's throughput, p99 < 100 ms, no failures).

The readers of myFanProfile are 200 customers with 5 orders each; the NPS answerers are
2,000 other customers with one order each. A customer answers a survey window once (a second
answer is refused as ALREADY_EXISTS), so each submitNps drive takes answerers in turn, each
once, and before the next drive (untimed) the answers are deleted: every answer timed is a
first answer of a customer with one order. Both counts are options.

    make bench-api                          # defaults below
    python benchmarks/api_load.py --concurrency 16 --seconds 5 --rounds 7 --server asgi-pool

`--variants` serves the API several ways at once, one server each (the GraphQL executor, sql.py's
batching and transaction: see VARIANTS), and drives them in the same interleaved rounds: floor,
reference, then the read and the write of each variant in turn. It also prints each variant's
throughput as a ratio to the first one's, round by round (median), which is what to compare:

    make bench-api BENCH_ARGS="--server asgi-pool --variants lean,graphql-core"
    make bench-api BENCH_ARGS="--server asgi-pool --variants ours,pipeline,django-tx,libraries"

The benchmark uses its own database (BENCH_DATABASE_URL, default conveyor_bench_api on DATABASE_URL's server),
which it empties first. Where the server runs without autovacuum (this project's test
machines do), it runs VACUUM ANALYZE on its tables after seeding and between rounds,
untimed, as autovacuum would. submitNps enqueues the delivery of what it schedules, as in
production, on a broker of its own (BENCH_BROKER_URL, default Redis database 13), which no
worker consumes and which is emptied before and after each profile: the benchmark's tasks
name its own database's touchpoints and must never reach a real worker.
Only loopback traffic; every run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import bench_database_url, use_bench_cache  # noqa: E402  (needs ROOT on the path)

DATABASE_URL = bench_database_url("conveyor_bench_api")
os.environ["DATABASE_URL"] = DATABASE_URL
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ["CELERY_BROKER_URL"] = BROKER_URL
use_bench_cache()  # its servers' Django cache: the benchmarks' own, not the sandbox's
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
os.environ.pop("DEBUG", None)
SERVER_SETTINGS = "benchmarks.bench_settings"  # the sandbox's, with the switches below read from the environment

# The ways the API can be served, as environment for the server (benchmarks/bench_settings.py reads it).
VARIANTS = {
    "default": {},
    "lean": {"CONVEYOR_GRAPHQL_EXECUTOR": "lean"},
    "graphql-core": {"CONVEYOR_GRAPHQL_EXECUTOR": "graphql-core"},
    "ours": {"CONVEYOR_SQL_BATCHING": "joined", "CONVEYOR_OWN_TRANSACTION": "1"},
    "pipeline": {"CONVEYOR_SQL_BATCHING": "pipeline", "CONVEYOR_OWN_TRANSACTION": "1"},
    "django-tx": {"CONVEYOR_SQL_BATCHING": "joined", "CONVEYOR_OWN_TRANSACTION": "0"},
    "libraries": {"CONVEYOR_SQL_BATCHING": "pipeline", "CONVEYOR_OWN_TRANSACTION": "0"},
}

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
    """One endpoint's requests over every round; `rates` holds each round's requests per second."""

    name: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def seed(readers: int, orders: int, answerers: int) -> tuple[list[str], list[str]]:
    """Empty the benchmark database; create the readers (`orders` orders each) and the answerers (one order each).

    Returns both groups' access tokens. They are different customers: every answer adds to its
    customer's history and outbox, and myFanProfile must read the same history in every round.
    """
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
    from django.db import connection

    # Django's advice for PostgreSQL: with the database's time zone already UTC, a new connection
    # (one per request in the saleor-asgi profile, as in Saleor) skips its SET TIME ZONE round trip.
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} SET timezone TO 'UTC'"
        )
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"fan{n}", email=f"fan{n}@bench.example") for n in range(readers + answerers)
    )
    start = timezone.now() - timedelta(days=orders * 10)
    for index, user in enumerate(users):
        for n in range(orders if index < readers else 1):
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
    tokens = [make_access_token(user) for user in users]
    from django.db import connections

    connections.close_all()
    tidy()
    return tokens[:readers], tokens[readers:]


def autovacuum_is_on() -> bool:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    # A server-wide setting, asked of the maintenance database: the benchmark's own may not exist yet.
    server = {**conninfo_to_dict(DATABASE_URL), "dbname": "postgres"}
    with psycopg.connect(**server, autocommit=True) as db:
        return db.execute("SHOW autovacuum").fetchone()[0] == "on"


def tidy() -> None:
    """VACUUM ANALYZE the tables the API reads and writes: what autovacuum does on a live server.

    Without statistics PostgreSQL plans the history reads as sequential scans, and every answer
    leaves a dead version of its customer's profile row. Run after seeding, and between rounds
    (untimed) where this server's autovacuum is off.
    """
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND (tablename LIKE 'saleor\\_conveyor\\_%' OR tablename = 'auth_user')"
            )
        ]
        for name in tables:
            db.execute(f'VACUUM ANALYZE "{name}"')


def forget_answers() -> None:
    """Delete the NPS answers (untimed), so the next drive's answerers each answer for the first time."""
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as db:
        db.execute("DELETE FROM saleor_conveyor_npsresponse")


def empty_broker() -> None:
    """Drop whatever the server enqueued: the benchmark's broker database has no consumer."""
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# How each server profile runs the sandbox; each serves the floor and the API side by side.
SERVERS = {
    # Saleor's own Dockerfile: uvicorn ASGI, 2 workers, DB_CONN_MAX_AGE=0 (a connection per request).
    "saleor-asgi": (["sandbox.asgi:application"], {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": ""}),
    # Saleor's server with Django's own connection pool (psycopg_pool): connections outlive requests.
    "asgi-pool": (["sandbox.asgi:application"], {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "8"}),
    # uvicorn's WSGI interface: a fixed thread pool, one persistent connection per thread; a faster floor.
    "wsgi": (["sandbox.wsgi:application", "--interface", "wsgi"], {"DB_CONN_MAX_AGE": "60", "DB_POOL_MAX_SIZE": ""}),
}


def start_server(port: int, workers: int, profile: str, variant: str = "default") -> subprocess.Popen:
    app, env = SERVERS[profile]
    env = {**env, **VARIANTS[variant], "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS}
    command = [
        sys.executable, "-m", "uvicorn", *app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--lifespan", "off", "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "60",
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


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def exchange(connection: Connection, request: bytes) -> tuple[bytes, bytes]:
    """One request on a keep-alive connection: (status line, body)."""
    reader, writer = connection
    writer.write(request)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def open_balanced(port: int, count: int, workers: int) -> tuple[list[Connection], dict[int, int]]:
    """`count` keep-alive connections spread evenly over the server's worker processes.

    The kernel hands a new connection to whichever worker accepts first, which can leave one
    worker with most of the clients and the other idle (seen here: 56% of the CPUs busy in
    such a round, 90% in a balanced one). A load balancer spreads them; so does this: it opens
    connections, asks each which worker answers, and keeps at most its share per worker.
    Returns the connections and how many each worker got.
    """
    share = -(-count // workers)
    kept: list[Connection] = []
    per_worker: dict[int, int] = {}
    for _ in range(count * 50):
        if len(kept) == count:
            break
        connection, pid = await connect_to_worker(port)
        if per_worker.get(pid, 0) < share:
            per_worker[pid] = per_worker.get(pid, 0) + 1
            kept.append(connection)
        else:
            connection[1].close()
    while len(kept) < count:  # the kernel kept choosing the same workers: take what comes
        connection, pid = await connect_to_worker(port)
        per_worker[pid] = per_worker.get(pid, 0) + 1
        kept.append(connection)
    return kept, per_worker


async def connect_to_worker(port: int) -> tuple[Connection, int]:
    """A new keep-alive connection and the process id of the worker that accepted it."""
    connection = await asyncio.open_connection("127.0.0.1", port)
    _, body = await exchange(connection, http_request("GET", "/health/worker/"))
    return connection, json.loads(body)["pid"]


async def one_client(
    connection: Connection, make: callable, check: callable, stop_at: float, outcome: Outcome, warm: float
) -> int:
    """Requests on one keep-alive connection until `stop_at`; returns how many were timed."""
    timed = 0
    while (now := time.perf_counter()) < stop_at:
        started = now
        status, body = await exchange(connection, make())
        if started < warm:
            continue  # warm-up: caches, the workers' first queries
        timed += 1
        if status.startswith(b"HTTP/1.1 200") and check(body):
            outcome.latencies.append(time.perf_counter() - started)
        else:
            outcome.failures += 1
    return timed


async def drive(
    connections: list[Connection], outcome: Outcome, make: callable, check: callable, seconds: float, warm_up: float
) -> None:
    """One round of one endpoint: a client on each connection for `seconds` after `warm_up`; adds to `outcome`."""
    warm = time.perf_counter() + warm_up
    stop_at = warm + seconds
    clients = (one_client(connection, make, check, stop_at, outcome, warm) for connection in connections)
    timed = sum(await asyncio.gather(*clients))
    outcome.rates.append(timed / seconds)


async def run_rounds(
    ports: list[int], plan: list, outcomes: list[Outcome], args: argparse.Namespace, profile: str, autovacuum: bool
) -> dict[int, int]:
    """Every round of every endpoint, each on its server's balanced connections; returns the first's per worker."""
    opened = [await open_balanced(port, args.concurrency, args.workers) for port in ports]
    try:
        # Interleaved rounds: whatever else the machine does hits the floor and the API alike.
        for round_number in range(args.rounds):
            print(f"[{profile}] round {round_number + 1} of {args.rounds} ...", file=sys.stderr)
            if round_number and not autovacuum:
                await asyncio.to_thread(tidy)
            for outcome, (_, make, check, server) in zip(outcomes, plan, strict=True):
                if getattr(make, "fresh", None):
                    await asyncio.to_thread(make.fresh)
                warm_up = 1.0 if round_number == 0 else 0.3
                await drive(opened[server][0], outcome, make, check, args.seconds, warm_up)
    finally:
        for connections, _ in opened:
            for _, writer in connections:
                writer.close()
    return opened[0][1]


def scenarios(readers: list[str], answerers: list[str], variants: list[str]) -> list[tuple]:
    """(name, request maker, response check, server index): the floor, then each variant's read and write."""
    floor = http_request("GET", "/health/")
    profile_body = json.dumps({"query": MY_PROFILE}).encode()

    def profile_request() -> bytes:
        return http_request("POST", "/graphql/", profile_body, random.choice(readers))

    def profile_ok(body: bytes) -> bool:
        data = json.loads(body)
        return "errors" not in data and data["data"]["myFanProfile"]["purchaseCount"] > 0

    queue: list[str] = []

    def nps_request() -> bytes:
        variables = {"score": random.randint(0, 10), "comment": "benchmark"}
        body = json.dumps({"query": SUBMIT_NPS, "variables": variables}).encode()
        if not queue:  # more answers than answerers in one drive: the rest are refused, counted as failures
            queue.extend(random.sample(answerers, len(answerers)))
        return http_request("POST", "/graphql/", body, queue.pop())

    def fresh_answerers() -> None:
        """Before a drive of submitNps: no answer recorded yet, every answerer in the queue once."""
        forget_answers()
        queue[:] = random.sample(answerers, len(answerers))

    nps_request.fresh = fresh_answerers  # type: ignore[attr-defined]

    def nps_ok(body: bytes) -> bool:
        data = json.loads(body)
        return "errors" not in data and data["data"]["submitNps"]["errors"] == []

    floor_db = http_request("GET", "/health/db/")
    plan = [
        ("floor: plain Django JSON view", lambda: floor, lambda body: body == b'{"ok": true}', 0),
        ("reference: the same view after SELECT 1", lambda: floor_db, lambda body: body == b'{"ok": true}', 0),
    ]
    for server, variant in enumerate(variants):
        label = f" [{variant}]" if len(variants) > 1 else ""
        plan += [
            (f"myFanProfile + touchpoints{label}", profile_request, profile_ok, server),
            (f"submitNps (write){label}", nps_request, nps_ok, server),
        ]
    return plan


def table(outcomes: list[Outcome], args: argparse.Namespace, profile: str, per_worker: dict[int, int]) -> str:
    floor = outcomes[0]
    split = "/".join(str(n) for n in sorted(per_worker.values(), reverse=True))
    lines = [
        f"### {profile}: uvicorn, {args.workers} workers on 127.0.0.1, {args.concurrency} keep-alive clients "
        f"(per worker: {split}), {args.rounds} interleaved rounds of {args.seconds:g} s per endpoint, "
        f"{os.cpu_count()} CPUs shared by server, database, clients",
        "",
        "| endpoint | requests | failed | req/s (median of rounds) | p50 ms | p99 ms "
        "| throughput vs floor (median of rounds) | p99 < 100 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for outcome in outcomes:
        p99 = outcome.percentile_ms(0.99)
        lines.append(
            f"| {outcome.name} | {len(outcome.latencies)} | {outcome.failures} | {outcome.rate:,.0f} "
            f"| {outcome.percentile_ms(0.5):.1f} | {p99:.1f} | {ratio(outcome, floor):.2f} "
            f"| {'yes' if p99 < 100 else 'NO'} |"
        )
    return "\n".join(lines)


def side_by_side(outcomes: list[Outcome], variants: list[str]) -> str:
    """Each variant's throughput over the first variant's, per endpoint: the median of the rounds' ratios."""
    first_read, first_write = outcomes[2], outcomes[3]
    lines = [
        f"| variant | myFanProfile vs {variants[0]} | submitNps vs {variants[0]} |",
        "|---|---:|---:|",
    ]
    for index, variant in enumerate(variants):
        read, write = outcomes[2 + 2 * index], outcomes[3 + 2 * index]
        settings = ", ".join(f"{k}={v}" for k, v in VARIANTS[variant].items()) or "the settings' defaults"
        lines.append(f"| {variant} ({settings}) | {ratio(read, first_read):.2f} | {ratio(write, first_write):.2f} |")
    return "\n".join(lines)


def ratio(outcome: Outcome, floor: Outcome) -> float:
    """Median over rounds of this endpoint's rate over the floor's rate in the same round."""
    pairs = [mine / base for mine, base in zip(outcome.rates, floor.rates, strict=True) if base]
    return statistics.median(pairs) if pairs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="per endpoint and round (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds: floor, read, write, ... (default 5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=200, help="customers whose profile is read (default 200)")
    parser.add_argument(
        "--answerers",
        type=int,
        default=2000,
        help="customers with one order who answer NPS, each once per drive (default 2000)",
    )
    parser.add_argument("--orders", type=int, default=5, help="orders per customer (history behind myFanProfile)")
    parser.add_argument("--server", choices=[*SERVERS, "all"], default="all", help="profile to run (default all)")
    parser.add_argument(
        "--variants", default="default", help=f"comma-separated ways to serve the API, of {', '.join(VARIANTS)}"
    )
    args = parser.parse_args()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    if not variants or any(name not in VARIANTS for name in variants) or len(variants) > 4:
        raise SystemExit(f"--variants: one to four of {', '.join(VARIANTS)}")
    if not (1 <= args.concurrency <= 64 and 1 <= args.seconds <= 60 and 1 <= args.rounds <= 20):
        raise SystemExit("keep it bounded: concurrency 1..64, seconds 1..60, rounds 1..20")
    if not (1 <= args.customers <= 20000 and 1 <= args.answerers <= 20000 and 1 <= args.orders <= 200):
        raise SystemExit("keep the seed bounded: customers and answerers 1..20000, orders 1..200")
    autovacuum = autovacuum_is_on()
    if not autovacuum:
        print("this PostgreSQL has autovacuum off: the benchmark vacuums its tables between rounds", file=sys.stderr)
    verdicts = []
    for profile in SERVERS if args.server == "all" else [args.server]:
        # Fresh history for each profile, so myFanProfile reads the same amount of data every time.
        print(
            f"[{profile}] seeding {args.customers} customers x {args.orders} orders"
            f" and {args.answerers} customers x 1 order ...",
            file=sys.stderr,
        )
        readers, answerers = seed(args.customers, args.orders, args.answerers)
        empty_broker()
        ports = [free_port() for _ in variants]
        servers = []
        try:
            for port, variant in zip(ports, variants, strict=True):
                servers.append(start_server(port, args.workers, profile, variant))
            plan = scenarios(readers, answerers, variants)
            outcomes = [Outcome(name) for name, *_ in plan]
            per_worker = asyncio.run(run_rounds(ports, plan, outcomes, args, profile, autovacuum))
        finally:
            for server in servers:
                stop_server(server)
            empty_broker()
        print(table(outcomes, args, profile, per_worker) + "\n")
        if len(variants) > 1:
            print(f"#### {profile}: side by side (throughput ratio, median of the rounds)\n")
            print(side_by_side(outcomes, variants) + "\n")
        floor, _, *api = outcomes
        below = [o.name for o in api if ratio(o, floor) < 0.3 or o.percentile_ms(0.99) >= 100 or o.failures]
        verdicts.append(f"{profile}: " + (f"below target: {'; '.join(below)}" if below else "target met"))
    print("target: >= 0.3 x the floor's throughput, p99 < 100 ms, no failures")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
