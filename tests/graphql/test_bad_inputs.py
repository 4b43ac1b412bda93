"""Hostile values in every argument: text no column can hold, numbers and dates at the edge, odd IDs and cursors.

Each is an answer (INVALID or OUT_OF_RANGE on the argument, or no identity), never INTERNAL_ERROR, and a
refused call writes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.utils import timezone

from saleor_conveyor import conveyor, tokens
from saleor_conveyor.events import ReturnLineRequested, ReturnRequested
from saleor_conveyor.hosts.django import _ACCESS_SALT
from saleor_conveyor.models import FanProfile, Inquiry

from ..factories import customer, gid, shop_order
from .helpers import snapshot

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONE_SURROGATE = "\ud800"  # what JSON "\ud800" decodes to


class Enum(str):
    """A value written bare in a GraphQL literal."""


@dataclass
class World:
    customer: Any
    staff: Any
    order_gid: str
    line_gid: str
    return_gid: str
    survey_token: str
    unsubscribe_token: str


@pytest.fixture
def world(hanako, staff) -> World:
    now = timezone.now()
    order = shop_order(
        hanako,
        (("Green tea", 2, 2), ("Tea cup", 1, 1)),
        placed_at=now - timedelta(days=3),
        fulfilled_at=now - timedelta(days=2),
    )
    tea, cup = order.lines.order_by("product_name")
    asking = customer(hanako.email, user_id=hanako.pk)
    asked = conveyor.request_return(
        ReturnRequested(asking, str(order.pk), (ReturnLineRequested(str(cup.pk), 1),), "OTHER"),
        order=conveyor.order_for_return(str(order.pk), asking),
        window_days=conveyor.return_window_days(),
    )
    profile = FanProfile.objects.get(user_id=hanako.pk)
    return World(
        customer=hanako,
        staff=staff,
        order_gid=gid("Order", order.pk),
        line_gid=gid("OrderLine", tea.pk),
        return_gid=gid("ReturnRequest", asked.pk),
        survey_token=tokens.make_token(profile, tokens.SURVEY),
        unsubscribe_token=tokens.make_token(profile, tokens.UNSUBSCRIBE),
    )


@dataclass(frozen=True)
class Operation:
    """One operation of the contract with valid arguments; `bad` names the string arguments to spoil."""

    name: str
    kind: str  # query | mutation
    types: dict[str, str]
    arguments: Callable[[World], dict[str, Any]]
    who: str | None  # customer | staff | None
    selection: str
    bad: tuple[str, ...]


OPERATIONS = [
    Operation(
        "fanProfile", "query", {"customerId": "ID"}, lambda w: {"customerId": gid("User", w.customer.pk)},
        "staff", "id", ("customerId",),
    ),
    Operation(
        "fanProfile", "query", {"email": "String"}, lambda w: {"email": w.customer.email}, "staff", "id", ("email",)
    ),
    Operation(
        "conveyorStats", "query", {"since": "Date", "channel": "String"},
        lambda w: {"since": "2026-01-01", "channel": "default-channel"}, "staff", "nps { responses }", ("channel",),
    ),
    Operation(
        "returnRequests", "query", {"first": "Int", "after": "String"},
        lambda w: {"first": 5, "after": base64.b64encode(b"arrayconnection:0").decode()},
        "staff", "totalCount", ("after",),
    ),
    Operation(
        "inquiries", "query", {"first": "Int", "after": "String"},
        lambda w: {"first": 5, "after": base64.b64encode(b"arrayconnection:0").decode()},
        "staff", "totalCount", ("after",),
    ),
    Operation(
        "submitNps", "mutation", {"orderId": "ID", "score": "Int!", "comment": "String"},
        lambda w: {"orderId": w.order_gid, "score": 8, "comment": "Lovely tea"},
        "customer", "response { score }", ("orderId", "comment"),
    ),
    Operation(
        "submitNps", "mutation", {"token": "String", "score": "Int!"},
        lambda w: {"token": w.survey_token, "score": 8}, None, "response { score }", ("token",),
    ),
    Operation(
        "submitFanSurvey", "mutation", {"token": "String", "fanDegree": "FanDegree!", "liking": "Liking!",
                                        "comment": "String"},
        lambda w: {"token": w.survey_token, "fanDegree": Enum("NEW_FAN"), "liking": Enum("LIKE"), "comment": "Hi"},
        None, "profile { id }", ("token", "comment"),
    ),
    Operation(
        "requestReturn", "mutation",
        {"orderId": "ID!", "lines": "[ReturnLineInput!]!", "reason": "ReturnReason!", "comment": "String"},
        lambda w: {"orderId": w.order_gid, "lines": [{"orderLineId": w.line_gid, "quantity": 1}],
                   "reason": Enum("DAMAGED"), "comment": "Crushed box"},
        "customer", "returnRequest { id }", ("orderId", "lines.0.orderLineId", "comment"),
    ),
    Operation(
        "decideReturn", "mutation", {"id": "ID!", "approve": "Boolean!", "note": "String"},
        lambda w: {"id": w.return_gid, "approve": False, "note": "Not ours"}, "staff", "returnRequest { id }",
        ("id", "note"),
    ),
    Operation(
        "submitInquiry", "mutation",
        {"email": "String!", "name": "String", "orderId": "ID", "topic": "InquiryTopic!", "message": "String!"},
        lambda w: {"email": "guest@example.com", "name": "Guest", "orderId": w.order_gid, "topic": Enum("ORDER"),
                   "message": "Where is my tea?"},
        None, "inquiry { id }", ("email", "name", "orderId", "message"),
    ),
    Operation("unsubscribe", "mutation", {"token": "String!"}, lambda w: {"token": w.unsubscribe_token}, None, "ok",
              ("token",)),
]  # fmt: skip


def literal(value: Any) -> str:
    """A Python value written as a GraphQL literal (strings with JSON's escapes, which GraphQL shares)."""
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {literal(item)}" for key, item in value.items()) + "}"
    raise TypeError(value)


