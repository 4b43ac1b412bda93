"""Who may see the console: a staff member by sign-in, the Dashboard's app token or the host's session; no one else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from freezegun import freeze_time

from saleor_conveyor.console import auth
from saleor_conveyor.hosts.django import make_app_token

pytestmark = pytest.mark.django_db
CONSOLE = "/console/"


def staff_member(email: str = "staff@example.com", *codenames: str, is_staff: bool = True):
    user = get_user_model().objects.create_user(username=email, email=email, password="pw-staff", is_staff=is_staff)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def csrf_form(client: Client, path: str) -> dict[str, str]:
    page = client.get(path).content.decode()
    return {"csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)}


def test_nobody_gets_the_sign_in_page_and_no_data():
    response = Client().get(CONSOLE)
    assert response.status_code == 401 and 'data-form="sign-in"' in response.content.decode()


def test_a_staff_member_signs_in_and_keeps_a_console_session_in_a_cookie():
    staff_member()
    client = Client(enforce_csrf_checks=True)
    form = csrf_form(client, CONSOLE)
    signed_in = client.post(f"{CONSOLE}sign-in/", {**form, "email": "staff@example.com", "password": "pw-staff"})
    assert signed_in.status_code == 302 and signed_in.cookies[auth.SESSION_COOKIE]["httponly"]
    assert client.get(CONSOLE).status_code == 200


@pytest.mark.parametrize(
    "email, password, is_staff",
    [
        ("staff@example.com", "wrong", True),
        ("nobody@example.com", "pw-staff", True),
        ("staff@example.com", "pw-staff", False),
    ],
    ids=["wrong-password", "unknown", "not-staff"],
)
def test_a_wrong_or_non_staff_sign_in_is_refused_without_a_session(email, password, is_staff):
    staff_member(is_staff=is_staff)
    client = Client(enforce_csrf_checks=True)
    form = csrf_form(client, CONSOLE)
    refused = client.post(f"{CONSOLE}sign-in/", {**form, "email": email, "password": password})
    assert refused.status_code == 401 and auth.SESSION_COOKIE not in refused.cookies
    assert client.get(CONSOLE).status_code == 401


def test_a_sign_in_from_another_site_without_the_csrf_token_is_refused():
    staff_member()
    refused = Client(enforce_csrf_checks=True).post(
        f"{CONSOLE}sign-in/", {"email": "staff@example.com", "password": "pw-staff"}
    )
    assert refused.status_code == 403 and auth.SESSION_COOKIE not in refused.cookies


def test_the_session_token_carried_in_the_query_works_without_cookies_and_a_forged_one_does_not():
    user = staff_member()
    token = auth.session_token(user, auth.VIA_DASHBOARD)
    assert Client().get(f"{CONSOLE}?s={token}").status_code == 200
    assert Client().get(f"{CONSOLE}?s={token[:-3]}AAA").status_code == 401
    with freeze_time(timedelta(hours=9) + __import__("django.utils.timezone").utils.timezone.now()):
        assert Client().get(f"{CONSOLE}?s={token}").status_code == 401  # sessions end


def test_a_session_of_a_user_who_lost_staff_status_opens_nothing():
    user = staff_member()
    token = auth.session_token(user, auth.VIA_SIGN_IN)
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    assert Client().get(f"{CONSOLE}?s={token}").status_code == 401


def test_the_sandbox_app_token_names_the_staff_member_for_this_app_only():
    from saleor_conveyor.hosts import get_host

    user = staff_member()
    host = get_host()
    assert host.staff_from_app_token(make_app_token(user)) == user
    assert host.staff_from_app_token(make_app_token(user, app="another.app")) is None
    assert host.staff_from_app_token("forged") is None
    customer = staff_member("customer@example.com", is_staff=False)
    assert host.staff_from_app_token(make_app_token(customer)) is None


def test_identity_permissions_are_read_from_the_host_each_time():
    user = staff_member("orders@example.com", "conveyor_manage_orders")
    token = auth.session_token(user, auth.VIA_SIGN_IN)
    client = Client()
    client.cookies[auth.SESSION_COOKIE] = token
    request = client.get(CONSOLE).wsgi_request
    identity = auth.identity_from_request(request)
    assert identity is not None and identity.permissions == frozenset({"MANAGE_ORDERS"})


def test_signing_in_from_the_sign_in_page_itself_goes_on_to_the_console():
    staff_member()
    client = Client(enforce_csrf_checks=True)
    form = csrf_form(client, f"{CONSOLE}sign-in/")
    page = client.get(f"{CONSOLE}sign-in/").content.decode()
    next_value = re.search(r'name="next" value="([^"]*)"', page).group(1)
    signed_in = client.post(
        f"{CONSOLE}sign-in/", {**form, "next": next_value, "email": "staff@example.com", "password": "pw-staff"}
    )
    assert signed_in.status_code == 302 and "/sign-in/" not in signed_in["Location"]


def test_signing_in_from_a_refused_page_returns_to_it():
    staff_member()
    client = Client(enforce_csrf_checks=True)
    refused = client.get(f"{CONSOLE}customers/?stage=LOYAL").content.decode()
    form = {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', refused).group(1),
        "next": re.search(r'name="next" value="([^"]*)"', refused).group(1).replace("&amp;", "&"),
    }
    signed_in = client.post(f"{CONSOLE}sign-in/", {**form, "email": "staff@example.com", "password": "pw-staff"})
    assert signed_in["Location"] == f"{CONSOLE}customers/?stage=LOYAL"
