"""Delivery in one process against the real database: states, pacing, kinds, retries, and no double sends."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail as django_mail
from django.core.management import call_command
from django.utils import timezone

from saleor_conveyor import conveyor, delivery, tasks
from saleor_conveyor.errors import ConveyorError
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, Purchase, ReturnRequest, Touchpoint, TouchpointStatus

from ..factories import at_once, profile, touchpoint

S = TouchpointStatus
pytestmark = pytest.mark.django_db


def reload(tp: Touchpoint) -> Touchpoint:
    tp.refresh_from_db()
    return tp


# --- the happy path ----------------------------------------------------------------------


def test_a_due_email_is_sent_once_and_recorded_as_sent(knobs):
    tp = touchpoint(profile(first_name="Hanako", language_code="en"), "step_day7")
    first = delivery.deliver_batch()
    second = delivery.deliver_batch()
    tp = reload(tp)
    assert first.sent == [tp.id] and second.handled == 0
    assert tp.status == S.SENT and tp.sent_at is not None and tp.attempts == 1
    assert "emailed to hanako@example.com (en)" in tp.outcome
    assert len(django_mail.outbox) == 1
    assert django_mail.outbox[0].to == ["hanako@example.com"]


def test_a_touchpoint_not_yet_due_is_left_alone(knobs):
    tp = touchpoint(profile(), due_at=timezone.now() + timedelta(minutes=5))
    assert delivery.deliver_batch().handled == 0
    assert reload(tp).status == S.SCHEDULED and reload(tp).attempts == 0


# --- consent and pacing ------------------------------------------------------------------


def test_unsubscribed_customer_gets_no_marketing_but_still_gets_service_mail(knobs):
    gone = profile(unsubscribed_at=timezone.now() - timedelta(days=2))
    marketing = touchpoint(gone, "step_day7")
    service = touchpoint(gone, "step_day3")
    delivery.deliver_batch()
    assert reload(marketing).status == S.SKIPPED
    assert reload(marketing).outcome.startswith("customer unsubscribed on ")
    assert reload(service).status == S.SENT
    assert [m.extra_headers["X-Conveyor-Touchpoint"] for m in django_mail.outbox] == [str(service.id)]


def test_frequency_cap_sends_one_marketing_email_and_defers_the_next_by_24_hours(knobs):
    hanako, taro = profile(), profile("taro@example.com")
    first, second = touchpoint(hanako, "step_day7"), touchpoint(hanako, "secret_info")
    other = touchpoint(taro, "secret_info")
    report = delivery.deliver_batch()
    assert sorted(report.sent) == sorted([first.id, other.id])
    second = reload(second)
    assert second.status == S.SCHEDULED
    assert "one marketing message per 24 hours" in second.outcome
    assert timedelta(hours=23, minutes=59) < second.due_at - timezone.now() <= timedelta(hours=24)
    assert second.planned_at < second.due_at  # what the rule wanted stays visible


def test_frequency_cap_counts_a_marketing_email_sent_earlier(knobs):
    hanako = profile()
    earlier = touchpoint(hanako, "step_day7", status=S.SENT, sent_at=timezone.now() - timedelta(hours=3))
    later = touchpoint(hanako, "secret_info")
    delivery.deliver_batch()
    assert reload(later).due_at == earlier.sent_at + timedelta(hours=24)


def test_quiet_hours_defer_to_the_next_morning_in_the_shops_time_zone(settings, knobs):
    tokyo_now = timezone.now().astimezone(ZoneInfo("Asia/Tokyo"))
    start, end = tokyo_now - timedelta(hours=1), tokyo_now + timedelta(hours=2)
    settings.CONVEYOR = {**settings.CONVEYOR, "quiet_hours": f"{start:%H:%M}-{end:%H:%M}"}
    tp = touchpoint(profile(), "step_day3")
    assert delivery.deliver_batch().deferred == [tp.id]
    tp = reload(tp)
    assert tp.status == S.SCHEDULED and "quiet hours" in tp.outcome
    local = tp.due_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (end.hour, end.minute)
    assert django_mail.outbox == []


def test_a_pending_return_pauses_marketing_until_it_is_decided(knobs):
    hanako = profile()
    order = Purchase.objects.create(
        order_id="o-1",
        profile=hanako,
        channel="c",
        currency="JPY",
        total_gross_amount=Decimal(5000),
        placed_at=timezone.now(),
    )
    request = ReturnRequest.objects.create(profile=hanako, purchase=order, reason="DAMAGED")
    tp = touchpoint(hanako, "step_day7")
    service = touchpoint(hanako, "step_day3")
    delivery.deliver_batch()
    assert reload(tp).status == S.SCHEDULED and "return request" in reload(tp).outcome
    assert reload(tp).due_at > timezone.now() + timedelta(minutes=59)
    assert reload(service).status == S.SENT
    request.status = "APPROVED"
    request.save()
    Touchpoint.objects.filter(id=tp.id).update(due_at=timezone.now() - timedelta(seconds=1))  # the hour passed
    delivery.deliver_batch()
    assert reload(tp).status == S.SENT


# --- other kinds -------------------------------------------------------------------------


def test_vip_coupon_makes_a_code_through_the_host_keeps_it_and_emails_it(knobs):
    tp = touchpoint(profile(language_code="en"), "vip_candidate", kind="COUPON")
    delivery.deliver_batch()
    tp = reload(tp)
    assert tp.status == S.SENT and tp.detail.startswith("VIP-")
    assert tp.detail in django_mail.outbox[0].body


def test_referral_code_goes_on_the_profile_and_is_reused_for_the_next_referral(knobs):
    hanako = profile()
    first = touchpoint(hanako, "referral", kind="COUPON")
    delivery.deliver_batch()
    code = reload(first).detail
    assert FanProfile.objects.get(pk=hanako.pk).referral_code == code
    Touchpoint.objects.filter(id=first.id).update(sent_at=timezone.now() - timedelta(days=2))
    second = touchpoint(hanako, "referral", kind="COUPON")
    delivery.deliver_batch()
    assert reload(second).detail == code


def test_a_coupon_retried_after_a_failure_sends_the_same_code(smtp, knobs):
    tp = touchpoint(profile(), "vip_candidate", kind="COUPON")
    smtp.refuse = "451 4.3.0 try again later"
    assert delivery.deliver_batch().retrying == [tp.id]
    code = reload(tp).detail
    assert code
    smtp.refuse = None
    assert delivery.deliver_batch().sent == [tp.id]
    assert reload(tp).detail == code
    assert code in smtp.messages[0].get_payload()[0].get_payload(decode=True).decode()


def test_badge_is_set_on_the_profile_once(knobs):
    hanako = profile(badges=["EARLY"])
    tp = touchpoint(hanako, "vip_badge", kind="BADGE", marketing=False)
    delivery.deliver_batch()
    assert FanProfile.objects.get(pk=hanako.pk).badges == ["EARLY", "VIP"]
    assert reload(tp).status == S.SENT and reload(tp).detail == "VIP"
    assert conveyor.add_badge(hanako.pk, "VIP") is False
    assert FanProfile.objects.get(pk=hanako.pk).badges == ["EARLY", "VIP"]
    assert django_mail.outbox == []


def test_staff_task_stays_open_is_listed_and_is_done_when_staff_say_so(knobs):
    card = touchpoint(profile(first_name="Hanako"), "thank_you_card", kind="STAFF_TASK", order_id="o-9")
    delivery.sweep()
    assert reload(card).status == S.SCHEDULED and reload(card).attempts == 0
    assert list(conveyor.open_staff_tasks()) == [card]
    out = StringIO()
    call_command("conveyor_staff_tasks", stdout=out)
    assert "thank_you_card" in out.getvalue() and "Hanako <hanako@example.com>" in out.getvalue()
    call_command("conveyor_staff_tasks", "--done", str(card.id), "--by", "keiko", stdout=StringIO())
    card = reload(card)
    assert card.status == S.SENT and card.done_at is not None and card.outcome == "done by keiko"
    assert conveyor.complete_staff_task(card.id, "someone else").outcome == "done by keiko"
    assert list(conveyor.open_staff_tasks()) == []


def test_completing_something_that_is_not_a_staff_task_is_refused(knobs):
    tp = touchpoint(profile(), "step_day7")
    with pytest.raises(ConveyorError) as error:
        conveyor.complete_staff_task(tp.id, "keiko")
    assert error.value.code == "NOT_FOUND"
    assert reload(tp).status == S.SCHEDULED


line_messages: list[tuple[int, str]] = []


def send_line(touchpoint: Touchpoint, context: delivery.DeliveryContext) -> str:
    """A developer's handler for a new kind (see docs/extending.md, Delivery kinds)."""
    line_messages.append((touchpoint.id, touchpoint.profile.email))
    return "pushed to LINE"


