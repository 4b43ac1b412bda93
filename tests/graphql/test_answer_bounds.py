"""Answers without an order are bounded too: one per customer per survey occasion, at the API."""

from __future__ import annotations

import pytest

from saleor_conveyor import tokens
from saleor_conveyor.models import FanProfile, FanSurveyResponse, NpsResponse, Touchpoint

from ..factories import gid, shop_order
from .helpers import snapshot

pytestmark = pytest.mark.django_db


def aliased(field: str, count: int) -> str:
    return "mutation {" + " ".join(f"a{n}: {field} {{ errors {{ field code }} }}" for n in range(count)) + "}"


def codes(answer, count: int) -> list[list[str]]:
    assert answer.status == 200, answer.body
    return [[e["code"] for e in answer.data[f"a{n}"]["errors"]] for n in range(count)]


def test_many_aliased_orderless_detractor_answers_make_one_answer_and_one_letter(api, hanako):
    shop_order(hanako)
    answer = api(aliased("submitNps(score: 0)", 3), user=hanako)
    assert codes(answer, 3) == [[], ["ALREADY_EXISTS"], ["ALREADY_EXISTS"]]
    assert NpsResponse.objects.count() == 1
    assert Touchpoint.objects.filter(rule="honesty_letter").count() == 1


def test_many_aliased_orderless_promoter_answers_make_one_referral_coupon(api, hanako):
    shop_order(hanako)
    answer = api(aliased("submitNps(score: 10)", 3), user=hanako)
    assert codes(answer, 3) == [[], ["ALREADY_EXISTS"], ["ALREADY_EXISTS"]]
    assert Touchpoint.objects.filter(rule="referral").count() == 1


def test_a_survey_token_replayed_without_an_order_is_accepted_once(api, hanako):
    shop_order(hanako)
    token = tokens.make_token(FanProfile.objects.get(email=hanako.email), tokens.SURVEY)
    query = "mutation($t: String) { submitNps(token: $t, score: 0) { errors { field code } } }"
    first = api(query, {"t": token})
    assert first.payload("submitNps")["errors"] == []
    before = snapshot()
    for _ in range(3):
        again = api(query, {"t": token})
        assert [e["code"] for e in again.payload("submitNps")["errors"]] == ["ALREADY_EXISTS"]
    assert snapshot() == before


def test_an_order_answer_and_an_orderless_answer_are_two_occasions(api, hanako):
    order = shop_order(hanako)
    mutation = "mutation($o: ID) { submitNps(orderId: $o, score: 3) { errors { code } } }"
    assert api(mutation, {"o": gid("Order", order.pk)}, user=hanako).payload("submitNps")["errors"] == []
    assert api(mutation, {}, user=hanako).payload("submitNps")["errors"] == []
    assert NpsResponse.objects.count() == 2


def test_many_aliased_fan_surveys_keep_one_answer(api, hanako):
    shop_order(hanako)
    answer = api(aliased("submitFanSurvey(fanDegree: NEW_FAN, liking: LIKE)", 3), user=hanako)
    assert codes(answer, 3) == [[], ["ALREADY_EXISTS"], ["ALREADY_EXISTS"]]
    assert FanSurveyResponse.objects.count() == 1


def test_a_second_fan_survey_in_the_window_is_already_exists_and_changes_nothing(api, hanako):
    shop_order(hanako)
    query = "mutation($f: FanDegree!) { submitFanSurvey(fanDegree: $f, liking: LOVE) { errors { code } } }"
    assert api(query, {"f": "PART_OF_LIFE"}, user=hanako).payload("submitFanSurvey")["errors"] == []
    before = snapshot()
    refused = api(query, {"f": "NOT_A_FAN"}, user=hanako).payload("submitFanSurvey")
    assert [e["code"] for e in refused["errors"]] == ["ALREADY_EXISTS"]
    assert snapshot() == before
