"""Accounts sharing an email never act as each other; links mailed to a guest follow it into its account."""

from __future__ import annotations

import logging

import pytest

from saleor_conveyor import conveyor, signals, tokens
from saleor_conveyor.models import FanProfile, NpsResponse, ReturnRequest

from ..factories import T0, customer, gid, placed, shop_order
from .helpers import snapshot
from .test_returns import ask, fulfilled_order

pytestmark = pytest.mark.django_db

SUBMIT_NPS = "mutation($o: ID, $t: String) { submitNps(orderId: $o, token: $t, score: 0) { errors { field code } } }"
FAN_SURVEY = "mutation { submitFanSurvey(fanDegree: NOT_A_FAN, liking: NOT_AT_ALL) { errors { field code } } }"
MY_PROFILE = "{ myFanProfile { email purchaseCount touchpoints { rule detail } } }"


@pytest.fixture
def twin(django_user_model, hanako):
    """A second account whose email is hanako's (the sandbox's users, like many hosts', allow it)."""
    return django_user_model.objects.create_user(username="twin", email=hanako.email, password="x")


def errors(answer, name: str) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in answer.payload(name)["errors"]]


def test_an_account_sharing_an_email_cannot_answer_nps_about_the_other_accounts_order(api, hanako, twin):
    order = shop_order(hanako)
    before = snapshot()
    answer = api(SUBMIT_NPS, {"o": gid("Order", order.pk)}, user=twin)
    assert errors(answer, "submitNps") == [("email", "ALREADY_EXISTS")]
    assert snapshot() == before


def test_an_account_sharing_an_email_cannot_answer_surveys_on_the_other_accounts_profile(api, hanako, twin):
    shop_order(hanako)
    before = snapshot()
    assert errors(api(SUBMIT_NPS, {}, user=twin), "submitNps") == [("email", "ALREADY_EXISTS")]
    assert errors(api(FAN_SURVEY, user=twin), "submitFanSurvey") == [("email", "ALREADY_EXISTS")]
    assert snapshot() == before


def test_my_fan_profile_of_an_account_sharing_an_email_is_not_the_other_accounts(api, hanako, twin):
    shop_order(hanako)
    api(SUBMIT_NPS, {}, user=twin)
    assert api(MY_PROFILE, user=twin).data["myFanProfile"] is None
    assert api(MY_PROFILE, user=hanako).data["myFanProfile"]["email"] == hanako.email


def test_an_accounts_own_profile_wins_over_the_email(api, hanako, taro, django_user_model):
    shop_order(hanako)
    shop_order(taro)  # taro's profile has taro's address ...
    taro.email = hanako.email  # ... and his account now shows hanako's (changed without the hook)
    taro.save()
    assert errors(api(SUBMIT_NPS, {}, user=taro), "submitNps") == []
    assert NpsResponse.objects.get().profile.user_id == taro.pk
    assert FanProfile.objects.get(user=hanako).nps is None


def test_an_order_of_an_account_whose_email_is_another_accounts_profile_is_refused(hanako, twin):
    shop_order(hanako)
    before = snapshot()
    with pytest.raises(conveyor.ConveyorError) as error:
        conveyor.record_order_placed(placed("twin-1", who=customer(hanako.email, user_id=twin.pk)), now=T0)
    assert (error.value.field, error.value.code) == ("email", conveyor.ErrorCode.ALREADY_EXISTS)
    assert snapshot() == before


def test_the_backfill_refuses_it_too(hanako, twin):
    shop_order(hanako)
    before = snapshot()
    result = conveyor.record_orders_backfill(
        [conveyor.BackfillOrder(placed("twin-1", who=customer(hanako.email, user_id=twin.pk)))], now=T0
    )
    assert len(result.rejected) == 1 and "another account" in result.rejected[0]
    assert snapshot() == before


def test_linking_an_account_whose_email_is_another_accounts_profile_is_a_typed_refusal(hanako, twin):
    shop_order(hanako)
    before = snapshot()
    with pytest.raises(conveyor.ConveyorError) as error:
        conveyor.link_customer(customer(hanako.email, user_id=twin.pk))
    assert error.value.code is conveyor.ErrorCode.ALREADY_EXISTS
    assert snapshot() == before


def test_an_account_whose_email_is_unproven_leaves_the_guest_profile_alone_until_linked_again(django_user_model):
    conveyor.record_order_placed(placed("g1", who=customer("guest@example.com")), now=T0)
    user = django_user_model.objects.create_user(username="g", email="guest@example.com", password="x")
    before = snapshot()

    assert conveyor.link_customer(customer("guest@example.com", user.pk), take_guest_history=False) is None
    assert snapshot() == before

    fan = conveyor.link_customer(customer("guest@example.com", user.pk))
    assert fan.user_id == user.pk and fan.purchase_count == 1


