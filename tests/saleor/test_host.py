"""SaleorHost: configuration cache, vouchers, orders, returns, writer database, Celery app."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from saleor.core.db.connection import UnsafeWriterAccessError
from saleor.discount.models import VoucherCode
from saleor.discount.utils.voucher import increase_voucher_usage
from saleor.plugins.manager import get_plugins_manager
from saleor.plugins.models import PluginConfiguration

from saleor_conveyor.errors import ConveyorError
from saleor_conveyor.hosts import MANAGE_ORDERS, MANAGE_USERS, get_host
from saleor_conveyor.hosts.saleor import SaleorHost
from saleor_conveyor.models import Purchase

from .fixtures import plugin_configuration


def test_saleor_is_the_host_where_saleor_is_installed(db):
    assert isinstance(get_host(), SaleorHost)


def test_the_configuration_is_read_once_and_again_after_a_save(
    conveyor_enabled, django_assert_num_queries, django_capture_on_commit_callbacks
):
    host = get_host()
    assert host.config().lapse_days == 90
    with django_assert_num_queries(0):
        host.config()

    with django_capture_on_commit_callbacks(execute=True):
        conveyor_enabled.configuration = plugin_configuration(lapse_days="45")
        conveyor_enabled.save()

    assert host.config().lapse_days == 45


def test_a_save_in_another_process_is_noticed_through_the_shared_cache(conveyor_enabled, monkeypatch):
    from django.core.cache import cache

    from saleor_conveyor.hosts import saleor as saleor_host

    host = get_host()
    assert host.config().lapse_days == 90
    monkeypatch.setattr(saleor_host, "VERSION_CHECK_SECONDS", 0)
    # Another process saves (no signal here) and publishes a new version.
    PluginConfiguration.objects.filter(pk=conveyor_enabled.pk).update(
        configuration=plugin_configuration(lapse_days="30")
    )
    assert host.config().lapse_days == 90  # same version: the parsed copy stands

    cache.set(saleor_host.CONFIG_VERSION_KEY, "another-process", None)

    assert host.config().lapse_days == 30


def test_without_a_stored_configuration_the_methods_defaults_apply(db):
    assert not PluginConfiguration.objects.exists()
    assert get_host().config().rule_book.rule("step_day3").days == 3


def test_permissions_are_saleors(staff_user, customer_user, superuser, permission_manage_users):
    host = get_host()
    assert not host.has_permission(customer_user, MANAGE_USERS)
    assert not host.has_permission(staff_user, MANAGE_USERS)
    staff_user.user_permissions.add(permission_manage_users)
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)  # drop the permission cache
    assert host.has_permission(staff_user, MANAGE_USERS) and not host.has_permission(staff_user, MANAGE_ORDERS)
    assert host.has_permission(superuser, MANAGE_ORDERS)
    assert not host.has_permission(None, MANAGE_ORDERS)
    assert not host.has_permission(superuser, "DELETE_EVERYTHING")


def test_voucher_codes_are_new_single_use_codes_under_the_configured_voucher(conveyor_enabled, voucher):
    voucher.single_use = True
    voucher.save(update_fields=["single_use"])
    conveyor_enabled.configuration = plugin_configuration(vip_voucher="mirumee")
    conveyor_enabled.save()
    host = get_host()
    host.forget_configuration()

    codes = {host.create_voucher_code("vip", profile_id=1, purpose="VIP coupon") for _ in range(3)}

    assert len(codes) == 3
    stored = VoucherCode.objects.filter(code__in=codes)
    assert {code.voucher_id for code in stored} == {voucher.pk}
    one = stored.first()
    increase_voucher_usage(voucher, one, "fan@example.com")  # what checkout does when it is used
    one.refresh_from_db()
    assert one.is_active is False  # single use: it cannot be used again
    assert all(code.is_active for code in stored.exclude(pk=one.pk))


def test_a_voucher_code_without_a_configured_voucher_is_a_clear_error(conveyor_enabled):
    with pytest.raises(ConveyorError, match="No referral voucher is configured"):
        get_host().create_voucher_code("referral", profile_id=1, purpose="referral code")


def test_order_info_lists_lines_with_what_the_customer_still_holds(fulfilled_order):
    info = get_host().order_info(str(fulfilled_order.pk))

    assert info.id == str(fulfilled_order.pk) and info.number == str(fulfilled_order.number)
    assert info.user_id == fulfilled_order.user_id and info.email == "test@example.com"
    assert {line.id: line.quantity_fulfilled for line in info.lines} == {
        str(line.pk): line.quantity for line in fulfilled_order.lines.all()
    }
    assert get_host().order_info(str(uuid.uuid4())) is None
    assert get_host().order_info("not-a-uuid") is None


def test_create_return_uses_saleors_return_and_the_hook_records_it(
    conveyor_enabled, fulfilled_order, place_order, django_capture_on_commit_callbacks
):
    place_order(fulfilled_order)
    lines = [(str(line.pk), line.quantity) for line in fulfilled_order.lines.all()]

    with django_capture_on_commit_callbacks(execute=True):
        reference = get_host().create_return(str(fulfilled_order.pk), lines)

    returned = fulfilled_order.fulfillments.get(pk=reference)
    assert returned.status == "returned"  # what staff see in the Dashboard
    assert Purchase.objects.get().returned_at == returned.created_at
    info = get_host().order_info(str(fulfilled_order.pk))
    assert all(line.quantity_fulfilled == 0 for line in info.lines)


def test_create_return_refuses_more_than_was_shipped(fulfilled_order):
    line = fulfilled_order.lines.first()

    with pytest.raises(ConveyorError, match="fewer than"):
        get_host().create_return(str(fulfilled_order.pk), [(str(line.pk), line.quantity + 1)])
    assert fulfilled_order.fulfillments.filter(status="returned").count() == 0


def test_writes_go_through_allow_writer(customer_user, settings):
    from django.db import connection
    from saleor.core.db.connection import restrict_writer

    with connection.execute_wrapper(restrict_writer):
        with pytest.raises(UnsafeWriterAccessError):
            Purchase.objects.count()
        with get_host().writer():
            assert Purchase.objects.count() == 0


def test_mail_goes_through_djangos_configured_backend(db):
    get_host().send_mail(EmailMessage("Thanks", "body", "shop@example.com", ["fan@example.com"]))

    assert [message.subject for message in mail.outbox] == ["Thanks"]


def test_the_celery_app_is_saleors(db):
    from saleor.celeryconf import app

    assert get_host().celery_app() is app


def test_saleors_celery_app_knows_every_task_the_conveyor_asks_for(db):
    # A name it does not know would make the console compute its figures in the request, and the outbox and
    # rebuild never run: each name the conveyor sends must be one Saleor's worker runs.
    from saleor_conveyor import delivery

    app = get_host().celery_app()
    app.loader.import_default_modules()  # what the worker does at start (autodiscovery)
    for name in (
        delivery.DELIVER_TOUCHPOINT,
        delivery.DELIVER_TOUCHPOINTS,
        delivery.REBUILD_RULE_BOOK,
        delivery.COMPUTE_CONSOLE_FIGURES,
        "saleor_conveyor.warm_console",
        "saleor_conveyor.sweep_due",
    ):
        assert name in app.tasks, name


def test_the_manager_loads_the_plugin_as_global_and_active(conveyor_enabled):
    plugin = get_plugins_manager(allow_replica=False).get_plugin("conveyor.crm")

    assert plugin is not None and plugin.active and plugin.channel is None
    assert plugin.PLUGIN_NAME == "Fan Conveyor"
