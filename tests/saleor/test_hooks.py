"""Every hook, driven by Saleor's real actions with on-commit callbacks executed."""

from __future__ import annotations

import logging
from decimal import Decimal

import graphene
import pytest
from saleor.discount import DiscountType
from saleor.discount.models import OrderDiscount
from saleor.graphql.checkout.tests.mutations.test_checkout_complete_with_transactions import (
    MUTATION_CHECKOUT_COMPLETE,
    prepare_checkout_for_test,
)
from saleor.graphql.core.utils import to_global_id_or_none
from saleor.order import FulfillmentLineData, OrderOrigin, OrderStatus
from saleor.order.actions import cancel_order, create_fulfillments, create_fulfillments_for_returned_products
from saleor.order.models import Order
from saleor.plugins.manager import get_plugins_manager

from saleor_conveyor import conveyor
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint

CUSTOMER_CREATE = """
mutation CreateCustomer($email: String, $firstName: String) {
  customerCreate(input: {email: $email, firstName: $firstName}) { errors { field message } user { id } }
}
"""
CUSTOMER_UPDATE = """
mutation UpdateCustomer($id: ID!, $email: String, $languageCode: LanguageCodeEnum) {
  customerUpdate(id: $id, input: {email: $email, languageCode: $languageCode}) { errors { field message } }
}
"""
CUSTOMER_CONFIRM = """
mutation ConfirmCustomer($id: ID!) {
  customerUpdate(id: $id, input: {isConfirmed: true}) { errors { field message } }
}
"""
ORDER_CANCEL = """
mutation OrderCancel($id: ID!) { orderCancel(id: $id) { errors { field message } order { status } } }
"""


def statuses() -> dict[str, str]:
    return dict(Touchpoint.objects.values_list("key", "status"))


def snapshot() -> tuple:
    """Everything the conveyor wrote, to show a repeated event changed nothing."""
    return (
        list(Purchase.objects.order_by("order_id").values()),
        list(FanProfile.objects.order_by("id").values()),
        list(Touchpoint.objects.order_by("id").values()),
    )


def fulfil(order, capture, site_settings, staff_user):
    manager = get_plugins_manager(allow_replica=False)
    lines = {}
    for line in order.lines.all():
        stock = line.allocations.get().stock
        lines.setdefault(stock.warehouse_id, []).append({"order_line": line, "quantity": line.quantity})
    with capture(execute=True):
        return create_fulfillments(staff_user, None, order, lines, manager, site_settings)


def return_lines(order, capture, site_settings, staff_user, quantities):
    """Saleor's return action for some shipped quantities: {order line: quantity}."""
    manager = get_plugins_manager(allow_replica=False)
    fulfillment_lines = [
        FulfillmentLineData(line=fl, quantity=quantities[fl.order_line_id])
        for fulfillment in order.fulfillments.filter(status="fulfilled")
        for fl in fulfillment.lines.all()
        if quantities.get(fl.order_line_id)
    ]
    with capture(execute=True):
        create_fulfillments_for_returned_products(
            staff_user, None, order, None, [], fulfillment_lines, manager, site_settings
        )


# --- order_created -------------------------------------------------------------------------


def test_order_created_records_the_purchase_and_schedules_step_mail(conveyor_enabled, order_with_lines, place_order):
    place_order(order_with_lines)

    purchase = Purchase.objects.get(order_id=str(order_with_lines.pk))
    assert purchase.order_number == str(order_with_lines.number)
    assert purchase.channel == "main" and purchase.currency == "USD"
    assert purchase.total_gross_amount == order_with_lines.total_gross_amount
    assert purchase.placed_at == order_with_lines.created_at
    assert not purchase.discounted
    profile = purchase.profile
    assert profile.user_id == order_with_lines.user_id and profile.email == "test@example.com"
    assert profile.stage == "FIRST_TIME" and profile.purchase_count == 1
    assert {"step_day3", "step_day7", "step_day14", "fan_survey"} <= set(statuses())


def test_guest_order_is_recorded_by_email(conveyor_enabled, order_with_lines, place_order):
    Order.objects.filter(pk=order_with_lines.pk).update(user=None, user_email="Guest@Example.com")
    order_with_lines.refresh_from_db()

    place_order(order_with_lines)

    profile = FanProfile.objects.get()
    assert profile.email == "guest@example.com" and profile.user_id is None
    assert profile.purchase_count == 1


