"""Faults of the network and the database around delivery: every wait is bounded, nothing is lost or sent twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from saleor_conveyor import conveyor, delivery, tasks
from saleor_conveyor.models import Touchpoint, TouchpointStatus

from ..factories import customer, placed, profile, touchpoint
from .helpers import LOCAL_REDIS, free_port, silent_server, use_broker

S = TouchpointStatus
pytestmark = pytest.mark.django_db(transaction=True)


def within(seconds: float, call: Callable[[], Any]) -> tuple[Any, float]:
    """Run `call` on a thread of its own (as ASGI runs a request); its result and how long it took.

    Fails if it is still running after `seconds` (the thread then ends when what it waits for goes away).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = call()
        except BaseException as error:  # handed to the test
            outcome["error"] = error
        finally:
            outcome["took"] = time.monotonic() - started
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], outcome["took"]


def order_with_step_mail_due_now(email: str) -> int:
    """Record a first order placed 7 days ago: its day-7 email is due at once (enqueued after commit)."""
    now = timezone.now()
    conveyor.record_order_placed(placed(at=now - timedelta(days=7), who=customer(email)), now=now)
    return Touchpoint.objects.get(profile__email=email, rule="step_day7").id


# --- a broker that never answers ----------------------------------------------------------


@pytest.mark.parametrize("window", [0, 0.1], ids=["sent-by-the-caller", "sent-by-the-publisher-thread"])
def test_a_broker_that_never_answers_does_not_hold_the_request_and_the_sweep_delivers(knobs, window, caplog):
    knobs(enqueue=True, enqueue_window=window, enqueue_timeout=1)
    with silent_server() as port:
        use_broker(f"redis://127.0.0.1:{port}/0")
        try:
            with caplog.at_level("WARNING", logger="saleor_conveyor"):
                tp_id, took = within(10, lambda: order_with_step_mail_due_now("hanako@example.com"))
                # The publisher thread gave up too, in bounded time (else it holds every later touchpoint).
                assert delivery.flush_enqueued(timeout=10)
        finally:
            use_broker(LOCAL_REDIS)
    assert took < (3 if window == 0 else 0.5)  # one bounded wait with no window; none with one
    assert "could not enqueue 1 touchpoint(s)" in caplog.text
    assert Touchpoint.objects.get(id=tp_id).status == S.SCHEDULED  # the order was committed
    report = delivery.sweep()
    assert tp_id in report.sent and [m.extra_headers["X-Conveyor-Touchpoint"] for m in mail.outbox] == [str(tp_id)]


def test_an_nps_answer_over_http_is_answered_in_seconds_while_the_broker_never_answers(knobs, django_user_model):
    from saleor_conveyor.models import NpsResponse

    from ..factories import gid, shop_order
    from ..graphql.helpers import Api

    user = django_user_model.objects.create_user(username="hanako@example.com", email="hanako@example.com")
    order = shop_order(user)
    knobs(enqueue=True, enqueue_window=0)  # the answer's follow-up is sent before the response
    query = "mutation($o: ID) { submitNps(orderId: $o, score: 0) { errors { code } } }"
    with silent_server() as port:
        use_broker(f"redis://127.0.0.1:{port}/0")
        try:
            answer, took = within(15, lambda: Api()(query, {"o": gid("Order", order.pk)}, user=user))
        finally:
            use_broker(LOCAL_REDIS)
    assert answer.status == 200 and answer.payload("submitNps")["errors"] == []
    assert took < 4, f"the response waited {took:.1f} s for a broker that never answers"
    assert NpsResponse.objects.filter(profile__email="hanako@example.com", score=0).count() == 1
    letter = Touchpoint.objects.get(profile__email="hanako@example.com", rule="honesty_letter")
    assert letter.status == S.SCHEDULED and letter.due_at <= timezone.now()
    assert letter.id in delivery.sweep().sent  # nothing lost: the sweep delivers it


