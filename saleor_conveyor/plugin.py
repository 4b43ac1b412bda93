"""The Saleor plugin: Dashboard configuration, order and customer hooks, the API route.

Glue only. Each hook turns Saleor's objects into the service's plain events after Saleor's
transaction has committed, catches its own failures (Saleor's plugin manager catches none,
so a raising hook would break checkout or a staff mutation) and returns `previous_value`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotFound, JsonResponse
from saleor.plugins.base_plugin import BasePlugin, ConfigurationTypeField

from . import conveyor, saleor_orders
from .config import ConfigError, ConveyorConfig
from .engine.rules import DEFAULT_RULES
from .errors import ConveyorError
from .hosts.saleor import PLUGIN_ID, SaleorHost, find_voucher, settings_from_plugin_configuration

logger = logging.getLogger(__name__)

GRAPHQL_PATHS = {"/graphql", "/graphql/"}
UNSUBSCRIBE_PATHS = {"/unsubscribe", "/unsubscribe/"}  # one-click unsubscribe (RFC 8058) from email headers


def _json_default(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


_DEFAULT_BOOK = {"rules": DEFAULT_RULES["rules"]}
_DEFAULTS = ConveyorConfig()

# name: (type, label, help text, default)
_SETTINGS: dict[str, tuple[str, str, str, str]] = {
    "rule_book": (
        ConfigurationTypeField.MULTILINE,
        "Rule book",
        "The conveyor's rules as JSON: step mail days, purchase-count, amount and NPS triggers. "
        "Edit a rule's days or set \"active\": false to switch it off. Empty restores the method's defaults.",
        _json_default(_DEFAULT_BOOK),
    ),
    "amount_tiers": (
        ConfigurationTypeField.MULTILINE,
        "Amount thresholds",
        "Order totals that trigger the thank-you card, VIP badge and co-creation invitation, "
        'per currency, as JSON: {"card": {"JPY": 10000, "USD": 100}, ...}.',
        _json_default(DEFAULT_RULES["amount_tiers"]),
    ),
    "lapse_days": (
        ConfigurationTypeField.STRING,
        "Lapse after (days)",
        "A customer silent this many days since the last purchase is lapsed and gets the win-back survey.",
        str(DEFAULT_RULES["lapse_days"]),
    ),
    "return_window_days": (
        ConfigurationTypeField.STRING,
        "Return window (days)",
        "How many days after shipping a customer may request a return from the storefront.",
        str(_DEFAULTS.return_window_days),
    ),
    "late_grace_hours": (
        ConfigurationTypeField.STRING,
        "Late grace (hours)",
        "A touchpoint found this many hours past its time (e.g. after an outage) is skipped, not sent late.",
        str(int(_DEFAULTS.late_grace.total_seconds() // 3600)),
    ),
    "frequency_cap_hours": (
        ConfigurationTypeField.STRING,
        "Minimum hours between marketing emails",
        "At most one marketing email per customer within this many hours; later ones wait.",
        str(int(_DEFAULTS.frequency_cap.total_seconds() // 3600)),
    ),
    "sender_name": (
        ConfigurationTypeField.STRING,
        "Sender name",
        "The name customers see on conveyor emails, e.g. your shop's or founder's name.",
        _DEFAULTS.sender_name,
    ),
    "sender_email": (
        ConfigurationTypeField.STRING,
        "Sender email address",
        "The From address of conveyor emails. Empty uses Saleor's DEFAULT_FROM_EMAIL.",
        _DEFAULTS.sender_email,
    ),
    "storefront_url": (
        ConfigurationTypeField.STRING,
        "Storefront URL",
        "Your storefront's address; survey, return and unsubscribe links in emails open pages there.",
        _DEFAULTS.storefront_url,
    ),
    "vip_voucher": (
        ConfigurationTypeField.STRING,
        "VIP-candidate voucher",
        "The single-use voucher whose new codes become VIP-candidate coupons: its ID from the Dashboard URL, "
        "one of its codes, or its name.",
        _DEFAULTS.vip_voucher,
    ),
    "referral_voucher": (
        ConfigurationTypeField.STRING,
        "Referral voucher",
        "The single-use voucher whose new codes become customers' personal referral codes "
        "(ID from the Dashboard URL, one of its codes, or its name).",
        _DEFAULTS.referral_voucher,
    ),
    "quiet_hours": (
        ConfigurationTypeField.STRING,
        "Quiet hours",
        "No email is sent in this range of the shop's local time, e.g. 21:00-08:00. Empty: no quiet hours.",
        str(_DEFAULTS.quiet_hours or ""),
    ),
    "time_zone": (
        ConfigurationTypeField.STRING,
        "Shop time zone",
        "The time zone quiet hours and send times use, e.g. Asia/Tokyo or Europe/Berlin.",
        _DEFAULTS.time_zone,
    ),
    "templates": (
        ConfigurationTypeField.MULTILINE,
        "Email template overrides",
        'Optional JSON overriding built-in email templates per rule and language, e.g. {"step_day3": {"en": '
        '{"subject": "..."}}}. Empty keeps the built-in ones.',
        "{}",
    ),
}


class ConveyorPlugin(BasePlugin):
    """The belt-conveyor retention method: step mail, purchase/amount/NPS triggers, fan stages."""

    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = "Fan Conveyor"
    PLUGIN_DESCRIPTION = (
        "Runs the belt-conveyor retention method: timed step mail after a purchase, purchase-count, "
        "amount and NPS triggers, fan stages, surveys, returns and an inquiry form."
    )
    CONFIGURATION_PER_CHANNEL = False
    DEFAULT_ACTIVE = False
    CONFIG_STRUCTURE = {
        name: {"type": kind, "label": label, "help_text": help_text}
        for name, (kind, label, help_text, _default) in _SETTINGS.items()
    }
    DEFAULT_CONFIGURATION = [{"name": name, "value": spec[3]} for name, spec in _SETTINGS.items()]

    # --- configuration -------------------------------------------------------------------

    @classmethod
    def merged_configuration(cls, stored: Any) -> list[dict[str, Any]]:
        """Stored values over the defaults, as Saleor itself merges them when it loads the plugin."""
        return cls._update_configuration_structure(stored if isinstance(stored, list) else [])

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration: Any, **kwargs: Any) -> None:
        """Refuse a save the conveyor could not run with, naming the setting in the admin's words."""
        values = settings_from_plugin_configuration(plugin_configuration.configuration)
        try:
            config = ConveyorConfig.from_data(values)
        except ConfigError as error:
            raise cls._invalid(error.field, error.message) from None
        for field in ("vip_voucher", "referral_voucher"):
            reference = getattr(config, field)
            if not reference:
                continue
            voucher = find_voucher(reference)
            if voucher is None:
                raise cls._invalid(
                    field,
                    f"no voucher matches {reference!r}; enter the voucher's ID from its Dashboard URL, "
                    "one of its codes, or its exact name",
                )
            if not voucher.single_use:
                raise cls._invalid(
                    field,
                    f"voucher {voucher.name or reference!r} is not single-use; turn on its single-use "
                    "setting so each customer's code works once",
                )

    @classmethod
    def _invalid(cls, field: str, message: str) -> ValidationError:
        from saleor.plugins.error_codes import PluginErrorCode

        label = _SETTINGS[field][1] if field in _SETTINGS else field
        return ValidationError({field: ValidationError(f"{label}: {message}.", code=PluginErrorCode.INVALID.value)})

    # --- hooks ---------------------------------------------------------------------------

    def order_created(self, order: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """A new order joins the purchase ledger (guest orders by email)."""
        self._after_commit("order_created", order, lambda: _record_order_created(order))
        return previous_value

    def order_cancelled(self, order: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """A cancelled order stops counting and its unsent touchpoints are cancelled."""
        self._after_commit("order_cancelled", order, lambda: _record_order_cancelled(order))
        return previous_value

    def order_fully_refunded(self, order: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """A fully refunded order counts like a cancelled one."""
        self._after_commit("order_fully_refunded", order, lambda: _record_order_cancelled(order))
        return previous_value

    def order_fulfilled(self, order: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """The first shipment anchors the shipping lead time and the NPS survey."""
        self._after_commit("order_fulfilled", order, lambda: _record_first_shipment(order))
        return previous_value

    def fulfillment_created(
        self,
        fulfillment: Any,
        notify_customer: bool | None = True,
        calculate_stocks_with_shipping_zones: bool = True,
        previous_value: Any = None,
        **kwargs: Any,
    ) -> Any:
        """A shipment left: record it (the earliest one wins, so partial shipments are safe)."""
        self._after_commit("fulfillment_created", fulfillment, lambda: _record_fulfillment(fulfillment))
        return previous_value

    def order_updated(self, order: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """Saleor has no return hook: returns show up here as returned or refunded fulfilments."""
        self._after_commit("order_updated", order, lambda: _record_returns(order))
        return previous_value

    def customer_created(self, customer: Any, previous_value: Any, **kwargs: Any) -> Any:
        """A new account takes over the guest history bought under its email."""
        self._after_commit("customer_created", customer, lambda: _link_customer(customer))
        return previous_value

    def customer_updated(self, customer: Any, previous_value: Any, webhooks: Any = None, **kwargs: Any) -> Any:
        """An account's email, name or language changed: the profile follows."""
        self._after_commit("customer_updated", customer, lambda: _link_customer(customer))
        return previous_value

    def _after_commit(self, hook: str, subject: Any, work: Callable[[], None]) -> None:
        """Run `work` once Saleor's transaction commits; log any failure, never raise into Saleor."""
        if not self.active:
            return
        configuration = self.configuration
        subject_id = getattr(subject, "pk", None)

        def run() -> None:
            try:
                host = _saleor_host()
                with host.writer():
                    host.use_configuration(configuration)
                    work()
            except ConveyorError as error:
                logger.info("conveyor: %s for %s not recorded: %s", hook, subject_id, error.message)
            except Exception:
                logger.exception("conveyor: %s for %s failed; Saleor's action was not affected", hook, subject_id)

        try:
            transaction.on_commit(run)
        except Exception:
            logger.exception("conveyor: could not defer %s for %s", hook, subject_id)

    # --- the conveyor's API --------------------------------------------------------------

    def webhook(self, request: Any, path: str, previous_value: Any) -> HttpResponse:
        """Serve the conveyor's endpoints under /plugins/global/conveyor.crm/: graphql/ and unsubscribe/."""
        if not self.active:
            return HttpResponseNotFound()  # the legacy /plugins/<id>/ route calls inactive plugins too
        if path in UNSUBSCRIBE_PATHS:
            from .views import handle_unsubscribe_request

            host = _saleor_host()
            host.use_configuration(self.configuration)
            with host.writer():  # the one-click POST writes; Saleor's own view may not have opened the writer
                return handle_unsubscribe_request(request)
        if path not in GRAPHQL_PATHS:
            return HttpResponseNotFound()
        try:
            from .graphql.views import handle_graphql_request
        except ModuleNotFoundError as error:
            if error.name not in {"saleor_conveyor.graphql", "saleor_conveyor.graphql.views"}:
                raise
            return JsonResponse(
                {"errors": [{"message": "GraphQL API not installed yet.", "code": "NOT_IMPLEMENTED"}]},
                status=501,
            )
        _saleor_host().use_configuration(self.configuration)
        return handle_graphql_request(request)


def _saleor_host() -> SaleorHost:
    from .hosts import get_host

    host = get_host()
    if not isinstance(host, SaleorHost):
        raise ConveyorError(f"The conveyor runs on the {host.name} host, not Saleor's; check CONVEYOR_HOST.")
    return host


# --- what each hook records ----------------------------------------------------------------


def _record_order_created(order: Any) -> None:
    event = saleor_orders.order_placed_from_order(order)
    if event is None:
        logger.info("conveyor: order %s is not a countable purchase (or has no email)", order.pk)
        return
    conveyor.record_order_placed(event)


def _record_order_cancelled(order: Any) -> None:
    from django.utils import timezone

    conveyor.record_order_cancelled(saleor_orders.order_cancelled(order.pk, timezone.now()))


def _record_first_shipment(order: Any) -> None:
    shipped_at = saleor_orders.first_shipment_at(order)
    if shipped_at is not None:
        conveyor.record_fulfillment(saleor_orders.order_fulfilled(order.pk, shipped_at))


def _record_fulfillment(fulfillment: Any) -> None:
    if fulfillment.status not in saleor_orders.SHIPPED_STATUSES:
        return
    conveyor.record_fulfillment(saleor_orders.order_fulfilled(fulfillment.order_id, fulfillment.created_at))


def _record_returns(order: Any) -> None:
    event = saleor_orders.order_returned(order)
    if event is not None:
        conveyor.record_return(event)


def _link_customer(user: Any) -> None:
    from .models import FanProfile

    customer = saleor_orders.customer_from_user(user).validate()
    unchanged = FanProfile.objects.filter(
        user_id=customer.user_id,
        email=customer.email,
        first_name=customer.first_name,
        language_code=customer.language_code,
    )
    if unchanged.exists():
        return  # customer_updated fires for address edits too; emails are unique, so no guest waits
    conveyor.link_customer(customer)
