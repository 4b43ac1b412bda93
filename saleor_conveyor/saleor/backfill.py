"""Backfill from Saleor: read existing orders in keyset batches and record them in bulk.

Each batch is one transaction that also advances the checkpoint, so a run that is stopped
resumes after the last committed batch and counts nothing twice. This module reads Saleor and
keeps the checkpoint; recording a batch (the service's in-memory replay) is `conveyor/backfill.py`.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max, Min, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from ..conveyor import BackfillOrder, BackfillResult, record_orders_backfill
from ..models import BackfillCheckpoint
from ..sql import any_of
from . import orders as saleor_orders

CHECKPOINT = "saleor-orders"
_COLUMNS = (
    "id",
    "number",
    "created_at",
    "updated_at",
    "status",
    "charge_status",
    "user_id",
    "user_email",
    "currency",
    "total_gross_amount",
    "voucher_id",
    "voucher_code",
    "channel__slug",
    "language_code",
    "user__email",
    "user__first_name",
    "user__language_code",
    "billing_address__first_name",
)

# Only the order's gift mark of its metadata is read, not the whole document.
_GIFT = {"gift_mark": KeyTextTransform(saleor_orders.GIFT_METADATA_KEY, "metadata")}


@dataclass
class Progress:
    """Counts, rate and ETA of a running backfill."""

    total: int
    done: int = 0
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.started or time.monotonic()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:,.0f}s" if rate else "?"
        percent = 100 * self.done / self.total if self.total else 100
        return f"{self.done:,}/{self.total:,} orders ({percent:.0f}%), {rate:,.0f} orders/s, ETA {eta}"


def _orders(since: datetime | None) -> Any:
    from saleor.order.models import Order

    queryset = Order.objects.exclude(status__in=saleor_orders.SKIPPED_STATUSES).exclude(
        origin__in=saleor_orders.SKIPPED_ORIGINS
    )
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    return queryset


def _after(queryset: Any, checkpoint: BackfillCheckpoint | None) -> Any:
    if checkpoint is None or checkpoint.last_created_at is None:
        return queryset
    moment, order_id = checkpoint.last_created_at, checkpoint.last_order_id
    return queryset.filter(Q(created_at__gt=moment) | Q(created_at=moment, id__gt=order_id))


def count_orders(since: datetime | None, checkpoint: BackfillCheckpoint | None) -> int:
    """How many orders a run still has to read (for progress and ETA)."""
    return _after(_orders(since), checkpoint).count()


def read_batches(
    since: datetime | None, checkpoint: BackfillCheckpoint | None, batch_size: int
) -> Iterator[tuple[list[BackfillOrder], tuple[datetime, str], int]]:
    """Saleor's orders oldest first, a batch at a time, with the keyset position after each batch."""
    position = checkpoint
    while True:
        rows = list(
            _after(_orders(since), position).order_by("created_at", "id").values(*_COLUMNS, **_GIFT)[:batch_size]
        )
        if not rows:
            return
        last = rows[-1]
        yield orders_from_rows(rows), (last["created_at"], str(last["id"])), len(rows)
        position = BackfillCheckpoint(last_created_at=last["created_at"], last_order_id=str(last["id"]))


def orders_from_rows(rows: list[dict[str, Any]]) -> list[BackfillOrder]:
    """A batch of order rows with their discounts, shipments, returns and refunds: a few queries."""
    from saleor.discount.models import OrderDiscount, OrderLineDiscount
    from saleor.order.models import Fulfillment

    ids = [row["id"] for row in rows]
    discounts: dict[Any, set[str]] = defaultdict(set)
    on_order = OrderDiscount.objects.filter(order_id__in=any_of(ids, "uuid")).values_list("order_id", "type")
    on_lines = OrderLineDiscount.objects.filter(line__order_id__in=any_of(ids, "uuid")).values_list(
        "line__order_id", "type"
    )
    for order_id, kind in on_order.union(on_lines):
        discounts[order_id].add(kind)
    shipped: dict[Any, datetime] = {}
    returning: set[Any] = set()
    statuses = (*saleor_orders.SHIPPED_STATUSES, *saleor_orders.RETURN_STATUSES)
    for order_id, status, created_at in Fulfillment.objects.filter(
        order_id__in=any_of(ids, "uuid"), status__in=statuses
    ).values_list("order_id", "status", "created_at"):
        if status in saleor_orders.SHIPPED_STATUSES and (order_id not in shipped or created_at < shipped[order_id]):
            shipped[order_id] = created_at
        if status in saleor_orders.RETURN_STATUSES:
            returning.add(order_id)
    status_of = {row["id"]: row["status"] for row in rows}
    returned = _full_returns(returning, status_of)
    cancelled = _cancellations(rows)
    orders = []
    for row in rows:
        email = row["user__email"] or row["user_email"]
        if not email:
            continue  # an order without any email cannot be tied to a customer
        event = saleor_orders.order_placed(
            order_id=row["id"],
            number=row["number"],
            created_at=row["created_at"],
            channel=row["channel__slug"],
            currency=row["currency"],
            total=row["total_gross_amount"],
            email=email,
            user_id=row["user_id"],
            first_name=row["user__first_name"] or row["billing_address__first_name"] or "",
            language_code=row["user__language_code"] or row["language_code"] or "",
            voucher_used=bool(row["voucher_id"] or row["voucher_code"]),
            discounts=discounts.get(row["id"], ()),
            gift=saleor_orders.is_gift(row.get("gift_mark")),
        )
        orders.append(
            BackfillOrder(
                event,
                fulfilled_at=shipped.get(row["id"]),
                cancelled_at=cancelled.get(row["id"]),
                returned_at=returned.get(row["id"]),
            )
        )
    return orders


