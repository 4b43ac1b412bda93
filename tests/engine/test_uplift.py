"""The 95% interval of a difference of shares: Wilson and Newcombe's hybrid score method, checked against the paper."""

import pytest

from saleor_conveyor.engine.uplift import MIN_GROUP, Verdict, compare, difference_interval, wilson


def test_wilson_matches_newcombes_published_intervals():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775.
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)


def test_the_difference_interval_matches_newcombes_method_10():
    # Newcombe (1998), Table II: 56/70 - 48/80 -> +0.0524 to +0.3339; 9/10 - 3/10 -> +0.1705 to +0.8090.
    assert difference_interval(56, 70, 48, 80) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert difference_interval(9, 10, 3, 10) == pytest.approx((0.6, 0.1705, 0.8090), abs=5e-5)


def test_the_verdict_needs_enough_customers_and_a_whole_interval_on_one_side():
    few = compare(MIN_GROUP - 1, 20, 500, 100)
    assert few.verdict == Verdict.TOO_FEW and few.words.startswith("not enough customers yet") and few.low is None
    none_held = compare(500, 100, 0, 0)
    assert none_held.verdict == Verdict.TOO_FEW and "no customer was held out" in none_held.words
    better = compare(400, 120, 400, 80)
    assert better.verdict == Verdict.BETTER and better.words.startswith("better by 10.0 points")
    worse = compare(400, 80, 400, 120)
    assert worse.verdict == Verdict.WORSE and worse.words.startswith("worse by 10.0 points")
    unclear = compare(100, 22, 100, 20)
    assert unclear.verdict == Verdict.NO_CLEAR_DIFFERENCE and unclear.words.startswith("no clear difference")
    assert unclear.low < 0 < unclear.high
