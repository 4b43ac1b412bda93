"""Survey answers are bounded per occasion by the database, and follow-ups are paced like marketing."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.db import IntegrityError, connection, transaction

from saleor_conveyor import conveyor
from saleor_conveyor.engine.pacing import Pacing
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.events import FanSurveyAnswered, NpsAnswered, OrderFulfilled
from saleor_conveyor.models import FanProfile, FanSurveyResponse, NpsResponse, Touchpoint

from .factories import T0, at_once, customer, days, placed

pytestmark = pytest.mark.django_db


def nps(score: int, at, order_id: str | None = None) -> NpsResponse:
    return conveyor.record_nps(NpsAnswered(customer(), score, at, order_id=order_id), now=at)


def test_a_second_orderless_answer_in_the_window_is_already_exists_and_changes_nothing():
    conveyor.record_order_placed(placed("o1"), now=T0)
    nps(0, T0 + days(1))
    before = (list(NpsResponse.objects.values()), list(Touchpoint.objects.values()))
    with pytest.raises(ConveyorError) as error:
        nps(10, T0 + days(2))
    assert error.value.code is ErrorCode.ALREADY_EXISTS
    assert (list(NpsResponse.objects.values()), list(Touchpoint.objects.values())) == before
    assert FanProfile.objects.get().nps == 0


def test_an_orderless_answer_in_the_next_window_is_a_new_occasion_with_a_stable_key():
    conveyor.record_order_placed(placed("o1"), now=T0)
    first = nps(0, T0 + days(1))
    second = nps(0, T0 + days(92))
    assert first.occasion != second.occasion
    keys = set(Touchpoint.objects.filter(rule="honesty_letter").values_list("key", flat=True))
    assert keys == {f"honesty_letter:{first.occasion}", f"honesty_letter:{second.occasion}"}
    # The occasion is stored: reading the answer back gives the same key as when it was planned.
    assert NpsResponse.objects.get(pk=first.pk).occasion == first.occasion


def test_the_window_follows_the_nps_survey_rules_cooldown(settings):
    from saleor_conveyor.engine import RuleBook

    book = RuleBook.default().to_data()
    for rule in book["rules"]:
        if rule["name"] == "nps_survey":
            rule["cooldown_days"] = 7
    settings.CONVEYOR = {**getattr(settings, "CONVEYOR", {}), "rule_book": book}
    conveyor.record_order_placed(placed("o1"), now=T0)
    nps(0, T0 + days(2))  # T0 + 2 and T0 + 3 share a 7-day window (counted from 1970); T0 + 10 is in the next
    with pytest.raises(ConveyorError):
        nps(0, T0 + days(3))
    nps(0, T0 + days(10))
    assert NpsResponse.objects.count() == 2


def test_the_database_refuses_a_second_answer_for_one_occasion():
    conveyor.record_order_placed(placed("o1"), now=T0)
    answer = nps(3, T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        NpsResponse.objects.create(profile=answer.profile, score=9, created_at=T0, occasion=answer.occasion)
    survey = conveyor.record_fan_survey(FanSurveyAnswered(customer(), "NEW_FAN", "LIKE", T0))
    with pytest.raises(IntegrityError), transaction.atomic():
        FanSurveyResponse.objects.create(
            profile=survey.profile,
            fan_degree="NEW_FAN",
            liking="LOVE",
            segment="LOW/MID",
            created_at=T0,
            occasion=survey.occasion,
        )


def test_fan_survey_answers_are_one_per_window_and_an_exact_repeat_is_not_new():
    conveyor.record_order_placed(placed("o1"), now=T0)
    answer = FanSurveyAnswered(customer(), "NEW_FAN", "NEUTRAL", T0 + days(22))
    first = conveyor.record_fan_survey(answer)
    assert conveyor.record_fan_survey(answer).pk == first.pk
    with pytest.raises(ConveyorError) as error:
        conveyor.record_fan_survey(FanSurveyAnswered(customer(), "PART_OF_LIFE", "ADORE", T0 + days(23)))
    assert error.value.code is ErrorCode.ALREADY_EXISTS
    assert FanProfile.objects.get().fan_degree == "NEW_FAN"
    conveyor.record_fan_survey(FanSurveyAnswered(customer(), "PART_OF_LIFE", "ADORE", T0 + days(120)))
    assert FanProfile.objects.get().fan_degree == "PART_OF_LIFE" and FanSurveyResponse.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["nps", "fan_survey", "nps_of_a_new_customer", "fan_survey_of_a_new_customer"])
def test_two_first_answers_at_once_make_one_row_and_the_loser_gets_already_exists(kind):
    if not kind.endswith("new_customer"):
        conveyor.record_order_placed(placed("o1"), now=T0)

    def answer(n: int) -> str:
        if kind.startswith("nps"):
            nps(n, T0 + days(1))
        else:
            conveyor.record_fan_survey(FanSurveyAnswered(customer(), "NEW_FAN", "LIKE", T0 + days(1 + n)))
        return "ok"

    outcomes = [outcome.code if isinstance(outcome, ConveyorError) else outcome for outcome in at_once(2, answer)]
    assert sorted(map(str, outcomes)) == sorted(["ok", str(ErrorCode.ALREADY_EXISTS)]), outcomes
    model = NpsResponse if kind.startswith("nps") else FanSurveyResponse
    assert model.objects.count() == 1 and FanProfile.objects.count() == 1


def test_follow_ups_of_answers_are_paced_by_the_frequency_cap_even_when_not_marketing():
    for n in range(3):
        conveyor.record_order_placed(placed(f"o{n}", at=T0 + days(n)), now=T0 + days(n))
        conveyor.record_fulfillment(OrderFulfilled(f"o{n}", T0 + days(n)), now=T0 + days(n))
    at = T0 + days(5)
    for n in range(3):
        nps(0, at, order_id=f"o{n}")
    letters = Touchpoint.objects.filter(rule="honesty_letter")
    assert letters.count() == 3 and not any(letters.values_list("marketing", flat=True))
    pacing = Pacing(zone=UTC)
    reservation = conveyor.reserve_due_touchpoints(
        now=at, limit=50, pacing=pacing, lease=days(1) / 24, ids=list(letters.values_list("id", flat=True))
    )
    assert len(reservation.reserved) == 1 and len(reservation.deferred) == 2
    assert all(tp.due_at >= at + pacing.frequency_cap for tp in reservation.deferred)


def test_the_migration_keeps_the_occasion_old_answers_were_keyed_by():
    import importlib

    migration = importlib.import_module("saleor_conveyor.migrations.0004_answer_occasions_and_profile_aliases")
    conveyor.record_order_placed(placed("o1"), now=T0)
    with_order, without = nps(3, T0, order_id="o1"), nps(3, T0)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks before ALTER
        cursor.execute("ALTER TABLE saleor_conveyor_npsresponse ALTER COLUMN occasion DROP NOT NULL")
        cursor.execute("UPDATE saleor_conveyor_npsresponse SET occasion = NULL")
        for statement in migration.FILL:
            cursor.execute(statement)
        cursor.execute("ALTER TABLE saleor_conveyor_npsresponse ALTER COLUMN occasion SET NOT NULL")
    assert NpsResponse.objects.get(pk=with_order.pk).occasion == "o1"
    assert NpsResponse.objects.get(pk=without.pk).occasion == f"response-{without.pk}"
