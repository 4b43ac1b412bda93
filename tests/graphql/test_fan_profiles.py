"""fanProfiles and FanProfile.timeline: staff find customers and read their history; a customer reads only their own."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.console.shop import customer_with_history, quiet_customers
from tests.factories import gid

from .helpers import snapshot

pytestmark = pytest.mark.django_db

LIST = """
query($stage: FanStage, $segment: String, $lapsed: Boolean, $npsCategory: NpsCategory, $search: String,
      $first: Int, $after: String) {
  fanProfiles(stage: $stage, segment: $segment, lapsed: $lapsed, npsCategory: $npsCategory, search: $search,
              first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id email firstName customerId stage segment lapsed npsCategory lifetimeValue { amount currency }
                   lastPurchaseAt } }
  }
}"""
WITH_TIMELINES = """
query($first: Int) {
  fanProfiles(first: $first) {
    edges { node { email touchpoints { rule } timeline(first: 20) { at kind title detail orderId status outcome } } }
  }
}"""
MINE = "{ myFanProfile { email timeline { kind title } } }"
ONE = "query($email: String) { fanProfile(email: $email) { email timeline(first: 3) { kind title at } } }"


def emails(answer) -> list[str]:
    return [edge["node"]["email"] for edge in answer.data["fanProfiles"]["edges"]]


def test_staff_list_customers_with_filters_and_search(api, staff):
    hanako = customer_with_history("hanako@example.com", "Hanako", nps=10)
    customer_with_history("taro@example.com", "Taro", nps=3)
    quiet_customers(3)
    everyone = api(LIST, user=staff)
    assert everyone.data["fanProfiles"]["totalCount"] == 5
    assert emails(everyone)[:2] == ["taro@example.com", "hanako@example.com"]  # latest buyers first
    node = everyone.data["fanProfiles"]["edges"][1]["node"]
    assert node["firstName"] == "Hanako" and node["customerId"] == gid("User", hanako.pk)
    assert node["lifetimeValue"] == {"amount": 17000.0, "currency": "JPY"} and node["segment"] == "MID/MID"
    assert emails(api(LIST, {"npsCategory": "PROMOTER"}, user=staff)) == ["hanako@example.com"]
    assert emails(api(LIST, {"npsCategory": "DETRACTOR"}, user=staff)) == ["taro@example.com"]
    assert emails(api(LIST, {"search": "HANA"}, user=staff)) == ["hanako@example.com"]
    assert emails(api(LIST, {"search": "tar"}, user=staff)) == ["taro@example.com"]
    assert sorted(emails(api(LIST, {"lapsed": True}, user=staff))) == [f"quiet{n}@example.com" for n in range(3)]
    assert len(emails(api(LIST, {"lapsed": False}, user=staff))) == 2
    assert emails(api(LIST, {"stage": "SECOND_TIME", "segment": "MID/MID"}, user=staff)) == [
        "taro@example.com",
        "hanako@example.com",
    ]
    assert emails(api(LIST, {"search": "100%_"}, user=staff)) == []  # wildcards are text


def test_the_list_pages_with_cursors(api, staff):
    quiet_customers(5)
    first = api(LIST, {"first": 2}, user=staff).data["fanProfiles"]
    assert first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 2
    rest = api(LIST, {"first": 10, "after": first["pageInfo"]["endCursor"]}, user=staff).data["fanProfiles"]
    assert len(rest["edges"]) == 3 and not rest["pageInfo"]["hasNextPage"]
    assert api(LIST, {"first": 101}, user=staff).codes() == ["OUT_OF_RANGE"]


@pytest.mark.parametrize(
    "variables, field",
    [({"segment": "HIGH"}, "segment"), ({"search": "x" * 255}, "search"), ({"search": "a\x00b"}, "search")],
    ids=["not-a-cell", "huge-search", "nul"],
)
def test_arguments_no_profile_could_match_are_refused_as_invalid(api, staff, variables, field):
    quiet_customers(1)
    answer = api(LIST, variables, user=staff)
    assert answer.codes() == ["INVALID"] and answer.data["fanProfiles"] is None


def test_the_timeline_is_every_kind_of_entry_newest_first(api, staff):
    hanako = customer_with_history()
    answer = api(ONE.replace("first: 3", "first: 50"), {"email": "hanako@example.com"}, user=staff)
    entries = answer.data["fanProfile"]["timeline"]
    kinds = [entry["kind"] for entry in entries]
    assert set(kinds) == {"ORDER", "TOUCHPOINT", "NPS", "FAN_SURVEY", "WINBACK", "RETURN", "INQUIRY"}
    assert [entry["at"] for entry in entries] == sorted((entry["at"] for entry in entries), reverse=True)
    assert kinds.count("ORDER") == 2 and kinds.count("NPS") == 1
    titles = {entry["title"] for entry in entries}
    assert {"step_day3 (EMAIL)", "thank_you_card (STAFF_TASK)", "Inquiry: SHIPPING", "NPS 9"} <= titles
    assert hanako.email == answer.data["fanProfile"]["email"]
    three = api(ONE, {"email": "hanako@example.com"}, user=staff).data["fanProfile"]["timeline"]
    assert three == [{key: entry[key] for key in ("kind", "title", "at")} for entry in entries[:3]]


def test_touchpoint_entries_carry_status_and_outcome(api, staff):
    customer_with_history()
    entries = api(WITH_TIMELINES, user=staff).data["fanProfiles"]["edges"][0]["node"]["timeline"]
    held_out = next(entry for entry in entries if entry["title"].startswith("step_day7"))
    assert held_out["status"] == "SKIPPED" and held_out["outcome"] == "holdout"
    card = next(entry for entry in entries if entry["title"].startswith("thank_you_card"))
    assert card["status"] == "SCHEDULED" and card["orderId"].startswith(gid("Order", "")[:4])


@pytest.mark.parametrize("size", [2, 12])
def test_a_page_with_timelines_is_a_fixed_number_of_queries(api, staff, size):
    for n in range(size):
        customer_with_history(f"c{n}@example.com", f"C{n}")
    with CaptureQueriesContext(connection) as queries:
        answer = api(WITH_TIMELINES, {"first": 50}, user=staff)
    assert len(answer.data["fanProfiles"]["edges"]) == size and not answer.errors
    assert all(edge["node"]["timeline"] for edge in answer.data["fanProfiles"]["edges"])
    # the staff user, their permissions (2), the page, the touchpoints of the page, seven timeline sources
    assert len(queries) == QUERIES_WITH_TIMELINES, [query["sql"][:80] for query in queries]


QUERIES_WITH_TIMELINES = 12


def test_a_customer_reads_their_own_timeline_only(api, make_user):
    hanako = customer_with_history()
    customer_with_history("taro@example.com", "Taro")
    mine = api(MINE, user=hanako)
    assert mine.data["myFanProfile"]["email"] == "hanako@example.com"
    assert {entry["kind"] for entry in mine.data["myFanProfile"]["timeline"]} >= {"ORDER", "INQUIRY"}
    refused = api(ONE, {"email": "taro@example.com"}, user=hanako)
    assert refused.codes() == ["PERMISSION_DENIED"] and refused.data["fanProfile"] is None
    assert api(LIST, user=hanako).codes() == ["PERMISSION_DENIED"]


def test_staff_without_manage_users_and_nobody_are_refused_and_nothing_changes(api, make_user):
    customer_with_history()
    orders_only = make_user("orders@example.com", staff_permissions=("manage_orders",))
    before = snapshot()
    for user in (orders_only, None):
        answer = api(LIST, user=user)
        assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["fanProfiles"] is None
        assert "hanako" not in str(answer.body)
    assert snapshot() == before
