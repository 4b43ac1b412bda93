"""Staff tasks in the API (v2): staffTasks lists them in fixed queries, completeStaffTasks marks a batch done, all of
it or nothing, MANAGE_ORDERS only; the command's one-task path is the same service."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_conveyor import conveyor
from saleor_conveyor.errors import ConveyorError, ErrorCode
from saleor_conveyor.models import FanProfile, Touchpoint
from tests.console.queues_shop import card_customers

from ..factories import at_once, gid, touchpoint
from .helpers import snapshot

pytestmark = pytest.mark.django_db

LIST = """
query($status: StaffTaskStatus, $first: Int, $after: String) {
  staffTasks(status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id rule description orderId dueAt status doneAt doneBy note
                   profile { email firstName touchpoints { rule } } } }
  }
}
"""
COMPLETE = """
mutation($ids: [ID!]!, $note: String) {
  completeStaffTasks(ids: $ids, note: $note) {
    staffTasks { id status doneAt doneBy note profile { email } }
    errors { field code message }
  }
}
"""


def task_ids(tasks) -> list[str]:
    return [gid("StaffTask", task.pk) for task in tasks]


def refusal(answer) -> list[tuple[str | None, str]]:
    payload = answer.payload("completeStaffTasks")
    assert payload["staffTasks"] is None
    return [(error["field"], error["code"]) for error in payload["errors"]]


def test_staff_list_the_open_cards_with_what_to_write_and_the_customer(api, staff):
    tasks = card_customers(3)
    page = api(LIST, {"status": "OPEN"}, user=staff).data["staffTasks"]
    assert page["totalCount"] == 3
    nodes = [edge["node"] for edge in page["edges"]]
    assert [node["id"] for node in nodes] == task_ids(tasks)
    first = nodes[0]
    assert first["rule"] == "thank_you_card" and first["description"] == "Hand-written thank-you card (paper)"
    assert first["status"] == "OPEN" and first["doneAt"] is None and first["doneBy"] is None
    assert first["profile"] == {
        "email": "card0@example.com",
        "firstName": "Hanako",
        "touchpoints": first["profile"]["touchpoints"],
    }
    assert first["orderId"] == gid("Order", tasks[0].order_id)
    assert api(LIST, {"status": "DONE"}, user=staff).data["staffTasks"]["totalCount"] == 0


def test_three_cards_are_marked_done_at_once_with_who_and_the_note(api, staff):
    tasks = card_customers(3)
    payload = api(COMPLETE, {"ids": task_ids(tasks), "note": "Written with the green pen"}, user=staff).payload(
        "completeStaffTasks"
    )
    assert payload["errors"] == []
    assert [task["status"] for task in payload["staffTasks"]] == ["DONE"] * 3
    assert {task["doneBy"] for task in payload["staffTasks"]} == {"staff@example.com"}
    rows = Touchpoint.objects.filter(pk__in=[task.pk for task in tasks])
    assert {(row.status, row.done_by, row.note) for row in rows} == {
        ("SENT", "staff@example.com", "Written with the green pen")
    }
    assert all(row.done_at is not None for row in rows)
    done = api(LIST, {"status": "DONE"}, user=staff).data["staffTasks"]
    assert done["totalCount"] == 3 and api(LIST, {"status": "OPEN"}, user=staff).data["staffTasks"]["totalCount"] == 0


def test_a_task_already_done_is_left_as_it_was_and_the_rest_are_done(api, staff, make_user):
    tasks = card_customers(2)
    other = make_user("keiko@example.com", staff_permissions=("manage_orders",))
    api(COMPLETE, {"ids": task_ids(tasks[:1]), "note": "first"}, user=other).payload("completeStaffTasks")
    again = api(COMPLETE, {"ids": task_ids(tasks), "note": "second"}, user=staff).payload("completeStaffTasks")
    assert again["errors"] == []
    assert [(task["doneBy"], task["note"]) for task in again["staffTasks"]] == [
        ("keiko@example.com", "first"),
        ("staff@example.com", "second"),
    ]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (lambda tasks, email: [*task_ids(tasks), gid("StaffTask", 987654321)], [("ids", "NOT_FOUND")]),
        (lambda tasks, email: [*task_ids(tasks), gid("Touchpoint", email.pk)], [("ids", "NOT_FOUND")]),
        (lambda tasks, email: [*task_ids(tasks), gid("Order", 5)], [("ids.3", "INVALID")]),
        (lambda tasks, email: [*task_ids(tasks), "not an id"], [("ids.3", "INVALID")]),
        (lambda tasks, email: [*task_ids(tasks), gid("StaffTask", 2**63)], [("ids.3", "INVALID")]),
        (lambda tasks, email: [], [("ids", "INVALID")]),
        (lambda tasks, email: task_ids(tasks) * 34, [("ids", "INVALID")]),
    ],
    ids=["unknown", "an-email-touchpoint", "another-type", "not-an-id", "past-bigint", "none", "over-100"],
)
def test_a_batch_with_one_bad_id_is_refused_whole_and_nothing_changes(api, staff, ids, expected):
    tasks = card_customers(3)
    email = touchpoint(tasks[0].profile, "step_day7")
    before = snapshot()
    assert refusal(api(COMPLETE, {"ids": ids(tasks, email), "note": "x"}, user=staff)) == expected
    assert snapshot() == before


def test_a_cancelled_task_is_refused_and_nothing_changes(api, staff):
    tasks = card_customers(2)
    Touchpoint.objects.filter(pk=tasks[1].pk).update(status="CANCELLED", outcome="order cancelled")
    before = snapshot()
    assert refusal(api(COMPLETE, {"ids": task_ids(tasks)}, user=staff)) == [("ids", "INVALID")]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("note", "expected"),
    [("x" * 2001, [("note", "OUT_OF_RANGE")]), ("bad\x00note", [("note", "INVALID")])],
    ids=["too-long", "nul-byte"],
)
def test_a_bad_note_is_refused_and_nothing_changes(api, staff, note, expected):
    tasks = card_customers(1)
    before = snapshot()
    assert refusal(api(COMPLETE, {"ids": task_ids(tasks), "note": note}, user=staff)) == expected
    assert snapshot() == before


def test_customers_staff_without_manage_orders_and_nobody_are_refused_and_nothing_changes(api, make_user):
    tasks = card_customers(2)
    customer = tasks[0].profile.user
    users_only = make_user("people@example.com", staff_permissions=("manage_users",))
    before = snapshot()
    for user in (customer, users_only, None):
        assert refusal(api(COMPLETE, {"ids": task_ids(tasks)}, user=user)) == [(None, "PERMISSION_DENIED")]
        listed = api(LIST, user=user)
        assert listed.codes() == ["PERMISSION_DENIED"] and listed.data["staffTasks"] is None
        assert "card0" not in str(listed.body)
    assert snapshot() == before


CUSTOMER_DATA = """
query { staffTasks { edges { node { id profile {
  email firstName purchaseCount totalSpent { amount } %s } } } } }
