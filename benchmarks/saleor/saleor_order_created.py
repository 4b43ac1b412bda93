"""Cost of our order_created hook vs Saleor's own WebhookPlugin.order_created.

Saleor's side: one async webhook subscribed to ORDER_CREATED (legacy payload, and a
subscription query), `apply_async` mocked so no HTTP happens; its payload and delivery rows
are still built and written, as in production. Our side: the plugin hook with its work run at
commit, as Saleor runs it, and our delivery task's `apply_async` mocked the same way (a
touchpoint due now is published, not run). Every call gets a fresh order (a repeated order
is cheaper for us).
"""

from __future__ import annotations

import os
import time
import uuid
from unittest import mock

import pytest
from _report import median, ms, percentile, table
from django.db import connection
from django.test.utils import CaptureQueriesContext
from saleor.order.models import Order, OrderLine
from saleor.plugins.manager import get_plugins_manager

from saleor_conveyor.models import Purchase

CALLS = int(os.environ.get("BENCH_CALLS", "200"))
QUERY_SAMPLE = 20
WEBHOOK_PLUGIN = "saleor.plugins.webhook.plugin.WebhookPlugin"
RESULTS: list[tuple] = []


def clone_orders(template: Order, count: int, customer) -> list[Order]:
    """Copies of a real order with its lines; `customer(i)` gives (user, email) for copy i."""
    lines = list(template.lines.all())
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('order_order_number_seq') FROM generate_series(1, %s)", [count])
        numbers = [row[0] for row in cursor.fetchall()]
    orders, copies = [], []
    for i in range(count):
        order = Order.objects.get(pk=template.pk)
        order.pk = uuid.uuid4()
        order.number = numbers[i]
        order.user, order.user_email = customer(i)
        order._state.adding = True
        orders.append(order)
        for line in lines:
            copy = OrderLine.objects.get(pk=line.pk)
            copy.pk = uuid.uuid4()
            copy.order = order
            copy._state.adding = True
            copies.append(copy)
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(copies)
    return [Order.objects.select_related("channel", "user").get(pk=order.pk) for order in orders]


def measure(plugin, orders: list[Order], capture) -> tuple[list[float], list[int]]:
    """Seconds per hook call (work at commit included) and queries per call on a separate sample."""
    timed, counted = orders[:CALLS], orders[CALLS:]
    seconds = []
    for order in timed:
        started = time.perf_counter()
        with capture(execute=True):
            plugin.order_created(order, previous_value=None)
        seconds.append(time.perf_counter() - started)
    queries = []
    for order in counted:
        with CaptureQueriesContext(connection) as captured, capture(execute=True):
            plugin.order_created(order, previous_value=None)
        queries.append(len(captured.captured_queries))
    return seconds, queries


def record(name: str, seconds: list[float], queries: list[int]) -> None:
    RESULTS.append((name, median(seconds), percentile(seconds, 0.9), median(queries)))


@pytest.fixture
def guests(order_with_lines):
    return clone_orders(order_with_lines, CALLS + QUERY_SAMPLE, lambda i: (None, f"fan{i}@example.com"))


@pytest.fixture
def regulars(order_with_lines):
    """Returning customers: 20 guests buying again and again (each ends with about 10 orders)."""
    return clone_orders(order_with_lines, CALLS + QUERY_SAMPLE, lambda i: (None, f"regular{i % 20}@example.com"))


@mock.patch("saleor.webhook.transport.asynchronous.transport.send_webhook_request_async.apply_async")
def test_saleor_webhook_plugin_legacy_payload(
    apply_async, settings, webhook, permission_manage_orders, guests, django_capture_on_commit_callbacks
):
    webhook.app.permissions.add(permission_manage_orders)
    settings.PLUGINS = [WEBHOOK_PLUGIN]
    plugin = get_plugins_manager(allow_replica=False).get_plugin("mirumee.webhooks")

    seconds, queries = measure(plugin, guests, django_capture_on_commit_callbacks)

    assert apply_async.call_count == len(guests)
    record("Saleor WebhookPlugin, 1 webhook (legacy payload)", seconds, queries)


@mock.patch("saleor.webhook.transport.asynchronous.transport.send_webhook_request_async.apply_async")
def test_saleor_webhook_plugin_subscription_payload(
    apply_async, settings, subscription_order_created_webhook, guests, django_capture_on_commit_callbacks
):
    settings.PLUGINS = [WEBHOOK_PLUGIN]
    plugin = get_plugins_manager(allow_replica=False).get_plugin("mirumee.webhooks")

    seconds, queries = measure(plugin, guests, django_capture_on_commit_callbacks)

    assert apply_async.call_count == len(guests)
    record("Saleor WebhookPlugin, 1 webhook (subscription payload)", seconds, queries)


@pytest.mark.parametrize("who", ["guests", "regulars"])
@mock.patch("saleor_conveyor.tasks.deliver_touchpoint.apply_async")  # published, not run, like Saleor's
def test_conveyor_plugin(apply_async, who, request, conveyor_enabled, django_capture_on_commit_callbacks):
    orders = request.getfixturevalue(who)
    plugin = get_plugins_manager(allow_replica=False).get_plugin("conveyor.crm")

    seconds, queries = measure(plugin, orders, django_capture_on_commit_callbacks)

    assert Purchase.objects.count() == len(orders)
    label = "new customer per order" if who == "guests" else "returning customer (up to 11th order)"
    record(f"Fan Conveyor order_created ({label})", seconds, queries)


def test_zz_print_table():
    """Prints the table (runs last in this module)."""
    if not RESULTS:
        pytest.skip("no measurements")
    webhooks = [row for row in RESULTS if row[0].startswith("Saleor")]
    baseline = min(row[1] for row in webhooks) if webhooks else None
    rows = [
        (name, ms(med), ms(p90), f"{queries:.0f}", f"{med / baseline:.2f}" if baseline else "-")
        for name, med, p90, queries in RESULTS
    ]
    print(f"\n\n### order_created hook cost ({CALLS} calls each, fresh order per call)\n")
    headers = ["hook", "median ms", "p90 ms", "SQL queries", "time / cheapest Saleor webhook"]
    print(table(headers, rows))
