"""The returns flow: only the order's customer, only fulfilled quantities, only inside the window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from saleor_conveyor.models import ReturnRequest
from sandbox.shop.models import OrderReturn

from ..factories import gid, shop_order
from .helpers import snapshot

pytestmark = pytest.mark.django_db

REQUEST_RETURN = """
mutation($orderId: ID!, $lines: [ReturnLineInput!]!, $reason: ReturnReason!, $comment: String) {
  requestReturn(orderId: $orderId, lines: $lines, reason: $reason, comment: $comment) {
    returnRequest { id orderId status reason comment lines { orderLineId productName quantity } }
    errors { field code message }
  }
}
"""
DECIDE = """
mutation($id: ID!, $approve: Boolean!, $note: String) {
  decideReturn(id: $id, approve: $approve, note: $note) {
    returnRequest { status note decidedAt }
    errors { field code }
  }
}
"""
LIST = """
query($status: ReturnStatus, $first: Int, $after: String) {
  returnRequests(status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status customerEmail orderNumber } }
  }
}
"""


def fulfilled_order(user, lines=(("Green tea", 2, 2),), days_ago: float = 2):
    now = timezone.now()
    return shop_order(
        user, lines, placed_at=now - timedelta(days=days_ago + 1), fulfilled_at=now - timedelta(days=days_ago)
    )


def ask(api, user, order, quantities: dict[int, int] | None = None, reason: str = "DAMAGED"):
    lines = list(order.lines.order_by("product_name"))
    chosen = quantities or {0: 1}
    variables = {
        "orderId": gid("Order", order.pk),
        "lines": [{"orderLineId": gid("OrderLine", lines[i].pk), "quantity": q} for i, q in chosen.items()],
        "reason": reason,
        "comment": "The box was crushed",
    }
    return api(REQUEST_RETURN, variables, user=user)


def errors(answer) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in answer.payload("requestReturn")["errors"]]


def test_customer_requests_a_return_of_a_fulfilled_line(api, hanako):
    order = fulfilled_order(hanako)
    payload = ask(api, hanako, order, {0: 2}).payload("requestReturn")
    assert payload["errors"] == []
    request = payload["returnRequest"]
    assert request["status"] == "REQUESTED" and request["reason"] == "DAMAGED"
    assert request["orderId"] == gid("Order", order.pk)
    assert request["lines"] == [
        {"orderLineId": gid("OrderLine", order.lines.get().pk), "productName": "Green tea", "quantity": 2}
    ]
    mine = api("{ myReturnRequests { id status lines { quantity } } }", user=hanako).data["myReturnRequests"]
    assert mine == [{"id": request["id"], "status": "REQUESTED", "lines": [{"quantity": 2}]}]


def test_another_customers_order_is_not_found_and_changes_nothing(api, hanako, taro):
    theirs = fulfilled_order(taro)
    before = snapshot()
    assert errors(ask(api, hanako, theirs)) == [("orderId", "NOT_FOUND")]
    assert snapshot() == before


def test_a_quantity_above_what_was_fulfilled_is_out_of_range_and_changes_nothing(api, hanako):
    order = fulfilled_order(hanako, lines=(("Green tea", 3, 1),))
    before = snapshot()
    assert errors(ask(api, hanako, order, {0: 2})) == [("lines.0.quantity", "OUT_OF_RANGE")]
    assert snapshot() == before


def test_quantities_already_requested_are_not_available_again(api, hanako):
    order = fulfilled_order(hanako, lines=(("Green tea", 3, 3),))
    assert ask(api, hanako, order, {0: 2}).payload("requestReturn")["errors"] == []
    before = snapshot()
    assert errors(ask(api, hanako, order, {0: 2})) == [("lines.0.quantity", "OUT_OF_RANGE")]
    assert snapshot() == before
    assert ask(api, hanako, order, {0: 1}).payload("requestReturn")["errors"] == []


def test_a_rejected_request_frees_its_quantity(api, hanako, staff):
    order = fulfilled_order(hanako, lines=(("Green tea", 1, 1),))
    first = ask(api, hanako, order).payload("requestReturn")["returnRequest"]
    api(DECIDE, {"id": first["id"], "approve": False}, user=staff)
    assert ask(api, hanako, order).payload("requestReturn")["errors"] == []


def test_quantity_zero_is_out_of_range(api, hanako):
    order = fulfilled_order(hanako)
    assert errors(ask(api, hanako, order, {0: 0})) == [("lines", "OUT_OF_RANGE")]


def test_an_unfulfilled_line_cannot_be_returned(api, hanako):
    order = fulfilled_order(hanako, lines=(("Green tea", 1, 1), ("Matcha", 1, 0)))
    assert errors(ask(api, hanako, order, {1: 1})) == [("lines.0.quantity", "OUT_OF_RANGE")]


def test_a_line_of_another_order_is_not_found(api, hanako):
    order = fulfilled_order(hanako)
    other = fulfilled_order(hanako)
    variables = {
        "orderId": gid("Order", order.pk),
        "lines": [{"orderLineId": gid("OrderLine", other.lines.get().pk), "quantity": 1}],
        "reason": "OTHER",
    }
    answer = api(REQUEST_RETURN, variables, user=hanako)
    assert errors(answer) == [("lines.0.orderLineId", "NOT_FOUND")]


def test_a_return_after_the_window_is_window_closed_and_changes_nothing(api, hanako):
    order = fulfilled_order(hanako, days_ago=31)
    before = snapshot()
    assert errors(ask(api, hanako, order)) == [("orderId", "WINDOW_CLOSED")]
    assert snapshot() == before


def test_the_window_counts_from_fulfilment_not_from_the_order(api, hanako):
    now = timezone.now()
    order = shop_order(hanako, placed_at=now - timedelta(days=40), fulfilled_at=now - timedelta(days=29))
    assert ask(api, hanako, order).payload("requestReturn")["errors"] == []


def test_the_window_follows_the_shops_setting(api, hanako, settings):
    settings.CONVEYOR = {**settings.CONVEYOR, "return_window_days": 7}
    order = fulfilled_order(hanako, days_ago=8)
    assert errors(ask(api, hanako, order)) == [("orderId", "WINDOW_CLOSED")]


def test_anonymous_return_request_is_permission_denied(api, hanako):
    order = fulfilled_order(hanako)
    before = snapshot()
    assert errors(ask(api, None, order)) == [(None, "PERMISSION_DENIED")]
    assert snapshot() == before


def test_a_quantity_that_is_not_a_whole_number_is_refused(api, hanako):
    order = fulfilled_order(hanako)
    variables = {
        "orderId": gid("Order", order.pk),
        "lines": [{"orderLineId": gid("OrderLine", order.lines.get().pk), "quantity": 1.5}],
        "reason": "DAMAGED",
    }
    answer = api(REQUEST_RETURN, variables, user=hanako)
    assert answer.status == 400 and answer.codes() == ["OUT_OF_RANGE"]
    assert answer.errors[0]["extensions"]["field"] == "lines.0.quantity"
    assert not ReturnRequest.objects.exists()


# --- staff ---------------------------------------------------------------------------------


def test_staff_approval_records_the_return_in_the_host(api, hanako, staff):
    order = fulfilled_order(hanako)
    request = ask(api, hanako, order, {0: 2}).payload("requestReturn")["returnRequest"]
    decided = api(DECIDE, {"id": request["id"], "approve": True, "note": "Refund on receipt"}, user=staff)
    payload = decided.payload("decideReturn")
    assert payload["errors"] == [] and payload["returnRequest"]["status"] == "APPROVED"
    assert payload["returnRequest"]["note"] == "Refund on receipt" and payload["returnRequest"]["decidedAt"]
    shop_return = OrderReturn.objects.get()
    assert shop_return.order_id == order.pk and shop_return.lines == [[str(order.lines.get().pk), 2]]
    stored = ReturnRequest.objects.get()
    assert stored.host_reference == str(shop_return.pk) and stored.decided_by == "staff@example.com"


def test_rejection_records_nothing_in_the_host(api, hanako, staff):
    order = fulfilled_order(hanako)
    request = ask(api, hanako, order).payload("requestReturn")["returnRequest"]
    payload = api(DECIDE, {"id": request["id"], "approve": False}, user=staff).payload("decideReturn")
    assert payload["returnRequest"]["status"] == "REJECTED" and not OrderReturn.objects.exists()


def test_a_decided_return_cannot_be_decided_again(api, hanako, staff):
    order = fulfilled_order(hanako)
    request = ask(api, hanako, order).payload("requestReturn")["returnRequest"]
    api(DECIDE, {"id": request["id"], "approve": True}, user=staff)
    before = snapshot()
    again = api(DECIDE, {"id": request["id"], "approve": False}, user=staff).payload("decideReturn")
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("id", "INVALID")]
    assert snapshot() == before


def test_deciding_with_a_customer_token_is_permission_denied_and_changes_nothing(api, hanako):
    order = fulfilled_order(hanako)
    request = ask(api, hanako, order).payload("requestReturn")["returnRequest"]
    before = snapshot()
    answer = api(DECIDE, {"id": request["id"], "approve": True}, user=hanako).payload("decideReturn")
    assert [e["code"] for e in answer["errors"]] == ["PERMISSION_DENIED"]
    assert snapshot() == before


@pytest.mark.parametrize("raw", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_deciding_an_unknown_return_is_not_found(api, staff, raw):
    answer = api(DECIDE, {"id": gid("ReturnRequest", raw), "approve": True}, user=staff).payload("decideReturn")
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [("id", "NOT_FOUND")]


def test_a_string_for_approve_is_refused_rather_than_read_as_true(api, hanako, staff):
    order = fulfilled_order(hanako)
    request = ask(api, hanako, order).payload("requestReturn")["returnRequest"]
    answer = api(DECIDE, {"id": request["id"], "approve": "false"}, user=staff)
    assert answer.status == 400 and answer.codes() == ["INVALID"]
    assert ReturnRequest.objects.get().status == "REQUESTED"


def test_staff_page_through_return_requests_filtered_by_status(api, hanako, taro, staff):
    for user in (hanako, taro, hanako):
        ask(api, user, fulfilled_order(user))
    first = api(LIST, {"first": 2}, user=staff).data["returnRequests"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True and len(first["edges"]) == 2
    rest = api(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, user=staff).data["returnRequests"]
    assert rest["pageInfo"]["hasNextPage"] is False and len(rest["edges"]) == 1
    seen = {edge["node"]["id"] for edge in first["edges"] + rest["edges"]}
    assert len(seen) == 3
    decided = first["edges"][0]["node"]["id"]
    api(DECIDE, {"id": decided, "approve": True}, user=staff)
    approved = api(LIST, {"status": "APPROVED"}, user=staff).data["returnRequests"]
    assert [edge["node"]["id"] for edge in approved["edges"]] == [decided]


@pytest.mark.parametrize(
    "variables, field, code", [({"first": 101}, "first", "OUT_OF_RANGE"), ({"after": "zz"}, "after", "INVALID")]
)
def test_bad_paging_arguments_are_typed_errors(api, staff, variables, field, code):
    answer = api(LIST, variables, user=staff)
    assert answer.codes() == [code] and answer.errors[0]["extensions"]["field"] == field


def test_return_requests_with_a_customer_token_is_permission_denied(api, hanako):
    ask(api, hanako, fulfilled_order(hanako))
    answer = api(LIST, user=hanako)
    assert answer.codes() == ["PERMISSION_DENIED"] and answer.data["returnRequests"] is None