"""


def test_orders_staff_see_who_the_card_is_for_but_not_what_the_conveyor_knows_of_them(api, make_user):
    tasks = card_customers(1)
    FanProfile.objects.filter(pk=tasks[0].profile_id).update(referral_code="SECRET-REF", nps=3, badges=["VIP"])
    orders_only = make_user("packer@example.com", staff_permissions=("manage_orders",))
    plain = api(CUSTOMER_DATA % "", user=orders_only)
    assert not plain.errors
    assert plain.data["staffTasks"]["edges"][0]["node"]["profile"]["email"] == "card0@example.com"
    for field in ("referralCode", "nps", "npsCategory", "badges", "segment", "unsubscribed", "touchpoints { rule }"):
        answer = api(CUSTOMER_DATA % field, user=orders_only)
        assert answer.codes() == ["PERMISSION_DENIED"], field
        assert "SECRET-REF" not in str(answer.body) and "VIP" not in str(answer.body)
    timeline = api(CUSTOMER_DATA % "timeline { kind }", user=orders_only)
    assert timeline.codes() == ["PERMISSION_DENIED"]
    # staff who may read customers see it all through the same task
    both = make_user("lead@example.com", staff_permissions=("manage_orders", "manage_users"))
    full = api(CUSTOMER_DATA % "referralCode nps badges", user=both)
    assert not full.errors
    assert full.data["staffTasks"]["edges"][0]["node"]["profile"]["referralCode"] == "SECRET-REF"


def test_first_is_at_most_100_and_pages_follow_on(api, staff):
    card_customers(3)
    assert api(LIST, {"first": 101}, user=staff).codes() == ["OUT_OF_RANGE"]
    first = api(LIST, {"first": 2}, user=staff).data["staffTasks"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"]
    rest = api(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, user=staff).data["staffTasks"]
    assert len(rest["edges"]) == 1 and not rest["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize("size", [2, 12])
def test_a_page_of_tasks_with_their_customers_is_a_fixed_number_of_queries(api, staff, size):
    card_customers(size)
    with CaptureQueriesContext(connection) as queries:
        answer = api(LIST, {"first": 50}, user=staff)
    assert len(answer.data["staffTasks"]["edges"]) == size and not answer.errors
    # the staff user, their permissions (2), the page with its customers, the count, the customers' touchpoints
    assert len(queries) == 6, [query["sql"][:80] for query in queries]


@pytest.mark.parametrize("size", [2, 12])
def test_completing_a_batch_is_a_fixed_number_of_queries(api, staff, size):
    tasks = card_customers(size)
    with CaptureQueriesContext(connection) as queries:
        answer = api(COMPLETE, {"ids": task_ids(tasks)}, user=staff).payload("completeStaffTasks")
    assert answer["errors"] == [] and len(answer["staffTasks"]) == size
    assert len(queries) <= 9, [query["sql"][:80] for query in queries]


def test_the_command_marks_one_task_done_through_the_same_service():
    (task,) = card_customers(1)
    out = StringIO()
    call_command("conveyor_staff_tasks", "--done", str(task.pk), "--by", "keiko", stdout=out)
    task.refresh_from_db()
    assert (task.status, task.done_by, task.outcome) == ("SENT", "keiko", "done by keiko")
    with pytest.raises(ConveyorError) as refused:
        conveyor.complete_staff_task(987654321, "keiko")
    assert (refused.value.field, refused.value.code) == ("id", ErrorCode.NOT_FOUND)


@pytest.mark.django_db(transaction=True)
def test_two_staff_marking_overlapping_batches_at_once_neither_fails_and_the_first_keeps_each_task():
    tasks = card_customers(4)
    ids = [task.pk for task in tasks]
    batches = [ids[:3], list(reversed(ids[1:]))]  # overlapping, in opposite orders: locked in id order, no deadlock
    outcomes = at_once(2, lambda n: conveyor.complete_staff_tasks(batches[n], f"staff{n}@example.com", f"note {n}"))
    assert not [outcome for outcome in outcomes if isinstance(outcome, BaseException)], outcomes
    rows = list(Touchpoint.objects.filter(pk__in=ids).order_by("pk"))
    assert all(row.status == "SENT" for row in rows)
    assert rows[0].done_by == "staff0@example.com" and rows[3].done_by == "staff1@example.com"
    assert all(
        (row.done_by, row.note) in {("staff0@example.com", "note 0"), ("staff1@example.com", "note 1")} for row in rows
    )


@pytest.mark.django_db(transaction=True)
def test_marking_a_task_done_waits_for_the_customers_lock_so_a_rebuild_never_writes_over_it():
    import threading

    from django.db import connections, transaction

    (task,) = card_customers(1)
    held, release, finished = threading.Event(), threading.Event(), threading.Event()

    def rebuild_holding_the_customer() -> None:  # what reconcile holds while it moves or cancels touchpoints
        try:
            with transaction.atomic():
                list(FanProfile.objects.select_for_update().filter(pk=task.profile_id))
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    def staff_marking_it_done() -> None:
        try:
            conveyor.complete_staff_tasks([task.pk], "keiko@example.com")
            finished.set()
        finally:
            connections.close_all()

    holder = threading.Thread(target=rebuild_holding_the_customer)
    holder.start()
    assert held.wait(10)
    marker = threading.Thread(target=staff_marking_it_done)
    marker.start()
    assert not finished.wait(0.5)  # waiting for the customer's lock
    release.set()
    holder.join(10)
    marker.join(10)
    assert finished.is_set() and Touchpoint.objects.get(pk=task.pk).status == "SENT"
