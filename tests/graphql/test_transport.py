"""The endpoint itself: POST JSON only, bounded size and depth, clean errors, nothing written when refused."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from saleor_conveyor.graphql import views

from .helpers import snapshot

pytestmark = pytest.mark.django_db

INQUIRY = 'submitInquiry(email: "a@example.com", topic: OTHER, message: "Hello") { errors { code } }'


def post(body: bytes | str, content_type: str = "application/json") -> tuple[int, dict]:
    response = Client().post("/graphql/", body, content_type=content_type)
    return response.status_code, json.loads(response.content)


def deep_introspection(levels: int) -> str:
    """A valid query `levels` fields deep: __schema > types > fields > type > ofType > ofType ..."""
    inner = "name"
    for _ in range(levels - 5):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


def test_get_is_refused_outside_debug(settings):
    settings.DEBUG = False
    response = Client().get("/graphql/", {"query": "{ myFanProfile { stage } }"})
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "INVALID"


def test_get_shows_a_query_page_in_debug(settings):
    settings.DEBUG = True
    response = Client().get("/graphql/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for part in ('<textarea id="query"', '<textarea id="variables"', '<button id="run"', '<pre id="answer"'):
        assert part in page
    assert "fetch(window.location.pathname" in page  # it posts to this same endpoint


def test_the_query_page_loads_nothing_from_elsewhere(settings):
    """House rule: nothing from a CDN at run time, no third-party code copied in."""
    settings.DEBUG = True
    page = Client().get("/graphql/").content.decode()
    assert not re.search(r"""(src|href)\s*=|https?://|//unpkg|<link|import\s*\(""", page, re.I)


def test_other_methods_are_refused():
    assert Client().put("/graphql/", "{}", content_type="application/json").status_code == 405


def test_a_2_mb_body_is_refused_and_nothing_runs():
    before = snapshot()
    padding = " " * (2 * 1024 * 1024)
    status, body = post(json.dumps({"query": f"mutation {{ {INQUIRY} }}{padding}"}))
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "INVALID" and "larger than" in body["errors"][0]["message"]
    assert snapshot() == before


def test_a_body_just_under_the_limit_is_served():
    padding = " " * (views.MAX_BODY_BYTES - 200)
    status, body = post(json.dumps({"query": f"mutation {{ {INQUIRY} }}{padding}"}))
    assert status == 200 and body["data"]["submitInquiry"]["errors"] == []


def test_a_body_that_is_not_json_is_a_clean_error():
    status, body = post(b"{not json")
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "INVALID"


def test_a_form_post_is_refused_as_unsupported():
    status, body = post("query=%7B%7D", content_type="application/x-www-form-urlencoded")
    assert status == 415 and "JSON" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"query": 42}, "query"),
        ({"query": "{ __typename }", "variables": [1]}, "variables"),
        ({"query": "{ __typename }", "operationName": 7}, "operationName"),
    ],
)
def test_a_badly_shaped_request_names_the_bad_member(payload, field):
    status, body = post(json.dumps(payload))
    assert status == 400 and body["errors"][0]["extensions"]["field"] == field


@pytest.mark.parametrize("query", ["{ myFanProfile { stage ", "mutation { submitNps(score: ) { errors } }", "}}}"])
def test_malformed_graphql_is_a_clean_error_without_a_trace(query):
    before = snapshot()
    status, body = post(json.dumps({"query": query}))
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    assert "Traceback" not in json.dumps(body) and "File " not in json.dumps(body)
    assert snapshot() == before


def test_an_unknown_field_is_a_validation_error():
    status, body = post(json.dumps({"query": "{ myFanProfile { password } }"}))
    assert status == 400 and 'Cannot query field "password"' in body["errors"][0]["message"]


def test_a_20_level_deep_query_is_refused_before_anything_runs():
    before = snapshot()
    document = f"mutation Write {{ {INQUIRY} }}\nquery Deep {deep_introspection(20)}"
    status, body = post(json.dumps({"query": document, "operationName": "Write"}))
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    assert "20 levels deep" in body["errors"][0]["message"]
    assert snapshot() == before


def test_depth_counts_through_fragments():
    nested = "name"
    for _ in range(15):
        nested = f"ofType {{ {nested} }}"
    query = (
        "query { ...Root } fragment Root on Query { __schema { types { ...Fields } } }"
        f" fragment Fields on __Type {{ fields {{ type {{ {nested} }} }} }}"
    )
    status, body = post(json.dumps({"query": query}))
    assert status == 400 and "20 levels deep" in body["errors"][0]["message"]


def test_the_standard_introspection_query_is_within_the_limits():
    from graphql.utils.introspection_query import introspection_query

    status, body = post(json.dumps({"query": introspection_query}))
    assert status == 200 and body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_an_alias_flood_is_refused():
    fields = " ".join(f"a{n}: __typename" for n in range(views.MAX_FIELDS + 1))
    status, body = post(json.dumps({"query": f"{{ {fields} }}"}))
    assert status == 400 and "fields" in body["errors"][0]["message"]


def test_two_operations_need_an_operation_name():
    status, body = post(json.dumps({"query": "query A { __typename } query B { __typename }"}))
    assert status == 400 and "operationName" in body["errors"][0]["message"]


def test_a_bug_in_a_resolver_is_reported_without_its_details(monkeypatch, api, staff):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("saleor_conveyor.graphql.schema.find_profile", broken)
    answer = api('{ fanProfile(email: "x@example.com") { stage } }', user=staff)
    assert answer.status == 200 and answer.codes() == ["INTERNAL_ERROR"]
    assert "secret internals" not in json.dumps(answer.body)
