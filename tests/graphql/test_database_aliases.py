"""The host's writer and replica as the API uses them: mutations inside `writer()`, staff reads on `replica_alias()`.

The plain Django host has no replica and nothing to open (Saleor's host: tests/saleor/test_writer_replica.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DEFAULT_DB_ALIAS, connection

from saleor_conveyor.hosts import get_host, reset_host
from saleor_conveyor.hosts.django import DjangoHost, make_access_token
from saleor_conveyor.models import Inquiry

from ..factories import shop_order

pytestmark = pytest.mark.django_db

INQUIRY = 'mutation { submitInquiry(email: "a@example.com", topic: OTHER, message: "Hi") { errors { code } } }'
INQUIRIES = "{ inquiries { totalCount edges { node { email } } } }"
STATS = "{ conveyorStats { nps { responses } stages { stage count } } }"
PROFILE = 'query { fanProfile(email: "hanako@example.com") { email touchpoints { rule } } }'
MINE = "{ myFanProfile { email touchpoints { rule } } myReturnRequests { id } }"


def bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {make_access_token(user)}"}


class RecordingHost(DjangoHost):
    """The plain host, noting while its writer is open and how often staff reads ask for the replica."""

    def __init__(self) -> None:
        super().__init__()
        self.open = 0
        self.asked = 0

    @contextmanager
    def writer(self) -> Iterator[None]:
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1

    def replica_alias(self) -> str:
        self.asked += 1
        return super().replica_alias()


@pytest.fixture
def host(settings):
    settings.CONVEYOR_HOST = f"{__name__}.RecordingHost"
    reset_host()
    yield get_host()
    reset_host()


@contextmanager
def our_statements(host: RecordingHost) -> Iterator[list[tuple[bool, str]]]:
    """The statements on the conveyor's tables, each with whether the host's writer was open."""
    seen: list[tuple[bool, str]] = []

    def record(execute, sql, params, many, context):
        if "saleor_conveyor_" in sql:
            seen.append((host.open > 0, sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def test_the_plain_host_has_no_replica_and_its_writer_opens_nothing():
    host = DjangoHost()

    assert host.replica_alias() == DEFAULT_DB_ALIAS
    with host.writer() as inside, host.writer() as nested:
        assert inside is None and nested is None
        assert Inquiry.objects.count() == 0  # the same database, usable inside


def test_a_mutation_runs_inside_the_hosts_writer(api, host):
    with our_statements(host) as seen:
        answer = api(INQUIRY)

    assert answer.payload("submitInquiry")["errors"] == []
    assert Inquiry.objects.count() == 1
    assert seen and all(inside for inside, _ in seen), seen
    assert host.open == 0  # closed again after the request


@pytest.mark.parametrize(("chosen", "opened"), [("Write", True), ("Read", False)])
def test_the_operation_chosen_by_name_decides_whether_the_writer_opens(api, host, staff, chosen, opened):
    document = f"query Read {INQUIRIES} mutation Write {INQUIRY.removeprefix('mutation ')}"
    body = {"query": document, "operationName": chosen}
    with our_statements(host) as seen:
        response = api.client.post("/graphql/", json.dumps(body), content_type="application/json", **bearer(staff))

    assert response.status_code == 200 and "errors" not in response.json(), response.json()
    assert seen and {inside for inside, _ in seen} == {opened}, seen
    assert Inquiry.objects.count() == (1 if opened else 0)


def test_a_refused_mutation_closes_the_writer_and_writes_nothing(api, host):
    answer = api('mutation { submitInquiry(email: "nope", topic: OTHER, message: "x") { errors { code } } }')

    assert answer.payload("submitInquiry")["errors"] == [{"code": "INVALID"}]
    assert not Inquiry.objects.exists() and host.open == 0


@pytest.mark.parametrize("query", [INQUIRIES, STATS, PROFILE], ids=["inquiries", "conveyorStats", "fanProfile"])
def test_staff_reads_ask_the_host_for_its_replica_and_leave_the_writer_closed(api, host, staff, hanako, query):
    shop_order(hanako)
    with our_statements(host) as seen:
        answer = api(query, user=staff)

    assert answer.status == 200 and not answer.errors, answer.body
    assert host.asked >= 1
    assert seen and not any(inside for inside, _ in seen), seen


def test_a_customers_own_reads_are_on_the_writer(api, host, hanako):
    shop_order(hanako)
    with our_statements(host) as seen:
        answer = api(MINE, user=hanako)

    assert answer.status == 200 and not answer.errors, answer.body
    assert answer.data["myFanProfile"]["touchpoints"]
    assert seen and all(inside for inside, _ in seen), seen
    assert host.asked == 0
