"""The overview's and the home widget's open-work counts: one count per queue, only the queues the staff member
may open, each linked to its page, the same numbers as the queues themselves."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from saleor_conveyor import work_queues
from saleor_conveyor.console import auth
from saleor_conveyor.models import FollowUp, Inquiry, ReturnRequest, Touchpoint

from ..queues import detractor
from .shop import customer_with_history, staff_member

pytestmark = pytest.mark.django_db


def overview(staff) -> str:
    session = auth.session_token(staff, auth.VIA_DASHBOARD)
    response = Client().get("/console/overview/", {"s": session, "lang": "en"})
    assert response.status_code == 200
    return response.content.decode()


def shown(page: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r'data-open-work="([a-z_]+)" data-value="(\d+)"', page)}


def test_the_overview_shows_every_queues_open_count_linked_to_its_page():
    customer_with_history()
    detractor("taro@example.com", 3, "It arrived broken")  # through the service: a follow-up opens
    staff = staff_member("staff@example.com", "MANAGE_ORDERS", "MANAGE_USERS")
    page = overview(staff)
    assert shown(page) == {
        "staff_tasks": Touchpoint.objects.filter(kind="STAFF_TASK", status="SCHEDULED").count(),
        "returns": ReturnRequest.objects.filter(status="REQUESTED").count(),
        "inquiries": Inquiry.objects.filter(status="OPEN").count(),
        "follow_ups": FollowUp.objects.exclude(status="CLOSED").count(),
    }
    assert shown(page)["inquiries"] == 1 and shown(page)["follow_ups"] == 1 and shown(page)["staff_tasks"] > 0
    for path in ("tasks", "returns", "inquiries", "follow-ups"):
        assert re.search(rf'href="/console/{path}/\?s=[^"]+" data-open-work=', page), path


def test_a_staff_member_sees_only_the_queues_their_permissions_open():
    customer_with_history()
    orders_only = staff_member("orders@example.com", "MANAGE_ORDERS")
    assert set(shown(overview(orders_only))) == {"staff_tasks", "returns"}
    assert work_queues.open_work(lambda permission: permission == "MANAGE_USERS") == {
        "staff_tasks": None,
        "returns": None,
        "inquiries": 1,
        "follow_ups": FollowUp.objects.count(),
    }


def test_a_task_marked_done_leaves_the_count_at_once_though_the_figures_are_kept(settings):
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    customer_with_history()
    staff = staff_member("staff@example.com", "MANAGE_ORDERS", "MANAGE_USERS")
    assert shown(overview(staff))["staff_tasks"] == 2  # the thank-you card and the big order's card
    Touchpoint.objects.filter(kind="STAFF_TASK").update(status="SENT")
    assert shown(overview(staff))["staff_tasks"] == 0
