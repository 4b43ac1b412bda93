"""The Saleor host: Saleor's users, permissions, vouchers, orders, writer database and Celery app.

Beside the one for plain Django (`django.py`), behind the same interface (`base.py`), so the host in
force is found the same way (`CONVEYOR_HOST`, else by what is installed). Only this module and the
`saleor/` folder import Saleor, so the core runs (and is tested) without it (tests/test_layers.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import jwt
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from ..config import ConveyorConfig
from ..errors import ConveyorError, ErrorCode
from ..events import client_address_or_none
from ..saleor.configuration import (
    PLUGIN_ID,
    merged_configuration,
    rule_book_settings,
    settings_from_plugin_configuration,
)
from . import get_host
from .base import (
    MANAGE_ORDERS,
    MANAGE_PLUGINS,
    MANAGE_USERS,
    ConveyorHost,
    OrderInfo,
    OrderLineInfo,
    ShippingAddress,
)

logger = logging.getLogger(__name__)

# Bumped in Django's cache (shared by web and Celery processes) whenever the plugin's stored
# configuration is saved, so every process re-reads it.
CONFIG_VERSION_KEY = "saleor_conveyor:plugin-config-version"
# How often a process asks the shared cache whether another process saved the configuration.
VERSION_CHECK_SECONDS = 5.0
_VOUCHER_SETTINGS = {"vip": "vip_voucher", "referral": "referral_voucher"}


def _fingerprint(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


class SaleorHost(ConveyorHost):
    """The conveyor inside Saleor: configuration comes from Dashboard > Plugins > Fan Conveyor."""

    name = "saleor"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: ConveyorConfig | None = None
        self._fingerprint: str | None = None
        self._version: Any = None
        self._checked_at = float("-inf")

    # --- configuration -------------------------------------------------------------------

    def config(self) -> ConveyorConfig:
        """The stored configuration, parsed once and re-read only after it was saved again."""
        moment = time.monotonic()
        if self._config is not None and moment - self._checked_at < VERSION_CHECK_SECONDS:
            return self._config  # a save in this process clears it at once; others notice within seconds
        version = cache.get(CONFIG_VERSION_KEY)
        self._checked_at = moment
        if self._config is not None and version == self._version:
            return self._config
        with self.writer():  # just saved: the writer has it, a replica may not yet (and any query may get here)
            stored = self._stored_configuration()
        config = self.use_configuration(stored)
        self._version = version
        return config

    def use_configuration(self, configuration: Iterable[Mapping[str, Any]] | None) -> ConveyorConfig:
        """Adopt a configuration the caller already holds (a plugin hook's), parsing only if it changed."""
        values = settings_from_plugin_configuration(configuration)
        fingerprint = _fingerprint(values)
        with self._lock:
            if self._config is None or fingerprint != self._fingerprint:
                self._config = ConveyorConfig.from_data(values)
                self._fingerprint = fingerprint
            return self._config

    def forget_configuration(self) -> None:
        """Drop the parsed configuration (it was saved); the next `config()` re-reads it."""
        with self._lock:
            self._config = None
            self._fingerprint = None
            self._checked_at = float("-inf")

    def save_rule_book(self, book: Mapping[str, Any], *, by: str) -> None:
        """Write the rule book into the plugin's configuration with Saleor's own save (the Dashboard's pluginUpdate
        path: the plugin's validation, then `PluginConfiguration.save`), so Dashboard > Plugins > Fan Conveyor
        shows the same rules, amount thresholds and lapse days; the save signal bumps the version key, so every
        process reads it again (connect_signals)."""
        from saleor.plugins.manager import get_plugins_manager

        values = rule_book_settings(book)
        with self.writer():
            manager = get_plugins_manager(allow_replica=False)
            try:
                saved = manager.save_plugin_configuration(PLUGIN_ID, None, {"configuration": values})
            except DjangoValidationError as error:
                messages = [message for messages in error.message_dict.values() for message in messages]
                raise ConveyorError(" ".join(messages) or "Saleor refused the configuration.", field="json") from None
        if saved is None:
            raise ConveyorError(
                f"The {PLUGIN_ID} plugin is not installed in Saleor (settings.PLUGINS).",
                field="json",
                code=ErrorCode.NOT_FOUND,
            )
        self.forget_configuration()

    @staticmethod
    def _stored_configuration() -> list[dict[str, Any]]:
        from saleor.plugins.models import PluginConfiguration

        stored = (
            PluginConfiguration.objects.filter(identifier=PLUGIN_ID, channel__isnull=True)
            .values_list("configuration", flat=True)
            .first()
        )
        return merged_configuration(stored)

    # --- who is calling ------------------------------------------------------------------

    def user_from_request(self, request: Any) -> Any | None:
        """Saleor's JWT user; a missing, bad or expired token means an anonymous caller, not an error."""
        from saleor.core.auth_backend import load_user_from_request

        try:
            user = load_user_from_request(request)
        except (jwt.PyJWTError, PermissionDenied, KeyError) as error:
            logger.debug("conveyor: rejected token: %s", error)
            return None
        if user is None or not user.is_active:
            return None
        return user

    def staff_from_app_token(self, token: str) -> Any | None:
        """The Dashboard's app token, checked with Saleor's JWT code: ours, not expired, an active staff user."""
        from ..saleor.app import staff_from_app_token

        return staff_from_app_token(token)

    def console_user_from_request(self, request: Any) -> Any | None:
        """A Bearer token for the console: another app's token is refused (Saleor's API would accept it)."""
        from ..saleor.app import console_user_from_request

        return console_user_from_request(request)

    def authenticate_staff(self, request: Any, email: str, password: str) -> Any | None:
        """A staff member's Saleor credentials, checked as Saleor's tokenCreate checks them."""
        from ..saleor.app import authenticate_staff

        return authenticate_staff(request, email, password)

    def has_permission(self, user: Any, permission: str) -> bool:
        """Staff checks use Saleor's own permissions, so Dashboard permission groups apply."""
        from saleor.permission.enums import AccountPermissions, OrderPermissions, PluginsPermissions

        perms = {
            MANAGE_USERS: AccountPermissions.MANAGE_USERS,
            MANAGE_ORDERS: OrderPermissions.MANAGE_ORDERS,
            MANAGE_PLUGINS: PluginsPermissions.MANAGE_PLUGINS,
        }
        perm = perms.get(permission)
        if user is None or perm is None or not getattr(user, "is_active", False):
            return False
        if not getattr(user, "is_staff", False):
            return False
        return bool(user.has_perm(perm))

    # --- vouchers ------------------------------------------------------------------------

    def create_voucher_code(self, voucher: str, *, profile_id: int, purpose: str) -> str:
        """A fresh single-use code under the configured voucher, so it shows in the Dashboard."""
        from saleor.core.utils.promo_code import generate_promo_code
        from saleor.discount.models import VoucherCode

        reference = voucher
        if voucher in _VOUCHER_SETTINGS:
            reference = getattr(self.config(), _VOUCHER_SETTINGS[voucher])
            if not reference:
                raise ConveyorError(
                    f"No {voucher} voucher is configured (Dashboard > Plugins > Fan Conveyor).",
                    field=_VOUCHER_SETTINGS[voucher],
                    code=ErrorCode.NOT_FOUND,
                )
        with self.writer():
            target = find_voucher(reference)
            if target is None:
                raise ConveyorError(
                    f"The voucher {reference!r} does not exist in Saleor.", field="voucher", code=ErrorCode.NOT_FOUND
                )
            for _attempt in range(5):
                try:
                    with transaction.atomic():
                        code = VoucherCode.objects.create(voucher=target, code=generate_promo_code())
                except IntegrityError:
                    continue  # another process took the same random code a moment ago
                logger.info("conveyor: %s code for profile %s under voucher %s", purpose, profile_id, target.pk)
                return code.code
        raise ConveyorError("Could not generate a unique voucher code.", field="voucher")

    # --- orders --------------------------------------------------------------------------

    def order_info(self, order_id: str) -> OrderInfo | None:
        """An order's owner and lines; `quantity_fulfilled` is what the customer still holds."""
        from django.db.models import Q, Sum
        from saleor.order import FulfillmentStatus
        from saleor.order.models import Order

        order = _order_or_none(Order.objects.select_related("user"), order_id)
        if order is None:
            return None
        shipped = Q(fulfillment_lines__fulfillment__status=FulfillmentStatus.FULFILLED)
        held = Sum("fulfillment_lines__quantity", filter=shipped)
        lines = order.lines.annotate(held=held).order_by("created_at", "id")
        return OrderInfo(
            id=str(order.pk),
            number=str(order.number),
            user_id=order.user_id,
            email=(order.user.email if order.user else order.user_email) or "",
            lines=tuple(
                OrderLineInfo(
                    id=str(line.pk),
                    product_name=" / ".join(part for part in (line.product_name, line.variant_name) if part),
                    quantity=line.quantity,
                    quantity_fulfilled=line.held or 0,
                )
                for line in lines
            ),
        )

    def create_return(self, order_id: str, lines: list[tuple[str, int]]) -> str:
        """Record an approved return with Saleor's own return action, so staff see it in the Dashboard."""
        from saleor.order import FulfillmentLineData, FulfillmentStatus
        from saleor.order.actions import create_fulfillments_for_returned_products
        from saleor.order.models import FulfillmentLine, Order
        from saleor.plugins.manager import get_plugins_manager
        from saleor.site.models import Site

        with self.writer():
            order = _order_or_none(Order.objects.all(), order_id)
            if order is None:
                raise ConveyorError(f"No order {order_id!r} in Saleor.", field="order_id", code=ErrorCode.NOT_FOUND)
            held = list(
                FulfillmentLine.objects.filter(
                    fulfillment__order=order,
                    fulfillment__status=FulfillmentStatus.FULFILLED,
                    order_line_id__in=[line_id for line_id, _ in lines],
                ).order_by("fulfillment__created_at", "pk")
            )
            to_return: list[FulfillmentLineData] = []
            for line_id, quantity in lines:
                wanted = quantity
                for fulfillment_line in (fl for fl in held if str(fl.order_line_id) == str(line_id)):
                    take = min(wanted, fulfillment_line.quantity)
                    if take:
                        to_return.append(FulfillmentLineData(line=fulfillment_line, quantity=take))
                        wanted -= take
                if wanted:
                    raise ConveyorError(
                        f"Line {line_id} has fewer than {quantity} shipped items left to return.",
                        field="lines",
                        code=ErrorCode.OUT_OF_RANGE,
                    )
            returned, _replacement, _order = create_fulfillments_for_returned_products(
                None,
                None,
                order,
                None,
                [],
                to_return,
                get_plugins_manager(allow_replica=False),
                Site.objects.get_current().settings,
                reason="Return approved in Fan Conveyor",
            )
            return str(returned.pk)

    def shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, ShippingAddress]:
        """Each order's shipping address (Saleor's Order.shipping_address), in one query; unknown ids left out."""
        from saleor.order.models import Order

        wanted = [order_id for order_id in dict.fromkeys(order_ids) if _is_uuid(order_id)]
        if not wanted:
            return {}
        orders = (
            Order.objects.using(self.replica_alias())
            .filter(pk__in=wanted, shipping_address__isnull=False)
            .select_related("shipping_address")
            .only("id", *(f"shipping_address__{name}" for name in _ADDRESS_FIELDS))
        )
        return {str(order.pk): _address(order.shipping_address) for order in orders}

    # --- infrastructure ------------------------------------------------------------------

    def endpoint_url(self, path: str) -> str:
        """The plugin's own route on Saleor's public URL (PUBLIC_URL, else the Site's domain)."""
        from saleor.core.utils import build_absolute_uri

        return build_absolute_uri(f"/plugins/global/{PLUGIN_ID}/{path.lstrip('/')}")

    def client_address(self, request: Any) -> str | None:
        """The caller's address as Saleor itself reads it (X-Forwarded-For first, as its own throttles do),
        checked as an IP address: None when it is not one, never an error."""
        from saleor.core.utils import get_client_ip

        try:
            address = get_client_ip(request)
        except Exception:
            logger.debug("conveyor: no client address", exc_info=True)
            return None
        return client_address_or_none(address)

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Saleor refuses writer-database access outside `allow_writer()` (requests and tasks)."""
        from saleor.core.db.connection import allow_writer

        with allow_writer():
            yield

    def replica_alias(self) -> str:
        """Saleor's read replica (`DATABASE_CONNECTION_REPLICA_NAME`), which its own queries read; else the writer."""
        from django.conf import settings
        from django.db import DEFAULT_DB_ALIAS

        alias = getattr(settings, "DATABASE_CONNECTION_REPLICA_NAME", None)
        return alias if alias in settings.DATABASES else DEFAULT_DB_ALIAS

    def celery_app(self) -> Any:
        from saleor.celeryconf import app

        return app


