"""engine.follow_ups: which scores open a follow-up, and the only ways one moves (forward, closed is final)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from saleor_conveyor.engine.follow_ups import FollowUpState, Refusal, follow_up_step, opens_follow_up

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(("score", "opens"), [(0, True), (6, True), (7, False), (10, False)])
def test_only_a_detractors_score_opens_one(score, opens):
    assert opens_follow_up(score) is opens


def test_contact_is_recorded_once_and_closing_keeps_it():
    contacted = follow_up_step(FollowUpState("OPEN"), "CONTACTED", None, NOW)
    assert contacted == FollowUpState("CONTACTED", None, NOW, None)
    later = NOW + timedelta(days=2)
    closed = follow_up_step(contacted, "CLOSED", "RESOLVED", later)
    assert closed == FollowUpState("CLOSED", "RESOLVED", NOW, later)


@pytest.mark.parametrize(
    ("current", "status", "outcome", "field"),
    [
        (FollowUpState("OPEN"), "CLOSED", None, "outcome"),
        (FollowUpState("OPEN"), "CONTACTED", "RESOLVED", "outcome"),
        (FollowUpState("CONTACTED", first_contact_at=NOW), "OPEN", None, "status"),
        (FollowUpState("CLOSED", "NO_ANSWER", NOW, NOW), "CLOSED", "RESOLVED", "status"),
        (FollowUpState("OPEN"), "DONE", None, "status"),
        (FollowUpState("OPEN"), "CLOSED", "SOLVED", "outcome"),
    ],
)
def test_refused_steps_say_which_input(current, status, outcome, field):
    refusal = follow_up_step(current, status, outcome, NOW)
    assert isinstance(refusal, Refusal) and refusal.field == field
