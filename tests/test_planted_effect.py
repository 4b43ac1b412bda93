"""The sandbox simulation plants a known effect of a rule: rulePerformance finds it, and none where none was planted."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from saleor_conveyor import measures, stats
from saleor_conveyor.engine.rules import DEFAULT_RULES
from sandbox.demo.simulation import Simulation

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
PLANTED = 0.25  # of reached customers with no order coming in 30 days, this share gets one


def experiment_book() -> dict:
    book = copy.deepcopy(DEFAULT_RULES)
    for rule in book["rules"]:
        if rule["name"] in ("step_day7", "step_day14"):
            rule.update(holdout=0.5, experiment="sim-1")
    return book


@pytest.fixture(scope="module")
def simulated(django_db_setup, django_db_blocker):
    """One simulated shop for both tests (it takes a while): its figures, then everything rolled back."""
    with django_db_blocker.unblock(), transaction.atomic():
        conveyor_settings = {**settings.CONVEYOR, "rule_book": experiment_book()}
        delivery = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}
        with override_settings(CONVEYOR=conveyor_settings, CONVEYOR_DELIVERY=delivery):
            simulation = Simulation(customers=650, days=110, seed=11, effects={"step_day7": PLANTED})
            simulation.populate()
            simulation.run()
            now = timezone.now()
            window = stats.StatsWindow(since=None, until=now, channel=None)
            found = {row.rule: row for row in measures.rule_performance(window, within_days=30, now=now)}
            planted = simulation.planted_share("step_day7", matured_by=now)
        transaction.set_rollback(True)
    return found, planted


def test_rule_performance_finds_the_planted_effect_within_its_interval(simulated):
    found, planted = simulated
    row = found["step_day7"]
    assert row.reached >= 150 and row.held_out >= 150
    assert planted is not None and 0.1 < planted <= PLANTED  # only customers with no order coming are given one
    assert row.comparison.verdict == "BETTER", row.comparison.words
    assert row.comparison.low <= planted <= row.comparison.high, (row.comparison, planted)
    assert row.comparison.words.startswith("better by")


def test_rule_performance_finds_no_clear_difference_where_nothing_was_planted(simulated):
    found, _ = simulated
    row = found["step_day14"]
    assert row.reached >= 150 and row.held_out >= 150
    assert row.comparison.verdict == "NO_CLEAR_DIFFERENCE", row.comparison.words
    assert row.comparison.low < 0 < row.comparison.high