def test_a_developer_adds_a_delivery_kind_by_dotted_path(settings, knobs):
    settings.CONVEYOR_DELIVERY_HANDLERS = {"LINE": "tests.delivery.test_delivery.send_line"}
    book = {"rules": [{"name": "line_hello", "trigger": "first_purchase", "kind": "LINE", "days": 1}]}
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}
    assert get_config().rule_book.rule("line_hello").kind == "LINE"
    line_messages.clear()
    tp = touchpoint(profile(), "line_hello", kind="LINE")
    delivery.deliver_batch()
    assert line_messages == [(tp.id, "hanako@example.com")]
    assert reload(tp).status == S.SENT and reload(tp).outcome == "pushed to LINE"


def test_a_kind_without_a_handler_fails_visibly(knobs):
    tp = touchpoint(profile(), "line_hello", kind="LINE")
    delivery.deliver_batch()
    assert reload(tp).status == S.FAILED and "no delivery handler for kind LINE" in reload(tp).outcome


# --- failures ----------------------------------------------------------------------------


def test_smtp_refusing_mail_retries_with_backoff_then_fails_visibly(smtp, knobs):
    smtp.refuse = "451 4.3.0 mailbox busy"
    tp = touchpoint(profile(), "step_day7")
    outcomes = []
    for _ in range(5):
        delivery.deliver_batch()
        outcomes.append(reload(tp).status)
    tp = reload(tp)
    assert outcomes[:3] == [S.SCHEDULED, S.SCHEDULED, S.FAILED]
    assert tp.status == S.FAILED and tp.attempts == 3
    assert tp.outcome == "failed after 3 attempt(s): the mail server answered 451 4.3.0 mailbox busy"
    assert len(smtp) == 0


