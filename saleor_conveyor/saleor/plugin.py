"""The Saleor plugin: Dashboard configuration, order and customer hooks, the API route.

Glue only. Each hook turns Saleor's objects into the service's plain events after Saleor's
transaction has committed, catches its own failures (Saleor's plugin manager catches none,
so a raising hook would break checkout or a staff mutation) and returns `previous_value`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotFound, JsonResponse
from django.utils import timezone
from saleor.plugins.base_plugin import BasePlugin

from .. import conveyor
from ..config import ConfigError, ConveyorConfig
from ..errors import ConveyorError
from ..hosts import get_host
from ..hosts.saleor import SaleorHost, find_voucher
from ..models import FanProfile
from ..views import handle_unsubscribe_request
from . import app, configuration, orders
from .configuration import PLUGIN_ID

logger = logging.getLogger(__name__)

GRAPHQL_PATHS = {"/graphql", "/graphql/"}
UNSUBSCRIBE_PATHS = {"/unsubscribe", "/unsubscribe/"}  # one-click unsubscribe (RFC 8058) from email headers
# The console as a Dashboard app (saleor/app.py): its manifest and the installer's token endpoint. Saleor-only,
# so routed here rather than in pages/urls.py (the sandbox has no Dashboard: both are 404 there).
APP_VIEWS = {
    "/manifest/": app.manifest_view,
    "/manifest": app.manifest_view,
    "/register/": app.register_view,
    "/register": app.register_view,
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
    CONFIG_STRUCTURE = configuration.CONFIG_STRUCTURE
    DEFAULT_CONFIGURATION = configuration.DEFAULT_CONFIGURATION

    # --- configuration -------------------------------------------------------------------

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration: Any, **kwargs: Any) -> None:
        """Refuse a save the conveyor could not run with, naming the setting in the admin's words."""
        values = configuration.settings_from_plugin_configuration(plugin_configuration.configuration)
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

        shown = configuration.label(field)
        return ValidationError({field: ValidationError(f"{shown}: {message}.", code=PluginErrorCode.INVALID.value)})

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
        """A new account takes over the guest history bought under its email, once the email is proven."""
        self._after_commit("customer_created", customer, lambda: _link_customer(customer))
        return previous_value

    def account_confirmed(self, user: Any, previous_value: Any, **kwargs: Any) -> Any:
        """The account proved its email (Saleor links the guest's orders now too): the guest history joins."""
        self._after_commit("account_confirmed", user, lambda: _link_customer(user))
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
        """Serve the conveyor's endpoints under /plugins/global/conveyor.crm/: graphql/, unsubscribe/, the app's
        manifest/ and register/, the pages."""
        if not self.active:
            return HttpResponseNotFound()  # the legacy /plugins/<id>/ route calls inactive plugins too
        if path in APP_VIEWS:
            host = _saleor_host()
            host.use_configuration(self.configuration)
            with host.writer():  # register/ writes, and reads the token Saleor's installer has just written
                return APP_VIEWS[path](request)
        if path in UNSUBSCRIBE_PATHS:
            host = _saleor_host()
            host.use_configuration(self.configuration)
            with host.writer():  # the one-click POST writes; Saleor's own view may not have opened the writer
                return handle_unsubscribe_request(request)
        if path not in GRAPHQL_PATHS:
            return self._customer_page(request, path or "")
        try:
            from ..graphql.views import handle_graphql_request
        except ModuleNotFoundError as error:
            if error.name not in {"saleor_conveyor.graphql", "saleor_conveyor.graphql.views"}:
                raise
            return JsonResponse(
                {"errors": [{"message": "GraphQL API not installed yet.", "code": "NOT_IMPLEMENTED"}]},
                status=501,
            )
        _saleor_host().use_configuration(self.configuration)
        return handle_graphql_request(request)

    def _customer_page(self, request: Any, path: str) -> HttpResponse:
        """The customer pages (surveys, returns, inquiry, mail preferences): pages/urls.py lists them."""
        from ..pages import urls as pages

        if not pages.is_page_path(path):
            return HttpResponseNotFound()
        host = _saleor_host()
        host.use_configuration(self.configuration)
        with host.writer():  # answers and requests write; Saleor's own view may not have opened the writer
            return pages.serve(request, path)


def _saleor_host() -> SaleorHost:
    host = get_host()
    if not isinstance(host, SaleorHost):
        raise ConveyorError(f"The conveyor runs on the {host.name} host, not Saleor's; check CONVEYOR_HOST.")
    return host


# --- what each hook records ----------------------------------------------------------------


def _record_order_created(order: Any) -> None:
    event = orders.order_placed_from_order(order)
    if event is None:
        logger.info("conveyor: order %s is not a countable purchase (or has no email)", order.pk)
        return
    conveyor.record_order_placed(event)


def _record_order_cancelled(order: Any) -> None:
    conveyor.record_order_cancelled(orders.order_cancelled(order.pk, timezone.now()))


def _record_first_shipment(order: Any) -> None:
    shipped_at = orders.first_shipment_at(order)
    if shipped_at is not None:
        conveyor.record_fulfillment(orders.order_fulfilled(order.pk, shipped_at))


def _record_fulfillment(fulfillment: Any) -> None:
    if fulfillment.status not in orders.SHIPPED_STATUSES:
        return
    conveyor.record_fulfillment(orders.order_fulfilled(fulfillment.order_id, fulfillment.created_at))


def _record_returns(order: Any) -> None:
    event = orders.order_returned(order)
    if event is not None:
        conveyor.record_return(event)


def _link_customer(user: Any) -> None:
    customer = orders.customer_from_user(user).validate()
    unchanged = FanProfile.objects.filter(
        user_id=customer.user_id,
        email=customer.email,
        first_name=customer.first_name,
        language_code=customer.language_code,
    )
    if unchanged.exists():
        return  # customer_updated fires for address edits too; emails are unique, so no guest waits
    # Saleor itself joins guest orders to an account only once its email is proven (confirmAccount,
    # confirmEmailChange, staff edits); until then anyone could register a guest's address.
    conveyor.link_customer(customer, take_guest_history=bool(getattr(user, "is_confirmed", True)))
