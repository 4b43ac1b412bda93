"""System checks for the conveyor's Django settings (`conf.py`): a bad value stops `manage.py check`/`migrate`.

Without them a wrong setting shows up late: a typo in a dotted path at the first return request,
a proxy network at the first API call, a negative delay in a worker. Registered by the app's `ready()`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.module_loading import import_string

from . import conf
from .config import ConfigError, ConveyorConfig
from .delivery import DeliverySettings
from .hosts.base import ConveyorHost
from .models import Touchpoint

_MISSING = object()
_KIND = re.compile(r"^[A-Z][A-Z0-9_]*$")
_KIND_LENGTH = Touchpoint._meta.get_field("kind").max_length


def _raw(name: str) -> Any:
    return getattr(settings, name, _MISSING)


def _error(number: int, name: str, message: str, hint: str | None = None) -> Error:
    return Error(f"{name}: {message}", hint=hint, id=f"saleor_conveyor.E{number:03d}")


def _imported(path: Any) -> tuple[Any, str | None]:
    """The object a dotted path names, or the reason it names none."""
    if not isinstance(path, str) or not path.strip():
        return None, f"must be a dotted path (text), got {type(path).__name__}"
    try:
        return import_string(path), None
    except ImportError as error:
        return None, f"{path!r} cannot be imported ({error})"


@register()
def check_shop_settings(**kwargs: Any) -> list[Error]:
    """CONVEYOR (E001): a mapping the shop configuration accepts."""
    value = _raw("CONVEYOR")
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, Mapping):
        return [_error(1, "CONVEYOR", f"must be a dict of the shop's settings, got {type(value).__name__}")]
    try:
        ConveyorConfig.from_data(value)
    except ConfigError as error:
        return [_error(1, "CONVEYOR", str(error))]
    return []


@register()
def check_host(**kwargs: Any) -> list[Error]:
    """CONVEYOR_HOST (E002): a dotted path to a ConveyorHost subclass."""
    path = _raw("CONVEYOR_HOST")
    if path is _MISSING or path in (None, ""):
        return []
    host, problem = _imported(path)
    if problem is None and not (isinstance(host, type) and issubclass(host, ConveyorHost)):
        problem = f"{path!r} is not a subclass of saleor_conveyor.hosts.base.ConveyorHost"
    return [_error(2, "CONVEYOR_HOST", problem)] if problem else []


@register()
def check_delivery(**kwargs: Any) -> list[Error]:
    """CONVEYOR_DELIVERY (E003): known knobs only, numbers of seconds at least 0, true/false where asked."""
    data = _raw("CONVEYOR_DELIVERY")
    if data is _MISSING or data is None:
        return []
    if not isinstance(data, Mapping):
        return [_error(3, "CONVEYOR_DELIVERY", f"must be a dict of delivery knobs, got {type(data).__name__}")]
    defaults = DeliverySettings()
    errors = []
    for name, value in data.items():
        if not hasattr(defaults, name) or name.startswith("_"):
            known = ", ".join(sorted(DeliverySettings.__dataclass_fields__))
            errors.append(_error(3, "CONVEYOR_DELIVERY", f"unknown knob {name!r}", hint=f"Known: {known}."))
            continue
        default = getattr(defaults, name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if isinstance(default, bool):
            problem = None if isinstance(value, bool) else "must be True or False"
        elif isinstance(default, timedelta):
            problem = None if number and value >= 0 else "must be a number of seconds, 0 or more"
        elif name == "lapse_scan_hour":
            problem = (
                None
                if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23
                else ("must be an hour from 0 to 23")
            )
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            problem = None if ok else "must be a whole number, 0 or more"
        if problem:
            errors.append(_error(3, "CONVEYOR_DELIVERY", f"{name} {problem}, got {value!r}"))
    return errors


@register()
def check_delivery_handlers(**kwargs: Any) -> list[Error]:
    """CONVEYOR_DELIVERY_HANDLERS (E004): kind names a touchpoint can hold, each with a handler that imports."""
    handlers = _raw("CONVEYOR_DELIVERY_HANDLERS")
    if handlers is _MISSING or handlers is None:
        return []
    name = "CONVEYOR_DELIVERY_HANDLERS"
    if not isinstance(handlers, Mapping):
        return [_error(4, name, f"must be a dict of kind: handler, got {type(handlers).__name__}")]
    errors = []
    for kind, handler in handlers.items():
        if not isinstance(kind, str) or not _KIND.match(kind) or len(kind) > _KIND_LENGTH:
            errors.append(
                _error(
                    4,
                    name,
                    f"{kind!r} is not a delivery kind",
                    hint=f"Upper case, like LINE or SMS, at most {_KIND_LENGTH} characters.",
                )
            )
            continue
        target, problem = (handler, None) if callable(handler) else _imported(handler)
        if problem is None and not callable(target):
            problem = f"{handler!r} is not callable"
        if problem:
            errors.append(_error(4, name, f"{kind}: {problem}"))
    return errors


@register()
def check_order_callables(**kwargs: Any) -> list[Error]:
    """CONVEYOR_ORDER_INFO, CONVEYOR_CREATE_RETURN, CONVEYOR_SHIPPING_ADDRESSES (E005): dotted paths to callables."""
    errors = []
    for name in ("CONVEYOR_ORDER_INFO", "CONVEYOR_CREATE_RETURN", "CONVEYOR_SHIPPING_ADDRESSES"):
        path = _raw(name)
        if path is _MISSING or path in (None, ""):
            continue
        target, problem = _imported(path)
        if problem is None and not callable(target):
            problem = f"{path!r} is not callable"
        if problem:
            errors.append(_error(5, name, problem))
    return errors


@register()
def check_public_url(**kwargs: Any) -> list[Error]:
    """CONVEYOR_PUBLIC_URL (E006): an http(s) address."""
    url = _raw("CONVEYOR_PUBLIC_URL")
    if url is _MISSING or url in (None, ""):
        return []
    try:
        URLValidator(schemes=["http", "https"])(url if isinstance(url, str) else "")
    except ValidationError:
        return [_error(6, "CONVEYOR_PUBLIC_URL", f"{url!r} is not an http(s) address like https://shop.example.com")]
    return []


@register()
def check_trusted_proxies(**kwargs: Any) -> list[Error]:
    """CONVEYOR_TRUSTED_PROXIES (E007): a list of IP addresses or networks."""
    proxies = _raw("CONVEYOR_TRUSTED_PROXIES")
    if proxies is _MISSING or proxies is None:
        return []
    name = "CONVEYOR_TRUSTED_PROXIES"
    if isinstance(proxies, str) or not isinstance(proxies, list | tuple | set | frozenset):
        return [
            _error(
                7,
                name,
                f"must be a list of addresses or networks, got {type(proxies).__name__}",
                hint='For example ["10.0.0.0/8", "192.0.2.1"].',
            )
        ]
    errors = []
    for proxy in proxies:
        try:
            ipaddress.ip_network(str(proxy).strip(), strict=False)
        except ValueError as error:
            errors.append(_error(7, name, f"{proxy!r}: {error}"))
    return errors


@register()
def check_switches(**kwargs: Any) -> list[Error]:
    """CONVEYOR_PREPARED_STATEMENTS, CONVEYOR_OWN_TRANSACTION (E008): True or False."""
    errors = []
    for name in ("CONVEYOR_PREPARED_STATEMENTS", "CONVEYOR_OWN_TRANSACTION"):
        value = _raw(name)
        if value is not _MISSING and not isinstance(value, bool):
            errors.append(_error(8, name, f"must be True or False, got {value!r}"))
    return errors


def _one_of(number: int, name: str, choices: tuple[str, ...]) -> list[Error]:
    value = _raw(name)
    if value is _MISSING or value in choices:
        return []
    return [_error(number, name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")]


@register()
def check_graphql_executor(**kwargs: Any) -> list[Error]:
    """CONVEYOR_GRAPHQL_EXECUTOR (E009): one of conf.GRAPHQL_EXECUTORS."""
    return _one_of(9, "CONVEYOR_GRAPHQL_EXECUTOR", conf.GRAPHQL_EXECUTORS)


@register()
def check_sql_batching(**kwargs: Any) -> list[Error]:
    """CONVEYOR_SQL_BATCHING (E010): one of conf.SQL_BATCHINGS."""
    return _one_of(10, "CONVEYOR_SQL_BATCHING", conf.SQL_BATCHINGS)


@register()
def check_console_cache_seconds(**kwargs: Any) -> list[Error]:
    """CONVEYOR_CONSOLE_CACHE_SECONDS (E011): a whole number of seconds, 0 to a day."""
    value = _raw("CONVEYOR_CONSOLE_CACHE_SECONDS")
    if value is _MISSING or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 86400):
        return []
    return [
        _error(
            11, "CONVEYOR_CONSOLE_CACHE_SECONDS", f"must be a whole number of seconds from 0 to 86400, got {value!r}"
        )
    ]


@register()
def check_console_connections(**kwargs: Any) -> list[Error]:
    """CONVEYOR_CONSOLE_CONNECTIONS (E012): a whole number of connections, 1 to 8."""
    value = _raw("CONVEYOR_CONSOLE_CONNECTIONS")
    if value is _MISSING or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8):
        return []
    return [_error(12, "CONVEYOR_CONSOLE_CONNECTIONS", f"must be a whole number from 1 to 8, got {value!r}")]


@register()
def check_unknown_settings(**kwargs: Any) -> list[Warning]:
    """W001: a CONVEYOR_* setting nothing reads is most likely a typo of one that is."""
    unknown = sorted(name for name in dir(settings) if name.startswith("CONVEYOR") and name not in conf.SETTING_NAMES)
    return [
        Warning(
            f"{name} is not a setting of the conveyor; it is ignored",
            hint=f"Known: {', '.join(sorted(conf.SETTING_NAMES))} (docs/settings.md).",
            id="saleor_conveyor.W001",
        )
        for name in unknown
    ]


CHECKS: tuple[Callable[..., list[Any]], ...] = (
    check_shop_settings,
    check_host,
    check_delivery,
    check_delivery_handlers,
    check_order_callables,
    check_public_url,
    check_trusted_proxies,
    check_switches,
    check_graphql_executor,
    check_sql_batching,
    check_console_cache_seconds,
    check_unknown_settings,
)
