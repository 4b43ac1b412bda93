"""The console in Saleor's Dashboard: the entry page, the token-for-session trade, and the three POST-mode widgets."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from saleor_conveyor import conveyor
from saleor_conveyor.console import auth, dashboard
from saleor_conveyor.hosts import django as sandbox_host
from saleor_conveyor.hosts import get_config
from saleor_conveyor.hosts.django import make_access_token, make_app_token
from saleor_conveyor.models import FanProfile, NpsResponse, Purchase, ReturnRequest

from ..factories import gid
from ..graphql.helpers import snapshot
from .shop import customer_with_history, staff_member

pytestmark = pytest.mark.django_db
SESSION = "/console/session/"


def expired_app_token(user) -> str:
    """A sandbox app token signed six minutes ago (Saleor's last five)."""
    signer = signing.TimestampSigner(salt=sandbox_host._APP_SALT)
    signer.timestamp = lambda: signing.b62_encode(int(time.time()) - 360)  # type: ignore[method-assign]
    return signer.sign_object({"u": user.pk, "app": sandbox_host.SANDBOX_APP})


def trade(token, *, as_form: bool = False):
    if as_form:
        return Client().post(SESSION, {"token": token})
    return Client().post(SESSION, json.dumps({"token": token}), content_type="application/json")


def test_the_entry_page_shows_nothing_of_the_shop_and_names_the_dashboards_origin():
    customer_with_history()
    page = Client().get("/console/app/?domain=shop.example.com&saleorApiUrl=https://shop.example.com/graphql/&id=QXBw")
    body = page.content.decode()
    assert page.status_code == 200 and "hanako" not in body
    assert '["https://shop.example.com"]' in body and 'id="app-waiting"' in body
    assert "nonce-" in page["Content-Security-Policy"] and "frame-ancestors *" in page["Content-Security-Policy"]


@pytest.mark.parametrize(
    "domain, origins",
    [
        ("shop.example.com", ["https://shop.example.com"]),
        ("localhost:8000", ["https://localhost:8000", "http://localhost:8000"]),
        ('evil.com/"><script>', []),
        ("", []),
    ],
    ids=["https", "loopback", "not-a-host", "none"],
)
def test_the_handshake_is_taken_only_from_the_domains_origin(domain, origins):
    assert dashboard.dashboard_origins(domain) == origins


def test_a_separately_served_dashboard_is_named_in_settings(settings):
    settings.CONVEYOR_DASHBOARD_ORIGINS = ["http://localhost:9000"]
    assert dashboard.dashboard_origins("localhost:8000") == [
        "http://localhost:9000",
        "https://localhost:8000",
        "http://localhost:8000",
    ]


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_a_staff_members_app_token_is_traded_for_a_console_session_that_opens_the_console(as_form):
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    answer = trade(make_app_token(staff), as_form=as_form)
    assert answer.status_code == 200 and auth.SESSION_COOKIE not in answer.cookies
    body = answer.json()
    # The first page this staff member may see: the overview needs MANAGE_ORDERS, the customers MANAGE_USERS.
    assert body["next"].startswith("/console/customers/?s=")
    opened = Client().get(body["next"])
    assert opened.status_code == 200 and opened.wsgi_request.conveyor_staff.via == auth.VIA_DASHBOARD
    assert auth.identity_from_request(opened.wsgi_request).user == staff


@pytest.mark.parametrize(
    "make_token",
    [
        lambda staff, customer: "",
        lambda staff, customer: expired_app_token(staff),
        lambda staff, customer: make_app_token(staff, app="another.app"),
        lambda staff, customer: make_app_token(customer),
        lambda staff, customer: make_app_token(staff)[:-4] + "AAAA",
        lambda staff, customer: "x" * 9000,
        lambda staff, customer: make_app_token(staff) + "\x00",
    ],
    ids=["none", "expired", "another-app", "customer", "forged", "huge", "nul"],
)
def test_a_bad_token_gets_a_typed_refusal_and_no_session(make_token):
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    customer = customer_with_history()
    before = snapshot()
    answer = trade(make_token(staff, customer))
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "INVALID_TOKEN"
    assert "session" not in answer.json() and not answer.cookies
    assert snapshot() == before


def test_a_staff_member_without_console_permissions_is_told_so():
    answer = trade(make_app_token(staff_member("clerk@example.com")))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "PERMISSION_DENIED"


def test_only_post_and_unreadable_bodies_are_refused():
    assert Client().get(SESSION).status_code == 405
    assert Client().post(SESSION, b"{not json", content_type="application/json").status_code == 401
    assert Client().post(SESSION, b"[1]", content_type="application/json").status_code == 401


# --- widgets ----------------------------------------------------------------------------------


def widget(path: str, token: str, **query: str):
    fields = {"accessToken": token, "appId": "QXBwOjE=", "saleorApiUrl": "https://shop.example.com/graphql/"}
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return Client().post(f"/console/widgets/{path}/?{suffix}", fields)


def test_the_customer_widget_shows_their_stage_nps_cell_ltv_next_touchpoints_and_timeline_link():
    hanako = customer_with_history()
    profile = FanProfile.objects.get(user=hanako)
    token = make_app_token(staff_member("staff@example.com", "MANAGE_USERS"))
    for customer_id in (gid("User", hanako.pk), str(hanako.pk)):
        response = widget("customer", token, customerId=customer_id, lang="en")
        page = response.content.decode()
        assert response.status_code == 200 and 'data-customer="hanako@example.com"' in page
        assert "Second-time" in page and "9 (Promoter)" in page and "MID/MID (Growing)" in page and "¥17,000" in page
        upcoming = profile.touchpoints.filter(status="SCHEDULED").order_by("due_at", "id")[:3]
        assert [tp.rule for tp in upcoming] == re.findall(r"</time> (\w+) <", page.split("Next touchpoints")[1])
        assert f"/console/customers/{profile.pk}/?s=" in page
        assert "X-Frame-Options" not in response


def test_the_order_widget_shows_the_orders_touchpoints_answer_and_returns():
    customer_with_history()
    purchase = Purchase.objects.filter(return_requests__isnull=False).get()
    token = make_app_token(staff_member("staff@example.com", "MANAGE_ORDERS"))
    page = widget("order", token, orderId=gid("Order", purchase.order_id), lang="en").content.decode()
    assert f'data-order="{purchase.order_number}"' in page and "Lovely tea" in page
    assert "DAMAGED" in page and "REQUESTED" in page
    other = Purchase.objects.exclude(pk=purchase.pk).get()
    page = widget("order", token, orderId=other.order_id, lang="en").content.decode()
    assert "thank_you_card" in page and "Lovely tea" not in page and "No return requests." in page


def test_the_home_widget_counts_this_month_and_open_work_as_the_api_does():
    customer_with_history()
    staff = staff_member("staff@example.com", "MANAGE_ORDERS", "MANAGE_USERS")
    page = widget("home", make_app_token(staff), lang="en").content.decode()
    tasks = conveyor.open_staff_tasks().count()
    assert tasks == 2 and f'data-figure="staff-tasks">{tasks}<' in page and 'data-figure="inquiries">1<' in page
    assert f'data-figure="returns">{ReturnRequest.objects.count()}<' in page
    answer_now = FanProfile.objects.get(email="hanako@example.com")
    NpsResponse.objects.create(profile=answer_now, score=3, created_at=timezone.now())
    NpsResponse.objects.create(profile=answer_now, score=10, created_at=timezone.now(), occasion="again")
    first = timezone.localtime(timezone.now(), get_config().zone).date().replace(day=1)
    query = (
        f'{{ month: conveyorStats(since: "{first}") {{ nps {{ score }} }} all: conveyorStats {{ improvingStreak }} }}'
    )
    stats = json.loads(
        Client()
        .post(
            "/graphql/",
            json.dumps({"query": query}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {make_access_token(staff)}",
        )
        .content
    )["data"]
    page = widget("home", make_app_token(staff), lang="en").content.decode()
    assert f'data-figure="nps">{stats["month"]["nps"]["score"]}<' in page and stats["month"]["nps"]["score"] == 0
    assert f'data-figure="streak">{stats["all"]["improvingStreak"]}<' in page
    orders_only = widget("home", make_app_token(staff_member("o@example.com", "MANAGE_ORDERS"))).content.decode()
    assert 'data-figure="inquiries"' not in orders_only  # inquiries are MANAGE_USERS'


@pytest.mark.parametrize("path, query", [("customer", "customerId"), ("order", "orderId"), ("home", "x")])
def test_widgets_refuse_a_missing_expired_foreign_or_customers_token_and_show_no_data(path, query):
    hanako = customer_with_history()
    staff = staff_member("staff@example.com", "MANAGE_USERS", "MANAGE_ORDERS")
    target = {query: gid("User", hanako.pk) if path == "customer" else Purchase.objects.first().order_id}
    before = snapshot()
    for token in ("", expired_app_token(staff), make_app_token(staff, app="another.app"), make_app_token(hanako)):
        response = widget(path, token, **target)
        page = response.content.decode()
        assert response.status_code == 401 and 'data-refused="token"' in page
        assert "hanako" not in page and "¥" not in page and "data-figure" not in page
    assert snapshot() == before


def test_widgets_need_their_permission():
    hanako = customer_with_history()
    orders_only = make_app_token(staff_member("orders@example.com", "MANAGE_ORDERS"))
    users_only = make_app_token(staff_member("users@example.com", "MANAGE_USERS"))
    refused = widget("customer", orders_only, customerId=gid("User", hanako.pk))
    assert refused.status_code == 403 and "hanako" not in refused.content.decode()
    assert widget("home", users_only).status_code == 403
    assert widget("order", users_only, orderId=Purchase.objects.first().order_id).status_code == 403


def test_widgets_read_ids_carefully():
    hanako = customer_with_history()
    token = make_app_token(staff_member("staff@example.com", "MANAGE_USERS", "MANAGE_ORDERS"))
    assert widget("customer", token, customerId=gid("Order", hanako.pk)).status_code == 400
    assert widget("customer", token, customerId="9" * 40).status_code == 400
    assert widget("order", token, orderId="a%20b").status_code == 400
    unknown = widget("customer", token, customerId=gid("User", 987654)).content.decode()
    assert 'data-empty="yes"' in unknown


def test_a_widget_opened_by_get_needs_a_console_identity():
    hanako = customer_with_history()
    assert Client().get(f"/console/widgets/customer/?customerId={hanako.pk}").status_code == 401
    staff = staff_member("staff@example.com", "MANAGE_USERS")
    session = auth.session_token(staff, auth.VIA_DASHBOARD)
    assert Client().get(f"/console/widgets/customer/?customerId={hanako.pk}&s={session}").status_code == 200


def test_the_handshake_opens_the_overview_for_a_staff_member_who_may_see_it():
    staff = staff_member("orders@example.com", "MANAGE_ORDERS", "MANAGE_USERS")
    body = trade(make_app_token(staff), as_form=False).json()
    assert body["next"].startswith("/console/overview/?s=")
    assert Client().get(body["next"]).status_code == 200
