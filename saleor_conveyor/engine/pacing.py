"""When a message may go out: consent, quiet hours, the frequency cap, a pending return.

Pure functions over plain values. The delivery code asks `decide` about each due
touchpoint; the answer is send now, skip (with the reason shown to staff), or defer
to a later time (never drop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum


class Action(StrEnum):
    SEND = "SEND"
    SKIP = "SKIP"
    DEFER = "DEFER"


@dataclass(frozen=True)
class Pacing:
    """The shop's pacing: quiet hours (local wall clock, may cross midnight) and the cap."""

    zone: tzinfo
    quiet_start: time | None = None
    quiet_end: time | None = None
    frequency_cap: timedelta = timedelta(hours=24)
    return_recheck: timedelta = timedelta(hours=1)

    def describe_quiet_hours(self) -> str:
        if self.quiet_start is None or self.quiet_end is None:
            return "none"
        return f"{self.quiet_start:%H:%M}-{self.quiet_end:%H:%M} {self.zone}"


@dataclass(frozen=True)
class Decision:
    action: Action
    at: datetime | None = None
    reason: str = ""


SEND = Decision(Action.SEND)


def _local_at(day: datetime, clock: time, zone: tzinfo) -> datetime:
    """That wall-clock time on that local day; a time skipped by DST lands just after the gap."""
    # Going through UTC resolves a non-existent local time (fold=0) to a real instant.
    return datetime.combine(day.date(), clock).replace(tzinfo=zone).astimezone(UTC)


def quiet_until(at: datetime, pacing: Pacing) -> datetime | None:
    """The end of the quiet period `at` falls in, or None when `at` is not quiet."""
    start, end = pacing.quiet_start, pacing.quiet_end
    if start is None or end is None or start == end:
        return None
    local = at.astimezone(pacing.zone)
    clock = local.timetz().replace(tzinfo=None)
    if start < end:
        if start <= clock < end:
            return _local_at(local, end, pacing.zone).astimezone(at.tzinfo)
        return None
    # Crosses midnight, e.g. 21:00-08:00.
    if clock >= start:
        return _local_at(local + timedelta(days=1), end, pacing.zone).astimezone(at.tzinfo)
    if clock < end:
        return _local_at(local, end, pacing.zone).astimezone(at.tzinfo)
    return None


def next_allowed_time(at: datetime, pacing: Pacing, *, last_marketing_at: datetime | None = None) -> datetime:
    """The first moment at or after `at` outside quiet hours and, if given, after the cap since the last send."""
    moment = at
    if last_marketing_at is not None and pacing.frequency_cap and moment < last_marketing_at + pacing.frequency_cap:
        moment = last_marketing_at + pacing.frequency_cap
    # Leaving quiet hours can never re-enter the cap window, so one pass is enough.
    return quiet_until(moment, pacing) or moment


def decide(
    now: datetime,
    pacing: Pacing,
    *,
    marketing: bool,
    message: bool = True,
    unsubscribed_at: datetime | None = None,
    return_pending: bool = False,
    last_marketing_at: datetime | None = None,
    capped: bool | None = None,
) -> Decision:
    """Send, skip or defer one due touchpoint; `message` is False for badges and staff tasks.

    `capped` says whether the frequency cap holds it back (default: marketing messages only);
    the caller caps follow-ups of a customer's answers too, so answers never make a burst of mail.
    """
    capped_kind = marketing if capped is None else capped
    if not message:
        return SEND
    if marketing and unsubscribed_at is not None:
        return Decision(Action.SKIP, reason=f"customer unsubscribed on {unsubscribed_at:%Y-%m-%d %H:%M %Z}")
    if marketing and return_pending:
        later = next_allowed_time(now + pacing.return_recheck, pacing)
        return Decision(Action.DEFER, later, "paused: the customer has a return request waiting for a decision")
    held = capped_kind and last_marketing_at is not None and now < last_marketing_at + pacing.frequency_cap
    allowed = next_allowed_time(now, pacing, last_marketing_at=last_marketing_at if capped_kind else None)
    if allowed <= now:
        return SEND
    if held:
        hours = pacing.frequency_cap.total_seconds() / 3600
        what = "marketing message" if marketing else "marketing or follow-up message"
        reason = f"deferred: at most one {what} per {hours:g} hours (last at {last_marketing_at:%Y-%m-%d %H:%M %Z})"
    else:
        reason = f"deferred: quiet hours {pacing.describe_quiet_hours()}"
    return Decision(Action.DEFER, allowed, reason)
