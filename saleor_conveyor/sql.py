"""Precompiled statements and one-round-trip batches for the service's hot path.

Statements are generated once from the models' metadata (building a query through the ORM
costs more than its round trip), so they follow the models, and values are prepared by the
model fields themselves, exactly as the ORM would.

This module also replaces two library features, each behind a setting read in one function:

- `CONVEYOR_SQL_BATCHING` (`batching()`): "joined", the default, sends a `Batch` as one text of
  client-bound statements (one simple query) and prepares its statements itself (`_Prepared`:
  PREPARE ... AS from a text's second use on a connection, then EXECUTE); "pipeline" sends it
  through psycopg 3's pipeline mode on a server-binding cursor, with psycopg's own prepared
  statements (`_run_pipelined` says what that takes under Django).
- `CONVEYOR_OWN_TRANSACTION` (`own_transaction_enabled()`): True, the default, lets `atomic()`
  send BEGIN with the block's first batch and COMMIT with its last (`flush(last=True)`); False
  makes `atomic()` Django's `transaction.atomic()`, inside which `transaction.atomic()` is allowed.

What was measured (docs/benchmarks.md, side by side, interleaved, medians, on a loaded machine):
the own transaction costs 5-11% less time per recorded order than Django's in `make bench` (two
round trips fewer), in two of three runs, and is within noise of it in `make bench-api`: it stays
the default. The joined batch and psycopg's pipeline are within noise of each other in `make bench`
(the pipeline 0-11% slower per recorded order). The pipeline now has what the joined way had: the
pooler question is the host's (`prepare_threshold` in the database OPTIONS, see
`_run_pipelined`), it recovers when the session's prepared statements vanish (`_flush_pipelined`),
and the Saleor tier passes with it. The joined way stays the default, by measurement: on 2026-12-03
the pipeline answered `submitNps` more slowly than the joined way in every paired run of `make bench-api`
(asgi-pool: 0.62-0.98 of its rate, median 0.93) and reached the target (0.3 of the floor) only on a quiet
machine (0.30 vs 0.33). Switch to "pipeline" and delete `_Prepared`, the joined text and both settings when
a psycopg release closes that gap (re-run `make bench-api` with CONVEYOR_SQL_BATCHING=pipeline).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import operator
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any
from uuid import UUID

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault, RawSQL
from django.utils import timezone
from psycopg.pq import TransactionStatus

from . import conf

logger = logging.getLogger(__name__)

RowsHandler = Callable[[list[tuple]], None]
Statements = list[tuple[str, list[Any], RowsHandler | None]]
_MAX_CACHED_PARAMS = 50  # psycopg caches the parse of statements with at most this many parameters


_OWN_TRANSACTION = "_conveyor_own_transaction"  # attribute of Django's (per-thread) connection

JOINED = "joined"  # a batch's statements bound on the client into one text; this module's PREPARE (_Prepared)
PIPELINE = "pipeline"  # psycopg's pipeline mode on a server-binding cursor, psycopg's own prepared statements
BATCHINGS = (JOINED, PIPELINE)
DEFAULT_BATCHING = JOINED
DEFAULT_OWN_TRANSACTION = True


def batching() -> str:
    """How a `Batch` travels, as `CONVEYOR_SQL_BATCHING` says ("joined" or "pipeline"): the one place it is read."""
    name = conf.SQL_BATCHING
    if name not in BATCHINGS:
        raise ValueError(f"CONVEYOR_SQL_BATCHING must be one of {', '.join(BATCHINGS)}, not {name!r}")
    return name


def own_transaction_enabled() -> bool:
    """Whether `atomic()` may run its own BEGIN/COMMIT (`CONVEYOR_OWN_TRANSACTION`); else it is Django's."""
    return conf.OWN_TRANSACTION


class _OwnTransaction:
    """A transaction this module began itself, Django's connection staying in autocommit mode."""

    def __init__(self) -> None:
        self.finished = False  # COMMIT went out and succeeded
        self.callbacks: list[Callable[[], None]] = []


def _own_transaction() -> _OwnTransaction | None:
    return getattr(connection, _OWN_TRANSACTION, None)


