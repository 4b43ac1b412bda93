"""What the SQL tests of both batchings share (test_prepared.py: joined; test_sql_pipeline.py: pipeline)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_conveyor import sql

# What a server with lc_messages = 'ja_JP.UTF-8' says for "cached plan must not change result type"
# (this machine's PostgreSQL has no translations installed, so the text is put in its mouth).
JAPANESE_CACHED_PLAN = "キャッシュした実行計画は結果型を変更してはなりません"


def run_batch(statement: str, params: list, sent: list[str] | None = None) -> tuple[list[tuple], str]:
    """One batch of one statement: its rows and the text that went to the server last (all of them in `sent`)."""
    rows: list[tuple] = []
    batch = sql.Batch()
    batch.add(statement, params, rows.extend)
    with CaptureQueriesContext(connection) as queries:
        batch.flush()
    if sent is not None:
        sent.extend(query["sql"] for query in queries)
    return rows, queries[-1]["sql"]


@contextmanager
def probe_table() -> Iterator[str]:
    """A one-row temporary table a test can alter as a migration would; yields the statement that reads it."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE conveyor_probe (a int); INSERT INTO conveyor_probe VALUES (1)")
    try:
        yield "SELECT a FROM conveyor_probe WHERE a = %s"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS conveyor_probe")
