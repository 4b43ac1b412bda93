"""sql.py on committed data: the own transaction (BEGIN and COMMIT riding with batches) and bulk inserts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import DataError, IntegrityError, ProgrammingError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.pq import Format, TransactionStatus

from saleor_conveyor import conveyor, signals, sql
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint

from .factories import T0, at_once, customer, days, placed

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = sql.Table(FanProfile)
PURCHASES = sql.Table(Purchase)
TOUCHPOINTS = sql.Table(Touchpoint)


@pytest.fixture(autouse=True)
def own_ways(settings):
    """These tests pin sql.py's own batching and transaction; the libraries' ways are tested in test_sql_modes.py."""
    settings.CONVEYOR_SQL_BATCHING = sql.JOINED
    settings.CONVEYOR_OWN_TRANSACTION = True


def server_status() -> TransactionStatus:
    return connection.connection.info.transaction_status


def committed_emails() -> set[str]:
    """What another connection sees: only committed rows."""
    seen: set[str] = set()

    def look() -> None:
        try:
            seen.update(FanProfile.objects.values_list("email", flat=True))
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(timeout=30)
    return seen


def test_own_transaction_sends_begin_with_the_first_batch_and_commit_with_the_last():
    done = []
    with CaptureQueriesContext(connection) as queries, sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
        sql.on_commit(lambda: done.append(committed_emails()))
        batch = sql.Batch()
        PROFILES.insert([FanProfile(email="b@example.com")], batch=batch)
        batch.flush(last=True)
        assert done == []  # not before the commit
    trips = [q["sql"] for q in queries]
    assert len(trips) == 2
    assert trips[0].startswith("BEGIN; INSERT") and trips[1].endswith("; COMMIT")
    assert done == [{"a@example.com", "b@example.com"}]
    assert server_status() == TransactionStatus.IDLE


def test_own_transaction_commits_on_leaving_the_block_when_no_batch_said_last():
    with CaptureQueriesContext(connection) as queries, sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
    assert [q["sql"] for q in queries][-1] == "COMMIT"
    assert committed_emails() == {"a@example.com"}


def test_a_failing_last_batch_undoes_the_whole_transaction():
    FanProfile.objects.create(email="taken@example.com")
    with pytest.raises(IntegrityError), sql.atomic():
        PROFILES.insert([FanProfile(email="new@example.com")])
        batch = sql.Batch()
        PROFILES.insert([FanProfile(email="other@example.com")], batch=batch)
        PROFILES.insert([FanProfile(email="taken@example.com")], batch=batch)
        batch.flush(last=True)
    assert server_status() == TransactionStatus.IDLE
    assert committed_emails() == {"taken@example.com"}
    assert FanProfile.objects.count() == 1  # and the connection works on


def test_an_exception_between_batches_rolls_back_and_skips_the_callbacks():
    called = []
    with pytest.raises(RuntimeError, match="boom"), sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
        sql.on_commit(lambda: called.append(True))
        raise RuntimeError("boom")
    assert called == []
    assert server_status() == TransactionStatus.IDLE
    assert committed_emails() == set()


def test_nothing_may_be_written_after_the_committing_batch():
    with pytest.raises(RuntimeError, match="committed"), sql.atomic():
        batch = sql.Batch()
        PROFILES.insert([FanProfile(email="a@example.com")], batch=batch)
        batch.flush(last=True)
        PROFILES.insert([FanProfile(email="b@example.com")])
    assert committed_emails() == {"a@example.com"}


def test_a_nested_block_joins_the_transaction_and_its_error_undoes_the_whole():
    with sql.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
        with sql.atomic():
            PROFILES.insert([FanProfile(email="b@example.com")])
    assert committed_emails() == {"a@example.com", "b@example.com"}
    with pytest.raises(RuntimeError, match="inner"), sql.atomic():
        PROFILES.insert([FanProfile(email="c@example.com")])
        with sql.atomic():
            raise RuntimeError("inner")
    assert committed_emails() == {"a@example.com", "b@example.com"}


def test_a_batch_that_never_reached_the_server_leaves_the_next_one_to_begin():
    with pytest.raises(RuntimeError, match="later"), sql.atomic():
        with pytest.raises(ProgrammingError):  # psycopg cannot send this value: nothing reached the server
            PROFILES.insert([FanProfile(email="a@example.com", first_name=object())])
        PROFILES.insert([FanProfile(email="b@example.com")])
        raise RuntimeError("later")
    assert committed_emails() == set()  # b's insert was in the transaction, and rolled back


def test_callbacks_run_when_the_commit_went_out_before_a_handler_failed():
    called = []
    with pytest.raises(ValueError, match="handler"), sql.atomic():
        sql.on_commit(lambda: called.append(True))
        batch = sql.Batch()
        batch.add("INSERT INTO saleor_conveyor_fanprofile (email) VALUES (%s)", ["a@example.com"])
        batch.add("SELECT 1", [], lambda rows: (_ for _ in ()).throw(ValueError("handler")))
        batch.flush(last=True)
    assert called == [True] and committed_emails() == {"a@example.com"}


def test_percent_signs_read_the_same_with_and_without_parameters():
    found: list = []
    batch = sql.Batch()
    batch.add("SELECT '100%%'", [], found.extend)
    batch.add("SELECT '100%%' || %s", ["!"], found.extend)
    batch.flush()
    assert found == [("100%",), ("100%!",)]


TIMESTAMPS_SQL = (
    "SELECT '2026-03-01 09:30:00.123456+09'::timestamptz, '1999-12-31 23:59:59Z'::timestamptz, NULL::timestamptz"
)


def read_in_batch(statement: str) -> list[tuple]:
    found: list[tuple] = []
    batch = sql.Batch()
    batch.add(statement, [], found.extend)
    batch.flush()
    return found


def read_with_django(statement: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall()


def test_batches_read_timestamps_with_the_drivers_loader_and_get_what_django_gets():
    found = read_in_batch(TIMESTAMPS_SQL)
    assert found == read_with_django(TIMESTAMPS_SQL)
    assert found[0][0] == datetime(2026, 3, 1, 0, 30, 0, 123456, tzinfo=UTC)
    assert found[0][0].tzinfo is UTC and found[0][1].tzinfo is UTC and found[0][2] is None
    with connection.cursor() as cursor:
        sql._driver_timestamps(cursor.cursor)
        assert cursor.cursor.adapters.get_loader(sql._TIMESTAMPTZ_OID, Format.TEXT) is sql._DRIVER_TIMESTAMPTZ
    # Django's own cursors keep Django's loader.
    assert connection.connection.adapters.get_loader(sql._TIMESTAMPTZ_OID, Format.TEXT) is not sql._DRIVER_TIMESTAMPTZ


def test_a_session_moved_to_another_time_zone_keeps_djangos_loader():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
    try:
        with connection.cursor() as cursor:
            sql._driver_timestamps(cursor.cursor)
            assert cursor.cursor.adapters.get_loader(sql._TIMESTAMPTZ_OID, Format.TEXT) is not sql._DRIVER_TIMESTAMPTZ
        # Whatever Django reads in such a session, a batch reads the same.
        assert read_in_batch(TIMESTAMPS_SQL) == read_with_django(TIMESTAMPS_SQL)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")


def test_a_database_time_zone_named_utc_keeps_djangos_loader(monkeypatch):
    # DATABASES TIME_ZONE "UTC" makes Django's zone ZoneInfo("UTC"); psycopg's would be timezone.utc.
    monkeypatch.setitem(connections["default"].__dict__, "timezone", ZoneInfo("UTC"))  # the wrapper, not the proxy
    with connection.cursor() as cursor:
        sql._driver_timestamps(cursor.cursor)
        assert cursor.cursor.adapters.get_loader(sql._TIMESTAMPTZ_OID, Format.TEXT) is not sql._DRIVER_TIMESTAMPTZ
    found = read_in_batch(TIMESTAMPS_SQL)
    assert found[0][0].tzinfo == ZoneInfo("UTC") and found == read_with_django(TIMESTAMPS_SQL)


def test_infinite_timestamps_fail_as_they_do_in_django():
    with pytest.raises(DataError), connection.cursor() as cursor:
        cursor.execute("SELECT 'infinity'::timestamptz")
        cursor.fetchone()
    with pytest.raises(DataError):
        read_in_batch("SELECT 'infinity'::timestamptz")


def test_inside_django_atomic_it_is_a_savepoint_and_callbacks_wait_for_the_outer_commit():
    called = []
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries, sql.atomic():
            batch = sql.Batch()
            PROFILES.insert([FanProfile(email="a@example.com")], batch=batch)
            batch.flush(last=True)
            sql.on_commit(lambda: called.append(True))
        assert not any("BEGIN" in q["sql"] or "COMMIT" in q["sql"] for q in queries)
        assert called == []
    assert called == [True]


def test_opening_django_atomic_inside_the_own_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside sql.atomic"), sql.atomic(), transaction.atomic():
        PROFILES.insert([FanProfile(email="a@example.com")])
    assert server_status() == TransactionStatus.IDLE
    assert committed_emails() == set()


def test_many_rows_go_as_one_json_parameter_and_come_back_exactly():
    fan = FanProfile.objects.create(email="a@example.com")
    texts = ['quote " and \\ backslash', "it's", "改行\nタブ\t", "{braces}, [brackets]", "", "NULL", "null"]
    stamp = datetime(2026, 4, 1, 10, 0, 0, 123456, tzinfo=UTC)
    rows = [
        Touchpoint(
            profile=fan,
            rule="r",
            key=f"k{n}",
            kind="EMAIL",
            status="SCHEDULED",
            planned_at=stamp + days(n),
            due_at=stamp + days(n),
            order_id=None if n % 2 else f"o{n}",
            marketing=bool(n % 2),
            outcome=text,
        )
        for n, text in enumerate(texts)
    ]
    with CaptureQueriesContext(connection) as queries:
        TOUCHPOINTS.insert(rows)
    assert len(queries) == 1 and "json_populate_recordset" in queries[0]["sql"]
    for row in rows:
        stored = Touchpoint.objects.get(pk=row.pk)  # each object got its own row's id
        assert (stored.key, stored.outcome, stored.order_id, stored.marketing) == (
            row.key,
            row.outcome,
            row.order_id,
            row.marketing,
        )
        assert stored.due_at == row.due_at and stored.created_at == row.created_at


def test_a_few_rows_are_bound_value_by_value():
    fan = FanProfile.objects.create(email="a@example.com")
    rows = [
        Purchase(
            order_id=f"o{n}", profile=fan, channel="c", currency="JPY", total_gross_amount=Decimal("1.5"), placed_at=T0
        )
        for n in range(2)
    ]
    with CaptureQueriesContext(connection) as queries:
        PURCHASES.insert(rows)
    assert "VALUES" in queries[0]["sql"] and "json" not in queries[0]["sql"]
    assert sorted(Purchase.objects.values_list("order_id", "total_gross_amount")) == [
        ("o0", Decimal("1.5")),
        ("o1", Decimal("1.5")),
    ]


# --- the service in autocommit mode (the way a Celery task or a webhook calls it) ----------


def test_recording_an_order_outside_any_transaction_takes_two_round_trips_and_signals_after_commit():
    seen = []

    def on_scheduled(**kwargs):
        seen.append(committed_emails())

    signals.touchpoint_scheduled.connect(on_scheduled)
    try:
        with CaptureQueriesContext(connection) as queries:
            conveyor.record_order_placed(placed("o1"), now=T0)
    finally:
        signals.touchpoint_scheduled.disconnect(on_scheduled)
    assert len(queries) == 2
    assert seen == [{"hanako@example.com"}]
    fan = FanProfile.objects.get()
    assert fan.purchase_count == 1 and Touchpoint.objects.filter(profile=fan, key="step_day3").exists()


def test_an_order_recorded_for_another_customer_writes_nothing_for_the_new_one():
    conveyor.record_order_placed(placed("o1"), now=T0)
    before = (FanProfile.objects.count(), Touchpoint.objects.count())
    result = conveyor.record_order_placed(placed("o1", who=customer("someone-else@example.com")), now=T0)
    assert result.profile_id == FanProfile.objects.get(email="hanako@example.com").id
    assert (FanProfile.objects.count(), Touchpoint.objects.count()) == before
    assert server_status() == TransactionStatus.IDLE


def test_an_order_recorded_for_another_customer_leaves_a_returning_customer_unchanged():
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_order_placed(placed("o2", who=customer("b@example.com")), now=T0)
    conveyor.record_order_placed(placed("o1", who=customer("b@example.com"), at=T0 + days(1)), now=T0 + days(1))
    b = FanProfile.objects.get(email="b@example.com")
    assert b.purchase_count == 1 and list(b.purchases.values_list("order_id", flat=True)) == ["o2"]
    assert not Touchpoint.objects.filter(profile=b, key="second_purchase").exists()


def test_first_orders_of_one_new_customer_at_once_make_one_profile_and_no_duplicate():
    count = 4

    def first_order(n: int) -> object:
        return conveyor.record_order_placed(placed(f"o{n}", at=T0 + days(n)), now=T0 + days(n))

    outcomes = at_once(count, first_order)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert not errors, errors
    fan = FanProfile.objects.get()
    assert fan.purchase_count == count and fan.stage == "LOYAL"
    assert Purchase.objects.filter(profile=fan).count() == count
    keys = list(Touchpoint.objects.values_list("key", flat=True))
    assert len(keys) == len(set(keys)) and "step_day3" in keys


def test_an_nps_answer_takes_two_round_trips_and_a_first_time_answerer_three():
    from saleor_conveyor.events import NpsAnswered

    conveyor.record_order_placed(placed("o1"), now=T0)
    assert "nextval" in conveyor.surveys.NEW_NPS_RESPONSES.next_id_sql  # its sequence is looked up once per process
    with CaptureQueriesContext(connection) as queries:
        conveyor.record_nps(NpsAnswered(customer(), 9, T0 + days(12), order_id="o1"), now=T0 + days(12))
    assert len(queries) == 2 and queries[-1]["sql"].endswith("COMMIT")
    newcomer = customer("new@example.com")
    with CaptureQueriesContext(connection) as queries:
        response = conveyor.record_nps(NpsAnswered(newcomer, 3, T0), now=T0)
    assert len(queries) == 3
    fan = FanProfile.objects.get(email="new@example.com")
    assert (fan.nps, fan.nps_category, response.profile_id) == (3, "DETRACTOR", fan.id)
    assert Touchpoint.objects.filter(profile=fan, key=f"honesty_letter:{response.occasion}").exists()
    assert server_status() == TransactionStatus.IDLE


def test_an_integrity_error_that_is_no_race_is_raised_as_it_is():
    # A first order naming an account that does not exist: the deferred foreign key fails at COMMIT.
    with pytest.raises(IntegrityError):
        conveyor.record_order_placed(placed("o1", who=customer(user_id=987654)), now=T0)
    assert server_status() == TransactionStatus.IDLE
    assert committed_emails() == set() and not Purchase.objects.exists()


def test_analyzing_the_conveyors_tables_gives_the_planner_their_real_size():
    # After a bulk load the planner thinks the tables empty until autovacuum runs, and joins row by row.
    profiles = FanProfile.objects.bulk_create(FanProfile(email=f"c{n}@example.com") for n in range(300))
    table = FanProfile._meta.db_table

    def estimated_rows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            return cursor.fetchone()[0]

    analyzed = sql.analyze_conveyor_tables()
    assert table in analyzed and Touchpoint._meta.db_table in analyzed and Purchase._meta.db_table in analyzed
    assert estimated_rows() == len(profiles)
