"""Requests built to hurt: floods, cycles, deep nesting, huge documents. Each is a 400 with a typed error, cheaply."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.test import Client
from graphql.utils.introspection_query import introspection_query

from saleor_conveyor import models
from saleor_conveyor.graphql import documents, views
from saleor_conveyor.hosts.django import make_access_token

from .helpers import snapshot

pytestmark = pytest.mark.django_db


def post(body: bytes | str, user=None, **extra) -> tuple[int, dict]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {make_access_token(user)}"} if user is not None else {}
    response = Client().post("/graphql/", body, content_type="application/json", **headers, **extra)
    return response.status_code, json.loads(response.content)


def ask(query: str, variables: dict | None = None, user=None, **payload) -> tuple[int, dict]:
    return post(json.dumps({"query": query, "variables": variables or {}, **payload}), user)


def refused(status: int, body: dict, *words: str, code: str = "INVALID") -> bool:
    """A 400 whose first error has `code` and whose message mentions every word."""
    error = body["errors"][0]
    return status == 400 and error["extensions"]["code"] == code and all(w in error["message"] for w in words)


def nps_aliases(count: int, score: int = 0) -> str:
    return " ".join(f"a{n}: submitNps(score: {score}) {{ errors {{ code }} }}" for n in range(count))


# --- 1. one request, many mutations ----------------------------------------------------------


def test_300_aliased_nps_answers_in_one_request_are_refused_and_nothing_is_written(hanako):
    before = snapshot()
    status, body = ask(f"mutation {{ {nps_aliases(300)} }}", user=hanako)
    assert refused(status, body)
    assert snapshot() == before
    assert not models.NpsResponse.objects.exists() and not models.Touchpoint.objects.exists()


def test_one_mutation_field_over_the_limit_is_refused_as_a_whole(hanako):
    before = snapshot()
    status, body = ask(f"mutation {{ {nps_aliases(views.MAX_MUTATION_FIELDS + 1, score=10)} }}", user=hanako)
    assert refused(status, body, "mutation", str(views.MAX_MUTATION_FIELDS))
    assert snapshot() == before


def test_mutation_fields_are_counted_through_fragments_and_inline_fragments(hanako):
    half = views.MAX_MUTATION_FIELDS // 2 + 1
    query = (
        "mutation { ...M ... on Mutation { ...N } } "
        f"fragment M on Mutation {{ {nps_aliases(half)} }} "
        f"fragment N on Mutation {{ {nps_aliases(half).replace('a', 'b')} }}"
    )
    before = snapshot()
    status, body = ask(query, user=hanako)
    assert refused(status, body, "mutation")
    assert snapshot() == before


def test_as_many_mutation_fields_as_the_limit_are_run():
    fields = " ".join(
        f'u{n}: unsubscribe(token: "bad") {{ errors {{ code }} }}' for n in range(views.MAX_MUTATION_FIELDS)
    )
    status, body = ask(f"mutation {{ {fields} }}")
    assert status == 200 and body["data"]["u0"]["errors"] == [{"code": "INVALID_TOKEN"}]


# --- 2. fragments that spread themselves -------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ myFanProfile { ...F } } fragment F on FanProfile { stage ...F }",
        "{ myFanProfile { ...A } } fragment A on FanProfile { stage ...B } fragment B on FanProfile { stage ...A }",
        "{ __typename } fragment F on FanProfile { stage ...F }",
        "{ myFanProfile { ...A } } fragment A on FanProfile { ... on FanProfile { touchpoints { rule } ...B } }"
        " fragment B on FanProfile { ...A }",
        "query Q { myFanProfile { ...A } } fragment A on FanProfile { ...B } fragment B on FanProfile { ...C }"
        " fragment C on FanProfile { stage ...A }",
    ],
)
def test_a_fragment_that_spreads_itself_is_a_typed_400(query):
    status, body = ask(query)
    assert refused(status, body, "within itself")


def test_fragments_nested_deeper_than_the_depth_limit_are_refused():
    chain = " ".join(f"fragment F{n} on FanProfile {{ ...F{n + 1} }}" for n in range(40))
    status, body = ask(f"{{ myFanProfile {{ ...F0 }} }} {chain} fragment F40 on FanProfile {{ stage }}")
    assert refused(status, body, "fragments")


def test_an_unused_fragment_is_refused_before_validation():
    status, body = ask("{ __typename } fragment F on FanProfile { stage }")
    assert refused(status, body, '"F" is never used')


# --- 3. deep nesting: the body, the variables, the query -----------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"query": "{ __typename }", "variables": {"v": ' + "[" * 10_000 + "]" * 10_000 + "}}",
    ],
    ids=["lists", "objects", "variables"],
)
def test_a_json_body_nested_10000_deep_is_a_typed_400(raw):
    status, body = post(raw)
    assert refused(status, body, "request body")


DEEP_QUERIES = {
    "Int": "query($v: Int) { returnRequests(first: $v) { edges { node { id } } } }",
    "String": "query($v: String) { returnRequests(after: $v) { edges { node { id } } } }",
    "enum": "query($v: ReturnStatus) { returnRequests(status: $v) { edges { node { id } } } }",
    "Date": "query($v: Date) { conveyorStats(since: $v) { nps { score } } }",
    "ID": 'query($v: ID) { fanProfile(customerId: $v, email: "a@example.com") { stage } }',
    "list of inputs": 'mutation($v: [ReturnLineInput!]!) { requestReturn(orderId: "T3JkZXI6MQ==", reason: OTHER,'
    " lines: $v) { errors { code } } }",
}


@pytest.mark.parametrize("kind", DEEP_QUERIES)
def test_a_deeply_nested_variable_value_is_a_typed_400(kind, staff):
    deep: list = []
    for _ in range(1400):  # as deep as the JSON reader goes
        deep = [deep]
    status, body = ask(DEEP_QUERIES[kind], {"v": deep}, user=staff)
    assert refused(status, body)
    assert len(json.dumps(body)) < 2000


def test_an_input_object_variable_with_an_unknown_nested_member_is_a_typed_400(hanako):
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    query = (
        'mutation($lines: [ReturnLineInput!]!) { requestReturn(orderId: "T3JkZXI6MQ==", reason: OTHER,'
        " lines: $lines) { errors { code } } }"
    )
    before = snapshot()
    status, body = ask(query, {"lines": [{"orderLineId": "x", "quantity": 1, "extra": deep}]}, user=hanako)
    assert refused(status, body, "extra")
    assert snapshot() == before


@pytest.mark.parametrize("depth", [40, 200, 10_000])
def test_a_deeply_nested_list_literal_is_a_typed_400(depth):
    status, body = ask("{ conveyorStats(since: " + "[" * depth + "]" * depth + ") { nps { score } } }")
    assert refused(status, body)


@pytest.mark.parametrize("opener", ["{ a ", "{ a(b: {c: ", "{ a(b: [", "("])
def test_deeply_nested_query_text_is_a_typed_400(opener):
    status, body = ask(opener * 10_000)
    assert refused(status, body)


# --- 5. a refusal is an answer, not a crash --------------------------------------------------------


def test_hundreds_of_refused_fields_log_one_info_line_and_no_error(caplog):
    caplog.set_level(logging.DEBUG)
    fields = " ".join(f"p{n}: myFanProfile {{ stage }}" for n in range(150))
    status, body = ask(f"{{ {fields} }}")
    assert status == 200 and len(body["errors"]) == 150
    assert {error["extensions"]["code"] for error in body["errors"]} == {"PERMISSION_DENIED"}
    records = [r for r in caplog.records if not r.name.startswith("django.db")]
    assert [r for r in records if r.levelno >= logging.WARNING] == []
    assert len([r for r in records if r.levelno == logging.INFO]) <= 1
    assert all(r.exc_info is None for r in records)


def test_a_bug_is_still_logged_as_an_error(monkeypatch, caplog, staff):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("saleor_conveyor.graphql.schema.find_profile", broken)
    caplog.set_level(logging.INFO)
    status, body = ask('{ fanProfile(email: "x@example.com") { stage } }', user=staff)
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# --- 6. error codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ("{ conveyorStats(since: 5) { nps { score } } }", "since"),
        ("mutation { submitNps(score: 1, comment: 5) { errors { code } } }", "comment"),
        ("mutation { submitNps(score: 1, orderId: 5.5) { errors { code } } }", "orderId"),
    ],
)
def test_a_literal_of_the_wrong_type_is_invalid(query, field):
    status, body = ask(query)
    assert refused(status, body, code="INVALID") and body["errors"][0]["extensions"]["field"] == field


@pytest.mark.parametrize("literal", ["7.5", str(10**30), "1e400"])
def test_a_number_an_int_argument_cannot_hold_is_out_of_range(literal):
    status, body = ask(f"mutation {{ submitNps(score: {literal}) {{ errors {{ code }} }} }}")
    assert refused(status, body, code="OUT_OF_RANGE") and body["errors"][0]["extensions"]["field"] == "score"


def test_a_subscription_is_a_typed_400():
    status, body = ask("subscription { myFanProfile { stage } }")
    assert refused(status, body, "ubscription")


def test_a_subscription_beside_a_query_is_refused_too():
    status, body = ask("query Q { __typename } subscription S { myFanProfile { stage } }", operationName="Q")
    assert refused(status, body, "ubscription")


# --- 7. introspection, as Saleor serves it ---------------------------------------------------------


def test_introspection_is_served_outside_debug_as_saleor_does(settings):
    settings.DEBUG = False
    status, body = ask(introspection_query)
    assert status == 200 and body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_introspection_cannot_be_mixed_with_data_in_one_request(settings, hanako):
    settings.DEBUG = False
    status, body = ask("{ __schema { queryType { name } } myFanProfile { stage } }", user=hanako)
    assert refused(status, body, "introspection")
    status, body = ask("{ ...S } fragment S on Query { __schema { queryType { name } } myFanProfile { stage } }")
    assert refused(status, body, "introspection")


def test_the_introspection_answer_is_computed_once_outside_debug(settings, monkeypatch):
    settings.DEBUG = False
    calls = []
    original = views.execute
    monkeypatch.setattr(views, "execute", lambda *a, **k: calls.append(1) or original(*a, **k))
    views.clear_caches()
    first = ask(introspection_query)
    second = ask(introspection_query)
    assert first == second and first[0] == 200 and len(calls) == 1


def test_the_introspection_answer_is_recomputed_in_debug(settings, monkeypatch):
    settings.DEBUG = True
    calls = []
    original = views.execute
    monkeypatch.setattr(views, "execute", lambda *a, **k: calls.append(1) or original(*a, **k))
    ask(introspection_query)
    ask(introspection_query)
    assert len(calls) == 2


# --- protocol abuse beyond the list ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ __typename \x00 }",
        "{ __type\x00name }",
        '{ fanProfile(email: "a\x00b") { stage } }',
        '{ fanProfile(email: "a\x01b") { stage } }',
        '{ fanProfile(email: "unterminated',
        '{ fanProfile(email: "bad \\q escape") { stage } }',
        "{ __typename \ud800 }",
        "{ 1e }",
        "{ myFanProfile(x: 01) { stage } }",
    ],
)
def test_bad_characters_in_the_query_text_are_a_syntax_error(query):
    status, body = ask(query)
    assert refused(status, body, "Syntax Error")


def test_a_schema_definition_is_not_a_request():
    status, body = ask("type Secret { a: Int } { __typename }")
    assert refused(status, body, "queries, mutations and fragments")


def test_a_body_that_is_not_utf_8_is_a_typed_400():
    status, body = post(b'{"query": "{ __typename \xff }"}')
    assert refused(status, body, "not valid JSON")


def test_a_lone_surrogate_in_a_comment_is_ignored():
    status, body = ask("{ __typename } # \ud800")
    assert status == 200 and body["data"] == {"__typename": "Query"}


def test_an_operation_name_that_names_nothing_is_a_typed_400():
    status, body = ask("query A { __typename }", operationName="B")
    assert refused(status, body, "No operation")


def test_a_batch_is_refused():
    status, body = post(json.dumps([{"query": "{ __typename }"}, {"query": "{ __typename }"}]))
    assert refused(status, body, "one operation")


def _fastest(call, tries: int = 3) -> tuple[float, object]:
    """The fastest of a few tries and its answer: a bound on CPU cost that a busy machine's pauses do not trip."""
    best, answer = float("inf"), None
    for _ in range(tries):
        views.clear_caches()
        started = time.perf_counter()
        answer = call()
        best = min(best, time.perf_counter() - started)
    return best, answer


