"""Saleor's orders, fulfilments and users in the conveyor service's plain words (events.py).

The plugin's hooks and the backfill both read Saleor through these functions, so a live order
and a backfilled one are recorded alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..events import Customer, OrderCancelled, OrderFulfilled, OrderPlaced, OrderReturned

# Saleor's FulfillmentStatus values a return or refund leaves behind (Saleor has no return hook).
RETURN_STATUSES = ("returned", "refunded_and_returned", "refunded")
SHIPPED_STATUSES = ("fulfilled", "returned", "refunded_and_returned", "replaced")
# Discount types: a voucher code, a catalogue promotion ("sale"), an order promotion ("campaign").
VOUCHER_TYPES = frozenset({"voucher"})
SALE_TYPES = frozenset({"promotion", "sale"})
CAMPAIGN_TYPES = frozenset({"order_promotion"})
# Drafts are not orders yet, expired orders were never paid, reissues replace returned goods.
SKIPPED_STATUSES = ("draft", "expired")
SKIPPED_ORIGINS = ("reissue",)
# Saleor has no gift flag: a storefront marks a gift order with this public metadata key ("true").
GIFT_METADATA_KEY = "gift"
GIFT_VALUES = frozenset({"true", "1", "yes"})


def is_gift(value: Any) -> bool:
    """Whether the order's `gift` metadata value says it is a present (Saleor metadata values are text)."""
    return isinstance(value, str) and value.strip().lower() in GIFT_VALUES


def is_purchase(status: str, origin: str) -> bool:
    """Whether a Saleor order is a purchase the conveyor counts at all."""
    return status not in SKIPPED_STATUSES and origin not in SKIPPED_ORIGINS


def customer_from_user(user: Any) -> Customer:
    """A Saleor account as the service's customer; its language picks the email language."""
    return Customer(
        email=user.email,
        user_id=user.pk,
        first_name=user.first_name or "",
        language_code=user.language_code or "",
    )


def discount_types(order_id: Any) -> set[str]:
    """Every discount type on an order and its lines, in one query."""
    from saleor.discount.models import OrderDiscount, OrderLineDiscount

    on_order = OrderDiscount.objects.filter(order_id=order_id).values_list("type", flat=True)
    on_lines = OrderLineDiscount.objects.filter(line__order_id=order_id).values_list("type", flat=True)
    return set(on_order.union(on_lines))


def order_placed(
    *,
    order_id: Any,
    number: Any,
    created_at: datetime,
    channel: str,
    currency: str,
    total: Decimal,
    email: str,
    user_id: int | None,
    first_name: str,
    language_code: str,
    voucher_used: bool,
    discounts: Iterable[str],
    gift: bool = False,
) -> OrderPlaced:
    """The placed-order event from the few columns it needs (shared by hook and backfill)."""
    kinds = set(discounts)
    return OrderPlaced(
        order_id=str(order_id),
        order_number=str(number),
        customer=Customer(email=email, user_id=user_id, first_name=first_name, language_code=language_code),
        channel=channel,
        currency=currency,
        total=total,
        placed_at=created_at,
        used_voucher=voucher_used or bool(kinds & VOUCHER_TYPES),
        used_sale=bool(kinds & SALE_TYPES),
        used_campaign=bool(kinds & CAMPAIGN_TYPES),
        gift=gift,
    )


def order_placed_from_order(order: Any) -> OrderPlaced | None:
    """A live Saleor order as an OrderPlaced event; None when it is not a countable purchase."""
    if not is_purchase(order.status, order.origin):
        return None
    user = order.user if order.user_id else None
    email = (user.email if user is not None else "") or order.user_email
    if not email:
        return None
    first_name = (user.first_name if user is not None else "") or _billing_first_name(order)
    language = (user.language_code if user is not None else "") or order.language_code or ""
    return order_placed(
        order_id=order.pk,
        number=order.number,
        created_at=order.created_at,
        channel=order.channel.slug,
        currency=order.currency,
        total=order.total_gross_amount,
        email=email,
        user_id=order.user_id,
        first_name=first_name,
        language_code=language,
        voucher_used=bool(order.voucher_id or order.voucher_code),
        discounts=discount_types(order.pk),
        gift=is_gift((order.metadata or {}).get(GIFT_METADATA_KEY)),
    )


def _billing_first_name(order: Any) -> str:
    if not order.billing_address_id:
        return ""
    return order.billing_address.first_name or ""


def order_fulfilled(order_id: Any, fulfilled_at: datetime) -> OrderFulfilled:
    return OrderFulfilled(order_id=str(order_id), fulfilled_at=fulfilled_at)


def first_shipment_at(order: Any) -> datetime | None:
    """When the order's first shipment left (cancelled or unapproved fulfilments do not count)."""
    return (
        order.fulfillments.filter(status__in=SHIPPED_STATUSES)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def order_cancelled(order_id: Any, at: datetime) -> OrderCancelled:
    return OrderCancelled(order_id=str(order_id), cancelled_at=at)


def order_returned(order: Any) -> OrderReturned | None:
    """Returns Saleor recorded as fulfilments; full when nothing the customer bought is left with them."""
    from django.db.models import Max, Sum
    from saleor.order.models import FulfillmentLine

    returned = FulfillmentLine.objects.filter(
        fulfillment__order_id=order.pk, fulfillment__status__in=RETURN_STATUSES
    ).aggregate(quantity=Sum("quantity"), last=Max("fulfillment__created_at"))
    if not returned["quantity"]:
        return None
    bought = order.lines.aggregate(quantity=Sum("quantity"))["quantity"] or 0
    return returned_event(order.pk, returned["last"], returned["quantity"], bought, order.status)


def returned_event(order_id: Any, last_return_at: datetime, returned: int, bought: int, status: str) -> OrderReturned:
    """Full when every item bought came back (or Saleor marked the order returned)."""
    fully = status == "returned" or (bought > 0 and returned >= bought)
    return OrderReturned(order_id=str(order_id), returned_at=last_return_at, fully_returned=fully)
