"""The plain-Django host: the sandbox and the core test suite, no Saleor needed."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.utils.module_loading import import_string

from .. import conf
from ..config import ConveyorConfig
from ..events import client_address_or_none
from ..sql import Table
from .base import ConveyorHost, OrderInfo, ShippingAddress

logger = logging.getLogger(__name__)

# Bumped in Django's cache when the console saves the rule book, so other processes read it again.
CONFIG_VERSION_KEY = "saleor_conveyor:sandbox-config-version"
VERSION_CHECK_SECONDS = 5.0
_BOOK_SETTINGS = ("rule_book", "amount_tiers", "lapse_days")

_PERMISSION_CODENAMES = {
    "MANAGE_USERS": "conveyor_manage_users",
    "MANAGE_ORDERS": "conveyor_manage_orders",
    "MANAGE_PLUGINS": "conveyor_manage_plugins",
}
_ACCESS_SALT = "saleor_conveyor.sandbox.access"
ACCESS_TOKEN_MAX_AGE = timedelta(days=1)
_USER_ID_MAX = 2**63 - 1


def make_access_token(user: Any) -> str:
    """A sandbox stand-in for Saleor's JWT access token: the signed user id (tests, benchmarks)."""
    return signing.dumps({"u": user.pk}, salt=_ACCESS_SALT)


_APP_SALT = "saleor_conveyor.sandbox.app"
APP_TOKEN_MAX_AGE = timedelta(minutes=5)  # Saleor's app tokens last 5 minutes by default
SANDBOX_APP = "conveyor.crm"


def make_app_token(user: Any, app: str = SANDBOX_APP) -> str:
    """A sandbox stand-in for the token Saleor's Dashboard hands an app's iframe: user and app, 5 minutes."""
    return signing.dumps({"u": user.pk, "app": app}, salt=_APP_SALT)


@lru_cache(maxsize=1)
def _active_user_by_id() -> tuple[Table, str]:
    """The user table and the WHERE clause of `User.objects.filter(pk=..., is_active=True)`."""
    users = Table(get_user_model())
    meta, quote = users.model._meta, connection.ops.quote_name
    pk, active = quote(meta.pk.column), quote(meta.get_field("is_active").column)
    return users, f"{users.name}.{pk} = %s AND {users.name}.{active}"