def test_fifty_thousand_undeclared_variables_are_ignored_quickly():
    variables = {f"v{n}": n for n in range(50_000)}
    seconds, (status, body) = _fastest(lambda: ask("{ __typename }", variables))
    assert status == 200 and seconds < 1


def test_a_variable_declared_twice_is_refused():
    status, body = ask("query($a: Int, $a: String) { returnRequests(first: $a) { edges { node { id } } } }")
    assert refused(status, body, '"a"')


@pytest.mark.parametrize("filler", [" ", "# a comment\n", ",", "\t\r\n"])
def test_a_megabyte_of_whitespace_or_comments_is_served_quickly(filler):
    padding = filler * ((views.MAX_BODY_BYTES - 300) // (len(json.dumps(filler)) - 2) // 2)
    seconds, (status, body) = _fastest(lambda: ask(padding + "{ __typename }" + padding))
    assert status == 200 and body["data"] == {"__typename": "Query"}
    assert seconds < 0.2


@pytest.mark.parametrize(
    "query, words",
    [
        ("{ __typename " + "@include(if: true) " * 10_000 + "}", ("tokens",)),
        ("{ " + "a" * 900_000 + " }", ("name",)),
        ("mutation { submitNps(score: " + "1" * 5000 + ") { errors { code } } }", ("number",)),
        ("{ " + "__typename " * 90_000 + "}", ("tokens",)),
    ],
    ids=["10,000 directives", "a 900 KB name", "a 5,000-digit number", "90,000 fields"],
)
def test_an_oversized_document_is_refused_quickly(query, words):
    seconds, (status, body) = _fastest(lambda: ask(query))
    assert refused(status, body, *words)
    assert seconds < 0.2


def test_a_long_string_literal_is_read_quickly(staff):
    query = '{ fanProfile(email: "' + "a" * 900_000 + '") { stage } }'
    seconds, (status, body) = _fastest(lambda: ask(query, user=staff))
    assert status == 200 and body["data"]["fanProfile"] is None
    assert seconds < 0.2


def test_an_escaped_string_literal_is_read_as_graphql_reads_it(staff):
    status, body = ask('{ fanProfile(email: "nobody\\u0040example.com\\t") { stage } }', user=staff)
    assert status == 200 and body["data"]["fanProfile"] is None


def test_validation_reports_the_first_error_of_a_document_full_of_them():
    fields = " ".join(f"unknownField{n}" for n in range(300))
    status, body = ask(f"{{ {fields} }}")
    assert refused(status, body, "unknownField0") and len(body["errors"]) <= views.MAX_VALIDATION_ERRORS + 1


@pytest.mark.parametrize(
    "query, words",
    [
        ('{ a: fanProfile(email: "x") { stage } a: fanProfile(email: "y") { stage } }', ("differing arguments",)),
        ("{ myFanProfile { a: stage a: purchaseCount } }", ("different fields",)),
        (
            "{ myFanProfile { touchpoints { a: rule } } myFanProfile { touchpoints { a: kind } } }",
            ("myFanProfile", "different fields"),
        ),
        (
            "{ myFanProfile { ...A ...B } } fragment A on FanProfile { x: stage }"
            " fragment B on FanProfile { x: lapsed }",
            ("different fields",),
        ),
    ],
)
def test_fields_that_cannot_be_merged_are_refused(query, words):
    status, body = ask(query)
    assert refused(status, body, *words)


def test_fields_that_merge_are_served(hanako):
    query = (
        "{ myFanProfile { stage ...A touchpoints(status: SCHEDULED) { rule } } myFanProfile { stage } }"
        " fragment A on FanProfile { stage touchpoints(status: SCHEDULED) { kind } }"
    )
    status, body = ask(query, user=hanako)
    assert status == 200 and body["data"] == {"myFanProfile": None}


EVERY_FIELDS_TYPE = "name fields { name args { name } type { name ofType { name ofType { name } } } }"


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        (
            "{ " + " ".join(f"i{n}: __schema {{ types {{ {EVERY_FIELDS_TYPE} }} }}" for n in range(20)) + " }",
            "introspection",
        ),
        (
            "{ __schema { types { "
            + " ".join(f"f{n}: fields {{ name args {{ name }} }}" for n in range(60))
            + " } } }",
            "introspection",
        ),
        (
            "{ "
            + " ".join(
                f"r{n}: returnRequests(first: 100) {{ edges {{ node {{ lines {{ quantity }} }} }} }}" for n in range(7)
            )
            + " }",
            "data",
        ),
    ],
    ids=["20 introspections", "60 aliases of every field of every type", "7 pages of 100 with their lines"],
)
def test_a_query_that_would_resolve_too_many_values_is_refused_before_it_runs(query, limit, staff):
    status, body = ask(query, user=staff)
    bound = documents.introspection_max_cost() if limit == "introspection" else documents.MAX_COST
    assert refused(status, body, "cost", f"at most {bound} is allowed")


