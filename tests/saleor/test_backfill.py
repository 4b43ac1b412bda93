"""`manage.py conveyor_backfill` over Saleor's real orders."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from saleor.order import FulfillmentStatus, OrderEvents, OrderStatus
from saleor.order.models import Order, OrderEvent

from saleor_conveyor import conveyor
from saleor_conveyor.models import BackfillCheckpoint, FanProfile, Purchase, Touchpoint
from saleor_conveyor.saleor import backfill

from .test_hooks import snapshot


def aged(order, days_ago: float):
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    order.refresh_from_db()
    return order


@pytest.fixture
def shop_history(order_generator, customer_user):
    """Three orders of a regular customer over half a year, and a recent guest order."""
    regular = [aged(order_generator(), days_ago) for days_ago in (200, 100, 30)]
    guest = aged(order_generator(user=None, user_email="guest@example.com"), 5)
    return regular, guest


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("conveyor_backfill", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_builds_the_ledger_and_profiles_and_skips_what_is_past(conveyor_enabled, shop_history):
    regular, guest = shop_history

    out, err = run()

    assert Purchase.objects.count() == 4
    loyal = FanProfile.objects.get(email="test@example.com")
    assert loyal.purchase_count == 3 and loyal.stage == "LOYAL"
    assert loyal.first_purchase_at == regular[0].created_at
    assert set(loyal.touchpoints.values_list("status", flat=True)) == {"SKIPPED"}
    newcomer = FanProfile.objects.get(email="guest@example.com")
    assert newcomer.stage == "FIRST_TIME" and newcomer.user_id is None
    statuses = dict(newcomer.touchpoints.values_list("rule", "status"))
    assert statuses["step_day3"] == "SKIPPED" and statuses["step_day7"] == "SCHEDULED"
    assert "4 orders read, recorded 4" in out and "orders/s" in err and "ETA" in err
    checkpoint = BackfillCheckpoint.objects.get(name=backfill.CHECKPOINT)
    assert checkpoint.processed == 4 and checkpoint.finished_at is not None
    assert checkpoint.last_order_id == str(guest.pk)


def test_a_second_run_changes_nothing(conveyor_enabled, shop_history):
    run()
    before = snapshot()

    out, _ = run()
    assert "0 orders read" in out
    out, _ = run("--restart")
    assert "recorded 0 (4 already on the conveyor)" in out

    assert snapshot() == before


def test_a_stopped_run_resumes_and_counts_nothing_twice(conveyor_enabled, shop_history, monkeypatch):
    run("--restart", "--batch-size", "4")  # the reference: one uninterrupted run
    expected = snapshot_by_key()
    Touchpoint.objects.all().delete()
    Purchase.objects.all().delete()
    FanProfile.objects.all().delete()
    BackfillCheckpoint.objects.all().delete()
    real = backfill.record_orders_backfill
    calls = []

    def dies_in_the_second_batch(orders, **kwargs):
        calls.append(len(orders))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(orders, **kwargs)

    monkeypatch.setattr(backfill, "record_orders_backfill", dies_in_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run("--batch-size", "2")
    assert Purchase.objects.count() == 2
    assert BackfillCheckpoint.objects.get().processed == 2
    monkeypatch.setattr(backfill, "record_orders_backfill", real)

    out, _ = run("--batch-size", "2")

    assert "2 orders read, recorded 2" in out
    assert BackfillCheckpoint.objects.get().processed == 4
    assert snapshot_by_key() == expected


def snapshot_by_key() -> dict:
    return {
        "purchases": sorted(
            Purchase.objects.values_list("order_id", "profile__email", "cancelled_at", "fulfilled_at", "returned_at")
        ),
        "profiles": sorted(FanProfile.objects.values_list("email", "user_id", "stage", "purchase_count")),
        "touchpoints": sorted(Touchpoint.objects.values_list("profile__email", "key", "status", "due_at")),
    }


def test_dry_run_prints_what_would_be_scheduled_and_writes_nothing(conveyor_enabled, shop_history):
    out, _ = run("--dry-run")

    assert "DRY RUN, nothing written: 4 orders read, would record 4" in out
    assert "Would schedule:" in out and "step_day7" in out and "guest@example.com" in out
    assert not Purchase.objects.exists() and not FanProfile.objects.exists()
    assert not Touchpoint.objects.exists() and not BackfillCheckpoint.objects.exists()


def test_since_reads_only_newer_orders(conveyor_enabled, shop_history):
    since = (timezone.now() - timedelta(days=60)).date().isoformat()

    run("--since", since)

    assert Purchase.objects.count() == 2
    with pytest.raises(CommandError, match="not a date"):
        run("--since", "last tuesday")


def test_orders_the_hooks_already_recorded_are_not_counted_twice(conveyor_enabled, shop_history, place_order):
    regular, _ = shop_history
    place_order(regular[-1])

    out, _ = run()

    assert "recorded 3 (1 already on the conveyor)" in out
    assert FanProfile.objects.get(email="test@example.com").purchase_count == 3


def test_drafts_and_orders_without_an_email_are_left_out(conveyor_enabled, order_generator):
    order_generator(status=OrderStatus.DRAFT)
    order_generator(user=None, user_email="")

    out, _ = run()

    assert "0 orders read" in out or "recorded 0" in out
    assert not Purchase.objects.exists()


def test_shipped_and_cancelled_orders_are_backfilled_as_such(
    conveyor_enabled, fulfilled_order, order_generator, staff_user
):
    shipped_at = fulfilled_order.fulfillments.get().created_at
    cancelled = order_generator(status=OrderStatus.CANCELED)
    cancelled_at = timezone.now() - timedelta(hours=1)
    OrderEvent.objects.create(order=cancelled, type=OrderEvents.CANCELED, date=cancelled_at, user=staff_user)

    run()

    ledger = {p.order_id: p for p in Purchase.objects.all()}
    assert ledger[str(fulfilled_order.pk)].fulfilled_at == shipped_at
    assert ledger[str(cancelled.pk)].cancelled_at == cancelled_at
    assert FanProfile.objects.get().purchase_count == 1


@pytest.mark.parametrize(("returned_items", "counts"), [("all", 0), ("some", 1)])
def test_a_full_return_is_backfilled_as_returned_and_a_partial_one_is_not(
    conveyor_enabled, fulfilled_order, returned_items, counts
):
    shipment = fulfilled_order.fulfillments.get()
    if returned_items == "some":
        line = shipment.lines.first()
        line.quantity -= 1
        line.save(update_fields=["quantity"])
    shipment.status = FulfillmentStatus.RETURNED
    shipment.save(update_fields=["status"])

    run()

    purchase = Purchase.objects.get()
    assert purchase.returned_at == (shipment.created_at if counts == 0 else None)
    assert purchase.fulfilled_at == shipment.created_at
    assert FanProfile.objects.get().purchase_count == counts


def test_without_saleor_the_command_says_so(settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "saleor.order"]
    with pytest.raises(CommandError, match="Saleor"):
        run()


def test_a_bulk_run_matches_recording_each_order_through_the_hooks(
    conveyor_enabled, shop_history, place_order, django_capture_on_commit_callbacks
):
    regular, guest = shop_history
    run()
    bulk = snapshot_by_key()
    for model in (Touchpoint, Purchase, FanProfile, BackfillCheckpoint):
        model.objects.all().delete()

    for order in backfill.orders_from_rows(list(Order.objects.order_by("created_at", "id").values(*backfill._COLUMNS))):
        conveyor.record_order_history(order)

    assert snapshot_by_key() == bulk
