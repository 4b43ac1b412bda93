"""Delivery: due touchpoints become emails, coupons, badges; at most once, always ending visible.

The flow for every due touchpoint (see `conveyor/delivery_state.py` for the states):
reserve a batch (paced: unsubscribed -> SKIPPED, quiet hours / cap / pending return ->
deferred), claim it a small chunk at a time (SENDING, one durable commit per chunk), then
for each row of the chunk: run its kind's handler, record SENT, or a retry with backoff,
or FAILED. Built-in handlers cover EMAIL, COUPON and BADGE;
STAFF_TASK stays open for staff. A developer adds a kind with
`settings.CONVEYOR_DELIVERY_HANDLERS = {"LINE": "myapp.delivery.send_line"}`.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import smtplib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMessage, EmailMultiAlternatives
from django.db import connections, router
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu import pools

from . import conf, conveyor, mail
from .config import ConveyorConfig
from .engine.pacing import Pacing
from .hosts import ConveyorHost, get_config, get_host
from .models import Inquiry, InquiryReply, InquiryTopic, Touchpoint, TouchpointKind, TouchpointStatus

logger = logging.getLogger(__name__)


class PermanentDeliveryError(Exception):
    """A failure retrying cannot fix (no template, address refused): FAILED at once."""


@dataclass(frozen=True)
class DeliverySettings:
    """Operator knobs, from `settings.CONVEYOR_DELIVERY` (a dict of these names, seconds as numbers)."""

    batch_size: int = 200
    # Rows claimed (SENDING) per durable commit. A worker killed mid-chunk leaves the chunk's
    # unsent rows FAILED ("may or may not have gone out"), never sent twice; 1 = one row at a time.
    claim_chunk: int = 10
    max_attempts: int = 5
    retry_delay: timedelta = timedelta(minutes=1)
    max_retry_delay: timedelta = timedelta(hours=1)
    # A claim older than this is a dead worker's; its row is FAILED, never resent.
    stale_after: timedelta = timedelta(minutes=10)
    # How long a reservation keeps other sweeps away from a row.
    lease: timedelta = timedelta(minutes=5)
    # Touchpoints due within this are enqueued with an ETA; later ones wait for the sweep
    # (an ETA beyond Redis's visibility timeout, 1 hour, would be delivered to workers again).
    eta_horizon: timedelta = timedelta(minutes=30)
    return_recheck: timedelta = timedelta(hours=1)
    sweep_every: timedelta = timedelta(minutes=1)
    # One sweep stops taking new batches after this, so sweeps do not pile up.
    sweep_time_limit: timedelta = timedelta(seconds=50)
    lapse_scan_hour: int = 3
    enqueue: bool = True
    # Enqueueing goes through a thread of the process's own: touchpoints already due that the
    # process schedules within this window share one message (later ones get one each, with
    # their ETA). 0 sends from the caller's thread before it goes on. A message per touchpoint costs
    # the request's process CPU (docs/benchmarks.md, History); an email leaving 0.1 s later is not noticed.
    enqueue_window: timedelta = timedelta(milliseconds=100)
    # Each call to the broker while enqueueing (connecting, reading, writing) gives up after this,
    # or the host's own broker timeout if shorter (Redis, AMQP): a broker that accepts connections
    # and never answers costs a request about this much, and the sweep delivers later.
    enqueue_timeout: timedelta = timedelta(seconds=2)
    # The mail connection of a batch waits this long for the server where the host's mail backend
    # sets no timeout (Django's SMTP backend without EMAIL_TIMEOUT waits for ever).
    mail_timeout: timedelta = timedelta(seconds=30)

    @classmethod
    def from_settings(cls) -> DeliverySettings:
        data: Mapping[str, Any] = conf.DELIVERY
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                raise ValueError(f"CONVEYOR_DELIVERY: unknown setting {name!r} (known: {', '.join(sorted(known))})")
            default = getattr(cls, name)
            if isinstance(default, timedelta):
                values[name] = timedelta(seconds=float(value))
                if values[name] < timedelta(0):
                    raise ValueError(f"CONVEYOR_DELIVERY: {name} must be at least 0 seconds, got {value!r}")
            elif isinstance(default, bool):
                values[name] = bool(value)
            else:
                values[name] = int(value)
        return replace(cls(), **values)


def delivery_settings() -> DeliverySettings:
    return DeliverySettings.from_settings()


def shop_pacing(config: ConveyorConfig, knobs: DeliverySettings) -> Pacing:
    quiet = config.quiet_hours
    return Pacing(
        zone=config.zone,
        quiet_start=quiet.start if quiet else None,
        quiet_end=quiet.end if quiet else None,
        frequency_cap=config.frequency_cap,
        return_recheck=knobs.return_recheck,
    )


def backoff(attempts: int, knobs: DeliverySettings) -> timedelta:
    """Wait before the next try: doubling from `retry_delay`, at most `max_retry_delay`."""
    return min(knobs.retry_delay * (2 ** max(attempts - 1, 0)), knobs.max_retry_delay)


# --- handlers ----------------------------------------------------------------------------


@dataclass
class DeliveryContext:
    """What a handler gets besides the touchpoint: the configuration, the host, a shared mail connection."""

    config: ConveyorConfig
    host: ConveyorHost
    claimed_at: datetime
    # Seconds the mail connection waits for the server where the host's backend sets no timeout.
    mail_timeout: float | None = None
    _connection: Any = None
    _silent: str | None = None  # the mail server did not answer in this batch: what was seen

    def send_mail(self, message: Any) -> None:
        """Send through the host, reusing one open connection for the whole batch."""
        if self._silent is not None:
            # One wait per batch for a server that does not answer, not one per row: retried later.
            raise MailServerSilent(f"not tried: {self._silent} earlier in this batch")
        try:
            if self._connection is None:
                self._connection = mail_connection(self.host, self.mail_timeout)
                self._connection.open()
            message.connection = self._connection
            self.host.send_mail(message)
        except Exception as error:
            if _timed_out(error):
                self._silent = f"the mail server did not answer within its timeout ({describe(error)})"
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # a broken connection cannot be closed politely
                logger.debug("closing the mail connection failed", exc_info=True)
            self._connection = None


def _timed_out(error: BaseException | None) -> bool:
    """Whether a socket timeout is behind `error` (smtplib reports one as SMTPServerDisconnected)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, TimeoutError):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