def test_introspection_has_its_own_cost_bound_a_few_times_graphiqls_query():
    factor = documents.INTROSPECTION_COST_FACTOR
    assert documents.introspection_max_cost() == factor * documents.cost(documents.parse(introspection_query))
    status, body = ask(introspection_query)
    assert status == 200 and body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_a_page_of_100_return_requests_with_their_lines_is_within_the_cost(staff):
    query = (
        "{ returnRequests(first: 100) { edges { node { id status reason createdAt"
        " lines { quantity } } } pageInfo { hasNextPage endCursor } } }"
    )
    status, body = ask(query, user=staff)
    assert status == 200 and body["data"]["returnRequests"]["edges"] == []


# --- 4. what a refused or hostile document costs ----------------------------------------------------


def _worst_documents() -> dict[str, str]:
    tokens = views.MAX_TOKENS
    fields = views.MAX_FIELDS
    deep = "name"
    for _ in range(views.MAX_DEPTH - 5):
        deep = f"ofType {{ {deep} }}"
    deep = f"__schema {{ types {{ fields {{ type {{ {deep} }} }} }} }}"  # MAX_DEPTH levels
    return {
        "unused fragment of 6,000 aliases (54 KB)": "{ __typename } fragment F on FanProfile { "
        + " ".join("a: stage" for _ in range(6000))
        + " }",
        "a megabyte of aliases": "{ " + "a: __typename " * 70_000 + "}",
        "fields at the field limit": " ".join(
            ["{", *(f"p{n}: myFanProfile {{ ...F }}" for n in range(3)), "}", "fragment F on FanProfile {"]
            + [f"a{n}: stage" for n in range(fields // 3 - 1)]
            + ["}"]
        ),
        "one alias at the token limit": "{ " + "a: __typename " * (tokens // 3 - 1) + "}",
        "one alias, different arguments": "{ "
        + " ".join(f'a: fanProfile(email: "{n}") {{ stage }}' for n in range(tokens // 11))
        + " }",
        "nested same fields": "{ " + "myFanProfile { touchpoints { rule } } " * (tokens // 8) + "}",
        "introspection aliased inside __schema": "{ __schema { types { "
        + " ".join(f"f{n}: fields {{ name type {{ name ofType {{ name }} }} }}" for n in range(tokens // 14))
        + " } } }",
        "deep at the depth limit, repeated": "{ "
        + " ".join(f"d{n}: {deep}" for n in range(tokens // (views.MAX_DEPTH * 3)))
        + " }",
        "fragment explosion": "{ ...F0 } "
        + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(12))
        + " fragment F12 on Query { __typename }",
        "directives on one field": "{ __typename " + "@include(if: true) " * (tokens // 7) + "}",
        "unknown fields with long names": "{ "
        + " ".join(f"{'x' * (views.MAX_NAME_LENGTH - 4)}{n:04d}" for n in range(tokens - 3))
        + " }",
        "unknown types with long names": "query("
        + " ".join(f"$v{n}: {'T' * (views.MAX_NAME_LENGTH - 4)}{n:04d}" for n in range(tokens // 4 - 2))
        + ") { __typename }",
        "variables at the token limit": "query("
        + " ".join(f"$v{n}: Int" for n in range(tokens // 4 - 5))
        + ") { __typename }",
        "a list literal at the nesting limit": "{ conveyorStats(since: "
        + "[" * (views.MAX_NESTING - 2)
        + "]" * (views.MAX_NESTING - 2)
        + ") { nps { score } } }",
        "mutation aliases at the token limit": f"mutation {{ {nps_aliases(tokens // 13)} }}",
        "introspection": introspection_query,
    }


def _fastest_seconds(client: Client, query: str, repeats: int = 5) -> float:
    body = json.dumps({"query": query})
    timings = []
    for _ in range(repeats):
        views.clear_caches()
        started = time.perf_counter()
        response = client.post("/graphql/", body, content_type="application/json")
        timings.append(time.perf_counter() - started)
        assert response.status_code in (200, 400), response.content[:200]
    return min(timings)  # what the work costs; a busy machine only ever adds to it


def test_no_document_under_the_limits_costs_more_than_a_few_tens_of_milliseconds():
    """Each worst document, as a ratio to a one-field request timed in the same run (fastest of 5 each)."""
    client = Client()
    _fastest_seconds(client, "{ __typename }")  # warm up
    one_field = _fastest_seconds(client, "{ __typename }", repeats=9)
    report = []
    for name, query in _worst_documents().items():
        seconds = _fastest_seconds(client, query)
        report.append((name, seconds, seconds / one_field))
    table = f"one-field request {one_field * 1000:.2f} ms\n" + "\n".join(
        f"{name:45} {seconds * 1000:8.2f} ms {ratio:7.1f}x" for name, seconds, ratio in report
    )
    # The bound: under 100 ms each, and under 150 times a one-field request (0.2-0.6 ms on the 2-core
    # test machine). Before the document bounds, the first document took 16 s, unknown names 2-4 s.
    assert [name for name, seconds, ratio in report if seconds > 0.100] == [], table
    assert [name for name, seconds, ratio in report if ratio > 150] == [], table
