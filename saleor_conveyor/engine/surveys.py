"""NPS and the fan-degree survey: categories, the score, the 3x3 engagement grid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class NpsCategory(StrEnum):
    PROMOTER = "PROMOTER"
    PASSIVE = "PASSIVE"
    DETRACTOR = "DETRACTOR"


class FanDegree(StrEnum):
    """Six levels, weakest first (the order is the survey's scale)."""

    NOT_A_FAN = "NOT_A_FAN"
    NEW_FAN = "NEW_FAN"
    KEEP_SUPPORTING = "KEEP_SUPPORTING"
    MORE_THAN_EVER = "MORE_THAN_EVER"
    WANT_TO_HELP = "WANT_TO_HELP"
    PART_OF_LIFE = "PART_OF_LIFE"


class Liking(StrEnum):
    """Seven levels, weakest first."""

    NOT_AT_ALL = "NOT_AT_ALL"
    NOT_REALLY = "NOT_REALLY"
    NEUTRAL = "NEUTRAL"
    SOMEWHAT = "SOMEWHAT"
    LIKE = "LIKE"
    LOVE = "LOVE"
    ADORE = "ADORE"


NPS_MIN, NPS_MAX = 0, 10


# An answer without an order is about the survey window it falls in (see `answer_occasion`).
SURVEY_WINDOW_DAYS = 90
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def answer_occasion(order_id: str | None, answered_at: datetime, window_days: int = SURVEY_WINDOW_DAYS) -> str:
    """What an answer is about, so one customer answers each occasion once: its order, else its survey window.

    Windows are fixed (counted from 1970, `window_days` long) so the key is the same whichever
    answer of the window arrives first; it also keys the answer's follow-ups (`<rule>:<occasion>`).
    """
    if order_id is not None:
        return order_id
    days = max(int(window_days), 1)
    return f"window-{days}d-{(answered_at - _EPOCH) // timedelta(days=days)}"


@dataclass(frozen=True)
class NpsAnswer:
    """One NPS answer; `occasion` is the order it was about, or the survey window (see `answer_occasion`)."""

    occasion: str
    score: int
    answered_at: datetime
    # While the customer may still change the answer its follow-ups wait (None: final at once).
    settles_at: datetime | None = None


@dataclass(frozen=True)
class FanSurveyAnswer:
    fan_degree: FanDegree
    liking: Liking
    answered_at: datetime


def validate_score(score: object) -> int:
    """NPS scores are whole numbers 0..10; anything else is refused, never rounded."""
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"NPS score must be a whole number from 0 to 10, got {score!r}")
    if not NPS_MIN <= score <= NPS_MAX:
        raise ValueError(f"NPS score must be from 0 to 10, got {score}")
    return score


def nps_category(score: int) -> NpsCategory:
    """9-10 promoter, 7-8 passive, 0-6 detractor."""
    validate_score(score)
    if score >= 9:
        return NpsCategory.PROMOTER
    if score >= 7:
        return NpsCategory.PASSIVE
    return NpsCategory.DETRACTOR


def nps_score(scores: Iterable[int]) -> int | None:
    """% promoters - % detractors, rounded to a whole number; None with no answers."""
    promoters = detractors = total = 0
    for score in scores:
        category = nps_category(score)
        total += 1
        promoters += category is NpsCategory.PROMOTER
        detractors += category is NpsCategory.DETRACTOR
    return nps_from_counts(promoters, detractors, total)


def nps_from_counts(promoters: int, detractors: int, total: int) -> int | None:
    """The NPS formula on counts (the database counts; this rounds the same way everywhere)."""
    if not total:
        return None
    return round(100 * (promoters - detractors) / total)


# Bands of the grid: fan degree 0-1 LOW, 2-3 MID, 4-5 HIGH; liking 0-2 LOW, 3-4 MID, 5-6 HIGH.
_FAN_BANDS = ("LOW", "LOW", "MID", "MID", "HIGH", "HIGH")
_LIKING_BANDS = ("LOW", "LOW", "LOW", "MID", "MID", "HIGH", "HIGH")
_BAND_RANK = {"LOW": 0, "MID": 1, "HIGH": 2}
# Every fine cell ("FAN/LIKING") and coarse class of the grid, as rule conditions name them.
ENGAGEMENT_CELLS = tuple(f"{fan}/{like}" for fan in _BAND_RANK for like in _BAND_RANK)
ENGAGEMENT_CLASSES = ("CORE", "GROWING", "COOL")


def engagement_cell(fan_degree: FanDegree, liking: Liking) -> str:
    """The fine class: one of nine cells, written "FAN/LIKING", e.g. "HIGH/MID"."""
    fan = _FAN_BANDS[list(FanDegree).index(FanDegree(fan_degree))]
    like = _LIKING_BANDS[list(Liking).index(Liking(liking))]
    return f"{fan}/{like}"


def engagement_class(cell: str) -> str:
    """The coarse class: CORE (both high, or high+mid), GROWING (middle), COOL (mostly low)."""
    fan, like = cell.split("/")
    total = _BAND_RANK[fan] + _BAND_RANK[like]
    if total >= 3:
        return "CORE"
    if total == 2:
        return "GROWING"
    return "COOL"