# A request (the shop's notice of an inquiry) waits at most this for the mail server, unless the host says otherwise.
REQUEST_MAIL_TIMEOUT = 5.0


def mail_connection(host: ConveyorHost, timeout: float | None) -> Any:
    """The host's mail connection, given `timeout` seconds where its backend has a timeout and none is set.

    Django's SMTP backend without EMAIL_TIMEOUT (Saleor sets none) waits for a silent server for ever.
    """
    connection = host.mail_connection()
    if timeout and getattr(connection, "timeout", False) is None:
        connection.timeout = timeout
    return connection


def notify_shop_of_inquiry(sender: Any = None, *, inquiry: Inquiry, **named: Any) -> None:
    """Mail the shop's sender address about a new inquiry (after commit); a mail failure never loses it."""
    host = get_host()
    config = host.config()
    if not config.sender_email:
        return
    topic = InquiryTopic(inquiry.topic).label
    body = "\n".join(
        [
            f"From: {inquiry.name or '-'} <{inquiry.email}>",
            f"Topic: {topic}",
            f"Order: {inquiry.order_id or '-'}",
            f"Received: {inquiry.created_at:%Y-%m-%d %H:%M %Z}",
            "",
            inquiry.message,
        ]
    )
    message = EmailMessage(
        subject=f"[{config.sender_name or 'Shop'}] New inquiry ({topic}) from {inquiry.email}",
        body=body,
        from_email=config.sender_email,
        to=[config.sender_email],
        reply_to=[inquiry.email],
    )
    try:
        message.connection = mail_connection(host, REQUEST_MAIL_TIMEOUT)  # the caller waits for it: bounded
        host.send_mail(message)
    except Exception:
        logger.exception("could not mail the shop about inquiry %s", inquiry.id)


