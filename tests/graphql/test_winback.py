"""submitWinbackSurvey, resubscribe and the staff list of win-back answers: each error code, nothing written
when refused, one answer per occasion, one consent record per change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from saleor_conveyor import conveyor, signals, tokens
from saleor_conveyor.events import NpsAnswered
from saleor_conveyor.models import ConsentChange, FanProfile, WinbackResponse

from ..factories import customer, shop_order
from .helpers import snapshot

pytestmark = pytest.mark.django_db

SUBMIT = """
mutation($token: String!, $reasons: [String!]!, $comment: String, $kind: WinbackSurveyKind) {
  submitWinbackSurvey(token: $token, reasons: $reasons, comment: $comment, kind: $kind) {
    response { id kind reasons comment customerEmail createdAt }
    errors { field code message }
  }
}
"""
RESUBSCRIBE = "mutation($token: String!) { resubscribe(token: $token) { ok errors { field code } } }"
UNSUBSCRIBE = "mutation($token: String!) { unsubscribe(token: $token) { ok errors { field code } } }"
STAFF_LIST = """
query($kind: WinbackSurveyKind, $first: Int) {
  winbackResponses(kind: $kind, first: $first) {
    totalCount
    edges { node { kind reasons comment customerEmail customerId profileId createdAt } }
  }
}
"""


def forged(token: str) -> str:
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


def expired(profile: FanProfile, purpose: str) -> str:
    with freeze_time(timezone.now() - tokens.MAX_AGE[purpose] - timedelta(minutes=1)):
        return tokens.make_token(profile, purpose)


def lapsed(user) -> FanProfile:
    """A customer whose last order was 100 days ago (the win-back survey's customer)."""
    shop_order(user, placed_at=timezone.now() - timedelta(days=100))
    return FanProfile.objects.get(email=user.email)


def errors_of(answer) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in answer.payload("submitWinbackSurvey")["errors"]]


def submit(api, profile: FanProfile, reasons, comment=None, kind=None, token=None):
    variables = {"token": token or tokens.make_token(profile, tokens.SURVEY), "reasons": reasons, "comment": comment}
    if kind is not None:
        variables["kind"] = kind
    return api(SUBMIT, variables)


# --- answering ---------------------------------------------------------------------------------


def test_a_lapsed_customer_says_why_they_stopped_with_the_links_token(api, hanako):
    profile = lapsed(hanako)
    answer = submit(api, profile, ["DELIVERY", "PRICE"], "Shipping took two weeks.")
    payload = answer.payload("submitWinbackSurvey")
    assert payload["errors"] == []
    assert payload["response"]["kind"] == "WINBACK"
    assert payload["response"]["reasons"] == ["PRICE", "DELIVERY"]  # the survey's order
    assert payload["response"]["customerEmail"] == "hanako@example.com"
    stored = WinbackResponse.objects.get()
    assert (stored.profile_id, stored.kind, stored.reasons) == (profile.pk, "winback", ["PRICE", "DELIVERY"])
    assert stored.comment == "Shipping took two weeks."
    # About the lapse after the last order, as the win-back touchpoint's key is.
    assert stored.occasion == profile.purchases.get().order_id


def test_a_repeated_reason_is_stored_once(api, hanako):
    profile = lapsed(hanako)
    assert errors_of(submit(api, profile, ["PRICE", "PRICE", "OTHER"])) == []
    assert WinbackResponse.objects.get().reasons == ["PRICE", "OTHER"]


def test_a_comment_alone_is_an_answer(api, hanako):
    profile = lapsed(hanako)
    assert errors_of(submit(api, profile, [], "Moved abroad.")) == []
    assert WinbackResponse.objects.get().reasons == []


@pytest.mark.parametrize(
    "reasons, comment",
    [(["PRICE", "CHEAPER_ELSEWHERE"], None), (["price"], None), ([], None), ([], "   "), (["PRICE"] * 51, None)],
    ids=["unknown", "lower-case", "nothing", "blank-comment", "too-many-entries"],
)
def test_an_unknown_or_empty_choice_is_invalid_on_reasons_and_writes_nothing(api, hanako, reasons, comment):
    profile = lapsed(hanako)
    before = snapshot()
    answer = submit(api, profile, reasons, comment)
    assert errors_of(answer) == [("reasons", "INVALID")]
    assert answer.data["submitWinbackSurvey"]["response"] is None
    assert snapshot() == before