def test_a_guest_profile_still_joins_the_account_of_its_email(django_user_model):
    conveyor.record_order_placed(placed("g1", who=customer("guest@example.com")), now=T0)
    user = django_user_model.objects.create_user(username="g", email="guest@example.com", password="x")
    conveyor.record_order_placed(placed("a1", who=customer("guest@example.com", user_id=user.pk)), now=T0)
    fan = FanProfile.objects.get()
    assert fan.user_id == user.pk and fan.purchase_count == 2


def test_staff_lookup_by_account_never_falls_back_to_another_accounts_email(hanako, twin):
    shop_order(hanako)
    assert conveyor.find_profile(user_id=twin.pk, email=hanako.email) is None
    assert conveyor.find_profile(user_id=hanako.pk, email=hanako.email).user_id == hanako.pk


def test_returns_never_cross_accounts_sharing_an_email(api, hanako, twin):
    order = fulfilled_order(hanako)
    assert ask(api, hanako, order).payload("requestReturn")["errors"] == []
    before = snapshot()
    assert [e["code"] for e in ask(api, twin, order).payload("requestReturn")["errors"]] == ["NOT_FOUND"]
    assert snapshot() == before
    mine = "{ myReturnRequests { id } }"
    assert api(mine, user=twin).data["myReturnRequests"] == []
    assert len(api(mine, user=hanako).data["myReturnRequests"]) == ReturnRequest.objects.count() == 1


# --- links of a guest who becomes an account -------------------------------------------------


@pytest.fixture
def merged_guest(django_user_model):
    """An account with a profile, and a guest's profile (with its links) merged into it."""
    user = django_user_model.objects.create_user(username="u1", email="old@example.com", password="x")
    conveyor.record_order_placed(placed("a1", who=customer("old@example.com", user.pk)), now=T0)
    conveyor.record_order_placed(placed("g1", who=customer("new@example.com")), now=T0)
    guest = FanProfile.objects.get(email="new@example.com")
    links = {
        purpose: tokens.make_token(guest, purpose, **({"order_id": "g1"} if purpose in tokens.ORDER_PURPOSES else {}))
        for purpose in tokens.PURPOSES
    }
    account = conveyor.link_customer(customer("new@example.com", user.pk), previous_email="old@example.com")
    assert not FanProfile.objects.filter(pk=guest.pk).exists()
    return account, links