INQUIRY_REPLY_TEMPLATE = "inquiry_reply"


def mail_inquiry_reply(sender: Any = None, *, reply: InquiryReply, inquiry: Inquiry, **named: Any) -> None:
    """Mail staff's reply to the customer (after commit) and record how it went; a failure never loses the reply."""
    host = get_host()
    try:
        message = inquiry_reply_message(reply, inquiry, host.config())
        message.connection = mail_connection(host, REQUEST_MAIL_TIMEOUT)  # staff wait for it: bounded
        host.send_mail(message)
    except Exception as error:
        logger.warning("could not mail reply %s to inquiry %s: %s", reply.pk, inquiry.pk, describe(error))
        conveyor.record_reply_mail(reply.pk, sent=False, outcome=describe(error), queued_at=reply.queued_at)
        return
    conveyor.record_reply_mail(reply.pk, sent=True, outcome=f"emailed to {inquiry.email}", queued_at=reply.queued_at)


def inquiry_reply_message(reply: InquiryReply, inquiry: Inquiry, config: ConveyorConfig) -> EmailMultiAlternatives:
    """The reply as the customer gets it: the shop's template (`inquiry_reply`) in their language, their question
    quoted; the plain-text part keeps staff's line breaks."""
    profile = inquiry.profile
    language = mail.choose_language(profile.language_code if profile is not None else "", config)
    asked_on = timezone.localtime(inquiry.created_at, timezone=config.zone).strftime("%Y-%m-%d")
    context = {
        "first_name": inquiry.name or (profile.first_name if profile is not None else ""),
        "shop_name": config.sender_name,
        "sender_email": config.sender_email or settings.DEFAULT_FROM_EMAIL,
        "storefront_url": config.storefront_url,
        "unsubscribe_url": "",
        "reply": reply.message,
        "question": inquiry.message,
        "asked_on": asked_on,
    }
    rendered = mail.render_email(INQUIRY_REPLY_TEMPLATE, language, context, config)
    quoted = "\n".join(f"> {line}" for line in inquiry.message.splitlines())
    text = f"{reply.message}\n\n{asked_on}:\n{quoted}\n"
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=text,
        from_email=mail.sender(config),
        to=[inquiry.email],
        reply_to=[config.sender_email] if config.sender_email else None,
        headers={"X-Conveyor-Inquiry-Reply": str(reply.pk), "Content-Language": language},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


class MailServerSilent(Exception):
    """The mail server did not answer earlier in this batch: the rest of the batch is retried later."""


Handler = Callable[[Touchpoint, DeliveryContext], "str | None"]


def _rule(touchpoint: Touchpoint, config: ConveyorConfig):
    return config.rule_book.rule(touchpoint.rule)


def send_email(touchpoint: Touchpoint, context: DeliveryContext) -> str:
    """EMAIL: render the rule's template in the customer's language and send it."""
    rule = _rule(touchpoint, context.config)
    template = rule.template_for(touchpoint.variant) if rule else touchpoint.rule
    return _send(touchpoint, context, template)


def _send(touchpoint: Touchpoint, context: DeliveryContext, template: str, **extra: Any) -> str:
    try:
        message = mail.build_message(touchpoint, touchpoint.profile, context.config, template, **extra)
    except mail.TemplateError as error:
        raise PermanentDeliveryError(str(error)) from None
    context.send_mail(message)
    return f"emailed to {touchpoint.profile.email} ({message.extra_headers['Content-Language']})"


