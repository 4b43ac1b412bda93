"""sql.py's pipeline ("pipeline" batching) on psycopg's prepared statements: prepared from a text's second use
on a connection, as the host's prepare_threshold allows, and a connection whose statements vanish or go stale
goes on without them."""

from __future__ import annotations

import logging
import threading

import psycopg
import pytest
from django.db import IntegrityError, NotSupportedError, ProgrammingError, connection, connections, transaction
from django.db.transaction import TransactionManagementError

from saleor_conveyor import conveyor, sql
from saleor_conveyor.models import FanProfile, Purchase

from . import sql_probe
from .factories import T0, days, placed
from .sql_probe import run_batch

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = sql.Table(FanProfile)
BY_EMAIL = f"SELECT email, purchase_count FROM {PROFILES.name} WHERE email = %s"
GONE = "dropped or outdated"  # what the warning says


@pytest.fixture(autouse=True)
def fresh_session(settings):
    """Each test starts on a new connection (psycopg's cache empty), with the pipeline and the own transaction."""
    settings.CONVEYOR_SQL_BATCHING = sql.PIPELINE
    settings.CONVEYOR_OWN_TRANSACTION = True
    connection.close()
    connection.ensure_connection()
    yield
    connection.close()


def run(statement: str, params: list, sent: list[str] | None = None) -> list[tuple]:
    """One batch of one statement: its rows (the texts that went to the server, one per round trip, in `sent`)."""
    return run_batch(statement, params, sent)[0]


def prepared_on_server() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def preparing() -> bool:
    return connection.connection.prepare_threshold is not None


def drop_prepared(how: str = "DISCARD ALL") -> None:
    """What a pooler's reset query or another library may run on the session, psycopg none the wiser."""
    with connection.cursor() as cursor:
        cursor.execute(how)


def test_discard_all_between_two_recorded_orders_does_not_stop_the_second_from_recording(caplog):
    for n, at in enumerate((T0, T0 + days(1)), start=1):  # the order's statements are prepared by the second
        conveyor.record_order_placed(placed(f"o{n}", at=at), now=at)
    assert prepared_on_server() != [] and preparing()
    drop_prepared("DISCARD ALL")
    with caplog.at_level(logging.WARNING, logger="saleor_conveyor.sql"):
        conveyor.record_order_placed(placed("o3", at=T0 + days(2)), now=T0 + days(2))
    assert FanProfile.objects.get().purchase_count == 3
    assert set(Purchase.objects.values_list("order_id", flat=True)) == {"o1", "o2", "o3"}
    assert GONE in caplog.text and not preparing()  # this connection goes on without prepared statements
    conveyor.record_order_placed(placed("o4", at=T0 + days(3)), now=T0 + days(3))
    assert FanProfile.objects.get().purchase_count == 4 and prepared_on_server() == []
    connection.close()
    run(BY_EMAIL, ["a@example.com"])
    assert preparing()  # a new connection starts preparing again


def test_the_first_batch_of_an_own_transaction_is_run_again_after_a_rollback_when_its_statements_are_gone():
    PROFILES.insert([FanProfile(email="a@example.com", purchase_count=1)])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    drop_prepared("DEALLOCATE ALL")
    sent: list[str] = []
    with sql.atomic():
        rows = run(BY_EMAIL, ["a@example.com"], sent)
        PROFILES.insert([FanProfile(email="b@example.com")])
    assert rows == [("a@example.com", 1)]
    assert [text.split(" ")[0] for text in sent] == ["BEGIN;", "ROLLBACK", "BEGIN;"]
    assert set(FanProfile.objects.values_list("email", flat=True)) == {"a@example.com", "b@example.com"}


def test_a_later_batch_of_a_transaction_whose_statements_are_gone_fails_once_and_changes_nothing():
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    drop_prepared()
    with pytest.raises(ProgrammingError), sql.atomic():
        PROFILES.insert([FanProfile(email="b@example.com")])
        run(BY_EMAIL, ["a@example.com"])  # the transaction's work cannot be replayed here: it fails
    assert list(FanProfile.objects.values_list("email", flat=True)) == ["a@example.com"]
    assert run(BY_EMAIL, ["a@example.com"]) == [("a@example.com", 0)]  # and the connection goes on, unprepared
    assert not preparing()