def test_retries_wait_longer_each_time_up_to_the_limit():
    knobs = delivery.DeliverySettings(retry_delay=timedelta(minutes=1), max_retry_delay=timedelta(minutes=5))
    assert [delivery.backoff(n, knobs).total_seconds() for n in range(1, 6)] == [60, 120, 240, 300, 300]


def test_a_permanent_refusal_fails_at_once_without_retrying(smtp, knobs):
    smtp.refuse = "550 5.1.1 no such user"
    tp = touchpoint(profile(), "step_day7")
    assert delivery.deliver_batch().failed == [tp.id]
    assert reload(tp).attempts == 1 and "550 5.1.1 no such user" in reload(tp).outcome


def test_mail_server_down_then_up_delivers_exactly_once(settings, smtp, knobs):
    port = smtp.port
    settings.EMAIL_PORT = 1  # nothing listens there
    tp = touchpoint(profile(), "step_day7")
    assert delivery.deliver_batch().retrying == [tp.id]
    assert "ConnectionRefusedError" in reload(tp).outcome
    settings.EMAIL_PORT = port
    delivery.deliver_batch()
    delivery.deliver_batch()
    assert smtp.touchpoint_ids() == [tp.id]
    assert reload(tp).status == S.SENT and reload(tp).attempts == 2


