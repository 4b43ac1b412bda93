from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_conveyor.engine import FanStage, Purchase, is_lapsed, stage_for, summarize

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def buy(
    n: int,
    *,
    discounted: bool = False,
    cancelled: bool = False,
    returned: bool = False,
    total: str = "1000",
    currency: str = "JPY",
) -> Purchase:
    return Purchase(
        order_id=f"o{n}",
        placed_at=T0 + timedelta(days=n),
        currency=currency,
        total=Decimal(total),
        discounted=discounted,
        cancelled_at=T0 + timedelta(days=n + 1) if cancelled else None,
        returned_at=T0 + timedelta(days=n + 5) if returned else None,
    )


def test_no_purchase_has_no_stage():
    assert stage_for([]) is None


def test_first_purchase_is_first_time():
    assert stage_for([buy(1)]) is FanStage.FIRST_TIME


def test_discounted_first_purchase_is_still_first_time():
    assert stage_for([buy(1, discounted=True)]) is FanStage.FIRST_TIME


def test_second_purchase_is_second_time():
    assert stage_for([buy(1), buy(2)]) is FanStage.SECOND_TIME


def test_second_purchase_with_one_regular_order_is_second_time():
    assert stage_for([buy(1, discounted=True), buy(2)]) is FanStage.SECOND_TIME


def test_two_discounted_purchases_are_campaign_only():
    assert stage_for([buy(1, discounted=True), buy(2, discounted=True)]) is FanStage.CAMPAIGN_ONLY


def test_many_discounted_purchases_stay_campaign_only():
    history = [buy(n, discounted=True) for n in range(6)]
    assert stage_for(history) is FanStage.CAMPAIGN_ONLY


def test_three_purchases_not_all_discounted_are_loyal():
    assert stage_for([buy(1, discounted=True), buy(2, discounted=True), buy(3)]) is FanStage.LOYAL


def test_cancelled_orders_do_not_count():
    assert stage_for([buy(1), buy(2, cancelled=True)]) is FanStage.FIRST_TIME
    assert stage_for([buy(1, cancelled=True)]) is None


def test_fully_returned_orders_do_not_count():
    assert stage_for([buy(1), buy(2), buy(3, returned=True)]) is FanStage.SECOND_TIME


def test_cancelling_a_regular_order_can_make_a_customer_campaign_only():
    history = [buy(1, discounted=True), buy(2, discounted=True), buy(3, cancelled=True)]
    assert stage_for(history) is FanStage.CAMPAIGN_ONLY


def test_lapse_starts_exactly_at_the_window():
    last = T0
    assert not is_lapsed(last, last + timedelta(days=89, hours=23), 90)
    assert is_lapsed(last, last + timedelta(days=90), 90)
    assert not is_lapsed(None, last, 90)


def test_summary_ltv_is_average_order_value_times_count():
    summary = summarize([buy(1, total="1000"), buy(2, total="3000"), buy(3, total="9999", cancelled=True)])
    assert summary.purchase_count == 2
    assert summary.total_spent == Decimal("4000")
    assert summary.average_order_value == Decimal("2000")
    assert summary.lifetime_value == Decimal("4000")
    assert summary.first_purchase_at == T0 + timedelta(days=1)
    assert summary.last_purchase_at == T0 + timedelta(days=2)


def test_summary_money_is_in_the_latest_currency_only():
    summary = summarize([buy(1, total="1000", currency="JPY"), buy(2, total="10", currency="USD")])
    assert summary.currency == "USD"
    assert summary.total_spent == Decimal("10")
    assert summary.purchase_count == 2


@pytest.mark.parametrize("history", [[], [buy(1, cancelled=True)]])
def test_summary_of_no_counted_purchase_is_empty(history):
    summary = summarize(history)
    assert summary.stage is None and summary.purchase_count == 0 and summary.lifetime_value is None