def test_a_comment_over_2000_characters_is_out_of_range_and_2000_are_kept(api, hanako):
    profile = lapsed(hanako)
    before = snapshot()
    assert errors_of(submit(api, profile, ["PRICE"], "あ" * 2001)) == [("comment", "OUT_OF_RANGE")]
    assert snapshot() == before
    assert errors_of(submit(api, profile, ["PRICE"], "あ" * 2000)) == []
    assert len(WinbackResponse.objects.get().comment) == 2000


def test_a_nul_byte_in_the_comment_is_invalid_and_writes_nothing(api, hanako):
    profile = lapsed(hanako)
    before = snapshot()
    assert errors_of(submit(api, profile, ["PRICE"], "a\x00b")) == [("comment", "INVALID")]
    assert snapshot() == before


def test_a_second_answer_for_the_same_lapse_is_already_exists_and_changes_nothing(api, hanako):
    profile = lapsed(hanako)
    assert errors_of(submit(api, profile, ["PRICE"])) == []
    before = snapshot()
    assert errors_of(submit(api, profile, ["QUALITY"], "changed my mind")) == [(None, "ALREADY_EXISTS")]
    assert snapshot() == before
    assert WinbackResponse.objects.get().reasons == ["PRICE"]


def test_a_new_lapse_after_another_order_asks_again(api, hanako):
    profile = lapsed(hanako)
    assert errors_of(submit(api, profile, ["PRICE"])) == []
    shop_order(hanako, placed_at=timezone.now() - timedelta(days=95))
    assert errors_of(submit(api, profile, ["QUALITY"])) == []
    assert WinbackResponse.objects.filter(profile=profile).count() == 2


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose", "garbage"])
def test_a_bad_survey_token_is_invalid_token_and_writes_nothing(api, hanako, spoil):
    profile = lapsed(hanako)
    token = {
        "forged": lambda: forged(tokens.make_token(profile, tokens.SURVEY)),
        "expired": lambda: expired(profile, tokens.SURVEY),
        "wrong_purpose": lambda: tokens.make_token(profile, tokens.UNSUBSCRIBE),
        "garbage": lambda: "x" * 600,
    }[spoil]()
    before = snapshot()
    assert errors_of(submit(api, profile, ["PRICE"], token=token)) == [("token", "INVALID_TOKEN")]
    assert snapshot() == before


def test_the_improvement_survey_takes_areas_and_is_its_own_answer(api, hanako):
    profile = lapsed(hanako)
    conveyor.record_nps(NpsAnswered(customer(hanako.email, hanako.pk), 3, timezone.now()))  # a detractor
    assert errors_of(submit(api, profile, ["PRICE"])) == []
    answer = submit(api, profile, ["PACKAGING", "CUSTOMER_SERVICE"], "Box was crushed.", kind="IMPROVEMENT")
    assert answer.payload("submitWinbackSurvey")["response"]["kind"] == "IMPROVEMENT"
    improvement = WinbackResponse.objects.get(kind="improvement")
    assert improvement.reasons == ["PACKAGING", "CUSTOMER_SERVICE"]
    # About the NPS answer the honesty letter followed (its key is honesty_letter:<occasion>).
    assert improvement.occasion == profile.nps_responses.get().occasion
    before = snapshot()
    again = submit(api, profile, ["PRICE"], kind="IMPROVEMENT")
    assert errors_of(again) == [(None, "ALREADY_EXISTS")]
    assert snapshot() == before


def test_a_win_back_reason_is_not_an_improvement_area(api, hanako):
    profile = lapsed(hanako)
    before = snapshot()
    assert errors_of(submit(api, profile, ["NO_LONGER_NEEDED"], kind="IMPROVEMENT")) == [("reasons", "INVALID")]
    assert snapshot() == before


def test_an_answer_is_announced_after_commit_for_staff_follow_ups(api, hanako, django_capture_on_commit_callbacks):
    heard = []

    def receiver(sender, response, profile, **named):
        heard.append((response.kind, profile.email))

    signals.winback_recorded.connect(receiver)
    try:
        profile = lapsed(hanako)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            submit(api, profile, ["OTHER"], "x")
        assert heard == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        signals.winback_recorded.disconnect(receiver)
    assert heard == [("winback", "hanako@example.com")]


