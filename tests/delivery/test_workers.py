"""Real parts end to end: a `celery worker` process, Redis, an SMTP server; and the faults they must survive."""

from __future__ import annotations

import email.header
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.utils import timezone

from saleor_conveyor import conveyor, delivery, tasks, tokens
from saleor_conveyor.beat import register_periodic_tasks
from saleor_conveyor.models import Touchpoint, TouchpointStatus
from sandbox.celery import app as celery_app

from ..factories import customer, placed, profile, touchpoint
from .helpers import RedisServer, free_port, start_worker, use_broker, wait_for, worker_env

S = TouchpointStatus
NO_QUIET_HOURS = json.dumps({"quiet_hours": ""})
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def order_with_step_mail_due_in(seconds: float, who) -> int:
    """Record a first order placed 7 days ago minus `seconds`: its day-7 email falls due in `seconds`."""
    now = timezone.now()
    conveyor.record_order_placed(placed(at=now - timedelta(days=7) + timedelta(seconds=seconds), who=who), now=now)
    return Touchpoint.objects.get(profile__email=who.email, rule="step_day7").id


def test_a_touchpoint_due_in_seconds_arrives_once_in_the_customers_language_with_unsubscribe(
    smtp, broker, knobs, tmp_path
):
    worker = start_worker(worker_env(broker=broker, smtp_port=smtp.port, conveyor=NO_QUIET_HOURS), tmp_path)
    try:
        hanako = customer("hanako@example.com", first_name="花子", language_code="ja")
        tp_id = order_with_step_mail_due_in(4, hanako)
        due_at = Touchpoint.objects.get(id=tp_id).due_at
        # The same touchpoint enqueued twice more, once early: still one email.
        tasks.deliver_touchpoint.apply_async((tp_id,), eta=due_at)
        tasks.deliver_touchpoint.delay(tp_id)
        wait_for(lambda: len(smtp) >= 1, timeout=25, what="the email", worker=worker)
        arrived = timezone.now()
        time.sleep(2)
    finally:
        worker.kill()
    assert smtp.touchpoint_ids() == [tp_id], worker.output()[-2000:]
    assert arrived >= due_at
    message = smtp.messages[0]
    assert decoded(message["Subject"]) == "ほかのお客様の使い方をご紹介します"
    assert decoded(message["From"]) == "Sandbox Shop <shop@example.com>"
    assert message["To"] == "hanako@example.com"
    assert message["Content-Language"] == "ja"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = "".join(message["List-Unsubscribe"].split()).strip("<>")  # unfold the long header
    token = parse_qs(urlsplit(unsubscribe).query)["token"][0]
    assert tokens.read_token(token, tokens.UNSUBSCRIBE) == Touchpoint.objects.get(id=tp_id).profile_id
    assert unsubscribe.startswith("http://localhost:8000/unsubscribe/?token=")  # one-click: our endpoint
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    # The body links to the mail-preferences page with its own token (signed a moment apart from the header's).
    page = re.search(r"http://localhost:8000/preferences/\?token=([^\s)]+)", text)
    assert "花子 様" in text and page is not None
    profile_id = Touchpoint.objects.get(id=tp_id).profile_id
    assert tokens.read_token(unquote(page.group(1)), tokens.UNSUBSCRIBE) == profile_id
    assert "/preferences/?token=" in html
    tp = Touchpoint.objects.get(id=tp_id)
    assert tp.status == S.SENT and tp.attempts == 1


def test_orders_recorded_while_redis_is_down_are_delivered_by_the_sweep_once_it_is_back(smtp, knobs, caplog, tmp_path):
    redis = RedisServer(free_port())
    redis.start()
    worker = None
    try:
        use_broker(redis.url)
        knobs(enqueue=True)
        register_periodic_tasks(sweep_every=timedelta(seconds=1))
        worker = start_worker(
            worker_env(broker=redis.url, smtp_port=smtp.port, conveyor=NO_QUIET_HOURS), tmp_path, beat=True
        )
        redis.stop()
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="saleor_conveyor"):
            ids = [order_with_step_mail_due_in(1, customer(f"fan{i}@example.com")) for i in range(5)]
            assert time.monotonic() - started < 3, "a down broker must not stall recording orders"
            assert delivery.flush_enqueued(timeout=30)  # the publisher thread tried, and gave up
        # Recording worked; enqueueing each order's delivery did not (the broker was down).
        assert Touchpoint.objects.filter(id__in=ids, status=S.SCHEDULED).count() == 5
        given_up = [r.args[0] for r in caplog.records if "the sweep will deliver it" in r.getMessage()]
        assert sum(given_up) == 5
        assert len(smtp) == 0
        # Kept short: Celery's worker retries its broker connection after 2 s, then 4 s, 6 s...
        redis.start()
        wait_for(lambda: len(smtp) >= 5, timeout=60, what="the sweep to deliver after Redis came back", worker=worker)
        time.sleep(2)
    finally:
        if worker is not None:
            worker.kill()
        redis.stop()
    assert sorted(smtp.touchpoint_ids()) == sorted(ids), worker.output()[-3000:]
    assert set(Touchpoint.objects.filter(id__in=ids).values_list("status", flat=True)) == {S.SENT}


# One row claimed at a time, and the default chunk: a kill leaves at most one chunk SENDING.
@pytest.mark.parametrize("claim_chunk", [1, delivery.DeliverySettings().claim_chunk], ids=["chunk-1", "default-chunk"])
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(smtp, broker, knobs, tmp_path, claim_chunk):
    rows = [touchpoint(profile(f"fan{i}@example.com"), "step_day7") for i in range(12)]
    smtp.delay = 0.3
    chunking = json.dumps({"claim_chunk": claim_chunk})
    worker = start_worker(
        worker_env(broker=broker, smtp_port=smtp.port, conveyor=NO_QUIET_HOURS, delivery=chunking), tmp_path
    )
    try:
        celery_app.send_task("saleor_conveyor.sweep_due")
        wait_for(lambda: len(smtp) >= 3, timeout=25, what="the batch to be under way", worker=worker)
    finally:
        worker.kill()
    before = set(smtp.touchpoint_ids())
    statuses = list(Touchpoint.objects.values_list("status", flat=True))
    assert statuses.count(S.SENDING) <= claim_chunk
    if claim_chunk > 1:
        assert statuses.count(S.SENDING) > 1, "the kill was meant to land in the middle of a chunk"
    assert 2 <= statuses.count(S.SENT) < 12  # the third may still be in flight
    # Time passes: the dead worker's reservation and claim run out; the next sweep cleans up.
    smtp.delay = 0
    knobs(lease=0.5, stale_after=0.5)
    time.sleep(0.6)
    delivery.sweep()
    received = smtp.touchpoint_ids()
    assert len(received) == len(set(received)), "an email went out twice"
    sent = set(Touchpoint.objects.filter(status=S.SENT).values_list("id", flat=True))
    failed = list(Touchpoint.objects.filter(status=S.FAILED))
    assert len(failed) <= claim_chunk and all("not sent again" in tp.outcome for tp in failed)
    assert len(sent) + len(failed) == len(rows), "a touchpoint was left without a final state"
    assert sent <= set(received)
    assert set(received) - sent <= {tp.id for tp in failed}
    assert before <= set(received)