def _full_returns(order_ids: set[Any], status_of: dict[Any, str]) -> dict[Any, datetime]:
    """When each fully returned order's last return was recorded (partial returns do not count)."""
    from saleor.order.models import FulfillmentLine, OrderLine

    if not order_ids:
        return {}
    came_back = (
        FulfillmentLine.objects.filter(
            fulfillment__order_id__in=any_of(order_ids, "uuid"), fulfillment__status__in=saleor_orders.RETURN_STATUSES
        )
        .values("fulfillment__order_id")
        .annotate(quantity=Sum("quantity"), last=Max("fulfillment__created_at"))
    )
    bought = dict(
        OrderLine.objects.filter(order_id__in=any_of(order_ids, "uuid"))
        .values("order_id")
        .annotate(quantity=Sum("quantity"))
        .values_list("order_id", "quantity")
    )
    full = {}
    for row in came_back:
        order_id = row["fulfillment__order_id"]
        event = saleor_orders.returned_event(
            order_id, row["last"], row["quantity"] or 0, bought.get(order_id, 0), status_of[order_id]
        )
        if event.fully_returned:
            full[order_id] = event.returned_at
    return full


def _cancellations(rows: list[dict[str, Any]]) -> dict[Any, datetime]:
    """Cancelled orders (when Saleor logged the cancel) and fully refunded ones (when refunded)."""
    from saleor.order import OrderEvents
    from saleor.order.models import OrderEvent
    from saleor.payment import ChargeStatus
    from saleor.payment.models import Payment, TransactionItem

    cancelled_ids = [row["id"] for row in rows if row["status"] == "canceled"]
    found: dict[Any, datetime] = {}
    if cancelled_ids:
        found.update(
            OrderEvent.objects.filter(order_id__in=any_of(cancelled_ids, "uuid"), type=OrderEvents.CANCELED)
            .values("order_id")
            .annotate(at=Min("date"))
            .values_list("order_id", "at")
        )
        for row in rows:
            if row["status"] == "canceled":
                found.setdefault(row["id"], row["updated_at"])
    # A refunded order is no longer charged; only those can be fully refunded.
    candidates = {row["id"]: row for row in rows if row["status"] != "canceled" and row["charge_status"] == "none"}
    if candidates:
        refunded = (
            TransactionItem.objects.filter(order_id__in=any_of(candidates, "uuid"))
            .values("order_id")
            .annotate(amount=Sum("refunded_value"), at=Max("modified_at"))
        )
        for item in refunded:
            row = candidates[item["order_id"]]
            if item["amount"] and item["amount"] >= row["total_gross_amount"] > Decimal(0):
                found[row["id"]] = item["at"]
        for order_id, at in (
            Payment.objects.filter(order_id__in=any_of(candidates, "uuid"), charge_status=ChargeStatus.FULLY_REFUNDED)
            .values("order_id")
            .annotate(at=Max("modified_at"))
            .values_list("order_id", "at")
        ):
            found.setdefault(order_id, at)
    return found


def run_backfill(
    *,
    since: datetime | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    restart: bool = False,
    report: Callable[[Progress], None] | None = None,
    stop_after_batches: int | None = None,
) -> BackfillResult:
    """Backfill every order not read yet; a dry run does it all in one transaction and rolls back."""
    total = BackfillResult()
    with transaction.atomic() if dry_run else contextlib.nullcontext():
        try:
            checkpoint = None if restart else BackfillCheckpoint.objects.filter(name=CHECKPOINT).first()
            progress = Progress(total=count_orders(since, checkpoint))
            for batches, (orders, (last_created_at, last_order_id), read) in enumerate(
                read_batches(since, checkpoint, batch_size), start=1
            ):
                with transaction.atomic():
                    total.add(record_orders_backfill(orders, now=timezone.now()))
                    _advance(last_created_at, last_order_id, read, restart=restart and batches == 1)
                progress.done += read
                if report is not None:
                    report(progress)
                if stop_after_batches is not None and batches >= stop_after_batches:
                    return total
            BackfillCheckpoint.objects.filter(name=CHECKPOINT).update(finished_at=timezone.now())
        finally:
            if dry_run:
                transaction.set_rollback(True)
    return total


def _advance(last_created_at: datetime, last_order_id: str, count: int, *, restart: bool) -> None:
    checkpoint, _ = BackfillCheckpoint.objects.select_for_update().get_or_create(name=CHECKPOINT)
    if restart:
        checkpoint.processed = 0
    checkpoint.last_created_at = last_created_at
    checkpoint.last_order_id = last_order_id
    checkpoint.processed += count
    checkpoint.finished_at = None
    checkpoint.save()
