"""Delivery fixtures: no quiet hours unless a test sets them, a real SMTP server, a Celery app on our Redis db."""

from __future__ import annotations

import pytest

from saleor_conveyor import delivery

from .helpers import LOCAL_REDIS, smtp_server, use_broker


@pytest.fixture(autouse=True)
def _shop_without_quiet_hours(settings):
    """Most tests are about delivery itself; pacing tests set the quiet hours they need."""
    settings.CONVEYOR = {**settings.CONVEYOR, "quiet_hours": ""}


@pytest.fixture
def knobs(settings):
    """Fast retries and short leases; `update(**knobs)` changes them within a test."""

    def update(**knobs) -> None:
        settings.CONVEYOR_DELIVERY = {**settings.CONVEYOR_DELIVERY, **knobs}

    update(retry_delay=0, max_retry_delay=0, max_attempts=3)
    return update


@pytest.fixture
def smtp(settings):
    """A real SMTP server on localhost; Django's SMTP backend pointed at it."""
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_TIMEOUT = 10
        inbox.port = port
        yield inbox


@pytest.fixture
def broker(settings):
    """Our own Redis database (5), emptied, and enqueueing turned on."""
    import redis

    client = redis.Redis.from_url(LOCAL_REDIS)
    client.flushdb()
    use_broker(LOCAL_REDIS)
    settings.CONVEYOR_DELIVERY = {**settings.CONVEYOR_DELIVERY, "enqueue": True}
    yield LOCAL_REDIS
    assert delivery.flush_enqueued(timeout=10)  # nothing of this test's may reach the next one's broker
    use_broker(LOCAL_REDIS)
    client.flushdb()
    client.close()
