"""sql.py's prepared statements: from a text's second use on a connection, EXECUTE instead of the text."""

from __future__ import annotations

import logging

import psycopg
import pytest
from django.db import NotSupportedError, ProgrammingError, connection, transaction

from saleor_conveyor import sql
from saleor_conveyor.models import FanProfile

from . import sql_probe
from .sql_probe import run_batch

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = sql.Table(FanProfile)
BY_EMAIL = f"SELECT email, purchase_count FROM {PROFILES.name} WHERE email = %s"


@pytest.fixture(autouse=True)
def fresh_session(settings):
    """Each test starts on a session with nothing prepared, as a new connection would, with this module's
    own batching and transaction (what these tests pin; psycopg's way is tested in test_sql_modes.py)."""
    settings.CONVEYOR_SQL_BATCHING = sql.JOINED
    settings.CONVEYOR_OWN_TRANSACTION = True
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    setattr(connection.connection, sql._SESSION_STATE, None)
    sql._unpreparable.clear()
    yield
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    setattr(connection.connection, sql._SESSION_STATE, None)


run = run_batch  # one batch of one statement: its rows and the text that went to the server last


def prepared_on_server() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_a_text_is_prepared_at_its_second_use_and_answers_the_same():
    PROFILES.insert([FanProfile(email="a@example.com", purchase_count=3), FanProfile(email="b@example.com")])
    first, sent_first = run(BY_EMAIL, ["a@example.com"])
    assert sent_first.startswith("SELECT") and prepared_on_server() == {}
    second, sent_second = run(BY_EMAIL, ["a@example.com"])
    third, sent_third = run(BY_EMAIL, ["b@example.com"])
    name = sql._prepared_form(BY_EMAIL, 1)[0]
    assert sent_second == f"EXECUTE {name}('a@example.com')" and sent_third == f"EXECUTE {name}('b@example.com')"
    assert first == second == [("a@example.com", 3)] and third == [("b@example.com", 0)]
    assert prepared_on_server() == {name: f"PREPARE {name} AS {BY_EMAIL.replace('%s', '$1')}"}


def test_a_text_used_once_on_a_connection_is_never_prepared():
    for email in ("a@example.com", "b@example.com"):
        run(f"SELECT count(*) FROM {PROFILES.name} WHERE email = %s AND %s = %s", [email, 1, 1])
        run(f"SELECT count(*) FROM {PROFILES.name} WHERE email = %s AND %s = %s AND true", [email, 1, 1])
        connection.close()  # a connection per request, as Saleor runs by default
    assert prepared_on_server() == {}


def test_switched_off_by_setting_every_statement_goes_as_its_text(settings):
    settings.CONVEYOR_PREPARED_STATEMENTS = False
    sent = [run(BY_EMAIL, ["a@example.com"])[1] for _ in range(3)]
    assert all(text.startswith("SELECT") for text in sent)
    assert prepared_on_server() == {}


def test_percent_signs_and_parameters_keep_their_meaning_when_prepared():
    PROFILES.insert([FanProfile(email="100%@example.com", purchase_count=2)])
    statement = f"SELECT email, purchase_count + %s FROM {PROFILES.name} WHERE email LIKE '100%%' AND email = %s"
    answers = [run(statement, [5, "100%@example.com"]) for _ in range(3)]
    assert [rows for rows, _ in answers] == [[("100%@example.com", 7)]] * 3
    assert answers[2][1].startswith("EXECUTE")


def test_a_text_postgresql_cannot_prepare_runs_as_it_is_without_harming_the_transaction():
    statement = "SELECT %s IS NULL"  # PostgreSQL cannot tell the parameter's type
    with sql.atomic():
        PROFILES.insert([FanProfile(email="kept@example.com")])
        answers = [run(statement, [None]) for _ in range(3)]
    assert [rows for rows, _ in answers] == [[(True,)]] * 3
    assert all(text == "SELECT NULL IS NULL" for _, text in answers)
    assert statement in sql._unpreparable
    assert FanProfile.objects.filter(email="kept@example.com").exists()  # the transaction committed


def test_inside_djangos_atomic_a_failed_prepare_is_the_first_thing_the_transaction_does_and_harms_nothing():
    statement = "SELECT %s IS NULL"
    run(statement, [None])
    with transaction.atomic():  # psycopg begins the transaction with the savepoint of the prepare
        rows, sent = run(statement, [None])
        FanProfile.objects.create(email="kept@example.com")
    assert rows == [(True,)] and sent == "SELECT NULL IS NULL"
    assert FanProfile.objects.filter(email="kept@example.com").exists()
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    with transaction.atomic():
        rows, sent = run(BY_EMAIL, ["a@example.com"])
    assert rows == [("a@example.com", 0)] and sent.startswith("EXECUTE")


