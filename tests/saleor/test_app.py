"""The console as a Saleor app, with Saleor's own code: its manifest validation, its installer (the command and
the Dashboard's task), its app tokens (`create_access_token_for_app`) and its credential check."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from django.contrib.auth.hashers import check_password
from django.contrib.sites.models import SITE_CACHE
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from freezegun import freeze_time
from requests.structures import CaseInsensitiveDict
from saleor.app.installation_utils import fetch_manifest
from saleor.app.manifest_validations import clean_manifest_data
from saleor.app.models import App, AppExtension, AppInstallation, AppToken
from saleor.app.tasks import install_app_task
from saleor.core import JobStatus
from saleor.core.http_client import HTTPClient
from saleor.core.jwt import (
    create_access_token,
    create_access_token_for_app,
    create_access_token_for_app_extension,
    jwt_decode,
    jwt_encode,
)
from saleor.permission.enums import get_permissions_from_names
from saleor.site import PasswordLoginMode
from saleor.site.models import Site

from saleor_conveyor.console import auth
from saleor_conveyor.hosts import MANAGE_ORDERS, MANAGE_USERS, get_host
from saleor_conveyor.models import DashboardApp
from saleor_conveyor.pages.base import URLCONF
from saleor_conveyor.saleor import app as dashboard_app

ROOT = "/plugins/global/conveyor.crm/"
PUBLIC = "https://example.com"  # PUBLIC_URL in Saleor's test settings
MANIFEST_URL = f"{PUBLIC}{ROOT}manifest/"
CONSOLE = f"{ROOT}console/"
WIDGETS = {
    "customer_details_widgets": "console/widgets/customer/",
    "order_details_widgets": "console/widgets/order/",
    "homepage_widgets": "console/widgets/home/",
}


def _resolves(name: str) -> bool:
    try:
        reverse(name, urlconf=URLCONF)
    except NoReverseMatch:
        return False
    return True


@pytest.fixture(autouse=True)
def nothing_left_over():
    """Saleor's sign-in throttle keeps its blocks in the cache, and Django caches the Site with its settings."""
    cache.clear()
    SITE_CACHE.clear()
    yield
    cache.clear()
    SITE_CACHE.clear()


@pytest.fixture
def saleor_calls(monkeypatch):
    """Saleor's outgoing requests (its hardened HTTPClient: the manifest fetch, the token POST) answered by this
    process through Django's test client, so its installer reaches our real views; each call is recorded."""
    calls: list[dict] = []

    def send_request(manager, method, url, **kwargs):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == PUBLIC, url
        headers = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in (kwargs.get("headers") or {}).items()
            if name.lower() != "content-type"
        }
        if method == "GET":
            answer = Client().get(parts.path, **headers)
        else:
            answer = Client().post(parts.path, json.dumps(kwargs.get("json")), "application/json", **headers)
        calls.append({"method": method, "path": parts.path, "json": kwargs.get("json"), "headers": headers})
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(dict(answer.items()))
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response

    monkeypatch.setattr(type(HTTPClient), "send_request", send_request)  # a slotted Manager: patch its class
    return calls


@pytest.fixture
def installed(conveyor_enabled, saleor_calls):
    """The app installed as the README says: `manage.py install_app <manifest URL> --activate`."""
    call_command("install_app", MANIFEST_URL, "--activate", "--quiet")
    return App.objects.get(identifier="conveyor.crm")


def staff(user, *permissions):
    """Give a staff user Saleor permissions (each console request reads the user, and them, afresh)."""
    user.user_permissions.add(*permissions)
    return user


def open_console(token: str, path: str = CONSOLE):
    """A console page with an app token, as the handshake page does: exchanged for the console's session."""
    user = get_host().staff_from_app_token(token)
    if user is None:
        return None
    return Client().get(path, {auth.SESSION_PARAM: auth.session_token(user, auth.VIA_DASHBOARD)})


# --- the manifest -------------------------------------------------------------------------------------------------


