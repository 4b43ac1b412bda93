"""Pacing rules (pure): quiet hours across midnight and time zones, the frequency cap, consent, returns."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from saleor_conveyor.engine.pacing import Action, Pacing, decide, next_allowed_time, quiet_until

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = Pacing(zone=TOKYO, quiet_start=time(21), quiet_end=time(8))


def tokyo(*args) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (tokyo(2026, 4, 1, 20, 59), None),
        (tokyo(2026, 4, 1, 21, 0), tokyo(2026, 4, 2, 8, 0)),
        (tokyo(2026, 4, 1, 23, 30), tokyo(2026, 4, 2, 8, 0)),
        (tokyo(2026, 4, 2, 0, 0), tokyo(2026, 4, 2, 8, 0)),
        (tokyo(2026, 4, 2, 7, 59), tokyo(2026, 4, 2, 8, 0)),
        (tokyo(2026, 4, 2, 8, 0), None),
        (tokyo(2026, 12, 31, 22, 0), tokyo(2027, 1, 1, 8, 0)),
    ],
)
def test_quiet_hours_crossing_midnight_end_at_the_next_morning(at, expected):
    assert quiet_until(at, NIGHT) == expected


def test_quiet_hours_are_the_shops_wall_clock_not_utc():
    # 12:30 UTC is 21:30 in Tokyo: quiet, until 08:00 Tokyo = 23:00 UTC the same UTC day.
    at = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)
    assert next_allowed_time(at, NIGHT) == datetime(2026, 4, 1, 23, 0, tzinfo=UTC)
    # 23:30 UTC on April 1st is already 08:30 on April 2nd in Tokyo: allowed.
    late_utc = datetime(2026, 4, 1, 23, 30, tzinfo=UTC)
    assert next_allowed_time(late_utc, NIGHT) == late_utc


def test_quiet_hours_within_one_day():
    lunch = Pacing(zone=TOKYO, quiet_start=time(12), quiet_end=time(13))
    assert quiet_until(tokyo(2026, 4, 1, 12, 15), lunch) == tokyo(2026, 4, 1, 13, 0)
    assert quiet_until(tokyo(2026, 4, 1, 13, 0), lunch) is None
    assert quiet_until(tokyo(2026, 4, 1, 11, 59), lunch) is None


def test_quiet_hours_across_a_daylight_saving_change():
    # New York springs forward on 2026-03-08; the quiet night before is one hour shorter.
    pacing = Pacing(zone=NEW_YORK, quiet_start=time(21), quiet_end=time(8))
    at = datetime(2026, 3, 7, 22, 0, tzinfo=NEW_YORK)
    until = quiet_until(at, pacing)
    assert until is not None
    assert until.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 8, 0)
    assert until.astimezone(UTC) - at.astimezone(UTC) == timedelta(hours=9)
    # A quiet end inside the skipped hour (02:30 does not exist that night) lands just after the gap.
    gap = Pacing(zone=NEW_YORK, quiet_start=time(23), quiet_end=time(2, 30))
    resumed = quiet_until(datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK), gap)
    assert resumed is not None
    assert resumed.astimezone(NEW_YORK).hour == 3


def test_no_quiet_hours_means_any_time():
    always = Pacing(zone=TOKYO)
    at = tokyo(2026, 4, 1, 3, 0)
    assert next_allowed_time(at, always) == at


def test_frequency_cap_defers_a_second_marketing_message_to_24_hours_after_the_first():
    last = tokyo(2026, 4, 1, 10, 0)
    decision = decide(tokyo(2026, 4, 1, 15, 0), NIGHT, marketing=True, last_marketing_at=last)
    assert decision.action == Action.DEFER
    assert decision.at == tokyo(2026, 4, 2, 10, 0)
    assert "one marketing message per 24 hours" in decision.reason


def test_frequency_cap_that_ends_in_quiet_hours_waits_for_the_morning():
    last = tokyo(2026, 4, 1, 22, 30)  # e.g. sent before quiet hours were configured
    decision = decide(tokyo(2026, 4, 2, 9, 0), NIGHT, marketing=True, last_marketing_at=last)
    assert decision.at == tokyo(2026, 4, 3, 8, 0)


def test_frequency_cap_does_not_hold_back_service_messages():
    last = tokyo(2026, 4, 1, 10, 0)
    assert decide(tokyo(2026, 4, 1, 15, 0), NIGHT, marketing=False, last_marketing_at=last).action == Action.SEND


def test_cap_over_means_send():
    last = tokyo(2026, 4, 1, 10, 0)
    assert decide(tokyo(2026, 4, 2, 10, 0), NIGHT, marketing=True, last_marketing_at=last).action == Action.SEND


def test_unsubscribed_customer_is_skipped_for_marketing_with_the_reason():
    decision = decide(tokyo(2026, 4, 1, 10), NIGHT, marketing=True, unsubscribed_at=tokyo(2026, 3, 1, 9))
    assert decision.action == Action.SKIP
    assert "unsubscribed on 2026-03-01" in decision.reason


def test_unsubscribed_customer_still_gets_service_messages():
    assert decide(tokyo(2026, 4, 1, 10), NIGHT, marketing=False, unsubscribed_at=tokyo(2026, 3, 1)).action == "SEND"


def test_pending_return_pauses_marketing_and_rechecks_later():
    decision = decide(tokyo(2026, 4, 1, 10), NIGHT, marketing=True, return_pending=True)
    assert decision.action == Action.DEFER
    assert decision.at == tokyo(2026, 4, 1, 11)
    assert "return request" in decision.reason


def test_quiet_hours_defer_service_messages_too_but_never_badges():
    night = tokyo(2026, 4, 1, 23)
    assert decide(night, NIGHT, marketing=False).at == tokyo(2026, 4, 2, 8)
    assert decide(night, NIGHT, marketing=True, message=False).action == Action.SEND
