"""Shared fixtures: no broker unless a test asks, a fixed clock. Builders are in tests/factories.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from .factories import T0


@pytest.fixture(autouse=True)
def _no_broker_unless_asked(settings):
    """Recording an order enqueues delivery on Celery's broker; tests that want a broker turn it back on."""
    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": False}


@pytest.fixture(autouse=True)
def _saved_rule_book_ends_with_the_test():
    """A test that saves the rule book leaves it in the host's cached configuration; its rows are rolled back,
    so the next test must read the configuration again (the sandbox host reads the saved book from the database)."""
    from django.db.models.signals import post_save

    from saleor_conveyor.hosts import reset_host
    from saleor_conveyor.models import RuleBookChange

    saved = []

    def remember(**kwargs):
        saved.append(True)

    post_save.connect(remember, sender=RuleBookChange, weak=False, dispatch_uid="tests.rule_book_saved")
    yield
    post_save.disconnect(sender=RuleBookChange, dispatch_uid="tests.rule_book_saved")
    if saved:
        reset_host()


@pytest.fixture
def eager_celery(settings):
    """Tasks run inside the call that sends them, with enqueueing on (the host's Celery app, and Django's setting)."""
    from saleor_conveyor.hosts import get_host

    settings.CONVEYOR_DELIVERY = {**getattr(settings, "CONVEYOR_DELIVERY", {}), "enqueue": True}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app = get_host().celery_app()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = eager


@pytest.fixture
def t0() -> datetime:
    return T0


# tests/saleor/ is the Saleor tier: its own pytest session inside Saleor's test setup
# (`make test-saleor SALEOR_PYTHON=...`), never collected by the core run.
collect_ignore = ["saleor"]


def pytest_report_header(config) -> str:
    return "saleor tier: not part of this run (tests/saleor/ runs inside Saleor: make test-saleor SALEOR_PYTHON=...)"