def test_a_broker_that_refuses_connections_costs_the_caller_no_wait(knobs, caplog):
    knobs(enqueue=True, enqueue_window=0)
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        with caplog.at_level("WARNING", logger="saleor_conveyor"):
            tp_id, took = within(10, lambda: order_with_step_mail_due_now("hanako@example.com"))
    finally:
        use_broker(LOCAL_REDIS)
    assert took < 1 and "could not enqueue 1 touchpoint(s)" in caplog.text
    assert Touchpoint.objects.get(id=tp_id).status == S.SCHEDULED


@pytest.mark.parametrize(("hosts", "expected"), [(7, 2.0), (1, 1)], ids=["hosts-longer", "hosts-shorter"])
def test_the_broker_timeouts_of_enqueueing_are_ours_or_the_hosts_if_shorter(hosts, expected):
    from sandbox.celery import app

    use_broker(LOCAL_REDIS)
    configured = dict(app.conf.broker_transport_options or {})
    app.conf.update(CELERY_BROKER_TRANSPORT_OPTIONS={**configured, "socket_timeout": hosts})
    try:
        address = delivery._broker_address(app, 2.0)
    finally:
        app.conf.update(CELERY_BROKER_TRANSPORT_OPTIONS=configured)
        delivery._broker = None
    options = address.transport_options
    assert options["socket_timeout"] == expected and options["socket_connect_timeout"] == 2.0
    assert address.connect_timeout == 2.0


def test_an_amazon_sqs_broker_is_bounded_through_its_client_config():
    options = delivery._bounded_transport_options("sqs", {"client-config": {"read_timeout": 1}}, 2.0)
    assert options["client-config"] == {"read_timeout": 1, "connect_timeout": 2.0, "retries": {"max_attempts": 1}}
    assert delivery._bounded_transport_options("py-amqp", {}, 2.0) == {
        "max_retries": 0,
        "interval_start": 0,
        "read_timeout": 2.0,
        "write_timeout": 2.0,
    }


# --- a mail server that never answers -----------------------------------------------------


def test_a_mail_server_that_never_answers_costs_a_sweep_one_timeout_and_the_rows_are_retried_later(knobs, settings):
    knobs(retry_delay=60, max_retry_delay=60, mail_timeout=1)
    rows = [touchpoint(profile(f"fan{i}@example.com")) for i in range(5)]
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_TIMEOUT = None  # the host set none: Django's SMTP backend would wait for ever
        report, took = within(10, delivery.sweep)
    assert took < 3, "one wait for the silent server, not one per row"
    assert sorted(report.retrying) == sorted(tp.id for tp in rows)
    for tp in Touchpoint.objects.filter(id__in=[tp.id for tp in rows]):
        assert tp.status == S.SCHEDULED and tp.attempts == 1 and tp.claimed_at is None
        assert tp.due_at > timezone.now() + timedelta(seconds=50)  # backoff
        assert "did not answer" in tp.outcome or "timed out" in tp.outcome


def test_the_hosts_own_mail_timeout_is_kept(knobs, settings):
    knobs(retry_delay=60, max_retry_delay=60, mail_timeout=30)
    row = touchpoint(profile("hanako@example.com"))
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 1
        report, took = within(10, delivery.sweep)
    assert took < 4 and report.retrying == [row.id]


# --- the database lost in the middle of a chunk --------------------------------------------


def kill_session(pid: int) -> None:
    """What a failover or an operator does to a worker's database session, from another connection."""
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_database_session_lost_mid_chunk_leaves_only_the_row_in_flight_uncertain(knobs, settings):
    knobs(claim_chunk=10)
    rows = sorted(touchpoint(profile(f"fan{i}@example.com")).id for i in range(12))
    tried: list[int] = []

    def send(tp: Touchpoint, context: delivery.DeliveryContext) -> str:
        tried.append(tp.id)
        if len(tried) == 3:
            kill_session(connection.connection.info.backend_pid)  # the worker's own session
        return "delivered"

    settings.CONVEYOR_DELIVERY_HANDLERS = {"EMAIL": send}
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a lost session
        delivery.deliver_batch()
    by_id = dict(Touchpoint.objects.values_list("id", "status"))  # on a new connection: this one was lost
    assert [by_id[i] for i in rows[:2]] == [S.SENT, S.SENT]
    assert by_id[rows[2]] == S.SENDING  # it went out, but its record did not: may or may not have
    assert [by_id[i] for i in rows[3:]] == [S.SCHEDULED] * 9, "rows never tried must not end FAILED"
    untried = Touchpoint.objects.filter(id__in=rows[3:10])
    assert set(untried.values_list("attempts", flat=True)) == {0} and not untried.exclude(claimed_at=None).exists()
    # Time passes: the stale claim is resolved, the reservation runs out; the next sweep sends the rest, once.
    knobs(lease=0.3, stale_after=0.3)
    time.sleep(0.4)
    report = delivery.sweep()
    assert report.stale == 1 and sorted(report.sent) == rows[3:]
    assert Touchpoint.objects.get(id=rows[2]).status == S.FAILED
    assert sorted(tried) == rows and len(tried) == len(set(tried)), "nothing tried twice"


