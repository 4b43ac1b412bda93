"""The work queues inside Saleor: a return approved on the console's returns page is a RETURNED fulfillment on the
Saleor order (what staff see in the Dashboard); the staff tasks read Saleor's shipping addresses."""

from __future__ import annotations

import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from saleor_conveyor import conveyor
from saleor_conveyor.console import auth
from saleor_conveyor.events import Customer, ReturnLineRequested, ReturnRequested
from saleor_conveyor.hosts import get_host
from saleor_conveyor.models import ReturnRequest

ROOT = "/plugins/global/conveyor.crm/"
RETURNS = f"{ROOT}console/returns/"
_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_a_return_approved_in_the_console_appears_on_the_order_in_saleor(
    conveyor_enabled, fulfilled_order, place_order, staff_user, permission_group_manage_orders
):
    place_order(fulfilled_order)
    line = fulfilled_order.lines.first()
    who = Customer(email=fulfilled_order.user.email, user_id=fulfilled_order.user.pk)
    asked = ReturnRequested(who, str(fulfilled_order.pk), (ReturnLineRequested(str(line.pk), 1),), "DAMAGED", "Cracked")
    requested = conveyor.request_return(
        asked, order=conveyor.order_for_return(str(fulfilled_order.pk), who), window_days=30
    )
    assert not fulfilled_order.fulfillments.filter(status="returned").exists()

    permission_group_manage_orders.user_set.add(staff_user)
    client = Client(enforce_csrf_checks=True)
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(staff_user, auth.VIA_SIGN_IN)
    page = client.get(f"{RETURNS}?lang=en")
    assert page.status_code == 200 and f'data-return="{requested.pk}"' in page.content.decode()
    token = _TOKEN.search(page.content.decode()).group(1)
    decided = client.post(
        RETURNS, {"csrfmiddlewaretoken": token, "return": str(requested.pk), "decision": "approve", "note": "Sorry"}
    )
    assert decided.status_code == 303, decided.content[:500]

    requested.refresh_from_db()
    assert (requested.status, requested.note, requested.decided_by) == ("APPROVED", "Sorry", staff_user.email)
    returned = fulfilled_order.fulfillments.get(status="returned")  # on the order, as the Dashboard shows it
    assert requested.host_reference == str(returned.pk)
    assert [(item.order_line_id, item.quantity) for item in returned.lines.all()] == [(line.pk, 1)]
    shown = client.get(f"{RETURNS}?show=decided&lang=en").content.decode()
    assert 'data-status="APPROVED"' in shown and str(returned.pk) in shown


def test_staff_without_manage_orders_cannot_decide_and_nothing_changes(
    conveyor_enabled, fulfilled_order, place_order, staff_user
):
    place_order(fulfilled_order)
    line = fulfilled_order.lines.first()
    who = Customer(email=fulfilled_order.user.email, user_id=fulfilled_order.user.pk)
    asked = ReturnRequested(who, str(fulfilled_order.pk), (ReturnLineRequested(str(line.pk), 1),), "DAMAGED")
    requested = conveyor.request_return(
        asked, order=conveyor.order_for_return(str(fulfilled_order.pk), who), window_days=30
    )
    client = Client()
    client.cookies[auth.SESSION_COOKIE] = auth.session_token(staff_user, auth.VIA_SIGN_IN)
    assert client.post(RETURNS, {"return": str(requested.pk), "decision": "approve"}).status_code == 403
    assert ReturnRequest.objects.get().status == "REQUESTED"
    assert not fulfilled_order.fulfillments.filter(status="returned").exists()


def test_shipping_addresses_are_saleors_in_one_query(conveyor_enabled, order_with_lines):
    address = order_with_lines.shipping_address
    with CaptureQueriesContext(connection) as queries:
        found = get_host().shipping_addresses([str(order_with_lines.pk), "not-a-uuid", str(order_with_lines.pk)])
    assert len(queries) == 1
    shipped = found[str(order_with_lines.pk)]
    assert (shipped.city, shipped.postal_code) == (address.city, address.postal_code)
    assert shipped.country == address.country.code
    assert shipped.street_address_1 == address.street_address_1 and shipped.name
    assert shipped.lines()
    assert get_host().shipping_addresses([]) == {}
