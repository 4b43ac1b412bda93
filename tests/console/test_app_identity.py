"""The Saleor app's core side, without Saleor: the sandbox serves no manifest, an app token's narrower permissions
stay with the console session it starts, and the service keeps one registered app with checked values."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import signing
from django.test import Client

from saleor_conveyor import conveyor
from saleor_conveyor.console import auth
from saleor_conveyor.errors import ConveyorError
from saleor_conveyor.hosts import MANAGE_ORDERS, MANAGE_USERS
from saleor_conveyor.hosts.base import TOKEN_PERMISSIONS_ATTRIBUTE
from saleor_conveyor.models import DashboardApp

pytestmark = pytest.mark.django_db
CONSOLE = "/console/"


@pytest.fixture
def manager():
    user = get_user_model().objects.create_user(username="m@example.com", email="m@example.com", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["conveyor_manage_orders", "conveyor_manage_users"])
    )
    return user


def identity_for(session: str):
    request = Client().get(CONSOLE, {auth.SESSION_PARAM: session}).wsgi_request
    return auth.identity_from_request(request)


def test_the_sandbox_has_no_dashboard_so_no_manifest_and_no_register_endpoint():
    assert Client().get("/manifest/").status_code == 404
    assert (
        Client().post("/register/", '{"auth_token": "abcdefghijklmnopqrstuvwxyz0123"}', "application/json").status_code
        == 404
    )
    assert not DashboardApp.objects.exists()


def test_a_session_begun_with_a_narrower_app_token_keeps_that_limit(manager):
    assert identity_for(auth.session_token(manager, auth.VIA_DASHBOARD)).permissions == {MANAGE_ORDERS, MANAGE_USERS}
    setattr(manager, TOKEN_PERMISSIONS_ATTRIBUTE, frozenset({MANAGE_USERS, "MANAGE_PRODUCTS"}))
    narrowed = identity_for(auth.session_token(manager, auth.VIA_DASHBOARD))
    assert narrowed is not None and narrowed.permissions == {MANAGE_USERS}
    setattr(manager, TOKEN_PERMISSIONS_ATTRIBUTE, frozenset())
    assert identity_for(auth.session_token(manager, auth.VIA_DASHBOARD)).permissions == frozenset()


def test_a_limit_never_adds_a_permission_the_user_lacks(manager):
    manager.user_permissions.remove(Permission.objects.get(codename="conveyor_manage_orders"))
    setattr(manager, TOKEN_PERMISSIONS_ATTRIBUTE, frozenset({MANAGE_ORDERS, MANAGE_USERS}))
    assert identity_for(auth.session_token(manager, auth.VIA_DASHBOARD)).permissions == {MANAGE_USERS}


@pytest.mark.parametrize("limit", ["MANAGE_ORDERS", [1], {"MANAGE_ORDERS": True}], ids=["string", "number", "object"])
def test_a_session_with_a_malformed_limit_opens_nothing(manager, limit):
    session = signing.dumps({"u": manager.pk, "v": auth.VIA_DASHBOARD, "p": limit}, salt=auth._SALT, compress=False)
    assert identity_for(session) is None
    assert Client().get(CONSOLE, {auth.SESSION_PARAM: session}).status_code == 401


def test_the_service_keeps_one_registered_app_and_replaces_it_on_reinstallation():
    conveyor.register_dashboard_app(7, "a" * 30, saleor_api_url="https://shop.example/graphql/", saleor_domain="shop")
    conveyor.register_dashboard_app(7, "b" * 30)
    assert list(DashboardApp.objects.values_list("app_id", "auth_token")) == [(7, "b" * 30)]
    conveyor.register_dashboard_app(8, "c" * 30)
    assert list(DashboardApp.objects.values_list("app_id", flat=True)) == [8]


@pytest.mark.parametrize(
    "app_id, token, extra",
    [
        (0, "a" * 30, {}),
        (True, "a" * 30, {}),
        ("7", "a" * 30, {}),
        (7, "", {}),
        (7, "a" * 129, {}),
        (7, "a\x00" * 10, {}),
        (7, "a" * 30, {"saleor_api_url": "x" * 2049}),
        (7, "a" * 30, {"saleor_domain": "shop\x00"}),
    ],
    ids=["zero", "bool", "string-id", "no-token", "long-token", "nul-token", "long-url", "nul-domain"],
)
def test_the_service_refuses_a_registration_it_cannot_keep_and_writes_nothing(app_id, token, extra):
    with pytest.raises(ConveyorError):
        conveyor.register_dashboard_app(app_id, token, **extra)
    assert not DashboardApp.objects.exists()