def _user_from_access_token(token: str) -> Any | None:
    try:
        data = signing.loads(token, salt=_ACCESS_SALT, max_age=ACCESS_TOKEN_MAX_AGE)
    except Exception:  # forged, expired, or a body that is not ours (bad JSON, bad zlib): no identity
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    if type(user_id) is not int or not 1 <= user_id <= _USER_ID_MAX:  # not True, 1.0, "1" or past bigint
        return None
    # Every API request asks this: one precompiled statement, not an ORM query built each time
    # (the same row as `User.objects.filter(pk=user_id, is_active=True).first()`).
    users, where = _active_user_by_id()
    found = users.select(where, [user_id], suffix=" LIMIT 1")
    return found[0] if found else None


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """settings.CONVEYOR_TRUSTED_PROXIES as networks (an address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(str(proxy).strip(), strict=False) for proxy in proxies)
    except ValueError as error:
        raise ImproperlyConfigured(f"CONVEYOR_TRUSTED_PROXIES: {error}") from None


def _callable(path: str | None) -> Callable[..., Any] | None:
    return import_string(path) if path else None


def _config_version() -> Any:
    try:
        return cache.get(CONFIG_VERSION_KEY)
    except Exception:  # a cache outage: keep the configuration this process has
        logger.warning("conveyor: could not read the configuration version", exc_info=True)
        return None


def _publish_config_change() -> None:
    try:
        cache.set(CONFIG_VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:
        logger.exception("conveyor: could not publish the rule book change")


def _saved_rule_book() -> Any | None:
    """The book the console last saved, or None (never saved, or no database to ask: before migrate)."""
    from ..models import RuleBookChange

    try:
        return RuleBookChange.objects.order_by("-created_at", "-id").values_list("after", flat=True).first()
    except (DatabaseError, RuntimeError):  # RuntimeError: a test without database access
        return None


def _shop_settings(saved_book: Any | None) -> Mapping[str, Any]:
    settings = dict(conf.SHOP)
    if saved_book is None:
        return settings
    for name in _BOOK_SETTINGS:
        settings.pop(name, None)
    settings["rule_book"] = saved_book
    return settings


def _trusted(address: str, networks: tuple[Any, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == network.version and ip in network for network in networks)


class DjangoHost(ConveyorHost):
    """Users are Django's auth users; configuration is `settings.CONVEYOR`.

    Orders come from the callables named by `settings.CONVEYOR_ORDER_INFO` and
    `settings.CONVEYOR_CREATE_RETURN` (the sandbox's small shop app); without them
    no order is known and returns cannot be requested.
    """

    name = "django"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: ConveyorConfig | None = None
        self._version: Any = None
        self._checked_at = float("-inf")

    def config(self) -> ConveyorConfig:
        """`settings.CONVEYOR`, with the rule book the console last saved (the latest RuleBookChange) over its
        rule book, amount tiers and lapse days. Read once per process, and again after a save: this process's
        at once, another's within VERSION_CHECK_SECONDS (the version key in Django's cache: share one between
        the web server and the worker, e.g. Redis, or a worker keeps the book it read until it restarts)."""
        moment = time.monotonic()
        config = self._config
        if config is not None and moment - self._checked_at < VERSION_CHECK_SECONDS:
            return config
        version = _config_version()
        self._checked_at = moment
        if config is not None and version == self._version:
            return config
        with self._lock:
            self._config = ConveyorConfig.from_data(_shop_settings(_saved_rule_book()))
            self._version = version
            return self._config

    def forget_configuration(self) -> None:
        with self._lock:
            self._config = None
            self._checked_at = float("-inf")

    def save_rule_book(self, book: Mapping[str, Any], *, by: str) -> None:
        """The sandbox keeps no configuration of its own: the history row the service writes in this transaction
        (RuleBookChange.after) is the saved book. Here: drop this process's copy, tell the others on commit."""
        self.forget_configuration()
        transaction.on_commit(_publish_config_change)

    def user_from_request(self, request: Any) -> Any | None:
        """`Authorization: Bearer <make_access_token(user)>`, else the session's user."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return _user_from_access_token(token.strip())
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def client_address(self, request: Any) -> str | None:
        """REMOTE_ADDR; from a trusted proxy (CONVEYOR_TRUSTED_PROXIES), the right-most X-Forwarded-For hop
        that is not one of them. The rest of that header is the client's to write, so it is never read."""
        remote = client_address_or_none(request.META.get("REMOTE_ADDR"))
        networks = _networks(conf.TRUSTED_PROXIES)
        if remote is None or not networks or not _trusted(remote, networks):
            return remote
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = client_address_or_none(hop)
            if address is None:
                return None  # what our proxy saw is not an address: no per-address throttle, never a crash
            if not _trusted(address, networks):
                return address
        return remote

    def staff_from_app_token(self, token: str) -> Any | None:
        """The sandbox's stand-in for the Dashboard handshake: a `make_app_token` for this app, not expired."""
        try:
            data = signing.loads(token, salt=_APP_SALT, max_age=APP_TOKEN_MAX_AGE)
        except Exception:  # forged, expired, not ours
            return None
        if not isinstance(data, dict) or data.get("app") != SANDBOX_APP or type(data.get("u")) is not int:
            return None
        user = self.user_by_id(data["u"])
        return user if user is not None and user.is_staff else None

    def has_permission(self, user: Any, permission: str) -> bool:
        codename = _PERMISSION_CODENAMES.get(permission)
        if user is None or codename is None or not user.is_active or not user.is_staff:
            return False
        return user.is_superuser or user.has_perm(f"saleor_conveyor.{codename}")

    def create_voucher_code(self, voucher: str, *, profile_id: int, purpose: str) -> str:
        prefix = (voucher or purpose).upper()[:12]
        return f"{prefix}-{secrets.token_hex(4).upper()}"

    def order_info(self, order_id: str) -> OrderInfo | None:
        source = _callable(conf.ORDER_INFO)
        return source(order_id) if source is not None else None

    def create_return(self, order_id: str, lines: list[tuple[str, int]]) -> str:
        create = _callable(conf.CREATE_RETURN)
        return create(order_id, lines) if create is not None else ""

    def shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, ShippingAddress]:
        source = _callable(conf.SHIPPING_ADDRESSES)
        return source(list(order_ids)) if source is not None and order_ids else {}
