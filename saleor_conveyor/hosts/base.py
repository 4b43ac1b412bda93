"""What the conveyor needs from the platform it runs in, behind one small interface."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import conf
from ..config import ConveyorConfig
from ..events import client_address_or_none

MANAGE_USERS = "MANAGE_USERS"
MANAGE_ORDERS = "MANAGE_ORDERS"
MANAGE_PLUGINS = "MANAGE_PLUGINS"  # the rule book (the plugin's configuration)
# Set by `staff_from_app_token` on the user it returns: the permission names the app token itself allows (Saleor's
# `permissions` claim); the console grants only what both this and the user's own permissions allow.
TOKEN_PERMISSIONS_ATTRIBUTE = "conveyor_token_permissions"


@dataclass(frozen=True)
class OrderLineInfo:
    """An order line as the returns flow needs it."""

    id: str
    product_name: str
    quantity: int
    quantity_fulfilled: int


@dataclass(frozen=True)
class OrderInfo:
    id: str
    number: str
    user_id: int | None
    email: str
    lines: tuple[OrderLineInfo, ...] = ()


@dataclass(frozen=True)
class ShippingAddress:
    """Where an order went, as staff write it on an envelope (Saleor's Address fields)."""

    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    street_address_1: str = ""
    street_address_2: str = ""
    city: str = ""
    city_area: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, e.g. "JP"
    country_area: str = ""  # prefecture, state
    phone: str = ""

    @property
    def name(self) -> str:
        """The addressee, family name first in Japan (as a Japanese envelope has it)."""
        parts = (self.last_name, self.first_name) if self.country == "JP" else (self.first_name, self.last_name)
        return " ".join(part for part in parts if part)

    def lines(self) -> tuple[str, ...]:
        """The address as printed lines: Japanese order (〒, prefecture to street) for JP, else the western one."""
        if self.country == "JP":
            town = "".join((self.country_area, self.city, self.city_area, self.street_address_1))
            rows = (f"〒{self.postal_code}" if self.postal_code else "", town, self.street_address_2, self.company_name)
        else:
            place = " ".join(part for part in (self.city, self.country_area, self.postal_code) if part)
            rows = (self.company_name, self.street_address_1, self.street_address_2, place, self.country)
        return tuple(row for row in rows if row)


class ConveyorHost(ABC):
    """A platform hosting the conveyor: Saleor in production, plain Django in the sandbox."""

    name = "abstract"

    @abstractmethod
    def config(self) -> ConveyorConfig:
        """The shop's conveyor configuration (cached; reset when it changes)."""

    def forget_configuration(self) -> None:
        """Drop the cached configuration (it was saved); the next `config()` reads it again."""
        return None

    def save_rule_book(self, book: Mapping[str, Any], *, by: str) -> None:
        """Store a whole, validated rule book (`RuleBook.to_data()`: rules, amount tiers per currency, lapse days)
        where this host keeps the shop's configuration, so every process uses it from now on (the service
        records the history: conveyor/rule_book.py). A host that cannot keep one refuses."""
        from ..errors import ConveyorError

        raise ConveyorError(f"The {self.name} host cannot save the rule book.", field="json")

    @abstractmethod
    def user_from_request(self, request: Any) -> Any | None:
        """The authenticated user behind an API request, or None."""

    @abstractmethod
    def has_permission(self, user: Any, permission: str) -> bool:
        """Whether a staff user holds MANAGE_USERS, MANAGE_ORDERS or MANAGE_PLUGINS."""

    @abstractmethod
    def create_voucher_code(self, voucher: str, *, profile_id: int, purpose: str) -> str:
        """A new single-use code under the configured voucher (VIP coupon, referral code)."""

    @abstractmethod
    def order_info(self, order_id: str) -> OrderInfo | None:
        """An order's owner and lines with fulfilled quantities, or None if unknown."""

    # --- the staff console (console/auth.py) ------------------------------------------

    def user_by_id(self, user_id: Any) -> Any | None:
        """An active user by primary key (the console's session names one), or None."""
        from django.contrib.auth import get_user_model

        try:
            return get_user_model().objects.filter(pk=user_id, is_active=True).first()
        except (TypeError, ValueError):
            return None

    def authenticate_staff(self, request: Any, email: str, password: str) -> Any | None:
        """A staff user signing in to the console outside the Dashboard with the host's own credentials."""
        from django.contrib.auth import authenticate

        user = authenticate(request, username=email, password=password)
        return user if user is not None and user.is_active and user.is_staff else None

    def staff_from_app_token(self, token: str) -> Any | None:
        """The staff user behind the Dashboard's app token (the handshake), if it is valid for this app; a host
        whose tokens carry narrower permissions than the user's sets `TOKEN_PERMISSIONS_ATTRIBUTE` on it."""
        return None

    def console_user_from_request(self, request: Any) -> Any | None:
        """The console's "host session": the host's own signed-in user (hosts may refuse more than the API does)."""
        return self.user_from_request(request)

    def create_return(self, order_id: str, lines: list[tuple[str, int]]) -> str:
        """Record an approved return in the platform; returns its reference (may be empty)."""
        return ""

    def shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, ShippingAddress]:
        """Where these orders were shipped, by order id, in a fixed number of queries; an order without one
        (unknown, nothing shipped) is left out. The console's staff tasks print them on the cards."""
        return {}

    def client_address(self, request: Any) -> str | None:
        """The caller's IP address for throttling (None if it is not one); hosts behind a proxy override this."""
        return client_address_or_none(request.META.get("REMOTE_ADDR"))

    def endpoint_url(self, path: str) -> str:
        """The public URL of one of the conveyor's own endpoints (one-click unsubscribe)."""
        return f"{conf.PUBLIC_URL.rstrip('/')}/{path.lstrip('/')}"

    def send_mail(self, message: Any) -> None:
        """Send an EmailMessage through the platform's configured mail backend."""
        message.send(fail_silently=False)

    def mail_connection(self) -> Any:
        """A connection of the configured mail backend, kept open across a batch of messages."""
        from django.core.mail import get_connection

        return get_connection(fail_silently=False)

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Database writes (a mutation, a hook, a task) go to the writer database; hosts that guard it open it here."""
        yield

    def replica_alias(self) -> str:
        """The database alias read-only staff queries may read from (a moment behind the writer): here the default."""
        from django.db import DEFAULT_DB_ALIAS

        return DEFAULT_DB_ALIAS

    def celery_app(self) -> Any:
        from celery import current_app

        return current_app