def test_a_database_session_lost_between_reservation_and_claim_loses_nothing(knobs, monkeypatch):
    rows = sorted(touchpoint(profile(f"fan{i}@example.com")).id for i in range(3))
    claim = conveyor.claim_touchpoints

    def claim_on_a_lost_session(*args: Any, **kwargs: Any) -> list[int]:
        kill_session(connection.connection.info.backend_pid)
        return claim(*args, **kwargs)

    monkeypatch.setattr(conveyor, "claim_touchpoints", claim_on_a_lost_session)
    with pytest.raises(Exception):  # noqa: B017
        delivery.deliver_batch()
    monkeypatch.setattr(conveyor, "claim_touchpoints", claim)
    assert set(Touchpoint.objects.filter(id__in=rows).values_list("status", flat=True)) == {S.SCHEDULED}
    knobs(lease=0.3)
    time.sleep(0.4)
    assert sorted(delivery.sweep().sent) == rows


def test_an_inquiry_does_not_wait_for_ever_for_a_mail_server_that_never_answers(settings, monkeypatch, caplog):
    from saleor_conveyor.events import InquirySubmitted
    from saleor_conveyor.models import Inquiry

    monkeypatch.setattr(delivery, "REQUEST_MAIL_TIMEOUT", 1.0)
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_TIMEOUT = None
        with caplog.at_level("ERROR", logger="saleor_conveyor"):
            inquiry = InquirySubmitted(email="hanako@example.com", topic="OTHER", message="Where is my order?")
            stored, took = within(10, lambda: conveyor.submit_inquiry(inquiry))
    assert took < 3  # the anonymous caller waited one bounded try for the shop's notice
    assert Inquiry.objects.filter(id=stored.id, email="hanako@example.com").exists()
    assert f"could not mail the shop about inquiry {stored.id}" in caplog.text


def test_a_task_delivered_again_after_its_worker_died_sends_nothing_twice(knobs):
    sent, in_flight, reserved = (touchpoint(profile(f"fan{i}@example.com")) for i in range(3))
    now = timezone.now()
    # What a worker killed mid-task leaves (the broker then hands its message to another worker).
    Touchpoint.objects.filter(id=sent.id).update(status=S.SENT, sent_at=now, attempts=1)
    Touchpoint.objects.filter(id=in_flight.id).update(status=S.SENDING, claimed_at=now, attempts=1)
    Touchpoint.objects.filter(id=reserved.id).update(claimed_at=now)  # reserved, its lease running
    ids = [sent.id, in_flight.id, reserved.id]
    assert tasks.deliver_touchpoints.apply(args=(ids,)).get() == dict.fromkeys(delivery.DeliveryReport().as_dict(), 0)
    assert mail.outbox == []
    knobs(lease=0.3, stale_after=0.3)
    time.sleep(0.4)
    report = tasks.deliver_touchpoints.apply(args=(ids,)).get()
    assert report["sent"] == 1 and len(mail.outbox) == 1  # the reserved one, once its lease ran out
    assert dict(Touchpoint.objects.filter(id__in=ids).values_list("id", "status")) == {
        sent.id: S.SENT,
        in_flight.id: S.SENDING,  # the sweep's stale rule decides it, never a task
        reserved.id: S.SENT,
    }
    assert delivery.sweep().stale == 1 and Touchpoint.objects.get(id=in_flight.id).status == S.FAILED
