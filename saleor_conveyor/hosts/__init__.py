"""The host in force: `settings.CONVEYOR_HOST` (a dotted path), else Saleor's or plain Django's."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import MANAGE_ORDERS, MANAGE_USERS, ConveyorHost, OrderInfo, OrderLineInfo

_host: ConveyorHost | None = None


def default_host_path() -> str:
    if "saleor.plugins" in settings.INSTALLED_APPS or "saleor.order" in settings.INSTALLED_APPS:
        return "saleor_conveyor.hosts.saleor.SaleorHost"
    return "saleor_conveyor.hosts.django.DjangoHost"


def get_host() -> ConveyorHost:
    global _host
    if _host is None:
        path = getattr(settings, "CONVEYOR_HOST", None) or default_host_path()
        _host = import_string(path)()
    return _host


def reset_host() -> None:
    global _host
    _host = None


__all__ = [
    "MANAGE_ORDERS",
    "MANAGE_USERS",
    "ConveyorHost",
    "OrderInfo",
    "OrderLineInfo",
    "get_host",
    "reset_host",
]
