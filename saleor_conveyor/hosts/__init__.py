"""The host in force: `settings.CONVEYOR_HOST` (a dotted path), else Saleor's or plain Django's.

The host also holds the shop's configuration in force (`get_config()`): Saleor's comes from the
plugin's Dashboard configuration, plain Django's from `settings.CONVEYOR`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .. import conf
from ..config import ConveyorConfig
from .base import (
    MANAGE_ORDERS,
    MANAGE_PLUGINS,
    MANAGE_USERS,
    ConveyorHost,
    OrderInfo,
    OrderLineInfo,
    ShippingAddress,
)

_host: ConveyorHost | None = None
# Settings that change which host is in force or what its configuration says.
_HOST_SETTINGS = frozenset({"CONVEYOR", "CONVEYOR_HOST", "CONVEYOR_DELIVERY_HANDLERS"})


def default_host_path() -> str:
    if "saleor.plugins" in settings.INSTALLED_APPS or "saleor.order" in settings.INSTALLED_APPS:
        return "saleor_conveyor.hosts.saleor.SaleorHost"
    return "saleor_conveyor.hosts.django.DjangoHost"


def get_host() -> ConveyorHost:
    global _host
    if _host is None:
        _host = import_string(conf.HOST or default_host_path())()
    return _host


def reset_host() -> None:
    global _host
    _host = None


def get_config() -> ConveyorConfig:
    """The configuration in force, from the host (cached by the host)."""
    return get_host().config()


def connect_cache_reset() -> None:
    """Tests change settings; drop cached hosts and configurations when they do."""
    from django.core.signals import setting_changed

    def reset(*, setting: str, **kwargs: Any) -> None:
        if setting in _HOST_SETTINGS:
            reset_host()

    setting_changed.connect(reset, weak=False, dispatch_uid="saleor_conveyor.config.reset")


__all__ = [
    "MANAGE_ORDERS",
    "MANAGE_PLUGINS",
    "MANAGE_USERS",
    "ConveyorHost",
    "OrderInfo",
    "OrderLineInfo",
    "ShippingAddress",
    "connect_cache_reset",
    "get_config",
    "get_host",
    "reset_host",
]
