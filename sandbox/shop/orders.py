"""The sandbox shop's answers to the DjangoHost (settings.CONVEYOR_ORDER_INFO, _CREATE_RETURN, _SHIPPING_ADDRESSES)."""

from __future__ import annotations

import dataclasses
import uuid

from saleor_conveyor.errors import ConveyorError
from saleor_conveyor.hosts import OrderInfo, OrderLineInfo, ShippingAddress

from .models import Order, OrderReturn


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def order_info(order_id: str) -> OrderInfo | None:
    """An order with its lines in two queries, or None."""
    key = _uuid(order_id)
    order = Order.objects.filter(pk=key).prefetch_related("lines").first() if key else None
    if order is None:
        return None
    return OrderInfo(
        id=str(order.pk),
        number=order.number,
        user_id=order.user_id,
        email=order.email,
        lines=tuple(
            OrderLineInfo(str(line.pk), line.product_name, line.quantity, line.quantity_fulfilled)
            for line in order.lines.all()
        ),
    )


def shipping_addresses(order_ids: list[str]) -> dict[str, ShippingAddress]:
    """The orders' shipping addresses in one query (settings.CONVEYOR_SHIPPING_ADDRESSES)."""
    keys = [key for key in (_uuid(order_id) for order_id in order_ids) if key is not None]
    known = {field.name for field in dataclasses.fields(ShippingAddress)}
    found = Order.objects.filter(pk__in=keys).exclude(shipping_address={}).values_list("id", "shipping_address")
    return {
        str(order_id): ShippingAddress(**{name: str(value) for name, value in address.items() if name in known})
        for order_id, address in found
    }


def create_return(order_id: str, lines: list[tuple[str, int]]) -> str:
    """Record an approved return on the order; its id is the host reference."""
    order = Order.objects.filter(pk=_uuid(order_id)).first()
    if order is None:
        raise ConveyorError("The order no longer exists.", field="id")
    created = OrderReturn.objects.create(order=order, lines=[[line_id, qty] for line_id, qty in lines])
    return str(created.pk)
