"""Occasions of the layer triggers: entering a stage, entering an engagement cell, the first purchase's anniversary.

Each is derived from the history alone (purchases, fan-survey answers, and `now` for the anniversary),
so the live service and the backfill's replay find the same occasions, and each has a number that
makes its occurrence key: the n-th entry into a stage or cell, the n-th anniversary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .stages import FanStage, Purchase, counted
from .surveys import FanSurveyAnswer, engagement_cell, engagement_class

# An anniversary is planned this long before it is due (the daily scan looks as far ahead).
ANNIVERSARY_LOOKAHEAD = timedelta(days=7)


@dataclass(frozen=True)
class StageEntry:
    stage: FanStage
    number: int
    purchase: Purchase


def stage_entries(purchases: Sequence[Purchase]) -> list[StageEntry]:
    """Each time the customer's stage changed to another, with the order that moved them (as `stage_for` reads)."""
    entries: list[StageEntry] = []
    seen: Counter[FanStage] = Counter()
    previous: FanStage | None = None
    all_discounted = True
    for count, purchase in enumerate(counted(purchases), start=1):
        all_discounted = all_discounted and purchase.discounted
        if count == 1:
            stage = FanStage.FIRST_TIME
        elif all_discounted:
            stage = FanStage.CAMPAIGN_ONLY
        elif count >= 3:
            stage = FanStage.LOYAL
        else:
            stage = FanStage.SECOND_TIME
        if stage != previous:
            seen[stage] += 1
            entries.append(StageEntry(stage, seen[stage], purchase))
        previous = stage
    return entries


@dataclass(frozen=True)
class EngagementEntry:
    cell: str
    number: int
    answer: FanSurveyAnswer


def engagement_entries(answers: Sequence[FanSurveyAnswer], target: str) -> list[EngagementEntry]:
    """Each fan-survey answer that placed the customer in `target` (a cell or a class) when the previous one had not."""
    entries: list[EngagementEntry] = []
    inside = False
    for answer in sorted(answers, key=lambda a: (a.answered_at, a.fan_degree, a.liking)):
        cell = engagement_cell(answer.fan_degree, answer.liking)
        now_inside = target in (cell, engagement_class(cell))
        if now_inside and not inside:
            entries.append(EngagementEntry(cell, len(entries) + 1, answer))
        inside = now_inside
    return entries


def add_years(moment: datetime, years: int) -> datetime:
    """The same day `years` later; the 29th of February falls on the 28th in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def latest_anniversary(first_purchase_at: datetime, *, now: datetime, delay: timedelta) -> tuple[int, datetime] | None:
    """The latest anniversary (its number, its due time) that is due by `now` + the lookahead; None before the first."""
    horizon = now + ANNIVERSARY_LOOKAHEAD
    years = horizon.year - first_purchase_at.year
    while years >= 1 and add_years(first_purchase_at, years) + delay > horizon:
        years -= 1
    if years < 1:
        return None
    return years, add_years(first_purchase_at, years) + delay