def test_inside_djangos_atomic_statements_gone_fail_that_block_once_and_the_connection_goes_on():
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    drop_prepared()
    with pytest.raises(ProgrammingError), transaction.atomic():
        FanProfile.objects.create(email="b@example.com")
        run(BY_EMAIL, ["a@example.com"])
    assert list(FanProfile.objects.values_list("email", flat=True)) == ["a@example.com"]
    with transaction.atomic():
        assert run(BY_EMAIL, ["a@example.com"]) == [("a@example.com", 0)]


def test_a_statement_name_taken_on_the_session_by_another_client_is_run_unprepared(caplog):
    # Behind a pooler that shares one backend between clients, another psycopg connection's `_pg3_0` is there.
    with connection.cursor() as cursor:
        cursor.execute("PREPARE _pg3_0 AS SELECT 1")
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    with caplog.at_level(logging.WARNING, logger="saleor_conveyor.sql"):
        rows = run(BY_EMAIL, ["a@example.com"])  # psycopg prepares it as _pg3_0: 42P05, then run as it is
    assert rows == [("a@example.com", 0)] and GONE in caplog.text and not preparing()


@pytest.fixture
def probe_table():
    with sql_probe.probe_table() as statement:
        yield statement


@pytest.mark.parametrize("language", ["en", "ja"])
def test_a_plan_outdated_by_a_changed_column_is_recognised_by_its_sqlstate_in_any_language(
    probe_table, language, monkeypatch, caplog
):
    run(probe_table, [1])
    run(probe_table, [1])  # prepared now
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE conveyor_probe ALTER a TYPE bigint")  # a migration while the process runs
    if language == "ja":
        monkeypatch.setattr(psycopg.Error, "__str__", lambda self: sql_probe.JAPANESE_CACHED_PLAN)
    with caplog.at_level(logging.WARNING, logger="saleor_conveyor.sql"):
        rows = run(probe_table, [1])  # failed prepared (0A000), answered unprepared
    assert rows == [(1,)] and GONE in caplog.text and not preparing()
    assert run(probe_table, [1]) == [(1,)]  # the session goes on without prepared statements


def test_a_feature_refused_anyway_is_raised_and_the_connection_keeps_preparing(probe_table, caplog):
    with caplog.at_level(logging.WARNING, logger="saleor_conveyor.sql"), pytest.raises(NotSupportedError):
        run("SELECT a FROM conveyor_probe WHERE a = %s GROUP BY a FOR UPDATE", [1])  # 0A000, prepared or not
    assert preparing() and GONE not in caplog.text


def test_a_batch_on_a_kept_connection_the_server_dropped_runs_on_a_new_one():
    assert connection.health_check_enabled  # CONN_HEALTH_CHECKS, as the sandbox sets it
    pid = connection.connection.info.backend_pid

    def terminate() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connections["default"].close()

    killer = threading.Thread(target=terminate)
    killer.start()
    killer.join(timeout=30)
    connection.health_check_done = False  # as at the start of a request
    assert run("SELECT %s::int", [7]) == [(7,)]
    assert connection.connection.info.backend_pid != pid


@pytest.fixture
def host_threshold():
    """Set the database OPTIONS' prepare_threshold for the test's new connections."""
    options = connection.settings_dict["OPTIONS"]
    missing = object()
    kept = options.get("prepare_threshold", missing)

    def given(value):
        options["prepare_threshold"] = value
        connection.close()

    yield given
    if kept is missing:
        options.pop("prepare_threshold", None)
    else:
        options["prepare_threshold"] = kept
    connection.close()


def test_the_hosts_prepare_threshold_none_is_respected_as_behind_an_older_pooler(host_threshold):
    host_threshold(None)
    for _ in range(4):
        run(BY_EMAIL, ["a@example.com"])
    assert connection.connection.prepare_threshold is None and prepared_on_server() == []


def test_the_hosts_own_prepare_threshold_is_left_as_given(host_threshold):
    host_threshold(3)
    for _ in range(3):
        run(BY_EMAIL, ["a@example.com"])
    assert connection.connection.prepare_threshold == 3 and prepared_on_server() == []
    run(BY_EMAIL, ["a@example.com"])  # the fourth use: prepared
    assert any("WHERE email = $1" in text for text in prepared_on_server())


def test_a_batch_in_a_transaction_an_error_broke_is_refused_as_djangos_cursor_refuses():
    FanProfile.objects.create(email="a@example.com")
    with pytest.raises(TransactionManagementError, match="until the end of the 'atomic' block"), transaction.atomic():
        with pytest.raises(IntegrityError):
            FanProfile.objects.create(email="a@example.com")  # caught without a savepoint: the block is broken
        run(BY_EMAIL, ["a@example.com"])
    assert FanProfile.objects.count() == 1