def test_the_served_manifest_passes_saleors_own_manifest_validation(conveyor_enabled):
    response = Client().get(f"{ROOT}manifest/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    served = response.json()

    clean_manifest_data(copy.deepcopy(served), raise_for_saleor_version=True)  # raises on anything 3.23 refuses

    assert served["id"] == "conveyor.crm" and served["webhooks"] == []
    assert served["permissions"] == ["MANAGE_ORDERS", "MANAGE_USERS", "MANAGE_PLUGINS"]
    assert served["appUrl"] == f"{PUBLIC}{ROOT}console/app/"
    assert served["tokenTargetUrl"] == f"{PUBLIC}{ROOT}register/"
    mounts = {extension["mount"]: extension for extension in served["extensions"]}
    assert mounts["NAVIGATION_CUSTOMERS"]["target"] == "APP_PAGE" and mounts["NAVIGATION_CUSTOMERS"]["url"] == "/"
    assert mounts["NAVIGATION_CUSTOMERS"]["label"] == "Fan Conveyor"
    for mount, path in WIDGETS.items():
        widget = mounts[mount.upper()]
        assert widget["target"] == "WIDGET" and widget["url"] == f"{PUBLIC}{ROOT}{path}"
        assert widget["options"] == {"widgetTarget": {"method": "POST"}}


def test_a_manifest_saleor_would_refuse_is_refused_by_the_same_check(conveyor_enabled):
    """The validation above can fail: the same manifest with a mount's permission outside the app's is refused."""
    served = Client().get(f"{ROOT}manifest/").json()
    served["extensions"][1]["permissions"] = ["MANAGE_PRODUCTS"]
    with pytest.raises(Exception, match="permission"):
        clean_manifest_data(served, raise_for_saleor_version=True)


def test_the_manifest_is_read_the_way_saleors_installer_reads_it(conveyor_enabled, saleor_calls):
    assert fetch_manifest(MANIFEST_URL) == Client().get(f"{ROOT}manifest/").json()
    assert saleor_calls[0]["headers"].get("HTTP_SALEOR_SCHEMA_VERSION")


def test_the_manifest_and_register_endpoint_are_not_found_while_the_plugin_is_inactive(conveyor_enabled):
    conveyor_enabled.active = False
    conveyor_enabled.save(update_fields=["active"])
    assert Client().get(f"{ROOT}manifest/").status_code == 404
    assert Client().post(f"{ROOT}register/", "{}", "application/json").status_code == 404


# --- installing it ------------------------------------------------------------------------------------------------


def _assert_installed_with_our_extensions(app: App) -> None:
    assert app.is_installed and app.app_url == f"{PUBLIC}{ROOT}console/app/" and app.manifest_url == MANIFEST_URL
    codenames = set(app.permissions.values_list("codename", flat=True))
    assert codenames == {"manage_orders", "manage_users", "manage_plugins"}
    extensions = {extension.mount: extension for extension in AppExtension.objects.filter(app=app)}
    assert set(extensions) == {"navigation_customers", *WIDGETS}
    page = extensions["navigation_customers"]
    assert (page.target, page.url, page.label) == ("app_page", "/", "Fan Conveyor")
    assert list(page.permissions.all()) == []
    for mount, path in WIDGETS.items():
        widget = extensions[mount]
        assert (widget.target, widget.url, widget.http_target_method) == ("widget", f"{PUBLIC}{ROOT}{path}", "POST")
        assert widget.settings == {"widgetTarget": {"method": "POST"}}
    assert set(extensions["customer_details_widgets"].permissions.values_list("codename", flat=True)) == {
        "manage_users"
    }
    assert set(extensions["order_details_widgets"].permissions.values_list("codename", flat=True)) == {"manage_orders"}


def test_install_app_creates_the_app_and_its_extensions_and_registers_its_token(conveyor_enabled, saleor_calls):
    printed = call_command("install_app", MANIFEST_URL, "--activate")

    app = App.objects.get(identifier="conveyor.crm")
    assert app.is_active
    _assert_installed_with_our_extensions(app)
    token = json.loads(printed)["auth_token"]
    registered = DashboardApp.objects.get()
    assert registered.app_id == app.pk and registered.auth_token == token
    assert check_password(token, AppToken.objects.get(app=app).auth_token)  # the token Saleor made, nothing else
    post = next(call for call in saleor_calls if call["method"] == "POST")
    assert post["path"] == f"{ROOT}register/" and post["json"] == {"auth_token": token}
    assert registered.saleor_api_url == post["headers"]["HTTP_SALEOR_API_URL"] and registered.saleor_domain


def test_the_dashboards_installation_task_installs_it_the_same_way(conveyor_enabled, saleor_calls):
    """Dashboard > Apps > install from a manifest URL: `appInstall` queues `install_app_task` with the permissions
    the admin granted."""
    job = AppInstallation.objects.create(app_name="Fan Conveyor", manifest_url=MANIFEST_URL)
    job.permissions.set(get_permissions_from_names(list(dashboard_app.APP_PERMISSIONS)))

    install_app_task(job.pk, activate=True)

    assert not AppInstallation.objects.filter(pk=job.pk).exists()  # a failed job is kept with its message
    app = App.objects.get(identifier="conveyor.crm")
    _assert_installed_with_our_extensions(app)
    assert DashboardApp.objects.get().app_id == app.pk


def test_a_refused_registration_fails_saleors_installation_and_leaves_no_app(
    conveyor_enabled, saleor_calls, monkeypatch
):
    monkeypatch.setattr(dashboard_app, "installed_app_for_token", lambda token: None)
    job = AppInstallation.objects.create(app_name="Fan Conveyor", manifest_url=MANIFEST_URL)
    job.permissions.set(get_permissions_from_names(list(dashboard_app.APP_PERMISSIONS)))

    install_app_task(job.pk, activate=True)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "not a token of the Fan Conveyor app" in job.message
    assert not App.objects.filter(identifier="conveyor.crm").exists() and not DashboardApp.objects.exists()


# --- the register endpoint refuses everything but this Saleor's token for our app ---------------------------------


def _register(body, *, content_type="application/json", method="post"):
    client = Client()
    if method == "get":
        return client.get(f"{ROOT}register/")
    return client.post(f"{ROOT}register/", body, content_type)


@pytest.mark.parametrize(
    "body, status",
    [
        (None, 405),
        ("not json", 400),
        ("[]", 400),
        ("[" * 4000, 400),
        ('{"auth_token": 12345678901234567890}', 400),
        ('{"auth_token": "short"}', 400),
        ('{"auth_token": "abcdefghijklmnopqrstuvwxyz0123\\u0000"}', 400),
        (json.dumps({"auth_token": "a" * 5000}), 413),
        ('{"auth_token": "abcdefghijklmnopqrstuvwxyz0123"}', 403),  # well-formed, but no app has it
    ],
    ids=[
        "get",
        "not-json",
        "not-an-object",
        "deeply-nested",
        "not-a-string",
        "too-short",
        "nul-byte",
        "huge",
        "unknown-token",
    ],
)
def test_the_register_endpoint_refuses_malformed_or_unknown_tokens_and_stores_nothing(conveyor_enabled, body, status):
    response = _register(body, method="get" if body is None else "post")
    assert response.status_code == status and response.json()["error"]["message"]
    assert not DashboardApp.objects.exists()


def test_the_token_of_another_app_or_of_a_removed_installation_of_ours_is_refused(conveyor_enabled):
    other = App.objects.create(name="Other", identifier="someone.else", is_active=True)
    _, other_token = AppToken.objects.create(app=other, name="Default token")
    removed = App.objects.create(name="Fan Conveyor", identifier="conveyor.crm", removed_at=timezone.now())
    _, removed_token = AppToken.objects.create(app=removed, name="Default token")

    for token in (other_token, removed_token, other_token[:-1] + ("A" if other_token[-1] != "A" else "B")):
        response = _register(json.dumps({"auth_token": token}))
        assert response.status_code == 403, token
    assert not DashboardApp.objects.exists()


def test_a_guess_ending_like_our_apps_own_token_is_refused_and_the_kept_token_stays(installed):
    kept = DashboardApp.objects.get()
    guess = ("Z" if kept.auth_token[0] != "Z" else "Y") + kept.auth_token[1:]  # same last four characters
    response = _register(json.dumps({"auth_token": guess}))
    assert response.status_code == 403
    assert DashboardApp.objects.get().auth_token == kept.auth_token


def test_registering_again_keeps_only_the_live_installation(installed):
    first = DashboardApp.objects.get()
    installed.removed_at = timezone.now()  # Dashboard > Apps > delete marks it removed, a task deletes it later
    installed.save(update_fields=["removed_at"])

    call_command("install_app", MANIFEST_URL, "--activate", "--quiet")

    again = App.objects.not_removed().get(identifier="conveyor.crm")
    assert list(DashboardApp.objects.values_list("app_id", flat=True)) == [again.pk] != [first.app_id]


# --- who is asking: the Dashboard's app token ---------------------------------------------------------------------


def test_a_saleor_app_token_of_a_staff_member_opens_the_console(installed, staff_user, permission_manage_orders):
    staff(staff_user, permission_manage_orders)
    token = create_access_token_for_app(installed, staff_user)

    user = get_host().staff_from_app_token(token)
    assert user == staff_user
    page = open_console(token)
    assert page.status_code == 200 and staff_user.email in page.content.decode()
    bearer = Client().get(CONSOLE, HTTP_AUTHORIZATION=f"Bearer {token}")  # the same token as a Bearer header
    assert bearer.status_code == 200 and staff_user.email in bearer.content.decode()
    identity = auth.identity_from_request(bearer.wsgi_request)
    assert identity is not None and identity.permissions == frozenset({MANAGE_ORDERS})


def _another_apps_token(user):
    other = App.objects.create(name="Other", identifier="someone.else", is_active=True, is_installed=True)
    return create_access_token_for_app(other, user)


def _expired(app, user):
    with freeze_time(timezone.now() - timedelta(minutes=6)):  # app tokens last 5 minutes
        return create_access_token_for_app(app, user)


def _unsigned_copy(app, user):
    claims = jwt_decode(create_access_token_for_app(app, user))
    return jwt.encode(claims, "not-saleors-key", algorithm="HS256")


def _without_expiry(app, user):
    claims = jwt_decode(create_access_token_for_app(app, user))
    claims.pop("exp")
    return jwt_encode(claims)  # signed by Saleor's own key, but never expiring


@pytest.mark.parametrize(
    "make_token",
    [
        lambda app, staff, customer: _another_apps_token(staff),
        lambda app, staff, customer: _expired(app, staff),
        lambda app, staff, customer: create_access_token_for_app(app, customer),
        lambda app, staff, customer: create_access_token(staff),  # a sign-in token, not an app's
        lambda app, staff, customer: _unsigned_copy(app, staff),
        lambda app, staff, customer: _without_expiry(app, staff),
        lambda app, staff, customer: create_access_token_for_app(app, staff)[:-4] + "AAAA",
        lambda app, staff, customer: "not a token",
        lambda app, staff, customer: "x" * 20000,
    ],
    ids=["another-app", "expired", "customer", "access-token", "forged", "no-expiry", "tampered", "junk", "huge"],
)
def test_a_token_that_is_not_a_live_staff_token_for_our_app_is_refused(
    installed, staff_user, customer_user, permission_manage_orders, make_token
):
    staff(staff_user, permission_manage_orders)
    token = make_token(installed, staff_user, customer_user)

    assert get_host().staff_from_app_token(token) is None
    claims = jwt.decode(token, options={"verify_signature": False}) if token.count(".") == 2 else {}
    if claims.get("type") != "access":  # a staff member's own sign-in token is theirs to use as a Bearer token
        refused = Client().get(CONSOLE, HTTP_AUTHORIZATION=f"Bearer {token}")
        body = refused.content.decode()
        assert refused.status_code == 401 and 'data-form="sign-in"' in body and staff_user.email not in body


def test_our_token_stops_working_when_the_app_is_deactivated_unregistered_or_the_user_deactivated(
    installed, staff_user, permission_manage_orders
):
    staff(staff_user, permission_manage_orders)
    token = create_access_token_for_app(installed, staff_user)
    host = get_host()
    assert host.staff_from_app_token(token) == staff_user

    App.objects.filter(pk=installed.pk).update(is_active=False)
    assert host.staff_from_app_token(token) is None
    App.objects.filter(pk=installed.pk).update(is_active=True)
    assert host.staff_from_app_token(token) == staff_user

    DashboardApp.objects.all().delete()  # an app of our identifier that never registered with us
    assert host.staff_from_app_token(token) is None
    DashboardApp.objects.create(app_id=installed.pk, auth_token="x" * 30)

    staff_user.is_staff = False
    staff_user.save(update_fields=["is_staff"])
    assert host.staff_from_app_token(token) is None
    staff_user.is_staff, staff_user.is_active = True, False
    staff_user.save(update_fields=["is_staff", "is_active"])
    assert host.staff_from_app_token(token) is None


def test_a_widget_token_allows_only_its_extensions_permissions_even_for_a_user_who_holds_more(
    installed, staff_user, permission_manage_orders, permission_manage_users
):
    staff(staff_user, permission_manage_orders, permission_manage_users)
    widget = AppExtension.objects.get(app=installed, mount="customer_details_widgets")
    token = create_access_token_for_app_extension(widget, widget.permissions.all(), staff_user, installed)

    user = get_host().staff_from_app_token(token)
    session = auth.session_token(user, auth.VIA_DASHBOARD)
    page = Client().get(CONSOLE, {auth.SESSION_PARAM: session})
    assert page.status_code == 200
    identity = auth.identity_from_request(page.wsgi_request)
    assert identity.permissions == frozenset({MANAGE_USERS})  # the session keeps the token's limit

    app_token = create_access_token_for_app(installed, staff_user)  # the app page's token: both
    page = open_console(app_token)
    assert auth.identity_from_request(page.wsgi_request).permissions == frozenset({MANAGE_ORDERS, MANAGE_USERS})


def test_a_permission_taken_away_in_the_dashboard_applies_to_a_running_console_session(
    installed, staff_user, permission_manage_orders
):
    staff(staff_user, permission_manage_orders)
    user = get_host().staff_from_app_token(create_access_token_for_app(installed, staff_user))
    session = auth.session_token(user, auth.VIA_DASHBOARD)
    staff_user.user_permissions.clear()
    page = Client().get(CONSOLE, {auth.SESSION_PARAM: session})
    assert auth.identity_from_request(page.wsgi_request).permissions == frozenset()


@pytest.mark.skipif(
    not _resolves("conveyor-console-overview"),
    reason="the overview page (console/overview/) is built on another branch of issue 15; this runs once merged",
)
def test_the_overview_opens_with_a_saleor_app_token_and_refuses_it_without_manage_orders(
    installed, staff_user, permission_manage_orders, permission_manage_users
):
    overview = f"{CONSOLE}overview/"
    staff(staff_user, permission_manage_orders)
    assert open_console(create_access_token_for_app(installed, staff_user), overview).status_code == 200

    staff_user.user_permissions.set([permission_manage_users])
    staff_user._effective_permissions = None
    refused = open_console(create_access_token_for_app(installed, staff_user), overview)
    assert refused.status_code == 403 and 'data-refused="permission"' in refused.content.decode()

    staff_user.user_permissions.set([permission_manage_orders, permission_manage_users])
    staff_user._effective_permissions = None
    widget = AppExtension.objects.get(app=installed, mount="customer_details_widgets")  # a MANAGE_USERS-only token
    token = create_access_token_for_app_extension(widget, widget.permissions.all(), staff_user, installed)
    assert open_console(token, overview).status_code == 403


# --- who is asking: a staff member's Saleor credentials -----------------------------------------------------------


def _sign_in(client: Client, email: str, password: str):
    page = client.get(f"{CONSOLE}sign-in/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return client.post(f"{CONSOLE}sign-in/", {"csrfmiddlewaretoken": csrf, "email": email, "password": password})


def test_a_staff_member_signs_in_with_their_saleor_email_and_password(conveyor_enabled, staff_user):
    client = Client(enforce_csrf_checks=True)
    signed_in = _sign_in(client, staff_user.email, "password")
    assert signed_in.status_code == 302 and signed_in.cookies[auth.SESSION_COOKIE]["httponly"]
    page = client.get(CONSOLE)
    assert page.status_code == 200 and staff_user.email in page.content.decode()
    staff_user.refresh_from_db()
    assert staff_user.last_login is not None  # as tokenCreate records it


@pytest.mark.parametrize("who", ["wrong-password", "customer", "inactive", "customers-only-mode", "disabled-mode"])
def test_a_sign_in_saleor_would_not_give_staff_access_is_refused(conveyor_enabled, staff_user, customer_user, who):
    email, password = staff_user.email, "password"
    if who == "wrong-password":
        password = "wrong"
    elif who == "customer":
        email = customer_user.email
    elif who == "inactive":
        staff_user.is_active = False
        staff_user.save(update_fields=["is_active"])
    else:
        site_settings = Site.objects.get_current().settings
        mode = PasswordLoginMode.CUSTOMERS_ONLY if who == "customers-only-mode" else PasswordLoginMode.DISABLED
        site_settings.password_login_mode = mode
        site_settings.save(update_fields=["password_login_mode"])
    client = Client(enforce_csrf_checks=True)
    refused = _sign_in(client, email, password)
    assert refused.status_code == 401 and auth.SESSION_COOKIE not in refused.cookies
    assert client.get(CONSOLE).status_code == 401


def test_repeated_wrong_passwords_are_throttled_by_saleors_own_throttle(conveyor_enabled, staff_user):
    client = Client(enforce_csrf_checks=True)
    with freeze_time():  # the block lasts a second: stop the clock so the second try is surely inside it
        assert _sign_in(client, staff_user.email, "wrong").status_code == 401
        # Saleor now blocks this address for a moment: even the right password waits (as with its tokenCreate).
        assert _sign_in(client, staff_user.email, "password").status_code == 401
    cache.clear()
    assert _sign_in(client, staff_user.email, "password").status_code == 302


def test_inside_saleor_a_window_not_kept_is_handed_to_saleors_worker_and_shown_once_kept(
    installed, staff_user, permission_manage_orders, settings, monkeypatch
):
    from saleor.celeryconf import app as saleors_celery

    from saleor_conveyor import delivery, tasks

    # Saleor with CACHE_URL set: a Redis its web processes and workers share (this test's own database).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/12"}
    }
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": True}
    cache.clear()
    asked = []
    task = saleors_celery.tasks[delivery.COMPUTE_CONSOLE_FIGURES]
    monkeypatch.setattr(task, "apply_async", lambda arguments, **options: asked.append(tuple(arguments)))
    staff(staff_user, permission_manage_orders)
    user = get_host().staff_from_app_token(create_access_token_for_app(installed, staff_user))
    query = {auth.SESSION_PARAM: auth.session_token(user, auth.VIA_DASHBOARD), "since": "2026-01-01"}
    try:
        waiting = Client().get(f"{CONSOLE}overview/", query).content.decode()
        assert "data-computing" in waiting and 'http-equiv="refresh"' in waiting and len(asked) == 1
        assert asked[0][:3] == ("2026-01-01", "", "")
        tasks.compute_console_figures(*asked[0])  # what Saleor's worker runs
        shown = Client().get(f"{CONSOLE}overview/", query).content.decode()
        assert "data-computing" not in shown and 'data-figure="nps-score"' in shown and len(asked) == 1
    finally:
        cache.clear()