def test_a_claim_left_by_a_dead_worker_is_failed_visibly_and_never_resent(knobs):
    tp = touchpoint(
        profile(), "step_day7", status=S.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(hours=1)
    )
    report = delivery.sweep()
    tp = reload(tp)
    assert report.stale == 1
    assert tp.status == S.FAILED and "not sent again" in tp.outcome
    assert django_mail.outbox == []


def test_rows_reserved_by_a_dead_worker_go_out_after_the_lease(knobs):
    knobs(lease=60)
    tp = touchpoint(profile(), "step_day7", claimed_at=timezone.now() - timedelta(seconds=30))
    assert delivery.deliver_batch().handled == 0  # still someone else's
    Touchpoint.objects.filter(id=tp.id).update(claimed_at=timezone.now() - timedelta(seconds=61))
    assert delivery.deliver_batch().sent == [tp.id]


def test_a_touchpoint_cancelled_after_it_was_reserved_is_not_sent(knobs):
    tp = touchpoint(profile(), "step_day7")
    config = get_config()
    reservation = conveyor.reserve_due_touchpoints(
        now=timezone.now(),
        limit=10,
        pacing=delivery.shop_pacing(config, delivery.delivery_settings()),
        lease=timedelta(minutes=5),
    )
    conveyor.mark_touchpoints([tp.id], S.CANCELLED, outcome="order cancelled")
    assert conveyor.claim_touchpoint(tp.id, reservation.reserved[0].claimed_at, now=timezone.now()) is False
    assert reload(tp).status == S.CANCELLED and reload(tp).attempts == 0


# --- claiming in chunks --------------------------------------------------------------------


class WorkerStopped(BaseException):
    """Stands for what no handler catches: the process being stopped, the database going away."""


pushed: list[int] = []
line_behaviour: dict[str, object] = {}


def line_with_faults(touchpoint: Touchpoint, context: delivery.DeliveryContext) -> str:
    """A LINE handler a test can slow down or stop, counting every message it pushes."""
    if touchpoint.id == line_behaviour.get("stop_at"):
        raise WorkerStopped
    time.sleep(float(line_behaviour.get("sleep", 0)))  # type: ignore[arg-type]
    hook = line_behaviour.get("while_sending")
    if callable(hook):
        hook()
    pushed.append(touchpoint.id)
    return "pushed to LINE"


@pytest.fixture
def line(settings, knobs):
    settings.CONVEYOR_DELIVERY_HANDLERS = {"LINE": "tests.delivery.test_delivery.line_with_faults"}
    pushed.clear()
    line_behaviour.clear()
    yield lambda count: [touchpoint(profile(f"fan{i}@example.com"), "line_hello", kind="LINE") for i in range(count)]
    pushed.clear()
    line_behaviour.clear()


def test_a_chunk_is_claimed_in_one_go_and_each_row_recorded_sent_right_after_it_goes_out(line, knobs):
    knobs(claim_chunk=4)
    rows = line(6)
    states: list[list[str]] = []
    line_behaviour["while_sending"] = lambda: states.append([Touchpoint.objects.get(id=tp.id).status for tp in rows])
    assert sorted(delivery.deliver_batch().sent) == [tp.id for tp in rows]
    assert pushed == [tp.id for tp in rows]
    # While the first row goes out the whole first chunk is SENDING, the second chunk not yet claimed.
    assert states[0] == [S.SENDING] * 4 + [S.SCHEDULED] * 2
    assert states[2] == [S.SENT, S.SENT, S.SENDING, S.SENDING, S.SCHEDULED, S.SCHEDULED]
    assert states[4] == [S.SENT] * 4 + [S.SENDING, S.SENDING]
    assert all(reload(tp).attempts == 1 for tp in rows)