def test_a_statement_prepared_inside_a_transaction_that_rolls_back_stays_usable():
    PROFILES.insert([FanProfile(email="a@example.com")])
    with pytest.raises(RuntimeError), sql.atomic():
        run(BY_EMAIL, ["a@example.com"])
        run(BY_EMAIL, ["a@example.com"])  # prepared here, inside the transaction
        raise RuntimeError("undo")
    rows, sent = run(BY_EMAIL, ["a@example.com"])
    assert sent.startswith("EXECUTE") and rows == [("a@example.com", 0)]


def test_statements_dropped_from_the_session_are_run_again_as_text_and_the_connection_stops_preparing(caplog):
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's reset or another library may do
    with caplog.at_level(logging.WARNING, logger="saleor_conveyor.sql"):
        rows, _ = run(BY_EMAIL, ["a@example.com"])  # failed as EXECUTE, answered as text
        again, sent = run(BY_EMAIL, ["a@example.com"])
    assert rows == again == [("a@example.com", 0)]
    assert sent.startswith("SELECT") and prepared_on_server() == {}
    assert "dropped or outdated" in caplog.text


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
        rows, sent = run(probe_table, [1])  # failed as EXECUTE (0A000), answered as text
    assert rows == [(1,)] and sent.startswith("SELECT")
    assert "dropped or outdated" in caplog.text
    again, sent = run(probe_table, [1])
    assert again == [(1,)] and sent.startswith("SELECT")  # the session goes on without prepared statements


def test_a_feature_refused_on_a_session_with_nothing_prepared_is_not_taken_for_a_lost_statement(probe_table):
    with pytest.raises(NotSupportedError):
        run("SELECT a FROM conveyor_probe WHERE a = %s GROUP BY a FOR UPDATE", [1])  # 0A000, as text
    assert getattr(connection.connection, sql._SESSION_STATE).off is False


def test_the_first_batch_of_an_own_transaction_is_run_again_after_a_rollback_when_its_statements_are_gone():
    PROFILES.insert([FanProfile(email="a@example.com", purchase_count=1)])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    sent: list[str] = []
    with sql.atomic():
        rows, _ = run(BY_EMAIL, ["a@example.com"], sent)
        PROFILES.insert([FanProfile(email="b@example.com")])
    assert rows == [("a@example.com", 1)]
    assert [text.split(" ")[:2] for text in sent] == [["BEGIN;", "EXECUTE"], ["ROLLBACK"], ["BEGIN;", "SELECT"]]
    assert set(FanProfile.objects.values_list("email", flat=True)) == {"a@example.com", "b@example.com"}


def test_a_later_batch_of_a_transaction_whose_statements_are_gone_fails_once_and_changes_nothing():
    PROFILES.insert([FanProfile(email="a@example.com")])
    run(BY_EMAIL, ["a@example.com"])
    run(BY_EMAIL, ["a@example.com"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(ProgrammingError), sql.atomic():
        PROFILES.insert([FanProfile(email="b@example.com")])
        run(BY_EMAIL, ["a@example.com"])  # the transaction's work cannot be replayed here: it fails
    assert list(FanProfile.objects.values_list("email", flat=True)) == ["a@example.com"]
    rows, sent = run(BY_EMAIL, ["a@example.com"])  # and the connection goes on without prepared statements
    assert rows == [("a@example.com", 0)] and sent.startswith("SELECT")


def test_behind_a_pooler_nothing_is_prepared(monkeypatch, caplog):
    # PgBouncer answers the client's connection with a process id of its own; the server's differs.
    monkeypatch.setattr(psycopg.ConnectionInfo, "backend_pid", property(lambda info: -1))
    with caplog.at_level(logging.INFO, logger="saleor_conveyor.sql"):
        sent = [run(BY_EMAIL, ["a@example.com"])[1] for _ in range(3)]
    assert all(text.startswith("SELECT") for text in sent)
    assert prepared_on_server() == {}
    assert "pooler" in caplog.text


def test_only_plain_placeholders_of_the_right_count_in_data_statements_are_prepared():
    name, prepare = sql._prepared_form("SELECT a FROM t WHERE b LIKE 'x%%' AND c = %s AND d = %s", 2)
    assert prepare == f"PREPARE {name} AS SELECT a FROM t WHERE b LIKE 'x%' AND c = $1 AND d = $2"
    assert sql._prepared_form("SELECT a FROM t WHERE c = %s", 2) is None  # counts disagree
    assert sql._prepared_form("SELECT a FROM t WHERE c = %(c)s", 1) is None  # named placeholders
    assert sql._prepared_form("BEGIN", 0) is None and sql._prepared_form("COMMIT", 0) is None
    assert sql._prepared_form("  with x AS (SELECT 1) SELECT * FROM x", 0) is not None