def send_coupon(touchpoint: Touchpoint, context: DeliveryContext) -> str:
    """COUPON: make a code through the host (kept before mailing, so a retry sends the same one), email it."""
    rule = _rule(touchpoint, context.config)
    if rule is None or rule.voucher is None:
        raise PermanentDeliveryError(f"rule {touchpoint.rule!r} is no longer a coupon rule in the rule book")
    profile = touchpoint.profile
    referral = rule.voucher == "referral"
    code = touchpoint.detail or (profile.referral_code if referral else "")
    if not code:
        voucher = context.config.referral_voucher if referral else context.config.vip_voucher
        code = context.host.create_voucher_code(voucher, profile_id=profile.id, purpose=rule.voucher)
    if touchpoint.detail != code:
        conveyor.record_coupon_code(
            touchpoint.id, context.claimed_at, code, referral_for=profile.id if referral else None
        )
        touchpoint.detail = code
    sent = _send(touchpoint, context, rule.template_for(touchpoint.variant), coupon_code=code)
    return f"code {code} {sent}"


def give_badge(touchpoint: Touchpoint, context: DeliveryContext) -> str:
    """BADGE: set it on the profile (a second time changes nothing)."""
    rule = _rule(touchpoint, context.config)
    if rule is None or not rule.badge:
        raise PermanentDeliveryError(f"rule {touchpoint.rule!r} is no longer a badge rule in the rule book")
    added = conveyor.add_badge(touchpoint.profile_id, rule.badge)
    touchpoint.detail = rule.badge
    return f"badge {rule.badge} given" if added else f"already had badge {rule.badge}"


BUILT_IN_HANDLERS: dict[str, Handler] = {
    TouchpointKind.EMAIL: send_email,
    TouchpointKind.COUPON: send_coupon,
    TouchpointKind.BADGE: give_badge,
}


def handlers() -> dict[str, Handler]:
    """Built-in handlers plus the developer's `CONVEYOR_DELIVERY_HANDLERS` (which may replace one)."""
    found = dict(BUILT_IN_HANDLERS)
    for kind, path in conf.DELIVERY_HANDLERS.items():
        found[kind] = import_string(path) if isinstance(path, str) else path
    return found


