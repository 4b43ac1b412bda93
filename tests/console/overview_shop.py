"""A small simulated shop for the overview's tests (the demo's Simulation), and a staff member to look at it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import override_settings

from sandbox.demo.simulation import Simulation

CUSTOMERS, DAYS = 60, 150


def simulated_shop(customers: int = CUSTOMERS, days: int = DAYS, seed: int = 7) -> Simulation:
    """Orders, answers, fan surveys and touchpoints of `customers` over `days` days, ending now."""
    delivery = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}
    with override_settings(CONVEYOR_DELIVERY=delivery):
        simulation = Simulation(customers=customers, days=days, seed=seed)
        simulation.populate()
        simulation.run()
    return simulation


def staff_member(email: str = "orders@example.com", *codenames: str, is_staff: bool = True, **extra: Any) -> Any:
    user = get_user_model().objects.create_user(
        username=email, email=email, password="pw-staff", is_staff=is_staff, **extra
    )
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def get_page(client: Any, path: str, params: dict | None = None) -> tuple[str, int, bool]:
    """A console page's body, how many statements answering it ran, and whether any read the purchase ledger
    (its figures were computed rather than kept)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saleor_conveyor.models import Purchase

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params or {})
    assert response.status_code == 200
    ledger = Purchase._meta.db_table
    return response.content.decode(), len(queries), any(ledger in query["sql"] for query in queries.captured_queries)
