"""`make serve`'s staff login: a staff member who can open every console page, with a fresh password each run."""

from __future__ import annotations

import pytest
from django.test import Client

from sandbox.demo.management.commands.conveyor_serve import STAFF_EMAIL, staff_login

pytestmark = pytest.mark.django_db


def test_the_printed_staff_login_signs_in_to_the_console_and_a_new_run_replaces_the_password():
    first = staff_login()
    second = staff_login()
    assert first != second
    client = Client()
    assert not client.login(username=STAFF_EMAIL, password=first)
    assert client.login(username=STAFF_EMAIL, password=second)
    for page in ("/console/overview/", "/console/customers/"):
        assert client.get(page).status_code == 200, page
