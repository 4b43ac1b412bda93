"""Every `settings.CONVEYOR*` a developer can set, in one place: one property each, with its default.

Modelled on django-allauth's `app_settings.py`: code reads `conf.HOST`, never `settings.CONVEYOR_HOST`,
so this file is the list of what can be set (docs/settings.md is its table). Values are read from
Django's settings on every access, so pytest-django's `settings` fixture and `override_settings`
apply at once. Bad values are reported at startup by the system checks in `checks.py`
(`saleor_conveyor.E001`...), not here: a property returns what is set.

The shop's own settings (rule book, quiet hours, sender...) are not Django settings in Saleor: they
come from the plugin's Dashboard configuration, and in the sandbox from `settings.CONVEYOR` (`SHOP`);
`config.py` reads and validates them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

PREFIX = "CONVEYOR_"
# The values CONVEYOR_GRAPHQL_EXECUTOR accepts: the conveyor's own executor, or graphql-core 2's.
GRAPHQL_EXECUTORS = ("lean", "graphql-core")
# The values CONVEYOR_SQL_BATCHING accepts: statements joined into one text (ours), or psycopg's pipeline.
SQL_BATCHINGS = ("joined", "pipeline")


class AppSettings:
    """The conveyor's Django settings, each behind a property that knows its default."""

    def _setting(self, name: str, default: Any) -> Any:
        return getattr(settings, PREFIX + name, default)

    @property
    def SHOP(self) -> Mapping[str, Any]:
        """`CONVEYOR`: the shop's conveyor settings for the plain-Django host (keys: `config.KNOWN_KEYS`); {}.

        Saleor ignores it: there the shop admin sets the same keys in Dashboard > Plugins > Fan Conveyor.
        """
        return getattr(settings, "CONVEYOR", None) or {}

    @property
    def HOST(self) -> str | None:
        """Dotted path of the `ConveyorHost` class in force; None picks Saleor's inside Saleor, else plain Django's."""
        return self._setting("HOST", None) or None

    @property
    def DELIVERY(self) -> Mapping[str, Any]:
        """Operator knobs of delivery (batch size, retries, leases; `delivery.DeliverySettings`), seconds as numbers."""
        return self._setting("DELIVERY", None) or {}

    @property
    def DELIVERY_HANDLERS(self) -> Mapping[str, str | Callable[..., Any]]:
        """Extra delivery kinds, `{"LINE": "myapp.delivery.send_line"}` (a dotted path or a callable); may replace
        a built-in kind's handler. Rules in the rule book may use these kinds."""
        return self._setting("DELIVERY_HANDLERS", None) or {}

    @property
    def ORDER_INFO(self) -> str | None:
        """Plain-Django host: dotted path of `order_info(order_id) -> OrderInfo | None`; None: no order is known."""
        return self._setting("ORDER_INFO", None) or None

    @property
    def CREATE_RETURN(self) -> str | None:
        """Plain-Django host: dotted path of `create_return(order_id, lines) -> str` recording an approved return."""
        return self._setting("CREATE_RETURN", None) or None

    @property
    def SHIPPING_ADDRESSES(self) -> str | None:
        """Plain-Django host: dotted path of `shipping_addresses(order_ids) -> {order_id: ShippingAddress}` (the
        console's staff tasks print them on cards); None: no address is known."""
        return self._setting("SHIPPING_ADDRESSES", None) or None

    @property
    def PUBLIC_URL(self) -> str:
        """Plain-Django host: the base URL of the conveyor's own endpoints in emails (one-click unsubscribe)."""
        return self._setting("PUBLIC_URL", None) or "http://localhost:8000"

    @property
    def TRUSTED_PROXIES(self) -> tuple[str, ...]:
        """Plain-Django host: addresses or networks of the proxies in front; only their X-Forwarded-For is read."""
        return tuple(self._setting("TRUSTED_PROXIES", None) or ())

    @property
    def DASHBOARD_ORIGINS(self) -> tuple[str, ...]:
        """Origins (`https://dashboard.example.com`) of a Saleor Dashboard served apart from its API, whose
        handshake the console's entry page accepts besides the API's own (the iframe's `domain`)."""
        value = self._setting("DASHBOARD_ORIGINS", None) or ()
        return (value,) if isinstance(value, str) else tuple(value)

    @property
    def PREPARED_STATEMENTS(self) -> bool:
        """Whether the conveyor's hot statements are PREPAREd on connections that outlive a request (`sql.py`)."""
        return bool(self._setting("PREPARED_STATEMENTS", True))

    @property
    def GRAPHQL_EXECUTOR(self) -> str:
        """Which executor runs the API's documents: "lean" (the conveyor's own) or "graphql-core" (the library's)."""
        return self._setting("GRAPHQL_EXECUTOR", None) or "lean"

    @property
    def SQL_BATCHING(self) -> str:
        """How a `sql.Batch` travels: "joined" (one text, the conveyor's own PREPARE) or "pipeline" (psycopg's)."""
        return self._setting("SQL_BATCHING", None) or "joined"

    @property
    def OWN_TRANSACTION(self) -> bool:
        """Whether the service opens its own transaction (one round trip fewer) instead of `transaction.atomic()`."""
        return bool(self._setting("OWN_TRANSACTION", True))

    @property
    def CONSOLE_CACHE_SECONDS(self) -> int:
        """How long the console's overview shows figures computed earlier (Django's cache, "figures as of");
        0 computes them on every request. The GraphQL API is never cached."""
        return self._setting("CONSOLE_CACHE_SECONDS", 300)

    @property
    def CONSOLE_CONNECTIONS(self) -> int:
        """How many database connections the console's overview computes its figures on at once (each its own,
        closed after); 1 runs them one after another on the request's own. Inside a transaction they always do."""
        return self._setting("CONSOLE_CONNECTIONS", 3)


# Every setting name this module reads (the system checks warn about other CONVEYOR_* names: typos).
SETTING_NAMES = frozenset(
    {"CONVEYOR"}
    | {PREFIX + name for name, value in vars(AppSettings).items() if isinstance(value, property) and name != "SHOP"}
)

_app_settings = AppSettings()


def __getattr__(name: str) -> Any:
    """`conf.HOST` and friends, as allauth's `app_settings.EMAIL_VERIFICATION`."""
    if name.isupper():
        return getattr(_app_settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