def _server_side_binding() -> bool:
    return bool(connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


def _in_server_transaction() -> bool:
    """Whether PostgreSQL holds a transaction open on this connection (the server's word, not ours)."""
    raw = connection.connection
    return raw is not None and not raw.closed and raw.info.transaction_status != TransactionStatus.IDLE


@contextmanager
def atomic() -> Iterator[None]:
    """Run the block in one transaction, like `transaction.atomic()`, in two round trips fewer.

    With `CONVEYOR_OWN_TRANSACTION = False` this is `transaction.atomic()`. Otherwise, outside
    any atomic block (Django in autocommit mode) the transaction is this module's own: BEGIN
    goes out with the block's first `Batch` and COMMIT with the batch flushed with `last=True`
    (or alone, on leaving the block). An error anywhere rolls it back; a
    statement that fails aborts the rest of its batch, COMMIT included. Callbacks given to
    `on_commit` run after the commit (also when the commit went out and a row handler
    raised afterwards). A nested `sql.atomic()` joins the transaction: an error in it rolls
    back the whole. Inside an atomic block of Django's, or with server-side binding and joined
    batches, this is `transaction.atomic()` (a savepoint).

    Django does not know of the own transaction: inside it use `Batch`, the `Table` methods
    or plain cursors and `sql.on_commit`, not `transaction.atomic()` (refused) nor
    `transaction.on_commit` (which would run at once, before the commit). With Django's
    transaction both are allowed.
    """
    if _own_transaction() is not None:
        yield  # joins the enclosing own transaction
        return
    joined_needs_client_binding = _server_side_binding() and batching() == JOINED
    if (
        not own_transaction_enabled()
        or connection.in_atomic_block
        or not connection.get_autocommit()
        or joined_needs_client_binding
    ):
        with transaction.atomic():
            yield
        return
    own = _OwnTransaction()
    setattr(connection, _OWN_TRANSACTION, own)
    try:
        yield
        if not own.finished and _in_server_transaction():
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
        own.finished = True
    except BaseException:
        if not own.finished and _in_server_transaction():
            _roll_back()
        raise
    finally:
        setattr(connection, _OWN_TRANSACTION, None)
        if own.finished:  # also when an error came after the commit: what was written is announced
            for callback in own.callbacks:
                callback()


def _roll_back() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK")
    except Exception:  # the connection broke: a new one starts clean
        connection.close()


def analyze_conveyor_tables(using: str = "default") -> list[str]:
    """Refresh PostgreSQL's statistics of the conveyor's tables; the tables analyzed.

    Why: after a bulk load (a backfill of a shop's history, the demo) the planner may still think the tables
    empty until autovacuum gets to them, and then joins 300,000 touchpoints to the ledger row by row: rule
    performance took 23 s instead of 0.1 s on the demo's 3,000 customers until ANALYZE ran.
    """
    from django.apps import apps

    tables = [model._meta.db_table for model in apps.get_app_config("saleor_conveyor").get_models()]
    with connections[using].cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connections[using].ops.quote_name(table)}")
    return tables


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the current transaction (ours or Django's) commits."""
    own = _own_transaction()
    if own is not None:
        own.callbacks.append(callback)
    else:
        transaction.on_commit(callback)


class Batch:
    """Statements to run together, in order, each with an optional handler for its rows."""

    def __init__(self) -> None:
        self._statements: list[tuple[str, list[Any], RowsHandler | None]] = []

    def add(self, sql: str, params: Sequence[Any], on_rows: RowsHandler | None = None) -> None:
        self._statements.append((sql, list(params), on_rows))

    def flush(self, *, last: bool = False) -> None:
        """Run what was added (one round trip where the driver allows), then call the handlers.

        `last=True` in an own transaction (see `atomic`) commits it with these statements:
        nothing may be written after it.
        """
        statements, self._statements = self._statements, []
        own = _own_transaction()
        began = False
        if own is not None:
            if own.finished:
                raise RuntimeError("the transaction was committed by an earlier flush(last=True)")
            if connection.in_atomic_block:
                raise RuntimeError("transaction.atomic() was opened inside sql.atomic(): use Batch or sql.atomic")
            connection.ensure_connection()
            if not _in_server_transaction():  # the first batch, or an earlier one that never reached the server
                statements.insert(0, ("BEGIN", [], None))
                began = True
            if last:
                statements.append(("COMMIT", [], None))
        if not statements:
            return
        if batching() == PIPELINE:
            _flush_pipelined(statements, own, began=began, last=last)
            return
        with connection.cursor() as cursor:
            _driver_timestamps(cursor.cursor)
            if _server_side_binding():
                for sql, params, on_rows in statements:
                    cursor.execute(sql, params)
                    if on_rows:
                        on_rows(cursor.fetchall())
                return
            prepared = _Prepared.of(cursor.cursor)
            try:
                cursor.execute(_batch_text(cursor.cursor, statements, prepared))
            except DatabaseError as error:
                if prepared is None or not prepared.lost(error):
                    raise
                # Our prepared statements are gone from the session: this connection goes on without them.
                # A batch that is (or opened) its transaction runs again; one inside a transaction fails this once.
                alone = own is None and connection.get_autocommit() and not connection.in_atomic_block
                if not (began or alone):
                    raise
                if began:
                    cursor.execute("ROLLBACK")
                cursor.execute(_batch_text(cursor.cursor, statements, None))
            if own is not None and last:
                own.finished = True
            for index, (_, _, on_rows) in enumerate(statements):
                if index:
                    cursor.nextset()
                if on_rows:
                    on_rows(cursor.fetchall())


def _flush_pipelined(statements: Statements, own: _OwnTransaction | None, *, began: bool, last: bool) -> None:
    """`Batch.flush` through psycopg's pipeline, once more unprepared where the session's statements proved gone."""
    try:
        cursors = _run_pipelined(statements)
    except DatabaseError as error:
        sqlstate = _prepared_state_error(error)
        if sqlstate is None:
            raise
        # A batch that is (or opened) its transaction runs again; one inside a transaction fails this once.
        alone = own is None and connection.get_autocommit() and not connection.in_atomic_block
        if sqlstate in _STATEMENTS_GONE or not (began or alone):
            _stop_preparing(error)
        if not (began or alone):
            raise
        if began:
            _roll_back()
        cursors = _run_pipelined(statements, prepare=False)  # a statement refused anyway fails again here
        if sqlstate == _PLAN_OUTDATED:
            _stop_preparing(error)  # it ran unprepared where prepared it failed: the session's plan is outdated
    if own is not None and last:
        own.finished = True
    with connection.wrap_database_errors:
        for cursor, (_, _, on_rows) in zip(cursors, statements, strict=True):
            if on_rows is not None:
                on_rows(cursor.fetchall())


# What PostgreSQL answers when the session's prepared statements are not what psycopg believes (by
# SQLSTATE: the server words its messages in its own language): a statement gone (DISCARD ALL,
# DEALLOCATE ALL, a pooler handing the session another backend) or a name taken by another client's
# statement on that backend...
_STATEMENTS_GONE = frozenset(
    {psycopg.errors.InvalidSqlStatementName.sqlstate, psycopg.errors.DuplicatePreparedStatement.sqlstate}
)
# ...or a plan outdated by a changed column ("cached plan must not change result type"), which is also
# what a statement PostgreSQL refuses anyway says: running the batch unprepared tells them apart.
_PLAN_OUTDATED = psycopg.errors.FeatureNotSupported.sqlstate


def _prepared_state_error(error: DatabaseError) -> str | None:
    """The SQLSTATE of `error` if it may say this session's prepared statements are not psycopg's, else None."""
    raw = connection.connection
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    if raw is None or raw.closed or raw.prepare_threshold is None:
        return None  # nothing was prepared on this connection
    return sqlstate if sqlstate in _STATEMENTS_GONE or sqlstate == _PLAN_OUTDATED else None


def _stop_preparing(error: DatabaseError) -> None:
    """This connection goes on without psycopg's prepared statements (a new one starts with them again).

    psycopg 3.2.9 forgets its statements when it runs a ROLLBACK or a DROP itself, not when DISCARD ALL
    or DEALLOCATE ALL run on the session, nor when a pooler hands the session to another backend, and
    it does not retry. It has no public way to clear its cache (`Connection._prepared` is private), so
    this sets the connection's `prepare_threshold` to None, psycopg's documented switch: psycopg then
    neither uses the statements it believes prepared nor prepares new ones. `_STOPPED` keeps this module
    from turning it on again on this connection.
    """
    raw = connection.connection
    if raw is None or raw.closed or raw.prepare_threshold is None:
        return
    logger.warning(
        "prepared statements of this database session were dropped or outdated (%s); it goes on without",
        error.__cause__,
    )
    raw.prepare_threshold = None
    setattr(raw, _STOPPED, True)


_STOPPED = "_conveyor_stopped_preparing"  # attribute of psycopg's connection: lives and dies with the session


def _run_pipelined(statements: Statements, *, prepare: bool | None = None) -> list[psycopg.Cursor]:
    """The statements in one round trip through psycopg's pipeline mode; their cursors, holding their rows.

    Each statement gets a cursor of its own (a pipeline's results are read after its Sync), a plain
    `psycopg.Cursor`: server-side binding, without which psycopg does not prepare (Django's default
    `ClientCursor` ignores `prepare`). Preparing follows the database OPTIONS' `prepare_threshold`
    where they give one (None: nothing prepared, as behind an older transaction pooler). Where they
    give none, Django leaves psycopg's preparing off (`prepare_threshold=None`, for poolers); with
    client-side binding only this module's cursors bind on the server, so it sets the threshold
    itself: a text is prepared from its second use, as `_Prepared` does. `CONVEYOR_PREPARED_STATEMENTS
    = False` (or `prepare=False`) turns preparing off here too. What Django's cursor does first is
    done here too: the health check of a connection kept from an earlier request, the thread check,
    and the refusal to run in a transaction an error has broken.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    cursors = [psycopg.Cursor(raw) for _ in statements]
    if not conf.PREPARED_STATEMENTS:
        prepare = False
    host_says = "prepare_threshold" in connection.settings_dict.get("OPTIONS", {})
    if (
        prepare is None
        and raw.prepare_threshold is None
        and not host_says
        and not _server_side_binding()
        and not getattr(raw, _STOPPED, False)
    ):
        raw.prepare_threshold = _PREPARE_AT_USE - 1  # psycopg prepares once a text was run this many times
    started = time.monotonic()

    def send(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
        with raw.pipeline():
            for cursor, (text, values, on_rows) in zip(cursors, statements, strict=True):
                if on_rows is not None:
                    _driver_timestamps(cursor)
                cursor.execute(text, values, prepare=prepare)

    joined = "; ".join(sql for sql, _, _ in statements)
    # Django's execute wrappers (a host's checks, instrumentation) see the round trip, as they see a cursor's.
    run: Callable[..., None] = send
    for wrapper in reversed(connection.execute_wrappers):
        run = functools.partial(wrapper, run)
    with connection.wrap_database_errors:
        try:
            run(joined, [value for _, values, _ in statements for value in values], False, {"connection": connection})
        finally:
            if connection.queries_logged:  # as Django's debug cursor logs: one entry per round trip, failed or not
                connection.queries_log.append({"sql": joined, "time": f"{time.monotonic() - started:.3f}"})
    return cursors


def _batch_text(
    cursor: Any, statements: list[tuple[str, list[Any], RowsHandler | None]], prepared: _Prepared | None
) -> str:
    """The statements bound into one text; those prepared on this session as EXECUTEs of theirs."""
    if prepared is not None:
        statements = [(*prepared.use(cursor, sql, params), None) for sql, params, _ in statements]
    # Each statement is bound on its own: psycopg caches the parsing of a statement's text
    # (up to 50 parameters), not of a long batch, which it would parse again every time.
    merge = cursor.mogrify
    with connection.wrap_database_errors:  # a value psycopg cannot send: Django's error, as execute raises
        return "; ".join(merge(sql, params) for sql, params, _ in statements)


# --- prepared statements ----------------------------------------------------------------------

_PREPARE_AT_USE = 2  # a text is prepared at its second use on a connection: one-off texts never are
_PREPARED_MAX = 200  # statements prepared per connection at most
_COUNTED_MAX = 2000  # distinct texts counted per connection before the counts start over
_SESSION_STATE = "_conveyor_prepared"  # attribute of psycopg's connection: lives and dies with the session
_SAVEPOINT = "conveyor_prepare"
_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name
_FEATURE_NOT_SUPPORTED = "0A000"  # feature_not_supported, which a plan outdated by a changed column is
_PREPARABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%(.)")
# Texts never prepared: PostgreSQL refused them (a parameter of no telling type), or they are not
# statements PREPARE takes (BEGIN, COMMIT) or carry placeholders this module does not write.
_unpreparable: set[str] = set()


class _Prepared:
    """The statements this module prepared on one database session (PREPARE ... AS, then EXECUTE ...).

    A text is prepared on its second use on the connection, in a round trip of its own (inside
    a transaction, behind a savepoint: a text PostgreSQL cannot prepare is noted and runs as it
    is); from then on the batch carries `EXECUTE name(values)`, which PostgreSQL does not parse
    nor, after a few runs, plan again. A connection per request gets no further than a text it
    runs twice in that request. Off with `settings.CONVEYOR_PREPARED_STATEMENTS = False`, and by
    itself behind a pooler that moves sessions between server connections (PgBouncer, seen as a
    backend pid the server does not confirm), where a statement prepared in one transaction is
    gone in the next.
    """

    __slots__ = ("checked", "names", "off", "uses")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # statement text -> prepared statement name
        self.uses: Counter[str] = Counter()
        self.checked = False  # whether the backend pid was confirmed
        self.off = False

    @classmethod
    def of(cls, cursor: Any) -> _Prepared | None:
        """This cursor's session state, or None where prepared statements are not used."""
        if not conf.PREPARED_STATEMENTS:
            return None
        raw = cursor.connection
        state = getattr(raw, _SESSION_STATE, None)
        if state is None:
            state = cls()
            setattr(raw, _SESSION_STATE, state)
        return None if state.off else state

    def use(self, cursor: Any, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        """What to send for this statement: its EXECUTE if prepared (now, if its time has come), else itself."""
        name = self.names.get(sql)
        if name is None:
            if sql in _unpreparable or len(self.names) >= _PREPARED_MAX:
                return sql, params
            if len(self.uses) >= _COUNTED_MAX:
                self.uses.clear()
            self.uses[sql] += 1
            if self.uses[sql] < _PREPARE_AT_USE:
                return sql, params
            form = _prepared_form(sql, len(params))
            if form is None:  # BEGIN, COMMIT, a placeholder of another kind: never again looked at
                _unpreparable.add(sql)
                return sql, params
            name, prepare = form
            if not self._prepare(cursor, sql, prepare):
                return sql, params
            self.names[sql] = name
            del self.uses[sql]
        return _execute_text(name, len(params)), params

    def _prepare(self, cursor: Any, sql: str, prepare: str) -> bool:
        """Send the PREPARE (first confirming the session is a server process of its own); False if not done."""
        raw = cursor.connection
        status = raw.info.transaction_status
        if status not in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
            return False  # a failed transaction: the batch will report it
        if not self.checked and not self._direct(cursor):
            return False
        # Inside a transaction (or where psycopg is about to begin one) a failure must not abort it.
        guarded = status == TransactionStatus.INTRANS or not raw.autocommit
        try:
            if guarded:
                cursor.execute(f"SAVEPOINT {_SAVEPOINT}; {prepare}; RELEASE SAVEPOINT {_SAVEPOINT}")
            else:
                cursor.execute(prepare)
        except psycopg.Error as error:
            if guarded:
                try:
                    cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
                except psycopg.Error:
                    self.off = True  # the batch meets whatever broke
                    return False
            if (error.sqlstate or "")[:2] in ("42", "0A"):  # the text itself: not preparable, anywhere
                _unpreparable.add(sql)
                logger.debug("statement not prepared (%s): %s", error, sql)
            else:
                self.off = True
            return False
        return True

    def _direct(self, cursor: Any) -> bool:
        """Whether this session is a server process of its own (no pooler between): asked once."""
        self.checked = True
        try:
            (pid,) = cursor.execute("SELECT pg_backend_pid()").fetchone()
        except psycopg.Error:
            self.off = True
            return False
        if pid != cursor.connection.info.backend_pid:
            self.off = True
            logger.info("a connection pooler serves this database connection: no prepared statements on it")
            return False
        return True

    def lost(self, error: DatabaseError) -> bool:
        """Whether `error` says the session lost our prepared statements; if so, stop using them on it."""
        # By SQLSTATE only: the server words its messages in its own language (lc_messages).
        # 26000: a statement of ours is gone; 0A000 on a session with statements prepared: "cached plan
        # must not change result type" (a column changed under it). Another 0A000 fails again as text.
        sqlstate = getattr(error.__cause__, "sqlstate", None)
        gone = sqlstate == _NO_SUCH_STATEMENT or (sqlstate == _FEATURE_NOT_SUPPORTED and bool(self.names))
        if gone:
            logger.warning(
                "prepared statements of this database session were dropped or outdated (%s); it goes on without",
                error.__cause__,
            )
            self.off = True
            self.names.clear()
        return gone


@functools.lru_cache(maxsize=512)
def _prepared_form(sql: str, count: int) -> tuple[str, str] | None:
    """(name, PREPARE statement) for a statement with `count` parameters; None if it cannot be prepared."""
    if not _PREPARABLE.match(sql):
        return None
    pieces = []
    at = numbered = 0
    for match in _PLACEHOLDER.finditer(sql):
        pieces.append(sql[at : match.start()])
        at = match.end()
        if match.group(1) == "%":
            pieces.append("%")
        elif match.group(1) == "s":
            numbered += 1
            pieces.append(f"${numbered}")
        else:
            return None  # %(name)s, %b, %t: placeholders this module does not write
    if numbered != count:
        return None
    pieces.append(sql[at:])
    name = "conveyor_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    return name, f"PREPARE {name} AS {''.join(pieces)}"


@functools.lru_cache(maxsize=512)
def _execute_text(name: str, count: int) -> str:
    return f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"


def _driver_timestamps(cursor: Any) -> None:
    """Read timestamptz columns on this cursor with psycopg's own loader (C code with psycopg-binary).

    Django's loader subclasses psycopg's pure-Python one to set its time zone, which makes each
    value cost about ten times more to parse. psycopg's own loader gives the session's time
    zone, which Django set to its own on connecting: in UTC the values are the same, and so is
    their tzinfo. Elsewhere (USE_TZ off, another zone, the session's zone changed since), the
    cursor keeps Django's loader.
    """
    # psycopg gives datetime.timezone.utc for a session in "UTC"; Django gives it when no database
    # TIME_ZONE is set (as in Saleor). Any other zone keeps Django's loader: its tzinfo objects differ.
    if not settings.USE_TZ or connection.timezone is not UTC:
        return
    if cursor.connection.info.parameter_status("TimeZone") != "UTC":
        return
    cursor.adapters.register_loader(_TIMESTAMPTZ_OID, _DRIVER_TIMESTAMPTZ)


_TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
_DRIVER_TIMESTAMPTZ = psycopg.adapters.get_loader(_TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)


def _json_default(value: Any) -> Any:
    """How json.dumps carries a prepared column value it does not know; PostgreSQL reads it with the column's type."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime")  # only its own binding knows the connection's time zone
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form here")


class Table[M: Model]:
    """One model's table: select rows as model instances, insert and update them."""

    def __init__(self, model: type[M], *, only: Sequence[str] = (), light: bool = False, insert_pk: bool = False):
        """`only` limits reads and inserts to these fields (others are deferred, or take their db_default).

        `light` reads rows as plain attribute holders instead of model instances: much cheaper,
        enough for reading and for `update` of the fields read or set. `insert_pk` inserts the
        objects' own primary keys (drawn beforehand, see `next_id_sql`) instead of the database's.
        """
        self.model = model
        self.only = tuple(only)
        self.light = light
        self.insert_pk = insert_pk

    @cached_property
    def next_id_sql(self) -> str:
        """A statement drawing the next primary key from the table's sequence (or identity).

        The sequence is looked up once (pg_get_serial_sequence searches the catalog each time).
        """
        meta = self.model._meta
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
            (sequence,) = cursor.fetchone()
        return f"SELECT nextval('{sequence}'::regclass)"

    @cached_property
    def name(self) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    @cached_property
    def fields(self) -> list[Field]:
        meta = self.model._meta
        if not self.only:
            return list(meta.concrete_fields)
        wanted = {meta.get_field(name).attname for name in self.only}
        return [f for f in meta.concrete_fields if f.attname in wanted]

    @cached_property
    def columns(self) -> str:
        """Every column, qualified by the table name, in model field order."""
        return self.columns_as(self.name)

    @functools.cache  # noqa: B019 - tables are module-level singletons
    def columns_as(self, alias: str) -> str:
        """Every column qualified by `alias` (a short alias keeps the statement short)."""
        return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in self.fields)

    @cached_property
    def _converters(self) -> list[tuple[int, Field]]:
        return [(i, f) for i, f in enumerate(self.fields) if hasattr(f, "from_db_value")]

    @cached_property
    def _pre_save(self) -> frozenset[Field]:
        """Fields whose value is made on save (auto_now, auto_now_add)."""
        return frozenset(f for f in self.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))

    @cached_property
    def _driver_native(self) -> frozenset[Field]:
        """Fields whose Python values psycopg sends as they are: preparing them would only cost time.

        The service hands these fields already-clean values (validated text, Decimal, aware datetimes).
        """
        native = (
            models.CharField,
            models.TextField,
            models.BooleanField,
            models.IntegerField,
            models.DecimalField,
            models.DateTimeField,
            models.ForeignKey,
            models.UUIDField,
        )
        return frozenset(f for f in self.fields if isinstance(f, native) and not isinstance(f, models.JSONField))

    @cached_property
    def _attnames(self) -> list[str]:
        return [f.attname for f in self.fields]

    def select(self, where: str, params: Sequence[Any], *, suffix: str = "") -> list[M]:
        """Rows matching a WHERE clause (written against this table), as model instances."""
        found: list[M] = []
        batch = Batch()
        batch.add(
            f"SELECT {self.columns} FROM {self.name} WHERE {where}{suffix}",
            params,
            lambda rows: found.extend(map(self.from_row, rows)),
        )
        batch.flush()
        return found

    @cached_property
    def _row_class(self) -> type:
        names = self._attnames
        pk = self.model._meta.pk.attname

        class Row:
            def __init__(self, values: Sequence[Any]):
                for name, value in zip(names, values, strict=True):
                    setattr(self, name, value)

            @property
            def pk(self) -> Any:
                return getattr(self, pk)

        Row.__name__ = f"{self.model.__name__}Row"
        return Row

    def from_row(self, row: Sequence[Any]) -> M:
        """A model instance (or a light row) from this table's columns (as `columns` lists them)."""
        values = list(row)
        for index, field in self._converters:
            values[index] = field.from_db_value(values[index], None, connection)
        if self.light:
            return self._row_class(values)
        return self.model.from_db(connection.alias, self._attnames, values)

    @cached_property
    def _writable(self) -> list[tuple[Field, str, bool, bool]]:
        """Inserted fields: (field, attname, made on save, prepared by Django), in column order."""
        return [
            (f, f.attname, f in self._pre_save, f not in self._driver_native)
            for f in self.fields
            if self.insert_pk or not f.primary_key
        ]

    def _rows(self, objs: Sequence[M], skip: Mapping[str, Any]) -> tuple[list[list[Any]], frozenset[tuple[int, int]]]:
        """Each object's values for `_writable` (None where `skip` has the column), as the ORM would save them,
        and the (row, column) positions left to a db_default.

        Fields made on save (auto_now, auto_now_add) get one timestamp for the whole statement.
        """
        made: dict[str, Any] = {}
        rows = []
        defaults = []
        for index, obj in enumerate(objs):
            row = []
            for position, (field, attname, is_made, prepared) in enumerate(self._writable):
                if attname in skip:
                    row.append(None)
                    continue
                if not is_made:
                    value = getattr(obj, attname)
                elif attname in made:
                    value = made[attname]
                    setattr(obj, attname, value)
                else:
                    value = made[attname] = field.pre_save(obj, add=True)
                if isinstance(value, DatabaseDefault):
                    defaults.append((index, position))
                elif prepared:
                    value = field.get_db_prep_save(value, connection)
                elif isinstance(value, Enum):  # psycopg would send an enum's name, Django its value
                    value = value.value
                row.append(value)
            rows.append(row)
        return rows, frozenset(defaults)

    @cached_property
    def _defaults(self) -> list[tuple[str, Callable[[], Any]]]:
        return [(f.attname, f._get_default) for f in self.model._meta.concrete_fields]

    def new(self, **values: Any) -> M:
        """An unsaved instance, built positionally: `Model(**kwargs)` costs several times more.

        `values` are keyed by attname (`profile_id`, not `profile`); other fields take their defaults.
        """
        args = [values.pop(attname) if attname in values else default() for attname, default in self._defaults]
        if values:
            raise TypeError(f"{self.model.__name__} has no fields {sorted(values)}")
        return self.model(*args)

    @functools.cache  # noqa: B019 - tables are module-level singletons
    def _recordset_sql(
        self, given: tuple[tuple[str, str], ...], tail: str
    ) -> tuple[str, list[str], list[tuple[int, str]]]:
        """INSERT ... SELECT FROM json_populate_recordset(one JSON array of rows): one text for any count.

        Returns the text, the attnames given as SQL (in the order their params go), and the
        positions in `_writable` and column names of the fields sent as JSON.
        """
        quote = connection.ops.quote_name
        given_sql = dict(given)
        first = [f for f, *_ in self._writable if f.attname in given_sql]
        sent = [(i, f.column) for i, (f, *_) in enumerate(self._writable) if f.attname not in given_sql]
        columns = ", ".join(quote(column) for column in [*(f.column for f in first), *(c for _, c in sent)])
        selected = ", ".join([*(given_sql[f.attname] for f in first), *(f"r.{quote(c)}" for _, c in sent)])
        source = f"json_populate_recordset(NULL::{self.name}, %s) AS r"
        sql = f"INSERT INTO {self.name} ({columns}) SELECT {selected} FROM {source} {tail}"
        return sql, [f.attname for f in first], sent

    def _insert_sql(
        self, objs: Sequence[M], tail: str, column_sql: Mapping[str, tuple[str, list[Any]]] | None = None
    ) -> tuple[str, list[Any]]:
        column_sql = column_sql or {}
        given = tuple((name, sql) for name, (sql, _) in column_sql.items())
        rows, defaults = self._rows(objs, column_sql)
        # Up to 50 values psycopg reuses its parse of a VALUES statement; beyond, the rows travel as one
        # JSON parameter (json.dumps is much cheaper than binding each value, or each column as an array).
        if len(objs) * len(self._writable) > _MAX_CACHED_PARAMS and not defaults:
            sql, first, sent = self._recordset_sql(given, tail)
            columns = [column for _, column in sent]
            try:
                document = json.dumps(
                    [dict(zip(columns, (row[i] for i, _ in sent), strict=True)) for row in rows],
                    default=_json_default,
                    allow_nan=False,
                )
            except (TypeError, ValueError):  # a value JSON cannot carry (an adapter, NaN): bind each one
                pass
            else:
                return sql, [*(p for name in first for p in column_sql[name][1]), document]
        sql = self._values_sql(given, len(rows), defaults, tail)
        if not column_sql and not defaults:
            return sql, [value for row in rows for value in row]
        params: list[Any] = []
        for index, row in enumerate(rows):
            for position, ((_, attname, *_), value) in enumerate(zip(self._writable, row, strict=True)):
                if attname in column_sql:
                    params += column_sql[attname][1]
                elif (index, position) not in defaults:
                    params.append(value)
        return sql, params

    @functools.lru_cache(maxsize=256)  # noqa: B019 - tables are module-level singletons
    def _values_sql(
        self, given: tuple[tuple[str, str], ...], count: int, defaults: frozenset[tuple[int, int]], tail: str
    ) -> str:
        """INSERT ... VALUES text for `count` rows: `given` columns as SQL, `defaults` positions as DEFAULT."""
        quote = connection.ops.quote_name
        given_sql = dict(given)
        values = []
        for index in range(count):
            placeholders = []
            for position, (_, attname, *_) in enumerate(self._writable):
                if attname in given_sql:
                    placeholders.append(given_sql[attname])
                elif (index, position) in defaults:  # a field with only a db_default, left unset
                    placeholders.append("DEFAULT")
                else:
                    placeholders.append("%s")
            values.append("(" + ", ".join(placeholders) + ")")
        columns = ", ".join(quote(f.column) for f, *_ in self._writable)
        return f"INSERT INTO {self.name} ({columns}) VALUES {', '.join(values)} {tail}"

    def insert(
        self,
        objs: Sequence[M],
        *,
        batch: Batch | None = None,
        on_conflict: str = "",
        on_skipped: Callable[[], None] | None = None,
        column_sql: Mapping[str, tuple[str, list[Any]]] | None = None,
    ) -> None:
        """Insert in one statement and set each primary key (now, or when the batch runs).

        With `on_conflict` (a DO NOTHING clause) give one object; `on_skipped` runs if it was not inserted.
        `column_sql` gives some columns as SQL (with params) instead of the objects' values, e.g. the id
        of a row an earlier statement of the same batch inserts.
        """
        if not objs:
            return
        assert not on_conflict or len(objs) == 1, "skipped rows can only be told apart for one object"
        pk = connection.ops.quote_name(self.model._meta.pk.column)
        sql, params = self._insert_sql(objs, f"{on_conflict} RETURNING {pk}", column_sql)

        def set_keys(rows: list[tuple]) -> None:
            if len(rows) < len(objs):  # only with on_conflict, and then for one object
                if on_skipped is not None:
                    on_skipped()
                return
            for obj, (value,) in zip(objs, rows, strict=True):
                obj.pk = value
                obj._state.adding = False

        own = batch or Batch()
        own.add(sql, params, set_keys)
        if batch is None:
            own.flush()

    def update(self, obj: M, field_names: Sequence[str], *, batch: Batch | None = None) -> None:
        """UPDATE one row's given fields (auto_now fields included when named)."""
        quote = connection.ops.quote_name
        fields = [self.model._meta.get_field(name) for name in field_names]
        values = [f.get_db_prep_save(f.pre_save(obj, add=False), connection) for f in fields]
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        own = batch or Batch()
        own.add(
            f"UPDATE {self.name} SET {assignments} WHERE {quote(self.model._meta.pk.column)} = %s", [*values, obj.pk]
        )
        if batch is None:
            own.flush()


