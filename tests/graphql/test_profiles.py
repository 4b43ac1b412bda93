"""myFanProfile and fanProfile: who may see which profile, what it shows, and what it costs in queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.models import Touchpoint

from ..factories import customer, gid, placed
from .helpers import snapshot

pytestmark = pytest.mark.django_db

MY_PROFILE = """
query {
  myFanProfile {
    id stage purchaseCount lapsed nps npsCategory badges referralCode segment
    totalSpent { amount currency } averageOrderValue { amount currency } lifetimeValue { amount currency }
    firstPurchaseAt lastPurchaseAt
    touchpoints { id rule kind status dueAt sentAt detail }
  }
}
"""


def buy(user, count: int, *, start=None, total: str = "5000") -> None:
    start = start or timezone.now() - timedelta(days=count + 1)
    who = customer(user.email, user_id=user.pk)
    for n in range(count):
        at = start + timedelta(hours=n)
        conveyor.record_order_placed(placed(f"{user.pk}-o{n}", who=who, at=at, total=total), now=at)


def test_anonymous_my_fan_profile_is_permission_denied_and_shows_nothing(api, hanako):
    buy(hanako, 1)
    before = snapshot()
    answer = api(MY_PROFILE)
    assert answer.status == 200 and answer.data["myFanProfile"] is None
    assert answer.codes() == ["PERMISSION_DENIED"]
    assert snapshot() == before


def test_a_forged_bearer_token_is_treated_as_no_identity(api, hanako):
    buy(hanako, 1)
    answer = api.client.post(
        "/graphql/", {"query": MY_PROFILE}, content_type="application/json", HTTP_AUTHORIZATION="Bearer forged.token"
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_customer_sees_own_stage_money_and_touchpoints(api, hanako):
    buy(hanako, 2, total="6000")
    profile = api(MY_PROFILE, user=hanako).data["myFanProfile"]
    assert profile["stage"] == "SECOND_TIME" and profile["purchaseCount"] == 2 and profile["lapsed"] is False
    assert profile["totalSpent"] == {"amount": 12000.0, "currency": "JPY"}
    assert profile["averageOrderValue"] == {"amount": 6000.0, "currency": "JPY"}
    assert profile["lifetimeValue"] == {"amount": 12000.0, "currency": "JPY"}
    assert profile["nps"] is None and profile["badges"] == [] and profile["referralCode"] is None
    rules = [tp["rule"] for tp in profile["touchpoints"]]
    assert "step_day3" in rules and "second_purchase" in rules
    first = profile["touchpoints"][0]
    assert first["id"] == gid("Touchpoint", Touchpoint.objects.order_by("due_at", "id").first().pk)
    assert first["dueAt"].endswith("+00:00")  # ISO-8601 with the offset


def test_a_touchpoint_being_sent_shows_as_scheduled(api, hanako):
    buy(hanako, 1)
    Touchpoint.objects.filter(rule="step_day3").update(status="SENDING")
    profile = api("{ myFanProfile { touchpoints(status: SCHEDULED) { rule status } } }", user=hanako).data[
        "myFanProfile"
    ]
    assert {"rule": "step_day3", "status": "SCHEDULED"} in profile["touchpoints"]
    assert all(tp["status"] == "SCHEDULED" for tp in profile["touchpoints"])


def test_touchpoints_filter_by_status(api, hanako):
    buy(hanako, 1)
    Touchpoint.objects.filter(rule="step_day3").update(status="SENT", sent_at=timezone.now())
    sent = api("{ myFanProfile { touchpoints(status: SENT) { rule sentAt } } }", user=hanako)
    assert [tp["rule"] for tp in sent.data["myFanProfile"]["touchpoints"]] == ["step_day3"]
    assert sent.data["myFanProfile"]["touchpoints"][0]["sentAt"] is not None


def test_a_customer_who_never_bought_has_no_profile(api, hanako):
    answer = api(MY_PROFILE, user=hanako)
    assert answer.errors == [] and answer.data["myFanProfile"] is None


def test_lapsed_after_the_lapse_window(api, hanako):
    buy(hanako, 1, start=timezone.now() - timedelta(days=120))
    assert api("{ myFanProfile { lapsed } }", user=hanako).data["myFanProfile"]["lapsed"] is True


def test_my_fan_profile_never_shows_another_customers_data(api, hanako, taro):
    buy(hanako, 1)
    buy(taro, 3)
    profile = api("{ myFanProfile { email purchaseCount } }", user=hanako).data["myFanProfile"]
    assert profile == {"email": "hanako@example.com", "purchaseCount": 1}


@pytest.mark.parametrize("orders", [1, 200])
def test_my_fan_profile_with_touchpoints_costs_two_round_trips_whatever_the_history(api, hanako, orders, settings):
    settings.CONVEYOR_PREPARED_STATEMENTS = False  # the statements' own text, not EXECUTEs of them
    buy(hanako, orders)
    with CaptureQueriesContext(connection) as queries:
        answer = api(MY_PROFILE, user=hanako)
    assert answer.data["myFanProfile"]["purchaseCount"] == orders
    assert len(answer.data["myFanProfile"]["touchpoints"]) >= 4
    # the user behind the token; then the profile and its touchpoints, two statements in one round trip
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert queries[1]["sql"].count("SELECT ") == 3  # the profile; the touchpoints, by a sub-select of the profile


def test_my_fan_profile_without_touchpoints_reads_no_touchpoints(api, hanako):
    buy(hanako, 2)
    with CaptureQueriesContext(connection) as queries:
        answer = api("{ myFanProfile { purchaseCount } }", user=hanako)
    assert answer.data["myFanProfile"] == {"purchaseCount": 2}
    assert len(queries) == 2 and "touchpoint" not in queries[1]["sql"]


def test_touchpoints_asked_through_fragments_and_aliases_are_read_with_the_profile(api, hanako):
    buy(hanako, 1)
    Touchpoint.objects.filter(rule="step_day3").update(status="SENDING")
    query = """
    query { myFanProfile { ...Steps all: touchpoints { rule } } }
    fragment Steps on FanProfile { ... on FanProfile { scheduled: touchpoints(status: SCHEDULED) { rule status } } }
    """
    with CaptureQueriesContext(connection) as queries:
        profile = api(query, user=hanako).data["myFanProfile"]
    assert len(queries) == 2
    assert {"rule": "step_day3", "status": "SCHEDULED"} in profile["scheduled"]
    assert [tp["rule"] for tp in profile["all"]] == list(
        Touchpoint.objects.order_by("due_at", "id").values_list("rule", flat=True)
    )


# --- staff ---------------------------------------------------------------------------------


STAFF_PROFILE = "query($id: ID, $email: String) { fanProfile(customerId: $id, email: $email) { email stage } }"


def test_staff_finds_a_profile_by_customer_id_or_email(api, hanako, staff):
    buy(hanako, 1)
    by_id = api(STAFF_PROFILE, {"id": gid("User", hanako.pk)}, user=staff)
    by_email = api(STAFF_PROFILE, {"email": "  Hanako@Example.com "}, user=staff)
    assert (
        by_id.data["fanProfile"]
        == by_email.data["fanProfile"]
        == {"email": "hanako@example.com", "stage": "FIRST_TIME"}
    )


def test_staff_query_with_a_customer_token_is_permission_denied(api, hanako, taro):
    buy(hanako, 1)
    before = snapshot()
    answer = api(STAFF_PROFILE, {"email": "hanako@example.com"}, user=taro)
    assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["fanProfile"] is None
    assert snapshot() == before


def test_staff_without_manage_users_is_permission_denied(api, make_user, hanako):
    buy(hanako, 1)
    orders_only = make_user("orders@example.com", staff_permissions=("manage_orders",))
    assert api(STAFF_PROFILE, {"email": "hanako@example.com"}, user=orders_only).codes() == ["PERMISSION_DENIED"]


@pytest.mark.parametrize(
    "variables", [{}, {"id": gid("Order", "1")}, {"id": "not-a-global-id"}, {"id": gid("User", "x")}]
)
def test_fan_profile_needs_a_user_id_or_an_email(api, staff, variables):
    answer = api(STAFF_PROFILE, variables, user=staff)
    assert answer.codes() == ["INVALID"] and answer.errors[0]["extensions"]["field"] == "customerId"
