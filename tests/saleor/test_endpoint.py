"""The conveyor's API route inside Saleor: /plugins/global/conveyor.crm/graphql/."""

from __future__ import annotations

import json
import sys
import types
from datetime import timedelta

import graphene
import pytest
from django.http import JsonResponse
from django.test import Client
from saleor.core.jwt import create_access_token

from saleor_conveyor.hosts import MANAGE_ORDERS, MANAGE_USERS, get_host

URL = "/plugins/global/conveyor.crm/graphql/"
LEGACY_URL = "/plugins/conveyor.crm/graphql/"


@pytest.fixture
def echo_api(monkeypatch):
    """Stands in for the GraphQL view: answers who the host says is calling."""

    def handle_graphql_request(request):
        host = get_host()
        user = host.user_from_request(request)
        return JsonResponse(
            {
                "path": request.path,
                "body": request.body.decode(),
                "user": user.email if user else None,
                "manageUsers": host.has_permission(user, MANAGE_USERS),
                "manageOrders": host.has_permission(user, MANAGE_ORDERS),
            }
        )

    views = types.ModuleType("saleor_conveyor.graphql.views")
    views.handle_graphql_request = handle_graphql_request
    monkeypatch.setitem(sys.modules, "saleor_conveyor.graphql.views", views)


def post(token=None, url=URL):
    headers = {"HTTP_AUTHORIZATION": f"JWT {token}"} if token else {}
    return Client().post(url, data='{"query": "{ me { email } }"}', content_type="application/json", **headers)


def test_without_a_token_the_caller_is_anonymous(conveyor_enabled, echo_api):
    response = post()

    assert response.status_code == 200
    body = response.json()
    assert body["user"] is None and not body["manageUsers"] and not body["manageOrders"]
    assert body["path"] == URL and "me" in body["body"]


def test_a_customer_token_is_the_customer_without_staff_rights(conveyor_enabled, echo_api, customer_user):
    body = post(create_access_token(customer_user)).json()

    assert body["user"] == customer_user.email
    assert not body["manageUsers"] and not body["manageOrders"]


def test_a_staff_token_carries_saleors_permissions(
    conveyor_enabled, echo_api, staff_user, permission_manage_users, permission_group_manage_orders
):
    staff_user.user_permissions.add(permission_manage_users)

    body = post(create_access_token(staff_user)).json()
    assert body["user"] == staff_user.email and body["manageUsers"] and not body["manageOrders"]

    permission_group_manage_orders.user_set.add(staff_user)
    body = post(create_access_token(staff_user)).json()
    assert body["manageUsers"] and body["manageOrders"]


def test_a_bad_or_expired_token_is_anonymous_not_an_error(conveyor_enabled, echo_api, customer_user, settings):
    assert post("not-a-jwt").json()["user"] is None
    forged = create_access_token(customer_user)[:-4] + "AAAA"
    assert post(forged).json()["user"] is None
    settings.JWT_TTL_ACCESS = timedelta(seconds=-60)
    assert post(create_access_token(customer_user)).json()["user"] is None


def test_until_the_graphql_api_is_installed_the_route_says_so(conveyor_enabled, monkeypatch):
    monkeypatch.setitem(sys.modules, "saleor_conveyor.graphql.views", None)  # as if absent

    response = post()

    assert response.status_code == 501
    assert response.json()["errors"][0]["message"] == "GraphQL API not installed yet."


def test_other_paths_are_not_found(conveyor_enabled, echo_api):
    assert Client().get("/plugins/global/conveyor.crm/admin/").status_code == 404
    assert Client().get("/plugins/global/conveyor.crm/").status_code == 404


@pytest.mark.parametrize("url", [URL, LEGACY_URL], ids=["global", "legacy"])
def test_an_inactive_plugin_answers_not_found_on_every_route(conveyor_enabled, echo_api, url):
    conveyor_enabled.active = False
    conveyor_enabled.save(update_fields=["active"])

    assert post(url=url).status_code == 404


def test_a_plugin_never_configured_is_inactive_and_not_found(conveyor_installed, echo_api):
    assert post().status_code == 404
    assert post(url=LEGACY_URL).status_code == 404


# --- the real GraphQL API behind the route ---------------------------------------------------

MY_PROFILE = "{ myFanProfile { email purchaseCount stage } }"
A_PROFILE = 'query { fanProfile(email: "test@example.com") { email purchaseCount customerId } }'


def graphql(query, token=None):
    headers = {"HTTP_AUTHORIZATION": f"JWT {token}"} if token else {}
    body = json.dumps({"query": query})
    return Client().post(URL, data=body, content_type="application/json", **headers)


def error_codes(response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


def test_the_api_without_a_token_refuses_customer_data(conveyor_enabled, order_with_lines, place_order):
    place_order(order_with_lines)

    response = graphql(MY_PROFILE)

    assert response.status_code == 200
    assert response.json()["data"]["myFanProfile"] is None
    assert error_codes(response) == ["PERMISSION_DENIED"]


def test_the_api_with_a_customer_token_shows_only_their_own_profile(
    conveyor_enabled, order_with_lines, place_order, customer_user
):
    place_order(order_with_lines)
    token = create_access_token(customer_user)

    mine = graphql(MY_PROFILE, token).json()
    assert mine["data"]["myFanProfile"] == {"email": "test@example.com", "purchaseCount": 1, "stage": "FIRST_TIME"}

    someone = graphql(A_PROFILE, token)
    assert someone.json()["data"]["fanProfile"] is None and error_codes(someone) == ["PERMISSION_DENIED"]


def test_the_api_with_a_staff_token_uses_saleors_manage_users(
    conveyor_enabled, order_with_lines, place_order, staff_user, permission_manage_users
):
    place_order(order_with_lines)
    assert error_codes(graphql(A_PROFILE, create_access_token(staff_user))) == ["PERMISSION_DENIED"]
    staff_user.user_permissions.add(permission_manage_users)

    data = graphql(A_PROFILE, create_access_token(staff_user)).json()["data"]["fanProfile"]

    assert data["email"] == "test@example.com" and data["purchaseCount"] == 1
    assert data["customerId"] == graphene.Node.to_global_id("User", order_with_lines.user_id)


# --- one-click unsubscribe (RFC 8058) ---------------------------------------------------------


def test_one_click_unsubscribe_is_served_under_the_plugin_route(
    conveyor_enabled, order_with_lines, place_order, settings
):
    from saleor_conveyor import tokens
    from saleor_conveyor.models import FanProfile

    settings.PUBLIC_URL = "https://shop.example"
    place_order(order_with_lines)
    profile = FanProfile.objects.get()
    url = get_host().endpoint_url("unsubscribe/")
    assert url == "https://shop.example/plugins/global/conveyor.crm/unsubscribe/"
    token = tokens.make_token(profile.id, tokens.UNSUBSCRIBE)

    shown = Client().get(f"/plugins/global/conveyor.crm/unsubscribe/?token={token}")
    assert shown.status_code == 200 and b"<form" in shown.content
    profile.refresh_from_db()
    assert profile.unsubscribed_at is None  # a link scanner's GET changes nothing

    done = Client().post(f"/plugins/global/conveyor.crm/unsubscribe/?token={token}", {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    profile.refresh_from_db()
    assert profile.unsubscribed_at is not None


def test_the_callers_address_is_read_as_saleor_reads_it(db):
    from django.test import RequestFactory

    request = RequestFactory().post(URL, HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="10.0.0.1")

    assert get_host().client_address(request) == "203.0.113.9"
