"""The sandbox host's own settings: the connection pool option."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler

from sandbox import settings as sandbox_settings


def test_no_pool_unless_asked(monkeypatch):
    monkeypatch.delenv("DB_POOL_MAX_SIZE", raising=False)
    assert sandbox_settings._pool_options() == {}


def test_pool_size_sets_djangos_own_pool(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "8")
    assert sandbox_settings._pool_options() == {"pool": {"min_size": 1, "max_size": 8, "timeout": 10}}


@pytest.mark.parametrize("size", ["0", "-1", "abc", "2.5", " "])
def test_a_bad_pool_size_is_refused_with_its_value(monkeypatch, size):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", size)
    with pytest.raises(ValueError, match="DB_POOL_MAX_SIZE must be a positive number of connections") as error:
        sandbox_settings._pool_options()
    assert repr(size) in str(error.value)


@pytest.mark.django_db(transaction=True)
def test_pooled_connections_outlive_requests(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "1")
    pooled = {**connection.settings_dict, "CONN_MAX_AGE": 0, "OPTIONS": sandbox_settings._pool_options()}
    handler = ConnectionHandler({"default": pooled})
    backends = []
    try:
        for _ in range(2):  # two requests: each closes its connection at the end, as Django does
            db = handler["default"]
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(cursor.fetchone()[0])
            db.close()
        assert backends[0] == backends[1]  # the same PostgreSQL backend: returned to the pool, not closed
    finally:
        handler["default"].close_pool()
