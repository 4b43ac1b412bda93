from datetime import UTC, datetime, timedelta

from saleor_conveyor.engine.metrics import (
    CustomerDates,
    f2_conversion,
    improving_streak,
    percentile,
    repeat_rate,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = timedelta(days=1)


def test_f2_conversion_counts_the_cohort_of_first_purchases_in_the_window():
    customers = [
        CustomerDates(T0, T0 + 10 * D),
        CustomerDates(T0 + D, None),
        CustomerDates(T0 + 2 * D, None),
        CustomerDates(T0 + 2 * D, T0 + 50 * D),
        CustomerDates(T0 - 40 * D, T0 + D),  # first purchase before the window: not in the cohort
    ]
    assert f2_conversion(customers, T0, T0 + 30 * D) == 0.5
    assert f2_conversion([], T0, T0 + D) is None


def test_repeat_rate_is_share_of_buyers_who_had_bought_before():
    histories = [
        [T0 + D],  # first purchase in window
        [T0 - 30 * D, T0 + 2 * D],  # bought before: repeat
        [T0 + D, T0 + 3 * D],  # two in the window: repeat
        [T0 - 30 * D],  # no purchase in the window: not counted
    ]
    assert repeat_rate(histories, T0, T0 + 10 * D) == 2 / 3


def test_percentile_matches_percentile_cont():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10], 0.9) == 10
    assert percentile([0, 10], 0.9) == 9
    assert percentile([], 0.5) is None


def test_improving_streak_counts_back_from_the_latest_month():
    assert improving_streak([10, 20, 30, 25, 26, 27, 28, 29]) == 4
    assert improving_streak([1, 2, 2]) == 0
    assert improving_streak([None, 1, 2]) == 1
    assert improving_streak([5]) == 0
    assert improving_streak([]) == 0