def test_the_one_click_unsubscribe_of_a_merged_guest_opts_out_the_account(client, merged_guest):
    account, links = merged_guest
    page = client.get(f"/unsubscribe/?token={links['unsubscribe']}")
    assert page.status_code == 200 and b'method="post"' in page.content
    response = client.post(f"/unsubscribe/?token={links['unsubscribe']}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200, response.content
    assert FanProfile.objects.get(pk=account.pk).unsubscribed_at is not None


def test_the_unsubscribe_mutation_and_survey_links_of_a_merged_guest_act_on_the_account(api, merged_guest):
    account, links = merged_guest
    unsubscribe = "mutation($t: String!) { unsubscribe(token: $t) { ok errors { code } } }"
    assert api(unsubscribe, {"t": links["unsubscribe"]}).payload("unsubscribe") == {"ok": True, "errors": []}
    assert FanProfile.objects.get(pk=account.pk).unsubscribed_at is not None
    assert errors(api(SUBMIT_NPS, {"t": links["survey"], "o": gid("Order", "g1")}), "submitNps") == []
    assert NpsResponse.objects.get().profile_id == account.pk


def test_links_follow_a_profile_merged_twice(django_user_model, merged_guest):
    account, links = merged_guest
    other = django_user_model.objects.create_user(username="u2", email="third@example.com", password="x")
    conveyor.record_order_placed(placed("b1", who=customer("third@example.com", other.pk)), now=T0)
    # The account gives up its profile to another account's (a support merge): the links still follow.
    keeper, given_up = FanProfile.objects.get(pk=other.fan_profile.pk), FanProfile.objects.get(pk=account.pk)
    conveyor.customers.merge_into(keeper, given_up)
    assert tokens.profile_for_token(links["unsubscribe"], tokens.UNSUBSCRIBE).pk == other.fan_profile.pk
    assert tokens.profile_for_token(links["return"], tokens.RETURN).pk == other.fan_profile.pk


def test_a_link_of_a_deleted_profile_is_invalid_token(client, api):
    conveyor.record_order_placed(placed("g1", who=customer("gone@example.com")), now=T0)
    gone = FanProfile.objects.get()
    token = tokens.make_token(gone, tokens.UNSUBSCRIBE)
    gone.delete()
    assert client.post(f"/unsubscribe/?token={token}").status_code == 400
    answer = api("mutation($t: String!) { unsubscribe(token: $t) { ok errors { code } } }", {"t": token})
    assert answer.payload("unsubscribe") == {"ok": False, "errors": [{"code": "INVALID_TOKEN"}]}


# --- receivers that raise ----------------------------------------------------------------------


@pytest.fixture
def broken_receivers():
    def explode(**kwargs):
        raise RuntimeError("an extension's bug")

    for signal in (signals.stage_changed, signals.touchpoint_scheduled, signals.nps_recorded):
        signal.connect(explode, dispatch_uid="test.explode")
    yield
    for signal in (signals.stage_changed, signals.touchpoint_scheduled, signals.nps_recorded):
        signal.disconnect(dispatch_uid="test.explode")


@pytest.mark.django_db(transaction=True)  # committed for real, so the after-commit signals run in the request
def test_a_receiver_that_raises_never_turns_a_committed_answer_into_an_error(api, hanako, broken_receivers, caplog):
    caplog.set_level(logging.ERROR, logger="saleor_conveyor")
    order = shop_order(hanako)
    answer = api(SUBMIT_NPS, {"o": gid("Order", order.pk)}, user=hanako)
    assert errors(answer, "submitNps") == []
    assert NpsResponse.objects.filter(profile__user=hanako).count() == 1
    assert "nps_recorded" in caplog.text and "an extension's bug" in caplog.text
    again = api(SUBMIT_NPS, {"o": gid("Order", order.pk)}, user=hanako)  # a retry is told the truth
    assert errors(again, "submitNps") == [("orderId", "ALREADY_EXISTS")]


@pytest.mark.django_db(transaction=True)
def test_receivers_that_raise_never_fail_recording_or_the_backfill(broken_receivers, caplog):
    caplog.set_level(logging.ERROR, logger="saleor_conveyor")
    conveyor.record_order_placed(placed("o1"), now=T0)
    conveyor.record_orders_backfill([conveyor.BackfillOrder(placed("o2", who=customer("b@example.com")))], now=T0)
    assert FanProfile.objects.count() == 2
    assert "stage_changed" in caplog.text and "touchpoint_scheduled" in caplog.text


# --- probes nearby -------------------------------------------------------------------------------


def test_merging_a_guest_who_answered_the_same_survey_window_keeps_one_answer(django_user_model):
    from saleor_conveyor.events import NpsAnswered

    user = django_user_model.objects.create_user(username="u1", email="old@example.com", password="x")
    conveyor.record_order_placed(placed("a1", who=customer("old@example.com", user.pk)), now=T0)
    conveyor.record_order_placed(placed("g1", who=customer("new@example.com")), now=T0)
    conveyor.record_nps(NpsAnswered(customer("old@example.com", user.pk), 9, T0), now=T0)
    conveyor.record_nps(NpsAnswered(customer("new@example.com"), 2, T0), now=T0)
    account = conveyor.link_customer(customer("new@example.com", user.pk), previous_email="old@example.com")
    answers = NpsResponse.objects.filter(profile=account)
    assert answers.count() == 1 and answers.get().score == 9
    keys = list(account.touchpoints.values_list("key", flat=True))
    assert len(keys) == len(set(keys))


def test_an_inquiry_of_an_account_sharing_an_email_is_not_filed_on_the_other_accounts_profile(hanako, twin):
    from saleor_conveyor.events import InquirySubmitted

    shop_order(hanako)
    stored = conveyor.submit_inquiry(InquirySubmitted(hanako.email, "OTHER", "Hello", user_id=twin.pk))
    assert stored.profile is None
    mine = conveyor.submit_inquiry(InquirySubmitted(hanako.email, "OTHER", "Hello", user_id=hanako.pk))
    assert mine.profile.user_id == hanako.pk


def test_a_survey_link_of_an_account_sharing_an_email_answers_for_the_link_owner_only(api, hanako, twin):
    shop_order(hanako)
    token = tokens.make_token(FanProfile.objects.get(user=hanako), tokens.SURVEY)
    assert errors(api(SUBMIT_NPS, {"t": token}, user=twin), "submitNps") == []  # the token names the customer
    assert NpsResponse.objects.get().profile.user_id == hanako.pk
