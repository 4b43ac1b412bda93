"""Just enough of an order for the conveyor's host interface: owner, lines, fulfilled quantities."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    email = models.CharField(max_length=254)
    created_at = models.DateTimeField()
    # Where it was shipped: the fields of saleor_conveyor.hosts.ShippingAddress ({} when none).
    shipping_address = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"order {self.number or self.id}"


class OrderLine(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_name = models.CharField(max_length=386)
    quantity = models.PositiveIntegerField()
    quantity_fulfilled = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"


class OrderReturn(models.Model):
    """A return the shop recorded after staff approved it (Saleor's would be a RETURNED fulfillment)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    lines = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"return {self.pk} of {self.order_id}"