# --- bulk writes (the backfill's): COPY, one UPDATE for many rows, array parameters ----------------
# Imported here, beside the helpers that alone use them.


def copy_rows(
    model: type[Model], rows: Sequence[Any], field_names: Sequence[str] | None = None, *, now: datetime | None = None
) -> None:
    """Insert with COPY, the fastest way into PostgreSQL; primary keys are drawn from the sequence first.

    auto_now / auto_now_add columns get `now` (the caller's clock; the wall clock if not given).
    """
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names] if field_names else list(meta.concrete_fields)
    db = connections[model.objects.db]
    quote = db.ops.quote_name
    value_of = column_values(fields, db, now=now or timezone.now())
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            setattr(row, meta.pk.attname, pk)
            row.pk = pk
            if hasattr(row, "_state"):
                row._state.adding = False
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(value_of(row))


def column_values(fields: Sequence[Field], db: Any, *, now: datetime) -> Callable[[Any], list[Any]]:
    """A fast row -> column values function: plain attributes where the driver takes them as they are."""
    plain = (
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.BooleanField,
        models.DecimalField,
        models.DateTimeField,
        models.ForeignKey,
    )
    getters: list[Callable[[Any], Any]] = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            getters.append(lambda row, now=now: now)
        elif isinstance(field, plain):
            getters.append(operator.attrgetter(field.attname))
        else:
            getters.append(lambda row, field=field: field.get_db_prep_save(field.pre_save(row, add=True), db))
    return lambda row: [get(row) for get in getters]


def update_rows(model: type[Model], rows: Iterable[Any], field_names: Sequence[str]) -> None:
    """UPDATE many rows in one statement: one array parameter per column, joined on the primary key."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    arrays = [[getattr(row, f.attname) for row in rows] for f in fields]  # plain columns only
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    names = ", ".join(f"c{index}" for index in range(len(fields)))
    assignments = ", ".join(f"{quote(f.column)} = v.c{index}" for index, f in enumerate(fields) if index)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} FROM unnest({unnest}) AS v({names}) "
            f"WHERE {quote(meta.db_table)}.{quote(meta.pk.column)} = v.c0",
            arrays,
        )


def any_of(values: Iterable[Any], sql_type: str) -> RawSQL:
    """`field__in=any_of(ids, "uuid")`: one array parameter instead of a placeholder per value."""
    return RawSQL(f"SELECT unnest(%s::{sql_type}[])", [list(values)])
