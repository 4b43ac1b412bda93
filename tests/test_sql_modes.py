"""sql.py with the libraries' ways: psycopg's pipeline and prepared statements, Django's transaction.atomic()."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from saleor_conveyor import conveyor, sql
from saleor_conveyor.events import NpsAnswered
from saleor_conveyor.models import FanProfile, Touchpoint

from .factories import T0, customer, days, placed

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = sql.Table(FanProfile)
BY_EMAIL = f"SELECT email, purchase_count FROM {PROFILES.name} WHERE email = %s"


@pytest.fixture
def pipeline(settings):
    settings.CONVEYOR_SQL_BATCHING = sql.PIPELINE
    settings.CONVEYOR_OWN_TRANSACTION = True
    connection.ensure_connection()
    yield
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")


@pytest.fixture
def djangos_transaction(settings):
    settings.CONVEYOR_OWN_TRANSACTION = False


def server_status() -> TransactionStatus:
    return connection.connection.info.transaction_status


def prepared_on_server() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def test_the_settings_are_read_and_checked(settings):
    for name in ("CONVEYOR_SQL_BATCHING", "CONVEYOR_OWN_TRANSACTION"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert (sql.batching(), sql.own_transaction_enabled()) == (sql.DEFAULT_BATCHING, sql.DEFAULT_OWN_TRANSACTION)
    settings.CONVEYOR_SQL_BATCHING = "fast"
    with pytest.raises(ValueError, match="CONVEYOR_SQL_BATCHING must be one of joined, pipeline"):
        sql.batching()


def test_a_pipelined_batch_is_one_round_trip_and_each_statement_gets_its_rows(pipeline):
    FanProfile.objects.create(email="a@example.com", purchase_count=2)
    first, second, counted = [], [], []
    batch = sql.Batch()
    batch.add(BY_EMAIL, ["a@example.com"], first.extend)
    batch.add(f"UPDATE {PROFILES.name} SET purchase_count = purchase_count + %s WHERE email = %s", [1, "a@example.com"])
    batch.add(BY_EMAIL, ["a@example.com"], second.extend)
    batch.add("SELECT 100 %% 7, %s::int", [3], counted.extend)  # percent signs as in the joined text
    with CaptureQueriesContext(connection) as queries:
        batch.flush()
    assert len(queries) == 1
    assert first == [("a@example.com", 2)] and second == [("a@example.com", 3)] and counted == [(2, 3)]


def test_psycopg_prepares_a_text_from_its_second_use_and_answers_the_same(pipeline):
    FanProfile.objects.create(email="a@example.com")
    answers = []
    for prepared_before in (0, 0, 1):
        assert sum("WHERE email = $1" in statement for statement in prepared_on_server()) == prepared_before
        batch = sql.Batch()
        batch.add(BY_EMAIL, ["a@example.com"], answers.append)
        batch.flush()
    assert answers == [[("a@example.com", 0)]] * 3
    # Django leaves psycopg's preparing off; only the conveyor's own (server-binding) cursors use it.
    assert connection.connection.prepare_threshold == 1 and not connection.settings_dict["OPTIONS"].get(
        "server_side_binding"
    )
    assert any("FROM" in statement and "WHERE email = $1" in statement for statement in prepared_on_server())


def test_switched_off_psycopg_prepares_nothing(pipeline, settings):
    settings.CONVEYOR_PREPARED_STATEMENTS = False
    for _ in range(6):
        batch = sql.Batch()
        batch.add(BY_EMAIL, ["a@example.com"])
        batch.flush()
    assert prepared_on_server() == []


def test_a_failing_pipelined_statement_raises_djangos_error_and_undoes_its_transaction(pipeline):
    FanProfile.objects.create(email="a@example.com")
    with pytest.raises(IntegrityError), sql.atomic():
        batch = sql.Batch()
        batch.add(f"UPDATE {PROFILES.name} SET purchase_count = 5 WHERE email = %s", ["a@example.com"])
        PROFILES.insert([FanProfile(email="a@example.com")], batch=batch)
        batch.flush(last=True)
    assert server_status() == TransactionStatus.IDLE
    assert FanProfile.objects.get().purchase_count == 0


def test_recording_an_order_in_the_pipeline_takes_two_round_trips(pipeline):
    with CaptureQueriesContext(connection) as queries:
        conveyor.record_order_placed(placed("o1"), now=T0)
    assert len(queries) == 2 and queries[0]["sql"].startswith("BEGIN") and queries[-1]["sql"].endswith("COMMIT")
    fan = FanProfile.objects.get()
    assert fan.purchase_count == 1 and Touchpoint.objects.filter(profile=fan, key="step_day3").exists()
    assert server_status() == TransactionStatus.IDLE


@pytest.mark.parametrize("batching", [sql.JOINED, sql.PIPELINE])
def test_with_djangos_transaction_an_order_and_an_answer_are_recorded_alike(batching, settings, djangos_transaction):
    settings.CONVEYOR_SQL_BATCHING = batching
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_placed(placed("o2", at=T0 + days(3)), now=T0 + days(3))
    response = conveyor.record_nps(NpsAnswered(customer(), 9, T0 + days(12), order_id="o1"), now=T0 + days(12))
    fan = FanProfile.objects.get()
    assert (fan.purchase_count, fan.nps, response.profile_id) == (2, 9, fan.id)
    assert server_status() == TransactionStatus.IDLE and connection.get_autocommit()


def test_with_djangos_transaction_code_inside_may_open_transaction_atomic(djangos_transaction):
    committed = []
    with sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
        with transaction.atomic():  # a savepoint: allowed once the transaction is Django's
            PROFILES.insert([FanProfile(email="b@example.com")])
        sql.on_commit(lambda: committed.append(FanProfile.objects.count()))
        assert committed == []
    assert committed == [2]


def test_with_djangos_transaction_an_error_undoes_the_block(djangos_transaction):
    with pytest.raises(RuntimeError, match="boom"), sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
        raise RuntimeError("boom")
    assert not FanProfile.objects.exists()


def test_djangos_execute_wrappers_see_a_pipelined_batch(pipeline):
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    rows = []
    batch = sql.Batch()
    batch.add(BY_EMAIL, ["a@example.com"], rows.extend)
    batch.add("SELECT %s::int", [7], rows.extend)
    with connection.execute_wrapper(wrapper):
        batch.flush()
    assert seen == [(f"{BY_EMAIL}; SELECT %s::int", ["a@example.com", 7])] and rows == [(7,)]
