"""GraphQL fixtures: the API client, users with and without staff permissions (helpers.py, tests/factories.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from .helpers import Api


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def make_user(django_user_model) -> Callable[..., Any]:
    def make(email: str, *, staff_permissions: tuple[str, ...] = ()) -> Any:
        user = django_user_model.objects.create_user(username=email, email=email, password="x")
        if staff_permissions:
            user.is_staff = True
            user.save()
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="saleor_conveyor",
                    codename__in=[f"conveyor_{name}" for name in staff_permissions],  # see migration 0002
                )
            )
        return user

    return make


@pytest.fixture
def hanako(make_user) -> Any:
    return make_user("hanako@example.com")


@pytest.fixture
def taro(make_user) -> Any:
    return make_user("taro@example.com")


@pytest.fixture
def staff(make_user) -> Any:
    return make_user("staff@example.com", staff_permissions=("manage_users", "manage_orders"))
