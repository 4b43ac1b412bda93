"""A rule's conditions checked again just before delivery: a customer who moved on is skipped, nothing is sent."""

from __future__ import annotations

import copy

import pytest
from django.core import mail as django_mail
from django.utils import timezone

from saleor_conveyor import conveyor, delivery
from saleor_conveyor.engine.rules import DEFAULT_RULES
from saleor_conveyor.events import FanSurveyAnswered, NpsAnswered
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint, TouchpointStatus

from ..factories import customer, days, placed

S = TouchpointStatus
pytestmark = pytest.mark.django_db


def conditions_on(settings, rule: str, conditions: dict) -> None:
    book = copy.deepcopy(DEFAULT_RULES)
    next(r for r in book["rules"] if r["name"] == rule).update(conditions=conditions)
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}


def planned(rule: str, *, ago: float) -> Touchpoint:
    """The customer's first order `ago` days back, recorded then; the rule's touchpoint, made due now."""
    at = timezone.now() - days(ago)
    conveyor.record_order_placed(placed(at=at, who=customer(language_code="en")), now=at)
    tp = Touchpoint.objects.get(rule=rule)
    assert tp.status == S.SCHEDULED
    Touchpoint.objects.filter(pk=tp.pk).update(due_at=timezone.now() - days(0.01))
    return tp


def test_a_customer_who_moved_to_another_stage_is_skipped_with_the_reason_and_sent_nothing(settings, knobs):
    conditions_on(settings, "step_day7", {"stage": "FIRST_TIME"})
    tp = planned("step_day7", ago=1)
    FanProfile.objects.update(stage="LOYAL", purchase_count=3)  # a change the planner did not replan

    report = delivery.deliver_batch(ids=[tp.id])

    tp.refresh_from_db()
    assert tp.status == S.SKIPPED and tp.sent_at is None and tp.attempts == 0
    assert tp.outcome == "condition no longer holds: stage is LOYAL, rule wants FIRST_TIME"
    assert report.sent == [] and django_mail.outbox == []


def test_a_customer_who_lapsed_before_it_was_due_is_skipped(settings, knobs):
    conditions_on(settings, "step_day14", {"lapsed": False})
    tp = planned("step_day14", ago=95)
    delivery.deliver_batch(ids=[tp.id])
    tp.refresh_from_db()
    assert tp.status == S.SKIPPED
    assert tp.outcome == "condition no longer holds: the customer is lapsed, rule wants an active customer"
    assert django_mail.outbox == []


def test_an_nps_answer_or_fan_survey_after_planning_is_seen_at_delivery(settings, knobs):
    book = copy.deepcopy(DEFAULT_RULES)
    rules = {r["name"]: r for r in book["rules"]}
    rules["step_day7"]["conditions"] = {"nps": ["PROMOTER", "PASSIVE"]}
    rules["step_day14"]["conditions"] = {"engagement": "CORE"}
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}
    at = timezone.now() - days(1)
    conveyor.record_order_placed(placed(at=at, who=customer(language_code="en")), now=at)
    # Neither condition holds yet: nothing planned for them.
    assert not Touchpoint.objects.filter(rule__in=["step_day7", "step_day14"]).exists()
    conveyor.record_nps(NpsAnswered(customer(), 10, at + days(0.5)), now=at + days(0.5))
    conveyor.record_fan_survey(FanSurveyAnswered(customer(), "PART_OF_LIFE", "ADORE", at + days(0.5)))
    conveyor.rebuild_profile(FanProfile.objects.get().id, now=at + days(0.6))
    assert Touchpoint.objects.filter(rule__in=["step_day7", "step_day14"], status=S.SCHEDULED).count() == 2
    # The customer then answers as a detractor: the step mail that asked for a promoter is skipped when due.
    order_id = Purchase.objects.get().order_id
    conveyor.record_nps(NpsAnswered(customer(), 2, at + days(0.7), order_id=order_id), now=at + days(0.7))
    steps = Touchpoint.objects.filter(rule__in=["step_day7", "step_day14"])
    steps.update(due_at=timezone.now() - days(0.01))

    delivery.deliver_batch(ids=list(steps.values_list("id", flat=True)))

    seven = Touchpoint.objects.get(rule="step_day7")
    fourteen = Touchpoint.objects.get(rule="step_day14")
    assert seven.status == S.SKIPPED
    assert seven.outcome == "condition no longer holds: NPS category is DETRACTOR, rule wants one of PASSIVE, PROMOTER"
    assert fourteen.status == S.SENT
    assert [m.extra_headers["X-Conveyor-Touchpoint"] for m in django_mail.outbox] == [str(fourteen.id)]


def test_a_customer_who_still_meets_the_conditions_is_sent_the_message(settings, knobs):
    conditions_on(settings, "step_day7", {"stage": "FIRST_TIME", "customer": "guest", "language": "en"})
    tp = planned("step_day7", ago=1)
    delivery.deliver_batch(ids=[tp.id])
    tp.refresh_from_db()
    assert tp.status == S.SENT and len(django_mail.outbox) == 1
