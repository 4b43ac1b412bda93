"""The win-back survey (a lapsed customer: why did you stop?) and the improvement survey (a detractor: what
should we improve?): their stable answer codes and which occasion an answer is about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from .surveys import SURVEY_WINDOW_DAYS, answer_occasion


class WinbackKind(StrEnum):
    """Which of the two surveys of the same page kind an answer belongs to."""

    WINBACK = "winback"
    IMPROVEMENT = "improvement"


class WinbackReason(StrEnum):
    """Why a lapsed customer stopped buying (several may apply)."""

    PRICE = "PRICE"
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"
    QUALITY = "QUALITY"
    DELIVERY = "DELIVERY"
    FOUND_ELSEWHERE = "FOUND_ELSEWHERE"
    TOO_MANY_EMAILS = "TOO_MANY_EMAILS"
    OTHER = "OTHER"


class ImprovementArea(StrEnum):
    """What a detractor says the shop should improve (several may apply)."""

    PRODUCT_QUALITY = "PRODUCT_QUALITY"
    PRICE = "PRICE"
    DELIVERY = "DELIVERY"
    PACKAGING = "PACKAGING"
    CUSTOMER_SERVICE = "CUSTOMER_SERVICE"
    WEBSITE = "WEBSITE"
    EMAILS = "EMAILS"
    OTHER = "OTHER"


# The answers each survey offers, in the order the page lists them.
ANSWER_CODES: dict[WinbackKind, tuple[str, ...]] = {
    WinbackKind.WINBACK: tuple(WinbackReason),
    WinbackKind.IMPROVEMENT: tuple(ImprovementArea),
}
# More entries than any survey offers cannot be an honest answer (a repeated code counts once).
REASONS_MAX_ENTRIES = 50


def clean_reasons(kind: WinbackKind, reasons: Iterable[object]) -> tuple[str, ...]:
    """The chosen codes in the survey's own order, each once; ValueError naming the first unknown one."""
    offered = ANSWER_CODES[WinbackKind(kind)]
    chosen = list(reasons)
    if len(chosen) > REASONS_MAX_ENTRIES:
        raise ValueError(f"at most {REASONS_MAX_ENTRIES} reasons are read, got {len(chosen)}")
    for code in chosen:
        if not isinstance(code, str) or code not in offered:
            raise ValueError(f"{code!r} is not one of {', '.join(offered)}")
    return tuple(code for code in offered if code in chosen)


def winback_occasion(
    kind: WinbackKind,
    answered_at: datetime,
    *,
    last_order_id: str | None,
    nps_occasion: str | None,
    window_days: int = SURVEY_WINDOW_DAYS,
) -> str:
    """What an answer is about, so each is answered once: a win-back answer is about the lapse after the last
    order (the touchpoint's own key, `winback_survey:<order>`); an improvement answer is about the NPS answer
    that brought the honesty letter (`honesty_letter:<occasion>`); without either, the survey window."""
    about = last_order_id if WinbackKind(kind) is WinbackKind.WINBACK else nps_occasion
    return answer_occasion(about, answered_at, window_days)
