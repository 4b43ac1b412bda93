"""Fixtures of the console tests (builders live in shop.py and overview_shop.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "conveyor-console"}}


@pytest.fixture
def kept_figures(settings):
    """The overview keeps its figures for five minutes, in a cache of the test's own (never a shop's Redis)."""
    settings.CACHES = LOCMEM
    settings.CONVEYOR_CONSOLE_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()