# --- the staff list ------------------------------------------------------------------------------


def test_staff_see_the_answers_newest_first_and_by_kind(api, hanako, taro, staff):
    first, second = lapsed(hanako), lapsed(taro)
    submit(api, first, ["PRICE"], "too dear")
    submit(api, second, ["QUALITY"])
    submit(api, second, ["WEBSITE"], kind="IMPROVEMENT")
    listed = api(STAFF_LIST, {}, user=staff).data["winbackResponses"]
    assert listed["totalCount"] == 3
    nodes = [edge["node"] for edge in listed["edges"]]
    assert [(n["kind"], n["customerEmail"]) for n in nodes] == [
        ("IMPROVEMENT", "taro@example.com"),
        ("WINBACK", "taro@example.com"),
        ("WINBACK", "hanako@example.com"),
    ]
    assert nodes[2]["comment"] == "too dear" and nodes[2]["customerId"] is not None
    only = api(STAFF_LIST, {"kind": "WINBACK"}, user=staff).data["winbackResponses"]
    assert [edge["node"]["reasons"] for edge in only["edges"]] == [["QUALITY"], ["PRICE"]]


def test_the_staff_list_costs_the_same_queries_for_one_answer_or_many(api, make_user, staff):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api(STAFF_LIST, {"first": 100}, user=staff).status == 200
        return len(captured)

    customers = [make_user(f"c{n}@example.com") for n in range(6)]
    submit(api, lapsed(customers[0]), ["PRICE"])
    one = queries()
    for user in customers[1:]:
        submit(api, lapsed(user), ["PRICE"])
    assert queries() == one


def test_a_customer_cannot_read_the_staff_list(api, hanako):
    submit(api, lapsed(hanako), ["PRICE"])
    answer = api(STAFF_LIST, {}, user=hanako)
    assert answer.data["winbackResponses"] is None
    assert answer.codes() == ["PERMISSION_DENIED"]


# --- resubscribe and the consent record -------------------------------------------------------------


def test_unsubscribe_then_resubscribe_records_each_change_with_its_source(api, hanako):
    profile = lapsed(hanako)
    token = tokens.make_token(profile, tokens.UNSUBSCRIBE)
    assert api(UNSUBSCRIBE, {"token": token}).payload("unsubscribe") == {"ok": True, "errors": []}
    assert FanProfile.objects.get(pk=profile.pk).unsubscribed_at is not None
    assert api(RESUBSCRIBE, {"token": token}).payload("resubscribe") == {"ok": True, "errors": []}
    assert FanProfile.objects.get(pk=profile.pk).unsubscribed_at is None
    changes = list(ConsentChange.objects.order_by("id").values_list("profile_id", "subscribed", "source"))
    assert changes == [(profile.pk, False, "api"), (profile.pk, True, "api")]


def test_repeating_a_change_records_it_once(api, hanako):
    profile = lapsed(hanako)
    token = tokens.make_token(profile, tokens.UNSUBSCRIBE)
    before = snapshot()
    assert api(RESUBSCRIBE, {"token": token}).payload("resubscribe")["ok"] is True  # already subscribed
    assert snapshot() == before
    api(UNSUBSCRIBE, {"token": token})
    first = FanProfile.objects.get(pk=profile.pk).unsubscribed_at
    api(UNSUBSCRIBE, {"token": token})
    assert FanProfile.objects.get(pk=profile.pk).unsubscribed_at == first
    assert ConsentChange.objects.count() == 1


@pytest.mark.parametrize("spoil", ["forged", "expired", "wrong_purpose"])
def test_a_bad_resubscribe_token_is_invalid_token_and_writes_nothing(api, hanako, spoil):
    profile = lapsed(hanako)
    conveyor.unsubscribe(profile.pk, source="staff")
    token = {
        "forged": lambda: forged(tokens.make_token(profile, tokens.UNSUBSCRIBE)),
        "expired": lambda: expired(profile, tokens.UNSUBSCRIBE),
        "wrong_purpose": lambda: tokens.make_token(profile, tokens.SURVEY),
    }[spoil]()
    before = snapshot()
    assert api(RESUBSCRIBE, {"token": token}).payload("resubscribe") == {
        "ok": False,
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}],
    }
    assert snapshot() == before