def test_stopped_mid_chunk_the_row_in_flight_fails_visibly_and_the_untried_rows_go_out_later_once(line, knobs):
    knobs(claim_chunk=5, stale_after=0.5)
    rows = line(5)
    line_behaviour["stop_at"] = rows[1].id
    with pytest.raises(WorkerStopped):
        delivery.deliver_batch()
    assert pushed == [rows[0].id]
    states = [(reload(tp).status, reload(tp).attempts, reload(tp).claimed_at is None) for tp in rows]
    assert states[0] == (S.SENT, 1, False)
    assert states[1] == (S.SENDING, 1, False)  # nobody knows whether it went out: never tried again
    assert states[2:] == [(S.SCHEDULED, 0, True)] * 3  # released: never tried, free for the next sweep
    line_behaviour.clear()
    time.sleep(0.6)
    report = delivery.sweep()
    assert report.stale == 1 and sorted(report.sent) == [tp.id for tp in rows[2:]]
    assert reload(rows[1]).status == S.FAILED and "may or may not have gone out" in reload(rows[1]).outcome
    assert sorted(pushed) == sorted(tp.id for tp in rows if tp != rows[1])
    assert len(pushed) == len(set(pushed))


def test_a_slow_chunk_renews_its_claim_so_the_stale_rule_never_takes_a_row_waiting_its_turn(line, knobs):
    knobs(claim_chunk=6, stale_after=1.0)
    rows = line(6)
    line_behaviour["sleep"] = 0.2
    # Another sweep applying the stale rule while each message goes out: it never finds a row to fail.
    stale, marked_failed = timedelta(seconds=1.0), []
    line_behaviour["while_sending"] = lambda: marked_failed.append(
        conveyor.fail_stale_sending(now=timezone.now(), stale_after=stale)
    )
    assert sorted(delivery.deliver_batch().sent) == [tp.id for tp in rows]  # 1.2 s for the chunk, renewed
    assert marked_failed == [0] * 6
    assert {reload(tp).status for tp in rows} == {S.SENT}
    assert pushed == [tp.id for tp in rows]


def test_rows_the_stale_rule_failed_while_their_chunk_waited_are_not_sent(line, knobs):
    knobs(claim_chunk=3, stale_after=0.2)
    rows = line(3)
    line_behaviour["sleep"] = 0.3
    stale = timedelta(seconds=0.2)
    line_behaviour["while_sending"] = lambda: conveyor.fail_stale_sending(now=timezone.now(), stale_after=stale)
    report = delivery.deliver_batch()
    assert report.sent == [rows[0].id] and pushed == [rows[0].id]
    assert reload(rows[0]).status == S.SENT  # it did go out; the truth wins over the stale mark
    assert [reload(tp).status for tp in rows[1:]] == [S.FAILED, S.FAILED]
    assert all("not sent again" in reload(tp).outcome for tp in rows[1:])


# --- concurrency (committed data, several connections) -----------------------------------


def _run_together(count: int, work) -> None:
    errors = [outcome for outcome in at_once(count, lambda n: work()) if isinstance(outcome, BaseException)]
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_deliver_every_touchpoint_exactly_once(smtp, knobs):
    knobs(batch_size=5)
    rows = [touchpoint(profile(f"fan{i}@example.com"), "step_day7") for i in range(40)]
    _run_together(2, lambda: delivery.sweep())
    assert sorted(smtp.touchpoint_ids()) == sorted(tp.id for tp in rows)
    assert set(Touchpoint.objects.values_list("status", flat=True)) == {S.SENT}


@pytest.mark.django_db(transaction=True)
def test_the_same_touchpoint_delivered_by_two_tasks_at_once_goes_out_once(smtp, knobs):
    tp = touchpoint(profile(), "step_day7")
    _run_together(3, lambda: tasks.deliver_touchpoint(tp.id))
    tasks.deliver_touchpoint(tp.id)
    assert smtp.touchpoint_ids() == [tp.id]
    assert reload(tp).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_frequency_cap_holds_when_two_sweeps_see_one_customer_at_once(smtp, knobs):
    knobs(batch_size=1)
    hanako = profile()
    rows = [touchpoint(hanako, rule) for rule in ("step_day7", "secret_info", "co_creation", "fan_meeting")]
    _run_together(2, lambda: delivery.sweep())
    assert len(smtp) == 1
    statuses = sorted(reload(tp).status for tp in rows)
    assert statuses == [S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.SENT]
