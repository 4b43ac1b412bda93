"""The customer pages inside Saleor: served under /plugins/global/conveyor.crm/ while the plugin is active,
404 when it is not, with the CSRF check the plugin's route lacks done by the pages themselves."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern
from saleor.core.jwt import create_access_token

from saleor_conveyor import tokens
from saleor_conveyor.models import NpsResponse, ReturnRequest
from saleor_conveyor.pages import urls as pages

ROOT = "/plugins/global/conveyor.crm/"
EXPECTED_PAGES = {
    "survey/",
    "survey/nps/",
    "survey/fan/",
    "survey/winback/",
    "preferences/",
    "returns/",
    "inquiry/",
    "inquiry/embed/",
}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def page_paths() -> list[str]:
    return [str(pattern.pattern) for pattern in pages.urlpatterns if isinstance(pattern, URLPattern)]  # not console/


def hidden_fields(html: str) -> dict[str, str]:
    return {name: value.replace("&amp;", "&") for name, value in _HIDDEN.findall(html)}


def test_the_plugin_serves_every_customer_page(conveyor_enabled):
    assert set(page_paths()) >= EXPECTED_PAGES
    for path in page_paths():
        response = Client().get(f"{ROOT}{path}?token=forged&lang=en&survey=nps")
        body = response.content.decode()
        # A page that needs a signed link refuses a forged one with its clear page; the others show a form.
        assert response.status_code in (200, 400), (path, response.status_code)
        assert response["Content-Type"].startswith("text/html") and "Traceback" not in body, path
        assert 'data-refused="link_invalid"' in body or "<form" in body, path
        assert response["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in response


@pytest.mark.parametrize("root", [ROOT, "/plugins/conveyor.crm/"], ids=["global", "legacy"])
def test_every_page_is_not_found_while_the_plugin_is_inactive(conveyor_enabled, root):
    conveyor_enabled.active = False
    conveyor_enabled.save(update_fields=["active"])
    for path in page_paths():
        assert Client().get(f"{root}{path}").status_code == 404, path


def test_an_unknown_path_under_the_plugin_is_not_found(conveyor_enabled):
    assert Client().get(f"{ROOT}survey/nope/").status_code == 404
    assert Client().get(f"{ROOT}admin/").status_code == 404


def test_an_nps_answer_is_recorded_from_the_page_with_the_csrf_check_and_refused_without_it(
    conveyor_enabled, order_with_lines, place_order
):
    place_order(order_with_lines)
    profile = order_with_lines.user.fan_profile
    token = tokens.make_token(profile.id, tokens.SURVEY)
    client = Client(enforce_csrf_checks=True)
    opened = client.get(f"{ROOT}survey/nps/?token={token}&score=9&lang=en")
    assert opened.status_code == 200 and NpsResponse.objects.count() == 0  # a GET (a link scanner) records nothing
    form = hidden_fields(opened.content.decode())
    assert form.get("csrfmiddlewaretoken") and form.get("token")

    forged = Client(enforce_csrf_checks=True).post(f"{ROOT}survey/nps/", {**form, "score": "9"})
    assert forged.status_code == 403 and NpsResponse.objects.count() == 0

    sent = client.post(f"{ROOT}survey/nps/", {**form, "score": "9", "comment": "Great"})
    assert sent.status_code == 200
    answer = NpsResponse.objects.get()
    assert (answer.profile_id, answer.score, answer.comment) == (profile.id, 9, "Great")


def graphql(query: str, variables: dict, token: str) -> dict:
    response = Client().post(
        f"{ROOT}graphql/",
        data=json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_a_return_requested_from_the_page_appears_in_saleor_after_staff_approve_it(
    conveyor_enabled,
    fulfilled_order,
    place_order,
    staff_user,
    permission_group_manage_orders,
    django_capture_on_commit_callbacks,
):
    place_order(fulfilled_order)
    profile = fulfilled_order.user.fan_profile
    line = fulfilled_order.lines.first()
    token = tokens.make_token(profile.id, tokens.RETURN, order_id=str(fulfilled_order.pk))
    client = Client(enforce_csrf_checks=True)
    opened = client.get(f"{ROOT}returns/?token={token}&lang=en")
    assert opened.status_code == 200 and f'name="quantity-{line.pk}"' in opened.content.decode()
    assert not ReturnRequest.objects.exists()  # opening the emailed link asks for nothing

    form = hidden_fields(opened.content.decode())
    sent = client.post(
        f"{ROOT}returns/", {**form, f"quantity-{line.pk}": "1", "reason": "DAMAGED", "comment": "Cracked lid"}
    )
    assert sent.status_code == 303  # then the page shows the request (post, redirect, get)
    requested = ReturnRequest.objects.get()
    assert (requested.status, requested.reason, requested.comment) == ("REQUESTED", "DAMAGED", "Cracked lid")
    assert [(item.order_line_id, item.quantity) for item in requested.lines.all()] == [(str(line.pk), 1)]
    assert not fulfilled_order.fulfillments.filter(status="returned").exists()  # nothing in Saleor before approval

    permission_group_manage_orders.user_set.add(staff_user)
    staff = create_access_token(staff_user)
    listed = graphql("{ returnRequests(status: REQUESTED, first: 5) { edges { node { id } } } }", {}, staff)
    (edge,) = listed["returnRequests"]["edges"]
    with django_capture_on_commit_callbacks(execute=True):
        decided = graphql(
            "mutation($id: ID!) { decideReturn(id: $id, approve: true) { returnRequest { status } errors { code } } }",
            {"id": edge["node"]["id"]},
            staff,
        )
    assert decided["decideReturn"] == {"returnRequest": {"status": "APPROVED"}, "errors": []}
    returned = fulfilled_order.fulfillments.get(status="returned")  # what staff see on the order in the Dashboard
    assert [(item.order_line_id, item.quantity) for item in returned.lines.all()] == [(line.pk, 1)]
    page = client.get(f"{ROOT}returns/?token={token}&lang=en").content.decode()
    assert "APPROVED" in page or "Approved" in page
