"""The customer pages inside Saleor: served under /plugins/global/conveyor.crm/ while the plugin is active,
404 when it is not, with the CSRF check the plugin's route lacks done by the pages themselves."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from saleor_conveyor import tokens
from saleor_conveyor.models import NpsResponse
from saleor_conveyor.pages import urls as pages

ROOT = "/plugins/global/conveyor.crm/"
EXPECTED_PAGES = {"survey/", "survey/nps/", "survey/fan/", "survey/winback/", "preferences/"}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def page_paths() -> list[str]:
    return [str(pattern.pattern) for pattern in pages.urlpatterns]


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
