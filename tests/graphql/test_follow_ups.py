"""Follow-ups: every detractor answer and every win-back answer opens exactly one; followUps and updateFollowUp
(MANAGE_USERS) move it along, and every refused call changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_conveyor import conveyor, measures
from saleor_conveyor.conveyor.surveys import PAGE_REPLACE_WINDOW
from saleor_conveyor.engine import WinbackKind
from saleor_conveyor.events import Customer, NpsAnswered, WinbackAnswered
from saleor_conveyor.models import FanProfile, FollowUp

from ..factories import gid, shop_order
from ..queues import detractor, lapsed_answer, shopper
from .helpers import snapshot

pytestmark = pytest.mark.django_db

LIST = """
query($status: FollowUpStatus, $first: Int, $after: String) {
  followUps(status: $status, first: $first, after: $after) {
    totalCount
    firstContact { medianHours withinTargetRate targetDays contacted waiting overdue }
    pageInfo { hasNextPage endCursor }
    edges { node { id source score comment reasons status outcome createdAt firstContactAt closedAt note
                   profile { email nps timeline(first: 5) { kind title } } } }
  }
}
"""
UPDATE = """
mutation($id: ID!, $status: FollowUpStatus!, $outcome: FollowUpOutcome, $note: String) {
  updateFollowUp(id: $id, status: $status, outcome: $outcome, note: $note) {
    followUp { id status outcome firstContactAt closedAt note }
    errors { field code message }
  }
}
"""


def update(api, user, follow_up, **variables):
    answer = api(UPDATE, {"id": gid("FollowUp", follow_up.pk), **variables}, user=user)
    return answer.payload("updateFollowUp")


def codes(payload) -> list[tuple[str | None, str]]:
    return [(error["field"], error["code"]) for error in payload["errors"]]


# --- what opens a follow-up ---------------------------------------------------------------


def test_a_detractors_answer_opens_one_follow_up_with_its_score_and_comment():
    follow_up = detractor("taro@example.com", 4, "It arrived broken")
    assert (follow_up.source, follow_up.score, follow_up.comment, follow_up.status) == (
        "DETRACTOR",
        4,
        "It arrived broken",
        "OPEN",
    )
    assert follow_up.nps_response.score == 4 and follow_up.first_contact_at is None


@pytest.mark.parametrize("score", [7, 8, 9, 10])
def test_passives_and_promoters_open_none(score):
    user = shopper("hanako@example.com")
    order = shop_order(user)
    conveyor.record_nps(NpsAnswered(Customer("hanako@example.com", user.pk), score, timezone.now(), str(order.pk)))
    assert FollowUp.objects.count() == 0


def test_score_six_is_a_detractor_and_opens_one():
    assert detractor(score=6).score == 6


def test_a_replaced_page_answer_carries_its_follow_up_along():
    user = shopper("hanako@example.com")
    order = shop_order(user)
    who, now = Customer("hanako@example.com", user.pk), timezone.now()

    def answer(score, minutes):
        at = now + timedelta(minutes=minutes)
        event = NpsAnswered(who, score, at, order_id=str(order.pk), comment=f"score {score}")
        conveyor.record_nps(event, now=at, replace_within=PAGE_REPLACE_WINDOW)

    answer(2, 0)
    assert list(FollowUp.objects.values_list("score", "comment")) == [(2, "score 2")]
    answer(5, 1)  # still a detractor: the same follow-up, the new score
    assert list(FollowUp.objects.values_list("score", "comment")) == [(5, "score 5")]
    answer(9, 2)  # no longer a detractor: the untouched follow-up goes
    assert FollowUp.objects.count() == 0
    answer(1, 3)  # a detractor again: one opens
    assert list(FollowUp.objects.values_list("score", "status")) == [(1, "OPEN")]


def test_a_replacement_keeps_a_follow_up_staff_already_touched(api, staff):
    user = shopper("hanako@example.com")
    order = shop_order(user)
    who, now = Customer("hanako@example.com", user.pk), timezone.now()
    conveyor.record_nps(NpsAnswered(who, 2, now, str(order.pk)), now=now, replace_within=PAGE_REPLACE_WINDOW)
    conveyor.update_follow_up(FollowUp.objects.get().pk, status="CONTACTED", by="staff@example.com")
    later = now + timedelta(minutes=1)
    conveyor.record_nps(NpsAnswered(who, 9, later, str(order.pk)), now=later, replace_within=PAGE_REPLACE_WINDOW)
    kept = FollowUp.objects.get()
    assert (kept.status, kept.score) == ("CONTACTED", 9)  # staff see what the customer changed it to


def test_an_answer_given_twice_opens_one_follow_up():
    follow_up = detractor()
    profile = follow_up.profile
    with pytest.raises(conveyor.ConveyorError):
        conveyor.record_nps(
            NpsAnswered(Customer(profile.email, profile.user_id), 1, timezone.now(), follow_up.nps_response.order_id)
        )
    assert FollowUp.objects.count() == 1


def test_a_win_back_answer_opens_one_and_an_improvement_answer_none():
    follow_up = lapsed_answer("lapsed@example.com", "Too expensive now")
    assert (follow_up.source, follow_up.score, follow_up.comment) == ("WINBACK", None, "Too expensive now")
    profile = FanProfile.objects.get(email="lapsed@example.com")
    conveyor.record_winback_survey(
        WinbackAnswered(profile.pk, WinbackKind.IMPROVEMENT, ("PRICE",), timezone.now(), comment="cheaper")
    )
    assert FollowUp.objects.count() == 1


def test_a_guest_merged_into_an_account_keeps_its_follow_up():
    from saleor_conveyor.conveyor.customers import link_customer

    at = timezone.now()
    conveyor.record_nps(NpsAnswered(Customer("guest@example.com"), 2, at, comment="slow"), now=at)
    user = shopper("guest@example.com")
    link_customer(Customer("guest@example.com", user.pk))
    follow_up = FollowUp.objects.get()
    assert follow_up.profile.user_id == user.pk and follow_up.score == 2


# --- followUps ------------------------------------------------------------------------------


def test_staff_list_follow_ups_by_status_with_the_customer_and_first_contact(api, staff):
    taro = detractor("taro@example.com", 2)
    detractor("jiro@example.com", 5)
    lapsed_answer()
    conveyor.update_follow_up(taro.pk, status="CONTACTED", by="staff@example.com")
    answer = api(LIST, {"status": "OPEN"}, user=staff).data["followUps"]
    assert answer["totalCount"] == 2
    nodes = [edge["node"] for edge in answer["edges"]]
    assert [(node["profile"]["email"], node["source"]) for node in nodes] == [
        ("jiro@example.com", "DETRACTOR"),
        ("lapsed@example.com", "WINBACK"),
    ]
    assert nodes[1]["reasons"] == ["PRICE"] and nodes[1]["score"] is None
    assert "NPS" in {entry["kind"] for entry in nodes[0]["profile"]["timeline"]}
    figures = answer["firstContact"]
    assert figures["contacted"] == 1 and figures["waiting"] == 2 and figures["targetDays"] == 7
    assert figures["withinTargetRate"] == 1.0 and figures["medianHours"] is not None


@pytest.mark.parametrize("size", [2, 8])
def test_a_page_of_follow_ups_is_a_fixed_number_of_queries(api, staff, size):
    for n in range(size):
        detractor(f"c{n}@example.com", n % 7)
    with CaptureQueriesContext(connection) as queries:
        answer = api(LIST, {"first": 50}, user=staff)
    assert len(answer.data["followUps"]["edges"]) == size and not answer.errors
    # the staff user and permissions (2), the page, its count, first contact, seven timeline sources
    assert len(queries) == 13, [query["sql"][:80] for query in queries]


def test_follow_ups_page_through_with_cursors(api, staff):
    for n in range(3):
        detractor(f"c{n}@example.com")
    first = api(LIST, {"first": 2}, user=staff).data["followUps"]
    assert first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 2
    rest = api(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, user=staff).data["followUps"]
    assert len(rest["edges"]) == 1 and not rest["pageInfo"]["hasNextPage"]


def test_more_than_100_a_page_is_out_of_range(api, staff):
    answer = api(LIST, {"first": 101}, user=staff)
    assert answer.codes() == ["OUT_OF_RANGE"] and answer.data["followUps"] is None


def test_a_customer_token_cannot_list_follow_ups(api, hanako):
    detractor()
    answer = api(LIST, user=hanako)
    assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["followUps"] is None


def test_first_contact_counts_a_week_from_opening(api, staff):
    now = timezone.now()
    quick = detractor("quick@example.com", at=now - timedelta(days=20))
    slow = detractor("slow@example.com", at=now - timedelta(days=20))
    detractor("waiting@example.com", at=now - timedelta(days=10))  # waiting past the week: a miss
    detractor("new@example.com", at=now - timedelta(days=1))  # its week is not over: not counted yet
    FollowUp.objects.filter(pk=quick.pk).update(created_at=now - timedelta(days=20))
    FollowUp.objects.filter(pk=slow.pk).update(created_at=now - timedelta(days=20))
    conveyor.update_follow_up(quick.pk, status="CONTACTED", by="s", now=now - timedelta(days=19))
    conveyor.update_follow_up(slow.pk, status="CONTACTED", by="s", now=now - timedelta(days=10))
    FollowUp.objects.exclude(pk__in=[quick.pk, slow.pk]).filter(profile__email="waiting@example.com").update(
        created_at=now - timedelta(days=10)
    )
    figures = measures.first_contact(now=now)
    assert figures.contacted == 2 and figures.waiting == 2 and figures.overdue == 1
    assert figures.within_target_rate == pytest.approx(1 / 3)
    assert figures.median_hours == pytest.approx((24 + 240) / 2, abs=0.2)


# --- updateFollowUp -------------------------------------------------------------------------


def test_contacting_records_the_first_contact_once_and_closing_needs_an_outcome(api, staff):
    follow_up = detractor()
    contacted = update(api, staff, follow_up, status="CONTACTED", note="Called, left a message")
    assert contacted["errors"] == [] and contacted["followUp"]["status"] == "CONTACTED"
    first_contact = contacted["followUp"]["firstContactAt"]
    again = update(api, staff, follow_up, status="CONTACTED", note="Called again")
    assert again["followUp"]["firstContactAt"] == first_contact and again["followUp"]["note"] == "Called again"
    closed = update(api, staff, follow_up, status="CLOSED", outcome="RESOLVED")
    assert closed["followUp"]["outcome"] == "RESOLVED" and closed["followUp"]["closedAt"]
    assert closed["followUp"]["note"] == "Called again"  # no note given: kept
    stored = FollowUp.objects.get()
    assert stored.closed_by == "staff@example.com" and stored.updated_by == "staff@example.com"


def test_closing_an_open_one_directly_counts_as_its_first_contact(api, staff):
    follow_up = detractor()
    closed = update(api, staff, follow_up, status="CLOSED", outcome="NO_ANSWER")
    assert closed["followUp"]["firstContactAt"] == closed["followUp"]["closedAt"]


@pytest.mark.parametrize(
    "variables, expected",
    [
        ({"status": "CLOSED"}, [("outcome", "INVALID")]),
        ({"status": "CONTACTED", "outcome": "RESOLVED"}, [("outcome", "INVALID")]),
        ({"status": "CONTACTED", "note": "a\x00b"}, [("note", "INVALID")]),
        ({"status": "CONTACTED", "note": "n" * 5001}, [("note", "OUT_OF_RANGE")]),
        ({"status": "CONTACTED", "outcome": "SOLVED"}, [(None, "INVALID")]),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(api, staff, variables, expected):
    follow_up = detractor()
    before = snapshot()
    answer = api(UPDATE, {"id": gid("FollowUp", follow_up.pk), **variables}, user=staff)
    if expected == [(None, "INVALID")]:  # not an enum value: GraphQL refuses the request itself
        assert answer.codes() == ["INVALID"]
    else:
        assert codes(answer.payload("updateFollowUp")) == expected
    assert snapshot() == before


def test_a_closed_follow_up_cannot_be_reopened_or_changed(api, staff):
    follow_up = detractor()
    update(api, staff, follow_up, status="CLOSED", outcome="NOT_RESOLVABLE", note="Wants a refund only")
    before = snapshot()
    for status in ("OPEN", "CONTACTED"):
        assert codes(update(api, staff, follow_up, status=status)) == [("status", "INVALID")]
    assert codes(update(api, staff, follow_up, status="CLOSED", outcome="RESOLVED")) == [("status", "INVALID")]
    assert snapshot() == before


def test_a_contacted_follow_up_cannot_go_back_to_open(api, staff):
    follow_up = detractor()
    update(api, staff, follow_up, status="CONTACTED")
    before = snapshot()
    assert codes(update(api, staff, follow_up, status="OPEN")) == [("status", "INVALID")]
    assert snapshot() == before


def test_an_unknown_follow_up_is_not_found_and_a_malformed_id_invalid(api, staff):
    detractor()
    before = snapshot()
    missing = api(UPDATE, {"id": gid("FollowUp", 987654), "status": "CONTACTED"}, user=staff)
    assert codes(missing.payload("updateFollowUp")) == [("id", "NOT_FOUND")]
    for bad in (gid("Inquiry", 1), gid("FollowUp", "x"), "garbage", gid("FollowUp", 2**63)):
        answer = api(UPDATE, {"id": bad, "status": "CONTACTED"}, user=staff)
        assert codes(answer.payload("updateFollowUp")) == [("id", "INVALID")]
    assert snapshot() == before


@pytest.mark.parametrize("who", ["customer", "anonymous", "orders_staff"])
def test_only_manage_users_may_update_and_refusals_change_nothing(api, hanako, make_user, who):
    follow_up = detractor()
    user = {
        "customer": hanako,
        "anonymous": None,
        "orders_staff": make_user("orders@example.com", staff_permissions=("manage_orders",)),
    }[who]
    before = snapshot()
    answer = api(UPDATE, {"id": gid("FollowUp", follow_up.pk), "status": "CONTACTED"}, user=user)
    assert codes(answer.payload("updateFollowUp")) == [(None, "PERMISSION_DENIED")]
    assert answer.payload("updateFollowUp")["followUp"] is None
    assert snapshot() == before