def is_permanent(error: BaseException) -> bool:
    """Whether retrying is pointless: our own verdict, bad headers, or an SMTP 5xx answer."""
    if isinstance(error, PermanentDeliveryError | BadHeaderError):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{who}: {code} {_text(msg)}" for who, (code, msg) in error.recipients.items())
        return f"the mail server refused the recipient ({answers})"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the mail server answered {error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- the flow ----------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    stale: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in ("sent", "retrying", "failed", "skipped", "deferred"):
            getattr(self, name).extend(getattr(other, name))
        self.stale += other.stale

    @property
    def handled(self) -> int:
        return len(self.sent) + len(self.retrying) + len(self.failed) + len(self.skipped) + len(self.deferred)

    def as_dict(self) -> dict[str, int]:
        counts = {name: len(getattr(self, name)) for name in ("sent", "retrying", "failed", "skipped", "deferred")}
        return {**counts, "stale": self.stale}


def deliver_batch(*, ids: Sequence[int] | None = None, limit: int | None = None) -> DeliveryReport:
    """Reserve up to `limit` due touchpoints (or just `ids`) and deliver them one by one."""
    config, host, knobs = get_config(), get_host(), delivery_settings()
    report = DeliveryReport()
    now = timezone.now()
    with host.writer():
        reservation = conveyor.reserve_due_touchpoints(
            now=now, limit=limit or knobs.batch_size, pacing=shop_pacing(config, knobs), lease=knobs.lease, ids=ids
        )
    report.skipped = [tp.id for tp in reservation.skipped]
    report.deferred = [tp.id for tp in reservation.deferred]
    for tp in reservation.skipped + reservation.deferred:
        logger.info("touchpoint %s %s: %s", tp.id, tp.status if tp in reservation.skipped else "deferred", tp.outcome)
    enqueue(reservation.deferred, knobs=knobs)
    if not reservation.reserved:
        return report
    kinds = handlers()
    context = DeliveryContext(
        config=config, host=host, claimed_at=now, mail_timeout=knobs.mail_timeout.total_seconds() or None
    )
    rows = sorted(reservation.reserved, key=lambda row: row.id)
    chunk = max(knobs.claim_chunk, 1)
    try:
        for start in range(0, len(rows), chunk):
            _deliver_chunk(rows[start : start + chunk], context, kinds, knobs, report)
    finally:
        context.close()
    return report


def _deliver_chunk(
    chunk: Sequence[Touchpoint],
    context: DeliveryContext,
    kinds: Mapping[str, Handler],
    knobs: DeliverySettings,
    report: DeliveryReport,
) -> None:
    """Claim a chunk of reserved rows in one durable commit, then deliver them one by one."""
    claimed_at = timezone.now()
    by_id = {tp.id: tp for tp in chunk}
    # Until the claim answers, all of them: if it committed and its answer was lost, they are released.
    waiting = list(chunk)
    # Renewed well before the stale rule could take a claim that is merely waiting its turn.
    renew_after = knobs.stale_after / 2
    try:
        with context.host.writer():
            # The rows of one reservation share its time; a row cancelled or re-reserved since is not claimed.
            claimed = conveyor.claim_touchpoints(list(by_id), chunk[0].claimed_at, now=claimed_at)
        waiting = [by_id[tp_id] for tp_id in claimed]
        for tp in waiting:
            tp.status, tp.claimed_at, tp.attempts = TouchpointStatus.SENDING, claimed_at, tp.attempts + 1
        while waiting:
            now = timezone.now()
            if now - claimed_at > renew_after:
                with context.host.writer():
                    still_ours = set(conveyor.renew_claims([tp.id for tp in waiting], claimed_at, now=now))
                claimed_at = now
                waiting = [tp for tp in waiting if tp.id in still_ours]
                for tp in waiting:
                    tp.claimed_at = now
                continue
            tp = waiting.pop(0)
            _deliver_one(tp, context, kinds, knobs, report)
    except BaseException:
        # Stopped by an error outside any handler (the database went away): the rows never tried go
        # back to SCHEDULED. If even that fails they stay SENDING, and the stale rule FAILs them.
        if waiting:
            try:
                with context.host.writer():
                    _reconnect_if_lost()  # the error may have been the connection's: release on a new one
                    conveyor.release_claims([tp.id for tp in waiting], claimed_at, now=timezone.now())
            except Exception:
                logger.warning("could not release %s claimed touchpoint(s)", len(waiting), exc_info=True)
        raise


def _reconnect_if_lost() -> bool:
    """Close the writer's database connection if the server dropped it (Django opens a new one on next use)."""
    db = connections[router.db_for_write(Touchpoint)]
    if db.connection is None or db.in_atomic_block or db.is_usable():
        return False
    logger.warning("the database connection was lost; going on with a new one")
    db.close()
    return True


def _deliver_one(
    tp: Touchpoint,
    context: DeliveryContext,
    kinds: Mapping[str, Handler],
    knobs: DeliverySettings,
    report: DeliveryReport,
) -> None:
    """Run the handler of one claimed row and record how it went."""
    claimed_at = tp.claimed_at
    context.claimed_at = claimed_at
    try:
        handler = kinds.get(tp.kind)
        if handler is None:
            raise PermanentDeliveryError(
                f"no delivery handler for kind {tp.kind}; register one in settings.CONVEYOR_DELIVERY_HANDLERS"
            )
        outcome = handler(tp, context) or "delivered"
    except Exception as error:
        _record_failure(tp, error, knobs, report, context)
        return
    with context.host.writer():
        conveyor.record_delivery_sent(tp.id, claimed_at, outcome=outcome, now=timezone.now(), detail=tp.detail)
    report.sent.append(tp.id)


def _record_failure(
    tp: Touchpoint, error: Exception, knobs: DeliverySettings, report: DeliveryReport, context: DeliveryContext
) -> None:
    now = timezone.now()
    reason = describe(error)
    with context.host.writer():
        if is_permanent(error) or tp.attempts >= knobs.max_attempts:
            logger.warning("touchpoint %s failed after %s attempt(s): %s", tp.id, tp.attempts, reason)
            conveyor.record_delivery_failed(
                tp.id, tp.claimed_at, error=f"failed after {tp.attempts} attempt(s): {reason}", now=now
            )
            report.failed.append(tp.id)
            return
        due_at = now + backoff(tp.attempts, knobs)
        logger.info("touchpoint %s attempt %s failed, retrying at %s: %s", tp.id, tp.attempts, due_at, reason)
        conveyor.record_delivery_retry(
            tp.id,
            tp.claimed_at,
            error=f"attempt {tp.attempts}/{knobs.max_attempts} failed: {reason}; next try {due_at:%Y-%m-%d %H:%M:%S}",
            due_at=due_at,
            now=now,
        )
    tp.due_at = due_at
    report.retrying.append(tp.id)
    enqueue([tp], knobs=knobs)


def sweep(*, time_limit: timedelta | None = None, batch_size: int | None = None) -> DeliveryReport:
    """Resolve dead workers' claims, then deliver everything due, batch after batch, within the time limit."""
    knobs = delivery_settings()
    host = get_host()
    report = DeliveryReport()
    with host.writer():
        report.stale = conveyor.fail_stale_sending(now=timezone.now(), stale_after=knobs.stale_after)
    if report.stale:
        logger.warning("%s touchpoint(s) were left sending by a stopped worker: marked FAILED", report.stale)
    deadline = time.monotonic() + (time_limit or knobs.sweep_time_limit).total_seconds()
    while time.monotonic() < deadline:
        batch = deliver_batch(limit=batch_size)
        report.add(batch)
        if batch.handled == 0:
            break
    return report


# --- enqueueing --------------------------------------------------------------------------


def enqueue(touchpoints: Iterable[Touchpoint], *, knobs: DeliverySettings | None = None) -> int:
    """Ask a worker to deliver each touchpoint at its due time (within the horizon); the sweep covers the rest.

    With `enqueue_window` (the default), the touchpoints go to this process's publisher thread,
    which sends what it was given within the window together: the caller (a checkout, an
    answer) does not wait for the broker. Returns how many touchpoints were sent or handed over.
    Never raises: with the broker down the order is still recorded, and the sweep delivers later.
    """
    knobs = knobs or delivery_settings()
    if not knobs.enqueue:
        return 0
    horizon = timezone.now() + knobs.eta_horizon
    due_soon = [
        _Due(tp.id, tp.due_at) for tp in touchpoints if tp.due_at <= horizon and tp.kind != TouchpointKind.STAFF_TASK
    ]
    if not due_soon:
        return 0
    try:
        app = get_host().celery_app()
        if knobs.enqueue_window and not app.conf.task_always_eager:
            _PUBLISHER.submit(due_soon, knobs.enqueue_window.total_seconds())
            return len(due_soon)
    except Exception:
        _not_enqueued(len(due_soon))
        return 0
    return _publish(app, due_soon)


def _not_enqueued(count: int) -> None:
    """Log touchpoints that could not be enqueued (with the error being handled): the sweep delivers them."""
    logger.warning("could not enqueue %s touchpoint(s); the sweep will deliver it", count, exc_info=True)


# The Celery tasks that deliver (tasks.py), by the names workers know them by.
DELIVER_TOUCHPOINT = "saleor_conveyor.deliver_touchpoint"
DELIVER_TOUCHPOINTS = "saleor_conveyor.deliver_touchpoints"


@dataclass(frozen=True, slots=True)
class _Due:
    """A touchpoint to enqueue: its id and when it falls due."""

    id: int
    due_at: datetime


def _publish(app: Any, due_soon: Sequence[_Due]) -> int:
    """Send the tasks for these touchpoints: one for all of them already due, one per later due time.

    Returns how many touchpoints were sent; logs (never raises) what could not be.
    """
    if not due_soon:
        return 0
    now = timezone.now()
    due_now = [item.id for item in due_soon if item.due_at <= now]
    later = [item for item in due_soon if item.due_at > now]
    sent = 0
    try:
        # By name from the app: tasks.py registers them (the app's ready() imports it) and calls this module.
        deliver_touchpoint, deliver_touchpoints = app.tasks[DELIVER_TOUCHPOINT], app.tasks[DELIVER_TOUCHPOINTS]
        # A connection from kombu's process-wide pool for this broker: connecting, authenticating and
        # declaring the queue anew for every order or answer cost more than the publishing itself.
        timeout = delivery_settings().enqueue_timeout.total_seconds()
        with pools.connections[_broker_address(app, timeout)].acquire(block=True, timeout=timeout) as connection:
            try:
                if app.conf.task_always_eager:  # runs here and now, as apply_async does
                    for item in due_soon:
                        deliver_touchpoint.apply_async((item.id,), eta=item.due_at, retry=False, connection=connection)
                        sent += 1
                    return sent
                if due_now:
                    _send_task(app, connection, deliver_touchpoints, (due_now,), eta=None)
                    sent += len(due_now)
                for item in later:
                    _send_task(app, connection, deliver_touchpoint, (item.id,), eta=item.due_at)
                    sent += 1
            except Exception:
                connection.collect()  # a broken connection goes back to the pool closed: the next use reconnects
                raise
    except Exception:
        _not_enqueued(len(due_soon) - sent)
    return sent


def _send_task(app: Any, connection: Any, task: Any, args: tuple, *, eta: datetime | None) -> None:
    # send_task with a result nobody reads: apply_async's AsyncResult makes the result backend,
    # once per thread, and an ASGI server runs each request on a new thread.
    # The task's own options, as apply_async uses them, merged rather than passed beside ours:
    # Celery's `delay()` adds ignore_result to that cached dict, which would then clash.
    options = {**task._get_exec_options(), "ignore_result": True, "retry": False}
    app.send_task(
        task.name,
        args,
        eta=eta,
        connection=connection,
        result_cls=_Unread,
        add_to_parent=False,  # nothing to collect: a parent task's result stays its own
        task_type=task,
        **options,
    )


class _Publisher:
    """This process's publisher thread: touchpoints handed over within a window go out together.

    Started on first use in each process (a forked worker starts its own). What it holds when
    the process dies unexpectedly is delivered by the sweep, as a lost broker message is; at a
    normal exit it publishes what it holds.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """A fresh state: at start, and in a forked child (the parent's thread and lock do not come along)."""
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[tuple[list[_Due], float]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._handed = 0  # touchpoints handed over, and published (or given up on)
        self._published = 0

    def submit(self, due: list[_Due], window: float) -> None:
        """Hand touchpoints over; raises (nothing handed over) if the thread cannot be started."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                if self._published < self._handed:
                    # A thread that died took what it held: the sweep delivers those; nobody waits for them.
                    logger.warning("the enqueue thread stopped; the sweep delivers what it held")
                    self._published = self._handed
                fresh: queue.SimpleQueue[tuple[list[_Due], float]] = queue.SimpleQueue()
                thread = threading.Thread(target=self._run, args=(fresh,), name="conveyor-enqueue", daemon=True)
                thread.start()
                self._queue, self._thread = fresh, thread
            self._handed += len(due)
            self._queue.put((due, window))

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed over so far was published; False if `timeout` passed first."""
        with self._lock:
            target = self._handed
            return self._done.wait_for(lambda: self._published >= target, timeout=timeout)

    def _run(self, pending: queue.SimpleQueue) -> None:
        while True:
            batch, window = pending.get()
            try:
                time.sleep(window)  # what other threads hand over meanwhile joins this batch
                while True:
                    try:
                        batch = batch + pending.get_nowait()[0]
                    except queue.Empty:
                        break
                _publish(get_host().celery_app(), batch)
            except Exception:  # _publish logs its own failures; this thread must not die
                _not_enqueued(len(batch))
            finally:
                with self._lock:
                    self._published += len(batch)
                    self._done.notify_all()


_PUBLISHER = _Publisher()
os.register_at_fork(after_in_child=_PUBLISHER._reset)


def flush_enqueued(timeout: float = 10.0) -> bool:
    """Wait until every touchpoint this process handed to its publisher thread was sent (tests, shutdown)."""
    return _PUBLISHER.flush(timeout)


atexit.register(flush_enqueued, 5.0)


class _Unread:
    """The result of a task sent to be delivered: its id only (results are ignored)."""

    def __init__(self, task_id: str) -> None:
        self.id = task_id


_broker: tuple[tuple[int, str, float], Any] | None = None


def _broker_address(app: Any, timeout: float) -> Any:
    """The Celery app's broker connection settings, made once per app and broker URL (costly to make).

    Bounded: each connect, read and write gives up after `timeout`, or the host's own shorter timeout.
    """
    global _broker
    key = (id(app), str(app.conf.broker_write_url or app.conf.broker_url), timeout)
    if _broker is None or _broker[0] != key:
        driver = app.connection_for_write().transport.driver_name
        options = _bounded_transport_options(driver, app.conf.broker_transport_options or {}, timeout)
        connect_timeout = min(app.conf.broker_connection_timeout or timeout, timeout)
        _broker = (key, app.connection_for_write(transport_options=options, connect_timeout=connect_timeout))
    return _broker[1]


def _bounded_transport_options(driver: str, configured: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Transport options (beside the host's) that bound each broker call of this kombu driver by `timeout`."""
    # One attempt to reach the broker, not Kombu's default retries (seconds in a checkout request).
    options: dict[str, Any] = {"max_retries": 0, "interval_start": 0}

    def bounded(given: Mapping[str, Any], *names: str) -> dict[str, Any]:
        return {name: min(given.get(name) or timeout, timeout) for name in names}

    if driver == "redis":
        options.update(bounded(configured, "socket_connect_timeout", "socket_timeout"))
    elif driver == "py-amqp":
        options.update(bounded(configured, "read_timeout", "write_timeout"))
    elif driver == "sqs":  # boto3's own defaults: 60 s to connect, 60 s to read, retried
        client = dict(configured.get("client-config") or {})
        options["client-config"] = {**client, **bounded(client, "connect_timeout", "read_timeout")}
        options["client-config"].setdefault("retries", {"max_attempts": 1})
    return options


def enqueue_scheduled(
    sender: Any = None,
    *,
    touchpoint_ids: Sequence[int],
    touchpoints: Sequence[Touchpoint] | None = None,
    **kwargs: Any,
) -> None:
    """Receiver of `touchpoint_scheduled` (sent after commit): enqueue what falls due soon.

    The service sends the committed rows along (`touchpoints`); a sender with ids only has them read.
    """
    knobs = delivery_settings()
    if not knobs.enqueue:
        return
    horizon = timezone.now() + knobs.eta_horizon
    if touchpoints is not None:
        due_soon = [tp for tp in touchpoints if tp.id is not None and tp.due_at <= horizon]
    else:
        try:
            due_soon = list(
                Touchpoint.objects.filter(id__in=list(touchpoint_ids), due_at__lte=horizon).only("id", "due_at", "kind")
            )
        except Exception:
            logger.warning("could not read scheduled touchpoints; the sweep will deliver them", exc_info=True)
            return
    enqueue(due_soon, knobs=knobs)


REBUILD_RULE_BOOK = "saleor_conveyor.rebuild_rule_book"
COMPUTE_CONSOLE_FIGURES = "saleor_conveyor.compute_console_figures"  # console/overview.py asks for it


def start_rebuild(sender: Any = None, *, change: Any, **kwargs: Any) -> bool:
    """Receiver of `rule_book_saved` (after commit), and the console's "start again": ask a worker to rebuild every
    customer's outbox with the saved book (at once where Celery is eager). Never raises: a rebuild not started
    shows as waiting on the console page, which can start it again."""
    if not delivery_settings().enqueue:
        return False  # the tests' default (no broker), and a shop that switched enqueueing off
    try:
        get_host().celery_app().tasks[REBUILD_RULE_BOOK].apply_async((change.pk,), retry=False, ignore_result=True)
    except Exception:
        logger.warning("conveyor: could not start the rebuild of rule book change %s", change.pk, exc_info=True)
        return False
    return True
