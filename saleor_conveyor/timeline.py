"""Customers for staff: the filtered list and each customer's timeline, one reader for the API and the console.

`fanProfiles` and the console's customer list both call `customer_list`; `FanProfile.timeline` and the
console's customer page both call `timelines`. Each is a fixed number of queries whatever the shop's size or
the page's length: the list is one query for the page and one for the count; the timelines of any number of
profiles are seven queries (one per source: orders, touchpoints, NPS, fan survey, win-back answers, returns,
inquiries), each cut per profile to the entries asked for by a window function in the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import Coalesce, RowNumber

from .engine import FanStage, NpsCategory
from .engine.surveys import ENGAGEMENT_CELLS
from .errors import ConveyorError, ErrorCode
from .models import (
    FanProfile,
    FanSurveyResponse,
    Inquiry,
    NpsResponse,
    Purchase,
    ReturnRequest,
    Touchpoint,
    TouchpointStatus,
    WinbackResponse,
)

TIMELINE_DEFAULT = 100
TIMELINE_MAX = 500
SEARCH_MAX = 254  # an email address's longest
# What a timeline entry is (TimelineEntry.kind in the API).
ORDER, TOUCHPOINT, NPS, FAN_SURVEY, WINBACK, RETURN, INQUIRY = (
    "ORDER",
    "TOUCHPOINT",
    "NPS",
    "FAN_SURVEY",
    "WINBACK",
    "RETURN",
    "INQUIRY",
)
KINDS = (ORDER, TOUCHPOINT, NPS, FAN_SURVEY, WINBACK, RETURN, INQUIRY)


@dataclass(frozen=True)
class CustomerFilter:
    """What staff narrowed the customer list to; None is "any"."""

    stage: str | None = None
    segment: str | None = None
    lapsed: bool | None = None
    nps_category: str | None = None
    search: str | None = None

    def checked(self) -> CustomerFilter:
        """The same filter, or INVALID naming the argument no profile could match."""
        if self.stage is not None and self.stage not in FanStage.__members__:
            raise ConveyorError("Not a fan stage.", field="stage")
        if self.segment is not None and self.segment not in ENGAGEMENT_CELLS:
            raise ConveyorError(f"A cell of the grid: {', '.join(ENGAGEMENT_CELLS)}.", field="segment")
        if self.nps_category is not None and self.nps_category not in NpsCategory.__members__:
            raise ConveyorError("Not an NPS category.", field="npsCategory")
        search = (self.search or "").strip()
        if len(search) > SEARCH_MAX or "\x00" in search:
            raise ConveyorError(f"search is at most {SEARCH_MAX} characters of text.", field="search")
        return CustomerFilter(self.stage, self.segment, self.lapsed, self.nps_category, search or None)


def customer_list(
    found: CustomerFilter, *, now: datetime, lapse_days: int, using: str = DEFAULT_DB_ALIAS
) -> QuerySet[FanProfile]:
    """Profiles matching the filter, latest buyers first (never-bought last); slice it for a page."""
    found = found.checked()
    rows = FanProfile.objects.using(using)
    if found.stage:
        rows = rows.filter(stage=found.stage)
    if found.segment:
        rows = rows.filter(segment=found.segment)
    if found.nps_category:
        rows = rows.filter(nps_category=found.nps_category)
    if found.lapsed is not None:
        # engine.is_lapsed: a purchase, and the lapse window has passed since the last one.
        lapsed = Q(last_purchase_at__lte=now - timedelta(days=lapse_days))
        rows = rows.filter(lapsed if found.lapsed else ~lapsed | Q(last_purchase_at__isnull=True))
    if found.search:
        rows = rows.filter(Q(email__icontains=found.search) | Q(first_name__icontains=found.search))
    return rows.order_by(F("last_purchase_at").desc(nulls_last=True), "-id")


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened with a customer, as the API and the console's customer page show it."""

    at: datetime
    kind: str
    title: str
    detail: str | None
    order_id: str | None  # the host's order id (the API shows it as an Order global ID)
    status: str | None = None  # a touchpoint's status, a return's or an inquiry's
    outcome: str | None = None  # how a touchpoint ended (e.g. "holdout", "done by staff@...")
    sort_key: int = 0  # ties at the same instant: the row's own order


def checked_first(first: int | None) -> int:
    """How many entries a timeline shows: 1..TIMELINE_MAX (TIMELINE_DEFAULT when not said)."""
    if first is None:
        return TIMELINE_DEFAULT
    if not 1 <= first <= TIMELINE_MAX:
        raise ConveyorError(f"first must be 1..{TIMELINE_MAX}.", field="first", code=ErrorCode.OUT_OF_RANGE)
    return first


def _latest(rows: QuerySet, at: Any, first: int) -> QuerySet:
    """At most `first` rows per profile, newest first, cut in the database."""
    ranked = rows.annotate(
        _at=at, _rank=Window(RowNumber(), partition_by=[F("profile_id")], order_by=[at.desc(), F("pk").desc()])
    )
    return ranked.filter(_rank__lte=first)


