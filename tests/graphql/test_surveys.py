"""submitNps, submitFanSurvey and unsubscribe: signed in or by signed link; bad inputs change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import tokens
from saleor_conveyor.models import FanProfile, NpsResponse

from ..factories import gid, shop_order
from .helpers import snapshot

pytestmark = pytest.mark.django_db

SUBMIT_NPS = """
mutation($token: String, $orderId: ID, $score: Int!, $comment: String) {
  submitNps(token: $token, orderId: $orderId, score: $score, comment: $comment) {
    response { score category createdAt orderId }
    errors { field code message }
  }
}
"""
FAN_SURVEY = """
mutation($token: String, $fanDegree: FanDegree!, $liking: Liking!) {
  submitFanSurvey(token: $token, fanDegree: $fanDegree, liking: $liking) {
    profile { fanDegree liking segment engagementClass }
    errors { field code }
  }
}
"""
UNSUBSCRIBE = "mutation($token: String!) { unsubscribe(token: $token) { ok errors { field code } } }"


def payload_errors(answer, name: str) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in answer.payload(name)["errors"]]


def test_signed_in_customer_answers_nps_about_an_order(api, hanako):
    order = shop_order(hanako)
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": 10, "comment": "Lovely tea"}, user=hanako)
    payload = answer.payload("submitNps")
    assert payload["errors"] == []
    assert payload["response"]["score"] == 10 and payload["response"]["category"] == "PROMOTER"
    assert payload["response"]["orderId"] == gid("Order", order.pk)
    profile = FanProfile.objects.get(email="hanako@example.com")
    assert profile.nps == 10 and profile.touchpoints.filter(rule="referral").exists()


@pytest.mark.parametrize("score", [-1, 11])
def test_score_outside_0_to_10_is_out_of_range_and_changes_nothing(api, hanako, score):
    order = shop_order(hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": score}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("score", "OUT_OF_RANGE")]
    assert answer.data["submitNps"]["response"] is None
    assert snapshot() == before


@pytest.mark.parametrize(
    "score, code", [(7.5, "OUT_OF_RANGE"), ("abc", "INVALID"), ("7", "INVALID"), (True, "INVALID")]
)
def test_a_score_that_is_not_a_whole_number_is_refused_never_rounded(api, hanako, score, code):
    order = shop_order(hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": score}, user=hanako)
    assert answer.status == 400 and answer.codes() == [code]
    assert answer.errors[0]["extensions"]["field"] == "score"
    assert snapshot() == before


@pytest.mark.parametrize("literal, code", [("7.5", "OUT_OF_RANGE"), ('"abc"', "INVALID")])
def test_a_non_integer_score_written_in_the_query_is_refused(api, hanako, literal, code):
    before = snapshot()
    answer = api(f"mutation {{ submitNps(score: {literal}) {{ errors {{ code }} }} }}", user=hanako)
    assert answer.status == 400 and answer.codes() == [code]
    assert answer.errors[0]["extensions"]["field"] == "score"
    assert snapshot() == before


def test_a_comment_of_2001_characters_is_out_of_range_and_changes_nothing(api, hanako):
    order = shop_order(hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": 8, "comment": "x" * 2001}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("comment", "OUT_OF_RANGE")]
    assert snapshot() == before


def test_a_comment_of_2000_characters_is_stored_as_text(api, hanako):
    order = shop_order(hanako)
    comment = "<b>" + "x" * 1997
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": 8, "comment": comment}, user=hanako)
    assert answer.payload("submitNps")["errors"] == []
    assert NpsResponse.objects.get().comment == comment


def test_a_second_nps_for_the_same_order_is_already_exists_and_changes_nothing(api, hanako):
    order = shop_order(hanako)
    variables = {"orderId": gid("Order", order.pk), "score": 9}
    api(SUBMIT_NPS, variables, user=hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {**variables, "score": 3}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("orderId", "ALREADY_EXISTS")]
    assert snapshot() == before


def test_nps_about_another_customers_order_is_not_found(api, hanako, taro):
    shop_order(hanako)
    theirs = shop_order(taro)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", theirs.pk), "score": 0}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("orderId", "NOT_FOUND")]
    assert snapshot() == before


def test_an_order_id_of_another_type_is_invalid(api, hanako):
    answer = api(SUBMIT_NPS, {"orderId": gid("User", hanako.pk), "score": 5}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("orderId", "INVALID")]


def test_anonymous_nps_without_a_token_is_permission_denied(api, hanako):
    order = shop_order(hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"orderId": gid("Order", order.pk), "score": 5})
    assert payload_errors(answer, "submitNps") == [(None, "PERMISSION_DENIED")]
    assert snapshot() == before


def test_the_survey_link_token_answers_without_signing_in(api, hanako):
    order = shop_order(hanako)
    token = tokens.make_token(FanProfile.objects.get(email=hanako.email), tokens.SURVEY)
    answer = api(SUBMIT_NPS, {"token": token, "orderId": gid("Order", order.pk), "score": 7})
    assert answer.payload("submitNps")["response"]["category"] == "PASSIVE"


def forged(token: str) -> str:
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


def expired(profile: FanProfile, purpose: str) -> str:
    with freeze_time(timezone.now() - tokens.MAX_AGE[purpose] - timedelta(minutes=1)):
        return tokens.make_token(profile, purpose)


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose", "garbage"])
def test_a_bad_survey_token_is_invalid_token_and_changes_nothing(api, hanako, spoil):
    order = shop_order(hanako)
    profile = FanProfile.objects.get(email=hanako.email)
    token = {
        "forged": lambda: forged(tokens.make_token(profile, tokens.SURVEY)),
        "expired": lambda: expired(profile, tokens.SURVEY),
        "wrong_purpose": lambda: tokens.make_token(profile, tokens.UNSUBSCRIBE),
        "garbage": lambda: "x" * 600,
    }[spoil]()
    before = snapshot()
    answer = api(SUBMIT_NPS, {"token": token, "orderId": gid("Order", order.pk), "score": 9}, user=hanako)
    assert payload_errors(answer, "submitNps") == [("token", "INVALID_TOKEN")]
    assert snapshot() == before


def test_one_customers_survey_token_cannot_answer_for_another_customers_order(api, hanako, taro):
    shop_order(hanako)
    theirs = shop_order(taro)
    token = tokens.make_token(FanProfile.objects.get(email=hanako.email), tokens.SURVEY)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"token": token, "orderId": gid("Order", theirs.pk), "score": 0})
    assert payload_errors(answer, "submitNps") == [("orderId", "NOT_FOUND")]
    assert snapshot() == before


def test_fan_survey_places_the_customer_on_the_grid(api, hanako):
    shop_order(hanako)
    answer = api(FAN_SURVEY, {"fanDegree": "PART_OF_LIFE", "liking": "LOVE"}, user=hanako)
    assert answer.payload("submitFanSurvey")["profile"] == {
        "fanDegree": "PART_OF_LIFE",
        "liking": "LOVE",
        "segment": "HIGH/HIGH",
        "engagementClass": "CORE",
    }


def test_fan_survey_by_token_and_a_bad_token(api, hanako):
    shop_order(hanako)
    profile = FanProfile.objects.get(email=hanako.email)
    good = api(FAN_SURVEY, {"token": tokens.make_token(profile, "survey"), "fanDegree": "NEW_FAN", "liking": "NEUTRAL"})
    assert good.payload("submitFanSurvey")["profile"]["segment"] == "LOW/LOW"
    before = snapshot()
    bad = api(FAN_SURVEY, {"token": expired(profile, "survey"), "fanDegree": "NEW_FAN", "liking": "ADORE"})
    assert payload_errors(bad, "submitFanSurvey") == [("token", "INVALID_TOKEN")]
    assert snapshot() == before


def test_fan_survey_with_an_unknown_level_is_refused_by_the_schema(api, hanako):
    answer = api(FAN_SURVEY, {"fanDegree": "SUPERFAN", "liking": "LOVE"}, user=hanako)
    assert answer.status == 400 and answer.codes() == ["INVALID"]


def test_unsubscribe_link_opts_out_once_and_keeps_the_first_time(api, hanako):
    shop_order(hanako)
    profile = FanProfile.objects.get(email=hanako.email)
    token = tokens.make_token(profile, tokens.UNSUBSCRIBE)
    assert api(UNSUBSCRIBE, {"token": token}).payload("unsubscribe") == {"ok": True, "errors": []}
    first = FanProfile.objects.get(pk=profile.pk).unsubscribed_at
    assert first is not None
    assert api(UNSUBSCRIBE, {"token": token}).payload("unsubscribe")["ok"] is True
    assert FanProfile.objects.get(pk=profile.pk).unsubscribed_at == first
    assert api("{ myFanProfile { unsubscribed } }", user=hanako).data["myFanProfile"]["unsubscribed"] is True


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose"])
def test_a_bad_unsubscribe_token_is_invalid_token_and_changes_nothing(api, hanako, spoil):
    shop_order(hanako)
    profile = FanProfile.objects.get(email=hanako.email)
    token = {
        "forged": lambda: forged(tokens.make_token(profile, tokens.UNSUBSCRIBE)),
        "expired": lambda: expired(profile, tokens.UNSUBSCRIBE),
        "wrong_purpose": lambda: tokens.make_token(profile, tokens.SURVEY),
    }[spoil]()
    before = snapshot()
    assert api(UNSUBSCRIBE, {"token": token}).payload("unsubscribe") == {
        "ok": False,
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}],
    }
    assert snapshot() == before