def test_order_created_twice_and_the_order_updated_that_follows_count_once(
    conveyor_enabled, order_with_lines, place_order, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)
    before = snapshot()

    place_order(order_with_lines)  # an at-least-once redelivery
    manager = get_plugins_manager(allow_replica=False)
    with django_capture_on_commit_callbacks(execute=True):
        manager.order_updated(order_with_lines)  # Saleor's follow-up to order_created

    assert snapshot() == before
    assert FanProfile.objects.get().purchase_count == 1


def test_checkout_complete_records_the_order_once_despite_order_updated(
    conveyor_enabled,
    user_api_client,
    checkout_with_item,
    address,
    checkout_delivery,
    transaction_item_generator,
    transaction_events_generator,
    customer_user,
):
    checkout = prepare_checkout_for_test(
        checkout_with_item,
        address,
        address,
        checkout_delivery(checkout_with_item),
        transaction_item_generator,
        transaction_events_generator,
        user=customer_user,
    )

    response = user_api_client.post_graphql(
        MUTATION_CHECKOUT_COMPLETE, {"id": to_global_id_or_none(checkout), "redirectUrl": "https://www.example.com"}
    )

    assert not response.json()["data"]["checkoutComplete"]["errors"]
    order = Order.objects.get()
    purchase = Purchase.objects.get()
    assert purchase.order_id == str(order.pk) and purchase.profile.user_id == customer_user.pk
    assert FanProfile.objects.get().purchase_count == 1


@pytest.mark.parametrize(
    ("changes", "origin"),
    [({"status": OrderStatus.DRAFT}, OrderOrigin.CHECKOUT), ({}, OrderOrigin.REISSUE)],
    ids=["draft", "reissue"],
)
def test_drafts_and_reissued_replacements_are_not_purchases(
    conveyor_enabled, order_with_lines, place_order, changes, origin
):
    Order.objects.filter(pk=order_with_lines.pk).update(origin=origin, **changes)
    order_with_lines.refresh_from_db()

    place_order(order_with_lines)

    assert not Purchase.objects.exists()


def test_a_voucher_order_is_marked_as_discounted(conveyor_enabled, order_with_lines, voucher, place_order):
    OrderDiscount.objects.create(
        order=order_with_lines,
        type=DiscountType.VOUCHER,
        value=Decimal(5),
        amount_value=Decimal(5),
        currency="USD",
        voucher=voucher,
        voucher_code="mirumee",
    )

    place_order(order_with_lines)

    purchase = Purchase.objects.get()
    assert purchase.used_voucher and not purchase.used_sale and not purchase.used_campaign


def test_a_catalogue_promotion_counts_as_a_sale(
    conveyor_enabled, order_with_lines_and_catalogue_promotion, place_order
):
    place_order(order_with_lines_and_catalogue_promotion)

    purchase = Purchase.objects.get()
    assert purchase.used_sale and not purchase.used_voucher


def test_an_order_promotion_counts_as_a_campaign(conveyor_enabled, order_with_lines_and_order_promotion, place_order):
    place_order(order_with_lines_and_order_promotion)

    purchase = Purchase.objects.get()
    assert purchase.used_campaign and not purchase.used_voucher


def test_an_inactive_plugin_records_nothing(conveyor_enabled, order_with_lines, place_order):
    conveyor_enabled.active = False
    conveyor_enabled.save(update_fields=["active"])

    place_order(order_with_lines)

    assert not Purchase.objects.exists() and not FanProfile.objects.exists()


# --- cancellations and refunds -----------------------------------------------------------


def test_cancel_order_takes_the_order_off_the_count_and_cancels_unsent_mail(
    conveyor_enabled, order_with_lines, place_order, site_settings, staff_user, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)
    manager = get_plugins_manager(allow_replica=False)

    with django_capture_on_commit_callbacks(execute=True):
        cancel_order(order_with_lines, staff_user, None, manager, site_settings)

    purchase = Purchase.objects.get()
    assert purchase.cancelled_at is not None
    assert purchase.profile.purchase_count == 0 and purchase.profile.stage is None
    assert set(statuses().values()) == {"CANCELLED"}


def test_order_fully_refunded_counts_like_a_cancellation(
    conveyor_enabled, order_with_lines, place_order, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)
    manager = get_plugins_manager(allow_replica=False)

    with django_capture_on_commit_callbacks(execute=True):
        manager.order_fully_refunded(order_with_lines)

    assert Purchase.objects.get().cancelled_at is not None
    assert FanProfile.objects.get().purchase_count == 0


