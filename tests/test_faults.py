"""Faults of the database under the sandbox's settings: a pooled connection the server dropped."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection
from django.db.utils import ConnectionHandler

from sandbox import settings as sandbox_settings


def in_fresh_threads(count: int, call, *, timeout: float = 30) -> list:
    """Run `call` on `count` threads at once (ASGI runs each request on a new thread); their results."""
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:  # the test reads it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"still waiting after {timeout} s"
    return results


@pytest.mark.django_db(transaction=True)
def test_pooled_connections_the_server_dropped_are_replaced_before_a_request_gets_one(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "3")
    monkeypatch.setenv("DB_CONN_MAX_AGE", "0")
    test_db = connection.settings_dict  # the sandbox's settings, on pytest's database
    pooled = sandbox_settings._database(
        f"postgres://{test_db['USER']}@{test_db['HOST']}:{test_db['PORT']}/{test_db['NAME']}"
    )
    handler = ConnectionHandler({"default": pooled})
    hold = threading.Barrier(3)

    def request() -> int:
        db = handler["default"]
        try:
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (pid,) = cursor.fetchone()
            hold.wait(timeout=10)  # all three at once: three connections in the pool
            return pid
        finally:
            db.close()  # back to the pool, as Django does at the end of a request

    try:
        first = in_fresh_threads(3, request)
        assert len(set(first)) == 3, first
        # A restart, a failover or an idle timeout: the server ends the pooled sessions while they wait.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM unnest(%s::int[]) AS pid", [first])
            assert cursor.fetchone() == (3,)
        hold.reset()
        second = in_fresh_threads(3, request)
    finally:
        handler["default"].close_pool()
    assert not [r for r in second if isinstance(r, Exception)], second
    assert not set(second) & set(first)  # new sessions, none of the dropped ones


@pytest.mark.django_db(transaction=True)
def test_a_persistent_connection_the_server_dropped_is_replaced_at_the_next_request(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "")
    test_db = connection.settings_dict
    persistent = sandbox_settings._database(
        f"postgres://{test_db['USER']}@{test_db['HOST']}:{test_db['PORT']}/{test_db['NAME']}"
    )
    handler = ConnectionHandler({"default": persistent})
    db = handler["default"]
    pids = []
    try:
        for _ in range(2):
            db.close_if_unusable_or_obsolete()  # what Django does as a request starts and ends
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
            db.close_if_unusable_or_obsolete()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pids[-1]])
    finally:
        db.close()
    assert len(set(pids)) == 2


def test_sandbox_connections_are_checked_before_reuse(monkeypatch):
    for pool in ("", "2"):
        monkeypatch.setenv("DB_POOL_MAX_SIZE", pool)
        assert sandbox_settings._database("postgres://postgres@127.0.0.1/x")["CONN_HEALTH_CHECKS"] is True


def test_the_sandbox_bounds_its_mail_and_broker_calls(monkeypatch):
    assert sandbox_settings.EMAIL_TIMEOUT == 10
    assert sandbox_settings.CELERY_BROKER_CONNECTION_TIMEOUT == 10
    assert sandbox_settings.CELERY_BROKER_TRANSPORT_OPTIONS == {"socket_connect_timeout": 10, "socket_timeout": 10}


@pytest.mark.django_db  # pytest-django allows connecting at all
def test_a_database_server_that_never_answers_a_new_connection_is_given_up_on(monkeypatch):
    from tests.delivery.helpers import silent_server

    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "2")  # libpq's least
    with silent_server() as port:
        handler = ConnectionHandler({"default": sandbox_settings._database(f"postgres://postgres@127.0.0.1:{port}/x")})
        started = time.monotonic()
        (outcome,) = in_fresh_threads(1, handler["default"].ensure_connection, timeout=8)
        took = time.monotonic() - started
    assert isinstance(outcome, OperationalError) and took < 5
    monkeypatch.delenv("DB_CONNECT_TIMEOUT")
    assert sandbox_settings._database("postgres://postgres@127.0.0.1/x")["OPTIONS"]["connect_timeout"] == 10
