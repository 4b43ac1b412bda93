"""Saleor's writer and replica: the conveyor's writes happen inside `allow_writer()`, staff reads use the replica.

Saleor's test settings switch on `restrict_writer_middleware`: a statement on the writer outside
`allow_writer()` raises. Saleor's plugin views (`handle_global_plugin_webhook`) open `allow_writer()`
for the whole plugin request, so through Saleor's own route nothing is flagged; the conveyor must
not lean on that (the plugin's webhook is called without it by anything else that routes to it),
so these tests also call the plugin as Saleor's manager does, without the view's decorator.

In the tier the replica alias is Saleor's test stand-in (`prepare_test_db_connections`): the
writer's connection under the alias "replica", so a statement's alias says which one it used.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client, RequestFactory
from saleor.core.db.connection import UnsafeWriterAccessError, log_writer_usage, restrict_writer
from saleor.core.jwt import create_access_token
from saleor.plugins.manager import get_plugins_manager

from saleor_conveyor.hosts import get_host
from saleor_conveyor.hosts.saleor import PLUGIN_ID
from saleor_conveyor.models import FanProfile, Inquiry, Purchase, ReturnLine, ReturnRequest

URL = "/plugins/global/conveyor.crm/graphql/"
WRITER = settings.DATABASE_CONNECTION_DEFAULT_NAME
REPLICA = settings.DATABASE_CONNECTION_REPLICA_NAME
OURS = "saleor_conveyor_"  # the conveyor's tables

INQUIRY = (
    'mutation { submitInquiry(email: "fan@example.com", topic: OTHER, message: "Hello") '
    "{ inquiry { id } errors { code } } }"
)
STATS = "{ conveyorStats { nps { score responses } stages { stage count } repeatRate monthly { month orders } } }"
PROFILE = 'query { fanProfile(email: "test@example.com") { email purchaseCount touchpoints { rule status } } }'
RETURNS = "{ returnRequests { totalCount edges { node { id orderNumber customerEmail lines { quantity } } } } }"
INQUIRIES = "{ inquiries { totalCount edges { node { id email } } } }"


@contextmanager
def statements():
    """Every statement run on the writer's connection (the replica stand-in shares it): (alias, writer open, sql)."""
    seen: list[tuple[str, bool, str]] = []

    def record(execute, sql, params, many, context):
        allowed = bool(getattr(connections[WRITER], "_allow_writer", False))
        seen.append((context["connection"].alias, allowed, sql))
        return execute(sql, params, many, context)

    with connections[WRITER].execute_wrapper(record):
        yield seen


@contextmanager
def writer_restricted(method=restrict_writer):
    """What `restrict_writer_middleware` (or `log_writer_usage_middleware`) wraps a request in."""
    with connections[WRITER].execute_wrapper(method):
        yield


def request_for(query: str, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"JWT {token}"} if token else {}
    return RequestFactory().post(URL, data=json.dumps({"query": query}), content_type="application/json", **headers)


def through_the_manager(query: str, token: str | None = None) -> dict:
    """The plugin's webhook as Saleor's manager calls it, without the view's `allow_writer()`."""
    request = request_for(query, token)
    manager = get_plugins_manager(allow_replica=False)
    manager.get_plugin(PLUGIN_ID)  # the plugin loaded before the writer is restricted, as the view does it
    with writer_restricted():
        response = manager.webhook(request, PLUGIN_ID, channel_slug=None)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def on_our_tables(seen: list[tuple[str, bool, str]]) -> list[tuple[str, bool, str]]:
    return [entry for entry in seen if OURS in entry[2]]


def graphql(query: str, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"JWT {token}"} if token else {}
    return Client().post(URL, data=json.dumps({"query": query}), content_type="application/json", **headers)


@pytest.fixture
def staff_token(staff_user, permission_manage_users, permission_manage_orders):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_orders)
    return create_access_token(staff_user)


