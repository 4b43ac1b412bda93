"""The overview's fresh figures on several connections at once (CONVEYOR_CONSOLE_CONNECTIONS): the same figures
as one after another, the statements on other connections (closed after), and one connection inside a transaction."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

from saleor_conveyor import measures
from saleor_conveyor.console import overview
from tests.console.overview_shop import get_page, simulated_shop, staff_member
from tests.console.test_overview import OVERVIEW, cells, figures, signed_in

QUERY = {"lang": "en", "since": "2025-01-01"}


@pytest.mark.django_db
def test_inside_a_transaction_every_figure_is_computed_on_the_requests_connection(settings):
    """A test's transaction (or ATOMIC_REQUESTS) is invisible to other connections: the figures stay on this one."""
    simulated_shop(customers=15, days=90, seed=2)
    client = signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))
    settings.CONVEYOR_CONSOLE_CONNECTIONS = 1
    alone, alone_count, _ = get_page(client, OVERVIEW, QUERY)
    settings.CONVEYOR_CONSOLE_CONNECTIONS = 3
    together, together_count, computed = get_page(client, OVERVIEW, QUERY)
    assert connection.in_atomic_block and computed
    assert together_count == alone_count and figures(together) == figures(alone)


@pytest.mark.django_db(transaction=True)
def test_several_connections_give_the_same_figures_and_are_closed_after(settings):
    simulated_shop(customers=20, days=120, seed=4)
    client = signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))
    settings.CONVEYOR_CONSOLE_CONNECTIONS = 1
    alone, alone_count, _ = get_page(client, OVERVIEW, QUERY)
    opened: list[object] = []

    def created(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            opened.append(connection)

    settings.CONVEYOR_CONSOLE_CONNECTIONS = 3
    connection_created.connect(created)
    try:
        together, together_count, _ = get_page(client, OVERVIEW, QUERY)
    finally:
        connection_created.disconnect(created)
    assert int(figures(alone)["promoters"]) > 0 and sum(cells(alone).values()) > 0
    assert figures(together) == figures(alone) and cells(together) == cells(alone)
    assert _table_cells(together) == _table_cells(alone) and len(_table_cells(alone)) > 100
    # One or two more connections ran some of the figures' statements (the request's own ran fewer), and were closed.
    assert 1 <= len(opened) <= 2 and together_count < alone_count
    assert all(wrapper.connection is None for wrapper in opened)
    assert connections["default"].connection is not None  # the request's own stays as Django keeps it


def _table_cells(html: str) -> list[str]:
    """Every cell of every table the page shows (its charts' ids differ from one rendering to the next)."""
    return re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, flags=re.S)


@pytest.mark.django_db(transaction=True)
def test_a_failing_figure_on_another_connection_fails_the_request(settings, monkeypatch):
    simulated_shop(customers=5, days=30, seed=6)
    client = signed_in(staff_member("orders@example.com", "conveyor_manage_orders"))
    settings.CONVEYOR_CONSOLE_CONNECTIONS = 3
    threads: list[str] = []

    def broken(window, **kwargs):
        threads.append(threading.current_thread().name)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(measures, "rule_performance", broken)
    client.raise_request_exception = True
    with pytest.raises(RuntimeError, match="went away"):
        client.get(OVERVIEW, QUERY)
    assert threads and overview.LONGEST_FIRST[0] == "rule_performance"
