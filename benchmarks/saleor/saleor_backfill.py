"""Backfill throughput on generated Saleor orders, against a bare COPY of as many rows.

The shop: BENCH_BACKFILL_ORDERS orders (100,000 by default) over two years from a quarter as
many customers (a fifth of the orders by registered accounts), half of them shipped two days
after purchase, one in ten with a voucher, one in twenty cancelled. The per-order service path
is timed on a sample for comparison (rolled back before the bulk run).
"""

from __future__ import annotations

import io
import os
import random
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from _report import table
from django.db import connection, transaction
from django.utils import timezone
from saleor.account.models import User
from saleor.discount.models import OrderDiscount
from saleor.order import OrderStatus
from saleor.order.models import Fulfillment, Order

from saleor_conveyor.conveyor import record_order_history
from saleor_conveyor.models import BackfillCheckpoint, FanProfile, Purchase, Touchpoint
from saleor_conveyor.saleor import backfill

ORDERS = int(os.environ.get("BENCH_BACKFILL_ORDERS", "100000"))
PER_ORDER_SAMPLE = int(os.environ.get("BENCH_PER_ORDER_SAMPLE", "2000"))
BATCHES = [int(size) for size in os.environ.get("BENCH_BATCH_SIZES", "1000,5000").split(",")]


def generate_shop(channel, count: int) -> float:
    """Insert `count` orders (plus users, shipments, discounts) quickly; returns seconds taken."""
    started = time.perf_counter()
    rng = random.Random(7)
    now = timezone.now()
    customers = max(1, count // 4)
    accounts = User.objects.bulk_create(
        [User(email=f"member{i}@example.com", first_name=f"Member{i}") for i in range(customers // 5)],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('order_order_number_seq') FROM generate_series(1, %s)", [count])
        numbers = [row[0] for row in cursor.fetchall()]
    orders, shipments, discounts = [], [], []
    for i in range(count):
        who = rng.randrange(customers)
        user = accounts[who] if who < len(accounts) else None
        created = now - timedelta(days=730 * (1 - i / count), minutes=rng.randrange(60))
        order = Order(
            id=uuid.uuid4(),
            number=numbers[i],
            created_at=created,
            channel=channel,
            currency="USD",
            user=user,
            user_email=user.email if user else f"guest{who}@example.com",
            status=OrderStatus.CANCELED if rng.random() < 0.05 else OrderStatus.UNFULFILLED,
            total_gross_amount=Decimal(rng.choice([30, 60, 120, 250, 400])),
            total_net_amount=Decimal(0),
            lines_count=1,
        )
        orders.append(order)
        if order.status != OrderStatus.CANCELED and rng.random() < 0.5:
            shipments.append(Fulfillment(order=order, fulfillment_order=1, status="fulfilled"))
        if rng.random() < 0.1:
            discounts.append(
                OrderDiscount(order=order, type="voucher", value=Decimal(5), amount_value=Decimal(5), currency="USD")
            )
    Order.objects.bulk_create(orders, batch_size=5000)
    Fulfillment.objects.bulk_create(shipments, batch_size=5000)
    OrderDiscount.objects.bulk_create(discounts, batch_size=5000)
    with connection.cursor() as cursor:  # shipped two days after purchase, not "now"
        cursor.execute(
            "UPDATE order_fulfillment f SET created_at = o.created_at + interval '2 days' "
            "FROM order_order o WHERE o.id = f.order_id"
        )
    return time.perf_counter() - started


def bare_copy(count: int) -> float:
    """COPY `count` ledger-like rows into a scratch table: the floor for writing that many rows."""
    rng = random.Random(7)
    now = timezone.now()
    buffer = io.StringIO()
    for i in range(count):
        buffer.write(
            f"{uuid.uuid4()}\t{i}\tguest{rng.randrange(count // 4)}@example.com\tmain\tUSD\t"
            f"{rng.choice([30, 60, 120])}\t{(now - timedelta(minutes=i)).isoformat()}\tf\n"
        )
    data = buffer.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE scratch_copy (order_id varchar(64), order_number varchar(64), email varchar(254), "
            "channel varchar(255), currency varchar(3), total numeric(12,3), placed_at timestamptz, "
            "used_voucher boolean)"
        )
        started = time.perf_counter()
        with cursor.cursor.copy("COPY scratch_copy FROM STDIN") as copy:
            copy.write(data)
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM scratch_copy")
        assert cursor.fetchone()[0] == count
    return seconds


def per_order_path(sample: int) -> float:
    """Seconds for `sample` orders through the ordinary service calls, rolled back afterwards."""
    rows = list(Order.objects.order_by("created_at", "id").values(*backfill._COLUMNS)[:sample])
    orders = backfill.orders_from_rows(rows)
    now = timezone.now()
    with transaction.atomic():
        started = time.perf_counter()
        for order in orders:
            record_order_history(order, now=now)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def timed_backfill(batch_size: int, capture) -> tuple[float, object]:
    checkpoints = BackfillCheckpoint.objects.all()
    checkpoints.delete()
    started = time.perf_counter()
    with capture(execute=True):  # delivery enqueueing at commit, as in a real run
        result = backfill.run_backfill(batch_size=batch_size)
    return time.perf_counter() - started, result


def test_backfill_throughput(conveyor_enabled, channel_USD, django_capture_on_commit_callbacks):
    generated = generate_shop(channel_USD, ORDERS)
    sample = min(PER_ORDER_SAMPLE, ORDERS)
    per_order = per_order_path(sample)
    runs = []
    for size in BATCHES[:-1]:  # each on the untouched shop: rolled back afterwards
        with transaction.atomic():
            runs.append((size, *timed_backfill(size, django_capture_on_commit_callbacks)))
            transaction.set_rollback(True)
    runs.append((BATCHES[-1], *timed_backfill(BATCHES[-1], django_capture_on_commit_callbacks)))
    copy_seconds = bare_copy(ORDERS)

    result = runs[-1][2]
    assert result.recorded == Purchase.objects.count() == ORDERS
    profiles, touchpoints = FanProfile.objects.count(), Touchpoint.objects.count()
    rows = [
        (
            f"conveyor_backfill, bulk, {size:,} orders/batch",
            f"{ORDERS:,}",
            f"{seconds:.1f}",
            f"{ORDERS / seconds:,.0f}",
            f"{seconds / copy_seconds:,.0f}x",
        )
        for size, seconds, _ in runs
    ]
    rows.append(
        (
            "per-order service path (record_order_history), sample",
            f"{sample:,}",
            f"{per_order:.1f}",
            f"{sample / per_order:,.0f}",
            f"{(per_order * ORDERS / sample) / copy_seconds:,.0f}x (extrapolated)",
        )
    )
    rows.append(
        ("bare COPY into a scratch table", f"{ORDERS:,}", f"{copy_seconds:.2f}", f"{ORDERS / copy_seconds:,.0f}", "1x")
    )
    print(f"\n\n### Backfill throughput ({ORDERS:,} generated Saleor orders; generating them took {generated:.0f} s)\n")
    print(table(["path", "orders", "seconds", "orders/s", "time vs bare COPY"], rows))
    print(
        f"\nThe backfill wrote {ORDERS:,} ledger rows, {profiles:,} fan profiles and {touchpoints:,} touchpoints "
        f"({sum(result.skipped.values()):,} skipped as past, {sum(result.scheduled.values()):,} scheduled); "
        "the COPY wrote only the ledger-like rows."
    )