@pytest.fixture
def shop_history(conveyor_enabled, order_with_lines, place_order):
    """A customer with an order, its touchpoints, a return request with a line and an inquiry."""
    place_order(order_with_lines)
    profile = FanProfile.objects.get(email="test@example.com")
    purchase = Purchase.objects.get(profile=profile)
    request = ReturnRequest.objects.create(profile=profile, purchase=purchase, reason="OTHER")
    ReturnLine.objects.create(request=request, order_line_id="1", quantity=1, product_name="Shirt")
    Inquiry.objects.create(email="fan@example.com", topic="OTHER", message="Hi")
    return profile


# --- mutations write inside allow_writer() ---------------------------------------------------


def test_a_mutation_writes_inside_allow_writer_without_saleors_view(conveyor_enabled):
    with statements() as seen:
        body = through_the_manager(INQUIRY)

    assert body["data"]["submitInquiry"]["errors"] == [], body
    assert body["data"]["submitInquiry"]["inquiry"]["id"]
    assert Inquiry.objects.filter(email="fan@example.com").count() == 1
    inserts = [entry for entry in on_our_tables(seen) if entry[2].lstrip().upper().startswith("INSERT")]
    assert inserts and all(alias == WRITER and allowed for alias, allowed, _ in inserts)


def test_a_mutation_is_not_logged_as_unsafe_writer_access(conveyor_enabled, caplog):
    request = request_for(INQUIRY)
    manager = get_plugins_manager(allow_replica=False)
    manager.get_plugin(PLUGIN_ID)
    with caplog.at_level("WARNING", logger="saleor.core.db.connection"), writer_restricted(log_writer_usage):
        response = manager.webhook(request, PLUGIN_ID, channel_slug=None)

    assert response.status_code == 200
    assert json.loads(response.content)["data"]["submitInquiry"]["errors"] == []
    assert not [record for record in caplog.records if "Unsafe access to the writer DB" in record.getMessage()]


def test_a_refused_mutation_still_writes_nothing_under_the_restriction(conveyor_enabled):
    refused = 'mutation { submitInquiry(email: "nope", topic: OTHER, message: "x") { errors { code } } }'
    body = through_the_manager(refused)

    assert body["data"]["submitInquiry"]["errors"] == [{"code": "INVALID"}]
    assert not Inquiry.objects.exists()


def test_a_mutation_marks_the_request_as_saleors_mutations_do(conveyor_enabled, customer_user):
    """Saleor's `patch_executor()` opens the writer while a mutation's fields complete, for a context
    whose `allow_replica` the mutation turned off; Saleor's own loaders then read the writer too
    (the caller's account behind the token). The lean executor does not go through that patched
    function, so `run()` does both for a mutation."""
    from graphql.execution import executor
    from saleor.graphql.graphql_core import _patched_complete_value_catching_error

    assert executor.complete_value_catching_error is _patched_complete_value_catching_error  # Saleor patched it
    request = request_for(INQUIRY, create_access_token(customer_user))
    manager = get_plugins_manager(allow_replica=False)
    manager.get_plugin(PLUGIN_ID)
    with statements() as seen, writer_restricted():
        response = manager.webhook(request, PLUGIN_ID, channel_slug=None)

    assert json.loads(response.content)["data"]["submitInquiry"]["errors"] == []
    user_reads = [entry for entry in seen if '"account_user"' in entry[2]]
    assert user_reads and all(alias == WRITER and allowed for alias, allowed, _ in user_reads), user_reads
    assert request.allow_replica is False
    assert Inquiry.objects.count() == 1


def test_one_click_unsubscribe_writes_inside_allow_writer_without_saleors_view(conveyor_enabled, shop_history):
    from saleor_conveyor import tokens

    token = tokens.make_token(shop_history.id, tokens.UNSUBSCRIBE)
    request = RequestFactory().post(
        f"/plugins/global/conveyor.crm/unsubscribe/?token={token}", {"List-Unsubscribe": "One-Click"}
    )
    manager = get_plugins_manager(allow_replica=False)
    manager.get_plugin(PLUGIN_ID)
    with writer_restricted():
        response = manager.webhook(request, PLUGIN_ID, channel_slug=None)

    assert response.status_code == 200
    shop_history.refresh_from_db()
    assert shop_history.unsubscribed_at is not None


# --- staff reads use the replica ---------------------------------------------------------------


STAFF_READS = [(STATS, "conveyorStats"), (PROFILE, "fanProfile"), (RETURNS, "returnRequests"), (INQUIRIES, "inquiries")]
STAFF_IDS = [field for _, field in STAFF_READS]


