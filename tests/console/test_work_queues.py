"""Console work queues: staff tasks (list, bulk done, print) and returns (approve, reject), MANAGE_ORDERS only,
CSRF-checked POSTs, fixed queries, the same service as the API."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from saleor_conveyor.console import auth
from saleor_conveyor.models import ReturnRequest, Touchpoint
from sandbox.shop.models import OrderReturn
from tests.graphql.helpers import snapshot

from .queues_shop import card_customers, requested_return, staff_member

pytestmark = pytest.mark.django_db
TASKS = "/console/tasks/"
PRINT = "/console/tasks/print/"
RETURNS = "/console/returns/"
_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def as_staff(user, *, enforce_csrf: bool = True) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(user, auth.VIA_SIGN_IN)
    return client


def form_token(client: Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.content[:300]
    return _TOKEN.search(page.content.decode()).group(1)


def orders_staff():
    return staff_member("orders@example.com", "MANAGE_ORDERS")


def test_open_tasks_show_the_customer_order_what_to_write_address_and_due_date():
    tasks = card_customers(3)
    page = as_staff(orders_staff()).get(f"{TASKS}?lang=en").content.decode()
    assert page.count('data-task="') == 3 and "3 tasks" in page
    assert "Hanako" in page and "card0@example.com" in page
    assert "Hand-written thank-you card (paper)" in page and "Dear 山田 花子," in page
    assert "〒150-0001" in page and "東京都渋谷区神南1-1-3" in page and "コーポ渋谷 201" in page
    assert "¥12,000" in page and tasks[0].due_at.strftime("%Y-%m-%d") in page
    assert f'name="task" value="{tasks[0].pk}"' in page
    japanese = as_staff(orders_staff_2()).get(f"{TASKS}?lang=ja").content.decode()
    assert "スタッフタスク" in japanese and "山田 花子 様" in japanese


def orders_staff_2():
    return staff_member("orders2@example.com", "MANAGE_ORDERS")


def test_three_tasks_are_marked_done_in_bulk_with_who_and_the_note():
    tasks = card_customers(4)
    client = as_staff(orders_staff())
    token = form_token(client, TASKS)
    chosen = [str(task.pk) for task in tasks[:3]]
    done = client.post(TASKS, {"csrfmiddlewaretoken": token, "task": chosen, "note": "Green pen", "action": "done"})
    assert done.status_code == 303 and "done=3" in done["Location"]
    rows = {row.pk: row for row in Touchpoint.objects.filter(pk__in=[task.pk for task in tasks])}
    assert [(rows[t.pk].status, rows[t.pk].done_by, rows[t.pk].note) for t in tasks[:3]] == [
        ("SENT", "orders@example.com", "Green pen")
    ] * 3
    assert rows[tasks[3].pk].status == "SCHEDULED"
    listed = client.get(done["Location"]).content.decode()
    assert "3 tasks marked done." in listed or "3 件を完了にしました。" in listed
    assert listed.count('data-task="') == 1
    finished = client.get(f"{TASKS}?status=done&lang=en").content.decode()
    assert finished.count('data-status="DONE"') == 3 and "Green pen" in finished and "orders@example.com" in finished


def test_print_opens_the_selected_cards_one_a_sheet():
    tasks = card_customers(3)
    client = as_staff(orders_staff())
    token = form_token(client, TASKS)
    chosen = [str(task.pk) for task in tasks[:2]]
    opened = client.post(TASKS, {"csrfmiddlewaretoken": token, "task": chosen, "action": "print"})
    assert opened.status_code == 303 and opened["Location"].startswith(PRINT)
    assert not Touchpoint.objects.filter(status="SENT").exists()  # printing marks nothing done
    sheet = client.get(f"{opened['Location']}&lang=ja").content.decode()
    assert sheet.count('class="print-sheet"') == 2 and "@media print" in sheet and "break-after: page" in sheet
    assert "山田 花子 様" in sheet and "〒150-0001" in sheet and "card2@example.com" not in sheet


def test_nothing_selected_a_bad_note_or_a_task_gone_changes_nothing():
    tasks = card_customers(2)
    Touchpoint.objects.filter(pk=tasks[1].pk).update(status="CANCELLED")
    client = as_staff(orders_staff())
    token = form_token(client, f"{TASKS}?lang=en")
    before = snapshot()
    cases = [
        ({"task": []}, "Select at least one task."),
        ({"task": [str(tasks[0].pk)], "note": "x" * 2001}, "at most 2000 characters"),
        ({"task": [str(tasks[0].pk)], "note": "bad\x00"}, "at most 2000 characters"),
        ({"task": [str(tasks[0].pk), str(tasks[1].pk)]}, "Nothing was changed."),
        ({"task": [str(tasks[0].pk), "987654321"]}, "Nothing was changed."),
        ({"task": ["1; DROP"]}, "Select at least one task."),
    ]
    for values, message in cases:
        refused = client.post(f"{TASKS}?lang=en", {"csrfmiddlewaretoken": token, "action": "done", **values})
        assert refused.status_code == 400 and message in refused.content.decode(), values
    assert snapshot() == before


def test_a_post_without_the_csrf_token_or_from_staff_without_manage_orders_changes_nothing():
    (task,) = card_customers(1)
    before = snapshot()
    forged = as_staff(orders_staff()).post(TASKS, {"task": [str(task.pk)], "action": "done"})
    assert forged.status_code == 403
    people = as_staff(staff_member("people@example.com", "MANAGE_USERS"), enforce_csrf=False)
    assert people.get(TASKS).status_code == 403 and people.get(f"{PRINT}?ids={task.pk}").status_code == 403
    assert people.post(TASKS, {"task": [str(task.pk)], "action": "done"}).status_code == 403
    customer = Client(enforce_csrf_checks=False)
    customer.force_login(task.profile.user)
    assert customer.post(TASKS, {"task": [str(task.pk)], "action": "done"}).status_code == 401
    assert "card0" not in customer.get(f"{PRINT}?ids={task.pk}").content.decode()
    assert snapshot() == before


def test_inside_the_dashboard_the_session_field_stands_for_the_csrf_cookie():
    (task,) = card_customers(1)
    session = auth.session_token(orders_staff(), auth.VIA_DASHBOARD)
    client = Client(enforce_csrf_checks=True)  # the iframe: no cookies at all
    page = client.get(f"{TASKS}?s={session}").content.decode()
    assert f'name="s" value="{session}"' in page
    done = client.post(TASKS, {"s": session, "task": [str(task.pk)], "action": "done"})
    assert done.status_code == 303 and urlencode({"s": session}) in done["Location"]
    assert Touchpoint.objects.get(pk=task.pk).status == "SENT"


@pytest.mark.parametrize("size", [2, 12])
def test_the_task_list_and_print_page_are_a_fixed_number_of_queries(size):
    tasks = card_customers(size)
    client = as_staff(orders_staff(), enforce_csrf=False)
    with CaptureQueriesContext(connection) as listed:
        assert client.get(TASKS).status_code == 200
    with CaptureQueriesContext(connection) as printed:
        assert client.get(f"{PRINT}?ids={','.join(str(t.pk) for t in tasks)}").status_code == 200
    # the staff user and permissions (3), the page, its count, the orders' ledger rows, the addresses
    assert len(listed) == 7, [query["sql"][:80] for query in listed]
    assert len(printed) == 6, [query["sql"][:80] for query in printed]


def test_a_requested_return_shows_lines_reason_comment_and_customer():
    asked = requested_return()
    page = as_staff(orders_staff()).get(f"{RETURNS}?lang=en").content.decode()
    assert f'data-return="{asked.pk}"' in page and "Hanako" in page and "hanako@example.com" in page
    assert "Green tea: 1" in page and "Damaged or dirty" in page and "The lid was cracked" in page
    assert f"#{asked.purchase.order_number}" in page
    assert 'id="found">1 return request</p>' in page  # one, not "1 return requests"
    assert "返品依頼" in as_staff(orders_staff_2()).get(f"{RETURNS}?lang=ja").content.decode()


def test_approving_creates_the_return_in_the_host_and_lists_it_as_decided():
    asked = requested_return()
    client = as_staff(orders_staff())
    token = form_token(client, RETURNS)
    decided = client.post(
        RETURNS, {"csrfmiddlewaretoken": token, "return": str(asked.pk), "decision": "approve", "note": "Sorry!"}
    )
    assert decided.status_code == 303 and "decided=APPROVED" in decided["Location"]
    asked.refresh_from_db()
    assert (asked.status, asked.note, asked.decided_by) == ("APPROVED", "Sorry!", "orders@example.com")
    created = OrderReturn.objects.get()
    assert asked.host_reference == str(created.pk) and created.lines == [[asked.lines.get().order_line_id, 1]]
    shown = client.get(f"{RETURNS}?show=decided&lang=en").content.decode()
    assert 'data-status="APPROVED"' in shown and "Sorry!" in shown and "orders@example.com" in shown
    assert 'data-form="decide"' not in shown
    assert client.get(f"{RETURNS}?lang=en").content.decode().count("data-return=") == 0


def test_rejecting_records_the_note_and_creates_nothing_in_the_host():
    asked = requested_return()
    client = as_staff(orders_staff())
    token = form_token(client, RETURNS)
    client.post(RETURNS, {"csrfmiddlewaretoken": token, "return": str(asked.pk), "decision": "reject", "note": "Worn"})
    asked.refresh_from_db()
    assert (asked.status, asked.note) == ("REJECTED", "Worn") and not OrderReturn.objects.exists()


def test_a_refused_decision_changes_nothing():
    asked = requested_return()
    client = as_staff(orders_staff())
    token = form_token(client, f"{RETURNS}?lang=en")
    before = snapshot()
    cases = [
        ({"return": str(asked.pk), "decision": "approve", "note": "x" * 2001}, "at most 2000 characters"),
        ({"return": str(asked.pk), "decision": "maybe"}, "at most 2000 characters"),
        ({"return": "not-a-uuid", "decision": "approve"}, "Nothing was changed."),
        ({"return": "00000000-0000-0000-0000-000000000001", "decision": "approve"}, "Nothing was changed."),
    ]
    for values, message in cases:
        refused = client.post(f"{RETURNS}?lang=en", {"csrfmiddlewaretoken": token, **values})
        assert refused.status_code == 400 and message in refused.content.decode(), values
    forged = client.post(RETURNS, {"return": str(asked.pk), "decision": "approve"})
    assert forged.status_code == 403
    people = as_staff(staff_member("people@example.com", "MANAGE_USERS"), enforce_csrf=False)
    assert people.post(RETURNS, {"return": str(asked.pk), "decision": "approve"}).status_code == 403
    assert snapshot() == before
    ReturnRequest.objects.filter(pk=asked.pk).update(status="REJECTED")
    again = client.post(
        f"{RETURNS}?lang=en", {"csrfmiddlewaretoken": token, "return": str(asked.pk), "decision": "approve"}
    )
    assert again.status_code == 400 and not OrderReturn.objects.exists()


@pytest.mark.parametrize("size", [1, 8])
def test_the_returns_page_is_a_fixed_number_of_queries(size):
    for n in range(size):
        requested_return(f"c{n}@example.com", f"C{n}")
    client = as_staff(orders_staff(), enforce_csrf=False)
    with CaptureQueriesContext(connection) as shown:
        assert client.get(RETURNS).status_code == 200
    # the staff user and permissions (3), the page with customers and orders, its lines, the count
    assert len(shown) == 6, [query["sql"][:80] for query in shown]
