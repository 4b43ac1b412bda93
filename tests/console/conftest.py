"""Fixtures of the console tests (builders live in shop.py and overview_shop.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "conveyor-console"}}


def shared_cache() -> dict:
    """Django's cache on the tests' Redis (its own database number, beside the broker's), as a web server and a
    worker share it; clear() empties only that database."""
    from tests.delivery.helpers import REDIS_DB

    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:6379/{REDIS_DB + 1}",
            "KEY_PREFIX": "conveyor-tests",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture
def kept_figures(settings):
    """The overview keeps its figures for five minutes, in a cache of the test's own (never a shop's Redis)."""
    settings.CACHES = LOCMEM
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()