def test_cancelling_an_order_from_before_the_plugin_is_logged_not_raised(
    conveyor_enabled, order_with_lines, site_settings, staff_user, django_capture_on_commit_callbacks, caplog
):
    manager = get_plugins_manager(allow_replica=False)
    caplog.set_level(logging.INFO, logger="saleor_conveyor")

    with django_capture_on_commit_callbacks(execute=True):
        cancel_order(order_with_lines, staff_user, None, manager, site_settings)

    order_with_lines.refresh_from_db()
    assert order_with_lines.status == OrderStatus.CANCELED
    assert "not recorded" in caplog.text and not Purchase.objects.exists()


# --- fulfilments and returns ---------------------------------------------------------------


def test_create_fulfillments_records_the_shipment_and_schedules_the_nps_survey(
    conveyor_enabled, order_with_lines, place_order, site_settings, staff_user, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)

    [fulfillment] = fulfil(order_with_lines, django_capture_on_commit_callbacks, site_settings, staff_user)

    purchase = Purchase.objects.get()
    assert purchase.fulfilled_at == fulfillment.created_at
    survey = Touchpoint.objects.get(rule="nps_survey")
    assert survey.status == "SCHEDULED" and survey.order_id == str(order_with_lines.pk)


def test_a_second_shipment_does_not_move_the_first_shipment_time(
    conveyor_enabled, order_with_lines, place_order, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)
    manager = get_plugins_manager(allow_replica=False)
    first = order_with_lines.fulfillments.create(tracking_number="1")
    later = order_with_lines.fulfillments.create(tracking_number="2")

    with django_capture_on_commit_callbacks(execute=True):
        manager.fulfillment_created(first)
        manager.fulfillment_created(later)
        manager.order_fulfilled(order_with_lines)

    assert Purchase.objects.get().fulfilled_at == first.created_at


def test_a_partial_return_keeps_the_order_counted_and_a_full_return_removes_it(
    conveyor_enabled, order_with_lines, place_order, site_settings, staff_user, django_capture_on_commit_callbacks
):
    place_order(order_with_lines)
    fulfil(order_with_lines, django_capture_on_commit_callbacks, site_settings, staff_user)
    first, second = order_with_lines.lines.order_by("created_at", "id")

    return_lines(order_with_lines, django_capture_on_commit_callbacks, site_settings, staff_user, {first.pk: 1})

    purchase = Purchase.objects.get()
    assert purchase.returned_at is None and purchase.profile.purchase_count == 1

    rest = {first.pk: first.quantity - 1, second.pk: second.quantity}
    return_lines(order_with_lines, django_capture_on_commit_callbacks, site_settings, staff_user, rest)

    purchase.refresh_from_db()
    order_with_lines.refresh_from_db()
    assert order_with_lines.status == OrderStatus.RETURNED
    last_return = order_with_lines.fulfillments.filter(status="returned").latest("created_at")
    assert purchase.returned_at == last_return.created_at
    assert FanProfile.objects.get().purchase_count == 0


def test_order_updated_after_a_return_twice_changes_nothing_more(
    conveyor_enabled, fulfilled_order, place_order, site_settings, staff_user, django_capture_on_commit_callbacks
):
    place_order(fulfilled_order)
    quantities = {line.pk: line.quantity for line in fulfilled_order.lines.all()}
    return_lines(fulfilled_order, django_capture_on_commit_callbacks, site_settings, staff_user, quantities)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        get_plugins_manager(allow_replica=False).order_updated(fulfilled_order)

    assert snapshot() == before and Purchase.objects.get().returned_at is not None


# --- customers -----------------------------------------------------------------------------


def test_customer_create_merges_the_guest_history_into_the_new_account_once_it_is_confirmed(
    conveyor_enabled, order_with_lines, place_order, staff_api_client, permission_manage_users
):
    """As Saleor joins guest orders: an account made by staff is unconfirmed until confirmed (or its password set)."""
    Order.objects.filter(pk=order_with_lines.pk).update(user=None, user_email="new.fan@example.com")
    order_with_lines.refresh_from_db()
    place_order(order_with_lines)
    guest = FanProfile.objects.get()
    staff_api_client.user.user_permissions.add(permission_manage_users)

    response = staff_api_client.post_graphql(CUSTOMER_CREATE, {"email": "new.fan@example.com", "firstName": "Aiko"})

    data = response.json()["data"]["customerCreate"]
    assert not data["errors"]
    assert FanProfile.objects.get().user_id is None  # Saleor made it unconfirmed: the history waits

    response = staff_api_client.post_graphql(CUSTOMER_CONFIRM, {"id": data["user"]["id"]})

    assert not response.json()["data"]["customerUpdate"]["errors"]
    _, user_pk = graphene.Node.from_global_id(data["user"]["id"])
    profile = FanProfile.objects.get()
    assert profile.pk == guest.pk and profile.user_id == int(user_pk)
    assert profile.first_name == "Aiko" and profile.purchase_count == 1


