"""The plain-Django host: the sandbox and the core test suite, no Saleor needed."""

from __future__ import annotations

import secrets
from functools import cached_property
from typing import Any

from django.conf import settings

from ..config import ConveyorConfig
from .base import ConveyorHost, OrderInfo

_PERMISSION_CODENAMES = {"MANAGE_USERS": "conveyor_manage_users", "MANAGE_ORDERS": "conveyor_manage_orders"}


class DjangoHost(ConveyorHost):
    """Users are Django's auth users; configuration is `settings.CONVEYOR`."""

    name = "django"

    @cached_property
    def _config(self) -> ConveyorConfig:
        return ConveyorConfig.from_data(getattr(settings, "CONVEYOR", {}))

    def config(self) -> ConveyorConfig:
        return self._config

    def user_from_request(self, request: Any) -> Any | None:
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def has_permission(self, user: Any, permission: str) -> bool:
        codename = _PERMISSION_CODENAMES.get(permission)
        if user is None or codename is None or not user.is_active or not user.is_staff:
            return False
        return user.is_superuser or user.has_perm(f"saleor_conveyor.{codename}")

    def create_voucher_code(self, voucher: str, *, profile_id: int, purpose: str) -> str:
        prefix = (voucher or purpose).upper()[:12]
        return f"{prefix}-{secrets.token_hex(4).upper()}"

    def order_info(self, order_id: str) -> OrderInfo | None:
        return None
