"""Shared set-up for the sandbox benchmarks: each on a database of its own, created and migrated, Django ready.

A benchmark never touches the sandbox's database (`make demo` leaves due touchpoints there that a
delivery sweep would send). Its database is BENCH_DATABASE_URL if set, else the DATABASE_URL's
server with the benchmark's own database name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(name: str) -> str:
    """The benchmark's database: BENCH_DATABASE_URL, or database `name` on DATABASE_URL's server."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/conveyor_sandbox")
    return base.rsplit("/", 1)[0] + f"/{name}"


def use_bench_cache() -> str:
    """Point this process (and the servers it starts) at the benchmarks' own Django cache: Redis database 15
    (BENCH_CACHE_URL overrides), never the sandbox's (database 1, `make serve`'s) nor a benchmark's broker
    (13 for bench-api, 14 for bench-console's worker), since a benchmark empties its cache."""
    os.environ["CACHE_URL"] = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15")
    return os.environ["CACHE_URL"]


def use_bench_database(name: str) -> str:
    """Point this process (and the processes it starts) at the benchmark's database, created if missing."""
    url = bench_database_url(name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    use_bench_cache()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ensure_database.py")], check=True)
    return url


def django_on_bench_database(name: str) -> None:
    """`use_bench_database`, then Django set up and the database migrated."""
    use_bench_database(name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