def _money(amount: Any, currency: str) -> str:
    return f"{amount:,.0f} {currency}" if currency == "JPY" else f"{amount:,.2f} {currency}"


def _order_entry(row: Purchase) -> TimelineEntry:
    states = []
    if row.fulfilled_at:
        states.append(f"shipped {row.fulfilled_at:%Y-%m-%d}")
    if row.cancelled_at:
        states.append("cancelled")
    if row.returned_at:
        states.append("returned")
    detail = " · ".join([_money(row.total_gross_amount, row.currency), row.channel, *states])
    return TimelineEntry(row.placed_at, ORDER, f"Order #{row.order_number or row.order_id}", detail, row.order_id)


def _touchpoint_entry(row: Touchpoint) -> TimelineEntry:
    status = TouchpointStatus.SCHEDULED if row.status == TouchpointStatus.SENDING else row.status
    return TimelineEntry(
        row.sent_at or row.due_at,
        TOUCHPOINT,
        f"{row.rule} ({row.kind})",
        row.detail or None,
        row.order_id,
        status=status,
        outcome=row.outcome or None,
        sort_key=row.pk,
    )


def _nps_entry(row: NpsResponse) -> TimelineEntry:
    return TimelineEntry(row.created_at, NPS, f"NPS {row.score}", row.comment or None, row.order_id, sort_key=row.pk)


def _fan_survey_entry(row: FanSurveyResponse) -> TimelineEntry:
    title = f"Fan survey: {row.fan_degree} / {row.liking} ({row.segment})"
    return TimelineEntry(row.created_at, FAN_SURVEY, title, row.comment or None, None, sort_key=row.pk)


def _winback_entry(row: WinbackResponse) -> TimelineEntry:
    reasons = ", ".join(str(reason) for reason in row.reasons or [])
    title = f"{row.kind.title()} survey: {reasons or '-'}"
    return TimelineEntry(row.created_at, WINBACK, title, row.comment or None, None, sort_key=row.pk)


def _return_entry(row: ReturnRequest) -> TimelineEntry:
    title = f"Return of order #{row.purchase.order_number or row.purchase.order_id}: {row.reason}"
    detail = " · ".join(part for part in (row.comment, row.note) if part) or None
    return TimelineEntry(row.created_at, RETURN, title, detail, row.purchase.order_id, status=row.status)


def _inquiry_entry(row: Inquiry) -> TimelineEntry:
    return TimelineEntry(row.created_at, INQUIRY, f"Inquiry: {row.topic}", row.message, row.order_id, status=row.status)


def timelines(
    profiles: Sequence[FanProfile], first: int | None = None, *, using: str | None = None
) -> dict[int, list[TimelineEntry]]:
    """Each profile's latest `first` entries, newest first: seven queries for any number of profiles."""
    count = checked_first(first)
    ids = [profile.pk for profile in profiles]
    found: dict[int, list[TimelineEntry]] = {pk: [] for pk in ids}
    if not ids:
        return found
    alias = using or profiles[0]._state.db or DEFAULT_DB_ALIAS
    sources: Iterable[tuple[QuerySet, Any, Any]] = (
        (Purchase.objects.only(*_PURCHASE_FIELDS), F("placed_at"), _order_entry),
        (Touchpoint.objects.only(*_TOUCHPOINT_FIELDS), Coalesce("sent_at", "due_at"), _touchpoint_entry),
        (NpsResponse.objects.all(), F("created_at"), _nps_entry),
        (FanSurveyResponse.objects.all(), F("created_at"), _fan_survey_entry),
        (WinbackResponse.objects.all(), F("created_at"), _winback_entry),
        (ReturnRequest.objects.select_related("purchase"), F("created_at"), _return_entry),
        (Inquiry.objects.defer("client_address"), F("created_at"), _inquiry_entry),
    )
    for rows, at, entry in sources:
        for row in _latest(rows.using(alias).filter(profile_id__in=ids), at, count):
            found[row.profile_id].append(entry(row))
    for entries in found.values():
        entries.sort(key=lambda entry: (entry.at, entry.sort_key), reverse=True)
        del entries[count:]
    return found


def timeline(profile: FanProfile, first: int | None = None) -> list[TimelineEntry]:
    """One customer's latest entries, newest first."""
    return timelines([profile], first)[profile.pk]


_PURCHASE_FIELDS = (
    "profile_id",
    "order_id",
    "order_number",
    "channel",
    "currency",
    "total_gross_amount",
    "placed_at",
    "fulfilled_at",
    "cancelled_at",
    "returned_at",
)
_TOUCHPOINT_FIELDS = ("profile_id", "rule", "kind", "status", "due_at", "sent_at", "order_id", "outcome", "detail")