def document(operation: Operation, arguments: dict[str, Any], *, as_variables: bool) -> tuple[str, dict]:
    if as_variables:
        declared = ", ".join(f"${name}: {operation.types[name]}" for name in arguments)
        passed = ", ".join(f"{name}: ${name}" for name in arguments)
        head = f"{operation.kind}({declared})"
        variables = {name: (str(value) if isinstance(value, Enum) else value) for name, value in arguments.items()}
    else:
        passed = ", ".join(f"{name}: {literal(value)}" for name, value in arguments.items())
        head, variables = operation.kind, {}
    selection = operation.selection + (" errors { field code }" if operation.kind == "mutation" else "")
    return f"{head} {{ {operation.name}({passed}) {{ {selection} }} }}", variables


def spoil(arguments: dict[str, Any], path: str, bad: str) -> dict[str, Any]:
    """The arguments with `bad` put inside the string at `path` (e.g. lines.0.orderLineId)."""
    spoiled = json.loads(json.dumps(arguments))
    for name, value in arguments.items():
        if isinstance(value, Enum):
            spoiled[name] = Enum(value)
    *parents, last = path.split(".")
    holder: Any = spoiled
    for part in parents:
        holder = holder[int(part)] if part.isdigit() else holder[part]
    text = holder[last]
    holder[last] = text[: len(text) // 2] + bad + text[len(text) // 2 :]
    return spoiled


def errors_of(answer, operation: Operation) -> list[tuple[str | None, str]]:
    """(field, code) of the refusal: the payload's errors for a mutation, the top-level ones for a query."""
    if operation.kind == "mutation":
        assert answer.status == 200 and not answer.errors, answer.body
        return [(e["field"], e["code"]) for e in answer.data[operation.name]["errors"]]
    return [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors]


def call(api, world: World, operation: Operation, arguments: dict[str, Any], *, as_variables: bool):
    query, variables = document(operation, arguments, as_variables=as_variables)
    user = {"customer": world.customer, "staff": world.staff, None: None}[operation.who]
    return api(query, variables, user=user)


CASES = [
    pytest.param(operation, path, id=f"{operation.name}-{path}") for operation in OPERATIONS for path in operation.bad
]


@pytest.mark.parametrize("as_variables", [True, False], ids=["variables", "literals"])
@pytest.mark.parametrize("operation", [pytest.param(op, id=f"{op.name}-{'-'.join(op.bad)}") for op in OPERATIONS])
def test_every_operation_accepts_its_valid_arguments(api, world, operation, as_variables):
    """The baseline of the cases below: the same call, unspoiled, is accepted."""
    answer = call(api, world, operation, operation.arguments(world), as_variables=as_variables)
    assert answer.status == 200 and not answer.errors, answer.body
    if operation.kind == "mutation":
        assert answer.data[operation.name]["errors"] == []


@pytest.mark.parametrize("as_variables", [True, False], ids=["variables", "literals"])
@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone_surrogate"])
@pytest.mark.parametrize("operation, path", CASES)
def test_text_no_column_can_hold_is_invalid_on_its_argument_and_writes_nothing(
    api, world, operation, path, bad, as_variables
):
    arguments = spoil(operation.arguments(world), path, bad)
    before = snapshot()
    answer = call(api, world, operation, arguments, as_variables=as_variables)
    assert errors_of(answer, operation) == [(path, "INVALID")], answer.body
    assert snapshot() == before


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone_surrogate"])
@pytest.mark.parametrize(
    "operation, path, type_name",
    [
        ("submitNps", "orderId", "Order"),
        ("requestReturn", "orderId", "Order"),
        ("requestReturn", "lines.0.orderLineId", "OrderLine"),
        ("submitInquiry", "orderId", "Order"),
        ("fanProfile", "customerId", "User"),
        ("decideReturn", "id", "ReturnRequest"),
    ],
)
def test_bad_text_inside_a_global_id_is_invalid_and_writes_nothing(api, world, operation, path, type_name, bad):
    chosen = next(op for op in OPERATIONS if op.name == operation and path in op.bad)
    arguments = json.loads(json.dumps(chosen.arguments(world)))
    arguments.update({k: Enum(v) for k, v in chosen.arguments(world).items() if isinstance(v, Enum)})
    spoiled = base64.b64encode(f"{type_name}:12{bad}34".encode("utf-8", "surrogatepass")).decode()
    if path == "lines.0.orderLineId":
        arguments["lines"][0]["orderLineId"] = spoiled
    else:
        arguments[path] = spoiled
    before = snapshot()
    answer = call(api, world, chosen, arguments, as_variables=True)
    assert [code for _, code in errors_of(answer, chosen)] in (["INVALID"], ["NOT_FOUND"]), answer.body
    assert snapshot() == before


def test_an_escaped_surrogate_pair_in_a_literal_is_the_character_it_spells(api, hanako):
    """graphql-core 2 reads "\\ud83c\\udf75" as two lone surrogates; together they are one emoji, kept."""
    query = 'mutation { submitNps(score: 9, comment: "Tea \\ud83c\\udf75!") { response { comment } errors { field } } }'
    answer = api(query, user=hanako)
    assert answer.payload("submitNps") == {"response": {"comment": "Tea \U0001f375!"}, "errors": []}


# --- emails and lengths at each column's limit ---------------------------------------------

INQUIRY = """
mutation($email: String!, $name: String, $orderId: ID, $message: String!) {
  submitInquiry(email: $email, name: $name, orderId: $orderId, topic: OTHER, message: $message) {
    inquiry { id } errors { field code }
  }
}
"""


def inquiry_errors(api, **overrides) -> list[tuple[str | None, str]]:
    variables = {"email": "guest@example.com", "name": "Guest", "message": "Hello", **overrides}
    answer = api(INQUIRY, variables)
    assert answer.status == 200 and not answer.errors, answer.body
    return [(e["field"], e["code"]) for e in answer.data["submitInquiry"]["errors"]]


def email_of_length(length: int) -> str:
    domain = "@" + ".".join(["d" * 60] * 3) + ".com"  # 188 characters, each label at most 63
    return "u" * (length - len(domain)) + domain


def test_an_email_of_255_characters_is_invalid_and_writes_nothing(api):
    before = snapshot()
    assert inquiry_errors(api, email=email_of_length(255)) == [("email", "INVALID")]
    assert snapshot() == before


def test_an_email_of_254_characters_is_stored_whole(api):
    address = email_of_length(254)
    assert inquiry_errors(api, email=address) == []
    assert Inquiry.objects.get().email == address


@pytest.mark.parametrize(
    "email",
    ["guest@example.com\r\nBcc: victim@example.org", "guest@example.com\nBcc: x@y.z", "gu\rest@example.com",
     "guest@exa\tmple.com", '"a\\\nb"@example.com', "guest@example.com,other@example.org"],
)  # fmt: skip
def test_an_email_with_a_line_break_or_a_second_address_is_invalid(api, email, mailoutbox):
    assert inquiry_errors(api, email=email) == [("email", "INVALID")]
    assert Inquiry.objects.count() == 0 and mailoutbox == []


def test_a_full_width_email_is_read_as_the_address_it_spells(api, hanako):
    """A Japanese IME types a full-width at sign and letters; the address they spell is the one stored."""
    assert (
        inquiry_errors(
            api,
            email="\uff28\uff21\uff2e\uff21\uff2b\uff2f\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
        )
        == []
    )
    assert Inquiry.objects.get().email == "hanako@example.com"


@pytest.mark.parametrize("name", ["Guest\r\nBcc: victim@example.org", "Guest\x07", "Guest\u2028Line"])
def test_a_name_is_one_line_of_text(api, name, mailoutbox):
    assert inquiry_errors(api, name=name) == [("name", "INVALID")]
    assert Inquiry.objects.count() == 0


def test_a_name_of_256_characters_is_stored_whole(api):
    assert inquiry_errors(api, name="名" * 256) == []
    assert Inquiry.objects.get().name == "名" * 256


def test_an_order_id_of_64_characters_is_kept_and_65_is_invalid(api):
    assert inquiry_errors(api, orderId=gid("Order", "o" * 65)) == [("orderId", "INVALID")]
    assert inquiry_errors(api, orderId=gid("Order", "o" * 64)) == []
    assert Inquiry.objects.get().order_id == "o" * 64


@pytest.mark.parametrize("raw", ["12 34", " 1", "1\n", "1\t2", "a\u00a0b", "x\u200b"])
def test_an_order_id_with_spaces_or_invisible_characters_is_invalid(api, raw):
    assert inquiry_errors(api, orderId=gid("Order", raw)) == [("orderId", "INVALID")]
    assert Inquiry.objects.count() == 0


def test_an_order_id_with_sql_meta_characters_is_only_ever_a_value(api, hanako):
    raw = "1';DROP/**/TABLE/**/saleor_conveyor_inquiry;--"
    assert inquiry_errors(api, orderId=gid("Order", raw)) == []
    assert Inquiry.objects.get().order_id == raw
    answer = api(
        "mutation($o: ID) { submitNps(orderId: $o, score: 5) { errors { field code } } }",
        {"o": gid("Order", raw)},
        user=hanako,
    )
    assert answer.payload("submitNps")["errors"] == [{"field": "orderId", "code": "NOT_FOUND"}]


def test_a_message_may_hold_line_breaks(api):
    assert inquiry_errors(api, message="Line one\r\nLine two\n\tIndented") == []
    assert Inquiry.objects.get().message == "Line one\r\nLine two\n\tIndented"


# --- numbers and dates at the edge ---------------------------------------------------------

STAFF_PROFILE = "query($id: ID) { fanProfile(customerId: $id) { email } }"


def raw_gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "raw",
    [
        "\u00b2",
        "\u0661",
        "\u0661\u0662",
        "\U0001d7cf",
        "99999999999999999999",
        str(2**63),
        "0",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1_0",
        "1.0",
        "0x1",
        "",
    ],
)
def test_a_user_id_is_ascii_digits_in_range(api, staff, hanako, raw):
    shop_order(hanako)
    answer = api(STAFF_PROFILE, {"id": raw_gid(f"User:{raw}")}, user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [("customerId", "INVALID")]
    assert answer.data["fanProfile"] is None


def test_a_user_id_with_arabic_indic_digits_is_not_read_as_that_user(api, staff, hanako):
    shop_order(hanako)
    arabic = str(hanako.pk).translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    answer = api(STAFF_PROFILE, {"id": raw_gid(f"User:{arabic}")}, user=staff)
    assert answer.data["fanProfile"] is None and answer.codes() == ["INVALID"]
    assert api(STAFF_PROFILE, {"id": raw_gid(f"User:{hanako.pk}")}, user=staff).data["fanProfile"] is not None


STATS = "query($since: Date, $until: Date) { conveyorStats(since: $since, until: $until) { nps { responses } } }"


@pytest.mark.parametrize(
    "variables, field",
    [
        ({"until": "9999-12-31"}, "until"),
        ({"until": "9999-12-30"}, "until"),
        ({"since": "0001-01-01"}, "since"),
        ({"since": "0001-01-01", "until": "9999-12-31"}, "since"),
        ({"since": "9999-12-31"}, "since"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_out_of_range(api, staff, variables, field):
    answer = api(STATS, variables, user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [(field, "OUT_OF_RANGE")]


def test_dates_at_the_ends_of_the_calendar_are_out_of_range_as_literals(api, staff):
    answer = api('{ conveyorStats(until: "9999-12-31") { nps { responses } } }', user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [("until", "OUT_OF_RANGE")]


def test_a_wide_but_sane_window_is_answered(api, staff):
    answer = api(STATS, {"since": "1970-01-01", "until": "2999-12-31"}, user=staff)
    assert answer.status == 200 and not answer.errors and answer.data["conveyorStats"]["nps"]["responses"] == 0


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("listing", ["returnRequests", "inquiries"])
@pytest.mark.parametrize(
    "raw",
    [f"arrayconnection:{10**20}", f"arrayconnection:{2**63}", "arrayconnection:\u0661", "arrayconnection: 3",
     "arrayconnection:1_0", "arrayconnection:-1", "arrayconnection:+3", "arrayconnection:", "other:3"],
)  # fmt: skip
def test_a_cursor_out_of_range_or_not_ascii_digits_is_invalid_on_after(api, staff, listing, raw):
    answer = api(f"query($a: String) {{ {listing}(after: $a) {{ totalCount }} }}", {"a": cursor(raw)}, user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [("after", "INVALID")]


def test_a_far_but_representable_cursor_is_an_empty_page(api, staff):
    answer = api("query($a: String) { inquiries(after: $a) { edges { cursor } } }",
                 {"a": cursor("arrayconnection:1000000000")}, user=staff)  # fmt: skip
    assert answer.status == 200 and not answer.errors and answer.data["inquiries"]["edges"] == []


@pytest.mark.parametrize("literal_value", ["2147483648", "-2147483649", "99999999999999999999", "-1", "101"])
def test_first_outside_its_range_is_refused_as_a_literal(api, staff, literal_value):
    answer = api(f"{{ inquiries(first: {literal_value}) {{ totalCount }} }}", user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [("first", "OUT_OF_RANGE")]


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 10**20, -1, 101])
def test_first_outside_its_range_is_refused_as_a_variable(api, staff, value):
    answer = api("query($first: Int) { inquiries(first: $first) { totalCount } }", {"first": value}, user=staff)
    assert [(e["extensions"]["field"], e["extensions"]["code"]) for e in answer.errors] == [("first", "OUT_OF_RANGE")]


@pytest.mark.parametrize(
    "payload",
    [{"u": True}, {"u": False}, {"u": "1"}, {"u": 1.0}, {"u": 10**30}, {"u": 2**63}, {"u": -1}, {"u": 0},
     {"u": [1]}, {"u": None}, "1", 1, [1], None],
)  # fmt: skip
def test_an_access_token_with_an_odd_payload_is_no_identity(api, hanako, payload):
    token = signing.dumps(payload, salt=_ACCESS_SALT)
    answer = api("{ myFanProfile { email } }", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status == 200 and answer.codes() == ["PERMISSION_DENIED"], answer.body


def test_a_compressed_access_token_with_a_broken_body_is_no_identity(api):
    signer = signing.TimestampSigner(salt=_ACCESS_SALT)
    token = signer.sign(".eJzzSM3JyVcozy_KSVEEAB0JBF4")  # "." marks a zlib body; this one is cut short
    answer = api("{ myFanProfile { email } }", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status == 200 and answer.codes() == ["PERMISSION_DENIED"], answer.body


@pytest.mark.parametrize(
    "raw", ["ReturnRequest:not-a-uuid", "ReturnRequest:", "ReturnRequest:00000000-0000-0000-0000-00000000000\uff10"]
)
def test_a_return_request_id_that_is_no_uuid_is_refused(api, staff, raw):
    answer = api(
        "mutation($id: ID!) { decideReturn(id: $id, approve: false) { errors { field code } } }",
        {"id": raw_gid(raw)},
        user=staff,
    )
    assert [e["field"] for e in answer.payload("decideReturn")["errors"]] == ["id"]


@pytest.mark.parametrize("value", ["-2026-01-01", "+2026-01-01", "2026-366", "0000-01-01", "10000-01-01", "2026-1-1"])
@pytest.mark.parametrize("as_variable", [True, False], ids=["variable", "literal"])
def test_a_date_the_parser_cannot_read_is_invalid_not_a_crash(api, staff, value, as_variable):
    if as_variable:
        answer = api("query($u: Date) { conveyorStats(until: $u) { nps { responses } } }", {"u": value}, user=staff)
    else:
        answer = api(f'{{ conveyorStats(until: "{value}") {{ nps {{ responses }} }} }}', user=staff)
    assert answer.status == 400 and answer.codes() == ["INVALID"], answer.body


@pytest.mark.parametrize(
    "raw, expected",
    [("7", 7), (str(2**63 - 1), 2**63 - 1), (str(2**63), None), ("0", None), ("\u0667", None), ("\u00b2", None),
     ("07", 7), ("7 ", None), ("", None)],
)  # fmt: skip
def test_whole_number_ids_of_every_type_are_ascii_digits_in_bigint(raw, expected):
    from saleor_conveyor.errors import ConveyorError
    from saleor_conveyor.graphql.core import decode_int_id

    for type_name in ("User", "Touchpoint"):
        if expected is None:
            with pytest.raises(ConveyorError) as refused:
                decode_int_id(raw_gid(f"{type_name}:{raw}"), type_name, "id")
            assert refused.value.field == "id" and refused.value.code == "INVALID"
        else:
            assert decode_int_id(raw_gid(f"{type_name}:{raw}"), type_name, "id") == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234-567812345678"),
     ("{12345678-1234-5678-1234-567812345678}", "12345678-1234-5678-1234-567812345678"),
     ("12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678"),
     ("1234567812345678123456781234567\uff18", None), ("12\x0034", None), ("nope", None)],
)  # fmt: skip
def test_uuid_ids_of_every_type_are_canonical_or_none(raw, expected):
    from saleor_conveyor.graphql.core import decode_uuid_id

    for type_name in ("ReturnRequest", "Inquiry"):
        assert decode_uuid_id(raw_gid(f"{type_name}:{raw}"), type_name, "id") == expected