def test_an_account_whose_email_is_not_confirmed_does_not_take_over_the_guest_history(
    conveyor_enabled, order_with_lines, place_order, django_capture_on_commit_callbacks
):
    """Anyone can register a guest's address; the guest's history (coupon codes, answers) waits for proof."""
    Order.objects.filter(pk=order_with_lines.pk).update(user=None, user_email="guest.fan@example.com")
    order_with_lines.refresh_from_db()
    place_order(order_with_lines)
    guest = FanProfile.objects.get()
    from saleor.account.models import User

    stranger = User.objects.create(email="guest.fan@example.com", is_confirmed=False)
    manager = get_plugins_manager(allow_replica=False)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        manager.customer_created(stranger)
    with django_capture_on_commit_callbacks(execute=True):
        manager.customer_updated(stranger)

    assert snapshot() == before and FanProfile.objects.get().user_id is None

    stranger.is_confirmed = True
    stranger.save(update_fields=["is_confirmed"])
    with django_capture_on_commit_callbacks(execute=True):
        manager.account_confirmed(stranger)

    profile = FanProfile.objects.get()
    assert profile.pk == guest.pk and profile.user_id == stranger.pk and profile.purchase_count == 1


def test_customer_update_email_change_follows_the_account(
    conveyor_enabled, order_with_lines, place_order, staff_api_client, permission_manage_users, customer_user
):
    place_order(order_with_lines)
    staff_api_client.user.user_permissions.add(permission_manage_users)

    response = staff_api_client.post_graphql(
        CUSTOMER_UPDATE,
        {
            "id": graphene.Node.to_global_id("User", customer_user.pk),
            "email": "renamed@example.com",
            "languageCode": "JA",
        },
    )

    assert not response.json()["data"]["customerUpdate"]["errors"]
    profile = FanProfile.objects.get()
    assert profile.user_id == customer_user.pk
    assert profile.email == "renamed@example.com" and profile.language_code == "ja"
    assert profile.purchase_count == 1


def test_customer_updated_without_a_change_writes_nothing(
    conveyor_enabled, customer_user, django_capture_on_commit_callbacks
):
    manager = get_plugins_manager(allow_replica=False)
    with django_capture_on_commit_callbacks(execute=True):
        manager.customer_created(customer_user)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        manager.customer_updated(customer_user)

    assert snapshot() == before and FanProfile.objects.get().user_id == customer_user.pk


# --- failures never reach Saleor -------------------------------------------------------------


def test_a_failing_hook_does_not_break_checkout(
    conveyor_enabled,
    user_api_client,
    checkout_with_item,
    address,
    checkout_delivery,
    transaction_item_generator,
    transaction_events_generator,
    customer_user,
    monkeypatch,
    caplog,
):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(conveyor, "record_order_placed", broken)
    checkout = prepare_checkout_for_test(
        checkout_with_item,
        address,
        address,
        checkout_delivery(checkout_with_item),
        transaction_item_generator,
        transaction_events_generator,
        user=customer_user,
    )

    response = user_api_client.post_graphql(
        MUTATION_CHECKOUT_COMPLETE, {"id": to_global_id_or_none(checkout), "redirectUrl": "https://www.example.com"}
    )

    data = response.json()["data"]["checkoutComplete"]
    assert not data["errors"] and data["order"]["id"]
    assert Order.objects.count() == 1
    assert "order_created" in caplog.text and "database on fire" in caplog.text


def test_a_failing_hook_does_not_break_the_staff_cancel_mutation(
    conveyor_enabled, order_with_lines, place_order, staff_api_client, permission_group_manage_orders, monkeypatch
):
    place_order(order_with_lines)
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(conveyor, "record_order_cancelled", broken)

    response = staff_api_client.post_graphql(
        ORDER_CANCEL, {"id": graphene.Node.to_global_id("Order", order_with_lines.pk)}
    )

    data = response.json()["data"]["orderCancel"]
    assert not data["errors"] and data["order"]["status"] == "CANCELED"
    assert Purchase.objects.get().cancelled_at is None  # the conveyor missed it, the shop did not


def test_a_bad_stored_configuration_is_logged_and_saleor_goes_on(
    conveyor_enabled, order_with_lines, place_order, caplog
):
    for item in conveyor_enabled.configuration:
        if item["name"] == "rule_book":
            item["value"] = "{not json"
    conveyor_enabled.save(update_fields=["configuration"])

    place_order(order_with_lines)

    assert not Purchase.objects.exists()
    assert "failed; Saleor's action was not affected" in caplog.text