_ADDRESS_FIELDS = tuple(field.name for field in dataclasses.fields(ShippingAddress))


def _address(address: Any) -> ShippingAddress:
    """Saleor's Address as the conveyor's (the country is a django-countries value, the phone a PhoneNumber)."""
    values = {name: getattr(address, name) for name in _ADDRESS_FIELDS}
    values["country"] = getattr(values["country"], "code", values["country"]) or ""
    return ShippingAddress(**{name: str(value or "") for name, value in values.items()})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _order_or_none(queryset: Any, order_id: str) -> Any | None:
    try:
        return queryset.filter(pk=order_id).first()
    except (DjangoValidationError, ValueError):
        return None  # not a UUID: no such order


def find_voucher(reference: str) -> Any | None:
    """A voucher by its Dashboard ID (from the URL), one of its codes, or its name."""
    import graphene
    from saleor.discount.models import Voucher

    reference = (reference or "").strip()
    if not reference:
        return None
    try:
        kind, pk = graphene.Node.from_global_id(reference)
    except Exception:
        kind, pk = None, None
    if kind == "Voucher" and str(pk).isdigit():
        found = Voucher.objects.filter(pk=int(pk)).first()
        if found is not None:
            return found
    found = Voucher.objects.filter(codes__code=reference).first()
    if found is not None:
        return found
    named = list(Voucher.objects.filter(name=reference)[:2])
    return named[0] if len(named) == 1 else None


def connect_signals() -> None:
    """A saved plugin configuration invalidates every process's parsed copy."""
    from django.db.models.signals import post_delete, post_save
    from saleor.plugins.models import PluginConfiguration

    def changed(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.identifier != PLUGIN_ID:
            return
        host = get_host()
        if isinstance(host, SaleorHost):
            host.forget_configuration()
        transaction.on_commit(_publish_change)

    post_save.connect(changed, sender=PluginConfiguration, weak=False, dispatch_uid="saleor_conveyor.config_saved")
    post_delete.connect(changed, sender=PluginConfiguration, weak=False, dispatch_uid="saleor_conveyor.config_deleted")


def _publish_change() -> None:
    import uuid

    try:
        cache.set(CONFIG_VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # a cache outage must not fail the Dashboard save
        logger.exception("conveyor: could not publish the configuration change")