@pytest.mark.parametrize(("query", "field"), STAFF_READS, ids=STAFF_IDS)
def test_staff_reads_use_the_replica(shop_history, staff_token, query, field):
    with statements() as seen:
        response = graphql(query, staff_token)

    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    assert body["data"][field]
    ours = on_our_tables(seen)
    assert ours and {alias for alias, _, _ in ours} == {REPLICA}, ours


def test_staff_reads_answer_what_the_writer_holds(shop_history, staff_token):
    profile = graphql(PROFILE, staff_token).json()["data"]["fanProfile"]
    assert profile["email"] == "test@example.com" and profile["purchaseCount"] == 1 and profile["touchpoints"]

    returns = graphql(RETURNS, staff_token).json()["data"]["returnRequests"]
    assert returns["totalCount"] == 1
    node = returns["edges"][0]["node"]
    assert node["customerEmail"] == "test@example.com" and node["lines"] == [{"quantity": 1}]

    inquiries = graphql(INQUIRIES, staff_token).json()["data"]["inquiries"]
    assert inquiries["totalCount"] == 1 and inquiries["edges"][0]["node"]["email"] == "fan@example.com"

    stats = graphql(STATS, staff_token).json()["data"]["conveyorStats"]
    assert {row["stage"]: row["count"] for row in stats["stages"] if row["count"]} == {"FIRST_TIME": 1}


@pytest.mark.parametrize(("query", "field"), STAFF_READS, ids=STAFF_IDS)
def test_staff_reads_never_touch_the_writer_without_saleors_view(shop_history, staff_token, query, field):
    body = through_the_manager(query, staff_token)

    assert "errors" not in body and body["data"][field], body


def test_a_configuration_saved_elsewhere_is_read_from_the_writer_inside_allow_writer(
    shop_history, staff_token, monkeypatch
):
    """Another process saved the plugin's settings: this one re-reads them, fresh (not a lagging replica's copy)."""
    from django.core.cache import cache

    from saleor_conveyor.hosts import saleor as saleor_host

    CONFIG_VERSION_KEY = saleor_host.CONFIG_VERSION_KEY
    monkeypatch.setattr(saleor_host, "VERSION_CHECK_SECONDS", 0.0)  # ask the shared cache on every use
    cache.set(CONFIG_VERSION_KEY, "saved-by-another-process", None)
    try:
        with statements() as seen:
            body = through_the_manager(STATS, staff_token)
    finally:
        cache.delete(CONFIG_VERSION_KEY)

    assert "errors" not in body and body["data"]["conveyorStats"], body
    config_reads = [entry for entry in seen if '"plugins_pluginconfiguration"."identifier" =' in entry[2]]
    assert config_reads and all(alias == WRITER and allowed for alias, allowed, _ in config_reads), config_reads


def test_a_customers_own_reads_stay_on_the_writer_explicitly(shop_history, customer_user):
    """Right after their own answer a customer must see it: their reads are the writer's, inside allow_writer()."""
    token = create_access_token(customer_user)
    query = "{ myFanProfile { email touchpoints { rule } } myReturnRequests { id lines { quantity } } }"
    with statements() as seen:
        body = through_the_manager(query, token)

    assert "errors" not in body, body
    assert body["data"]["myFanProfile"]["email"] == "test@example.com"
    assert body["data"]["myReturnRequests"][0]["lines"] == [{"quantity": 1}]
    ours = on_our_tables(seen)
    assert ours and all(alias == WRITER and allowed for alias, allowed, _ in ours)


def test_the_host_names_saleors_replica():
    assert get_host().replica_alias() == REPLICA


def test_without_a_replica_configured_the_host_reads_the_writer(settings):
    settings.DATABASE_CONNECTION_REPLICA_NAME = "no-such-alias"

    assert get_host().replica_alias() == WRITER


def test_the_restriction_this_file_relies_on_is_real(db):
    """The stand-in for Saleor's middleware refuses a writer statement outside allow_writer()."""
    with writer_restricted(), pytest.raises(UnsafeWriterAccessError):
        Inquiry.objects.count()
