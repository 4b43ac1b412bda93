"""The contract's types: enums, FanProfile, Touchpoint, returns, inquiries, win-back answers, stats."""

from __future__ import annotations

from typing import Any

import graphene
from django.utils import timezone

from .. import models
from .. import timeline as timelines
from ..engine import FanDegree as FanDegreeValues
from ..engine import FanStage as FanStageValues
from ..engine import Liking as LikingValues
from ..engine import NpsCategory as NpsCategoryValues
from ..engine import WinbackKind as WinbackKindValues
from ..engine import engagement_class, is_lapsed
from ..errors import ConveyorError, ErrorCode
from ..hosts import MANAGE_USERS, get_config, get_host
from ..measures import first_contact
from ..stats import StatsReport
from . import loaders
from .core import Money, current_user, global_id, money


def _enum(name: str, values: Any, description: str) -> type[graphene.Enum]:
    return graphene.Enum(name, [(str(v), str(v)) for v in values], description=description)


FanStage = _enum("FanStage", FanStageValues, "Where a customer is on the stage ladder.")
NpsCategory = _enum("NpsCategory", NpsCategoryValues, "9-10 promoter, 7-8 passive, 0-6 detractor.")
FanDegree = _enum("FanDegree", FanDegreeValues, "The fan-degree survey's six levels, weakest first.")
Liking = _enum("Liking", LikingValues, "The survey's seven levels of liking, weakest first.")
TouchpointKind = _enum("TouchpointKind", models.TouchpointKind.values, "What a touchpoint is.")
# SENDING is internal (claimed by a worker); callers see it as SCHEDULED.
TouchpointStatus = _enum(
    "TouchpointStatus",
    [s for s in models.TouchpointStatus.values if s != models.TouchpointStatus.SENDING],
    "Where a touchpoint is in delivery.",
)
ReturnReason = _enum("ReturnReason", models.ReturnReason.values, "Why goods go back.")
ReturnStatus = _enum("ReturnStatus", models.ReturnStatus.values, "Where a return request is.")
InquiryTopic = _enum("InquiryTopic", models.InquiryTopic.values, "What an inquiry is about.")
InquiryStatus = _enum("InquiryStatus", models.InquiryStatus.values, "Where an inquiry is.")
FollowUpStatus = _enum("FollowUpStatus", models.FollowUpStatus.values, "Where a follow-up is: OPEN, CONTACTED, CLOSED.")
FollowUpOutcome = _enum("FollowUpOutcome", models.FollowUpOutcome.values, "How a closed follow-up ended.")
FollowUpSource = _enum(
    "FollowUpSource", models.FollowUpSource.values, "What opened it: a detractor's NPS answer or a win-back answer."
)
ReplyMailStatus = _enum("ReplyMailStatus", models.ReplyMailStatus.values, "Whether a reply's email went out.")


WinbackSurveyKind = graphene.Enum(
    "WinbackSurveyKind",
    [(kind.name, kind.value) for kind in WinbackKindValues],
    description="WINBACK: a lapsed customer's answer (why they stopped); IMPROVEMENT: a detractor's (what to improve).",
)


def shown_status(status: str) -> str:
    return models.TouchpointStatus.SCHEDULED if status == models.TouchpointStatus.SENDING else status


class Touchpoint(graphene.ObjectType):
    """One step of the conveyor for this customer: a mail, a coupon, a badge, a staff task."""

    id = graphene.ID(required=True)
    rule = graphene.String(required=True)
    kind = graphene.Field(graphene.NonNull(TouchpointKind))
    status = graphene.Field(graphene.NonNull(TouchpointStatus))
    due_at = graphene.DateTime(required=True)
    sent_at = graphene.DateTime()
    detail = graphene.String()

    @staticmethod
    def resolve_id(root: models.Touchpoint, info: Any) -> str:
        return global_id("Touchpoint", root.pk)

    @staticmethod
    def resolve_status(root: models.Touchpoint, info: Any) -> str:
        return shown_status(root.status)

    @staticmethod
    def resolve_detail(root: models.Touchpoint, info: Any) -> str | None:
        return root.detail or None


class TimelineEntry(graphene.ObjectType):
    """One thing that happened with a customer: an order, a touchpoint, an answer, a return, an inquiry."""

    at = graphene.DateTime(required=True)
    kind = graphene.String(required=True, description=f"One of {', '.join(timelines.KINDS)}.")
    title = graphene.String(required=True)
    detail = graphene.String()
    order_id = graphene.ID(description="The order it is about, if any.")
    status = graphene.String(description="A touchpoint's, return's or inquiry's status.")
    outcome = graphene.String(description="How a touchpoint ended, e.g. holdout.")

    @staticmethod
    def resolve_order_id(root: timelines.TimelineEntry, info: Any) -> str | None:
        return global_id("Order", root.order_id) if root.order_id else None


def _page_of(profile: models.FanProfile) -> list[models.FanProfile]:
    """The profiles listed with this one (fanProfiles' page), so a field read for each is read once for all."""
    return getattr(profile, "_conveyor_page", None) or [profile]


def may_read_timeline(info: Any, profile: models.FanProfile) -> bool:
    """Staff with MANAGE_USERS, or the customer whose profile it is."""
    user = current_user(info)
    if user is None:
        return False
    return (profile.user_id is not None and profile.user_id == user.pk) or get_host().has_permission(user, MANAGE_USERS)


# Reached through a MANAGE_ORDERS operation (StaffTask.profile), a profile shows what an order's page shows
# (who, their name, their purchases). What the conveyor knows of them beyond that, these fields, needs
# MANAGE_USERS (`_gate_customer_data` wraps their resolvers).
CUSTOMER_DATA_FIELDS = (
    "nps",
    "nps_category",
    "fan_degree",
    "liking",
    "segment",
    "engagement_class",
    "badges",
    "referral_code",
    "unsubscribed",
    "touchpoints",
    "timeline",
)


def for_orders_staff(info: Any, profile: models.FanProfile) -> None:
    """Mark a profile read by staff without MANAGE_USERS so its CUSTOMER_DATA_FIELDS are refused."""
    request = info.context
    allowed = getattr(request, "_conveyor_manage_users", None)
    if allowed is None:
        user = current_user(info)
        allowed = request._conveyor_manage_users = user is not None and get_host().has_permission(user, MANAGE_USERS)
    if not allowed:
        profile._conveyor_orders_only = True


def _gate_customer_data(object_type: type) -> type:
    """Class decorator: each of CUSTOMER_DATA_FIELDS' resolvers (the attribute itself where the type has none)
    refuses a profile `for_orders_staff` marked; as `core.guard_resolvers` wraps a query type's."""
    for name in CUSTOMER_DATA_FIELDS:
        resolver = vars(object_type).get(f"resolve_{name}")
        resolve = resolver.__func__ if isinstance(resolver, staticmethod) else None

        def gated(root: models.FanProfile, info: Any, _name: str = name, _resolve: Any = resolve, **kwargs: Any) -> Any:
            if getattr(root, "_conveyor_orders_only", False):
                raise ConveyorError("This needs the MANAGE_USERS permission.", code=ErrorCode.PERMISSION_DENIED)
            return _resolve(root, info, **kwargs) if _resolve is not None else getattr(root, _name)

        setattr(object_type, f"resolve_{name}", staticmethod(gated))
    return object_type


@_gate_customer_data
class FanProfile(graphene.ObjectType):
    """A customer on the conveyor: stage, money, survey answers, badges, touchpoints."""

    id = graphene.ID(required=True)
    email = graphene.String(required=True)
    first_name = graphene.String()
    customer_id = graphene.ID(description="The customer's User ID; null for a guest.")
    stage = graphene.Field(FanStage, description="Null before the first purchase.")
    purchase_count = graphene.Int(required=True)
    total_spent = graphene.Field(Money)
    average_order_value = graphene.Field(Money)
    lifetime_value = graphene.Field(Money, description="Average order value x purchase count.")
    first_purchase_at = graphene.DateTime()
    last_purchase_at = graphene.DateTime()
    lapsed = graphene.Boolean(required=True, description="No purchase for the lapse window (default 90 days).")
    nps = graphene.Int(description="Latest NPS score, 0-10.")
    nps_category = graphene.Field(NpsCategory)
    fan_degree = graphene.Field(FanDegree)
    liking = graphene.Field(Liking)
    segment = graphene.String(description='Cell of the 3x3 engagement grid, e.g. "HIGH/MID".')
    engagement_class = graphene.String(description="Coarse class of the cell: CORE, GROWING or COOL.")
    badges = graphene.List(graphene.NonNull(graphene.String), required=True)
    referral_code = graphene.String()
    unsubscribed = graphene.Boolean(required=True, description="Opted out of marketing mail.")
    touchpoints = graphene.List(graphene.NonNull(Touchpoint), required=True, status=graphene.Argument(TouchpointStatus))
    timeline = graphene.List(
        graphene.NonNull(TimelineEntry),
        required=True,
        first=graphene.Int(
            description=f"Latest entries shown, 1-{timelines.TIMELINE_MAX} ({timelines.TIMELINE_DEFAULT})."
        ),
        description="Orders, touchpoints, answers, returns and inquiries, newest first (staff, or the customer's own).",
    )

    @staticmethod
    def resolve_id(root: models.FanProfile, info: Any) -> str:
        return global_id("FanProfile", root.pk)

    @staticmethod
    def resolve_first_name(root: models.FanProfile, info: Any) -> str | None:
        return root.first_name or None

    @staticmethod
    def resolve_timeline(root: models.FanProfile, info: Any, first: int | None = None) -> Any:
        if not may_read_timeline(info, root):
            raise ConveyorError("This needs the MANAGE_USERS permission.", code=ErrorCode.PERMISSION_DENIED)
        count = timelines.checked_first(first)
        cache = getattr(root, "_conveyor_timelines", None)
        if cache is None or count not in cache:
            page = _page_of(root)
            found = timelines.timelines(page, count)
            for profile in page:
                profile.__dict__.setdefault("_conveyor_timelines", {})[count] = found[profile.pk]
        return root._conveyor_timelines[count]

    @staticmethod
    def resolve_customer_id(root: models.FanProfile, info: Any) -> str | None:
        return global_id("User", root.user_id) if root.user_id is not None else None

    @staticmethod
    def resolve_total_spent(root: models.FanProfile, info: Any) -> Any:
        return money(root.total_spent_amount if root.purchase_count else None, root.currency)

    @staticmethod
    def resolve_average_order_value(root: models.FanProfile, info: Any) -> Any:
        return money(root.average_order_value_amount, root.currency)

    @staticmethod
    def resolve_lifetime_value(root: models.FanProfile, info: Any) -> Any:
        return money(root.lifetime_value_amount, root.currency)

    @staticmethod
    def resolve_lapsed(root: models.FanProfile, info: Any) -> bool:
        return is_lapsed(root.last_purchase_at, timezone.now(), get_config().lapse_days)

    @staticmethod
    def resolve_segment(root: models.FanProfile, info: Any) -> str | None:
        return root.segment or None

    @staticmethod
    def resolve_engagement_class(root: models.FanProfile, info: Any) -> str | None:
        return engagement_class(root.segment) if root.segment else None

    @staticmethod
    def resolve_referral_code(root: models.FanProfile, info: Any) -> str | None:
        return root.referral_code or None

    @staticmethod
    def resolve_unsubscribed(root: models.FanProfile, info: Any) -> bool:
        return root.unsubscribed_at is not None

    @staticmethod
    def resolve_touchpoints(root: models.FanProfile, info: Any, status: str | None = None) -> Any:
        # At most one query, whatever the history (none when read with the profile): in due order;
        # one for the whole page of fanProfiles.
        if getattr(root, "_conveyor_page", None) and getattr(root, "_conveyor_touchpoints", None) is None:
            loaders.attach_touchpoints(root._conveyor_page)
        return loaders.touchpoints(root, status)


class FanProfileConnection(graphene.relay.Connection):
    class Meta:
        node = FanProfile

    total_count = graphene.Int(required=True)

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()


class NpsResponse(graphene.ObjectType):
    """A stored NPS answer."""

    score = graphene.Int(required=True)
    category = graphene.Field(graphene.NonNull(NpsCategory))
    comment = graphene.String()
    order_id = graphene.ID()
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_category(root: models.NpsResponse, info: Any) -> str:
        from ..engine import nps_category

        return nps_category(root.score).value

    @staticmethod
    def resolve_order_id(root: models.NpsResponse, info: Any) -> str | None:
        return global_id("Order", root.order_id) if root.order_id else None


class ReturnLine(graphene.ObjectType):
    order_line_id = graphene.ID(required=True)
    product_name = graphene.String(required=True)
    quantity = graphene.Int(required=True)

    @staticmethod
    def resolve_order_line_id(root: models.ReturnLine, info: Any) -> str:
        return global_id("OrderLine", root.order_line_id)


class ReturnRequest(graphene.ObjectType):
    """A customer's request to send goods back, and staff's decision."""

    id = graphene.ID(required=True)
    order_id = graphene.ID(required=True)
    order_number = graphene.String(required=True)
    customer_email = graphene.String(required=True)
    status = graphene.Field(graphene.NonNull(ReturnStatus))
    reason = graphene.Field(graphene.NonNull(ReturnReason))
    comment = graphene.String(required=True)
    note = graphene.String(required=True, description="Staff's note with the decision.")
    lines = graphene.List(graphene.NonNull(ReturnLine), required=True)
    created_at = graphene.DateTime(required=True)
    decided_at = graphene.DateTime()

    @staticmethod
    def resolve_id(root: models.ReturnRequest, info: Any) -> str:
        return global_id("ReturnRequest", root.pk)

    @staticmethod
    def resolve_order_id(root: models.ReturnRequest, info: Any) -> str:
        return global_id("Order", root.purchase.order_id)

    @staticmethod
    def resolve_order_number(root: models.ReturnRequest, info: Any) -> str:
        return root.purchase.order_number

    @staticmethod
    def resolve_customer_email(root: models.ReturnRequest, info: Any) -> str:
        return root.profile.email

    @staticmethod
    def resolve_lines(root: models.ReturnRequest, info: Any) -> Any:
        return root.lines.all()


class ReturnRequestConnection(graphene.relay.Connection):
    class Meta:
        node = ReturnRequest

    total_count = graphene.Int(required=True)

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()


class InquiryReply(graphene.ObjectType):
    """Staff's answer to an inquiry, emailed to the customer; `mailStatus` FAILED means it did not go out (yet)."""

    id = graphene.ID(required=True)
    at = graphene.DateTime(required=True)
    by = graphene.String(required=True, description="The staff member's email address.")
    message = graphene.String(required=True)
    mail_status = graphene.Field(graphene.NonNull(ReplyMailStatus))
    mail_outcome = graphene.String(description="What the mail server said, e.g. why it refused.")

    @staticmethod
    def resolve_id(root: models.InquiryReply, info: Any) -> str:
        return global_id("InquiryReply", root.pk)

    @staticmethod
    def resolve_mail_outcome(root: models.InquiryReply, info: Any) -> str | None:
        return root.mail_outcome or None


class Inquiry(graphene.ObjectType):
    """A message from the shop's contact form, with staff's replies and internal note."""

    id = graphene.ID(required=True)
    status = graphene.Field(graphene.NonNull(InquiryStatus))
    email = graphene.String(required=True)
    name = graphene.String(required=True)
    order_id = graphene.ID()
    topic = graphene.Field(graphene.NonNull(InquiryTopic))
    message = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)
    replies = graphene.List(graphene.NonNull(InquiryReply), required=True, description="Staff's replies, oldest first.")
    note = graphene.String(description="Staff's internal note; the customer never sees it.")
    answered_at = graphene.DateTime(description="When staff first replied.")
    closed_at = graphene.DateTime()

    @staticmethod
    def resolve_id(root: models.Inquiry, info: Any) -> str:
        return global_id("Inquiry", root.pk)

    @staticmethod
    def resolve_replies(root: models.Inquiry, info: Any) -> Any:
        return root.replies.all()  # prefetched for a page of `inquiries`: no query per inquiry

    @staticmethod
    def resolve_note(root: models.Inquiry, info: Any) -> str | None:
        return root.note or None

    @staticmethod
    def resolve_order_id(root: models.Inquiry, info: Any) -> str | None:
        return global_id("Order", root.order_id) if root.order_id else None


class InquiryConnection(graphene.relay.Connection):
    class Meta:
        node = Inquiry

    total_count = graphene.Int(required=True)

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()


class FollowUp(graphene.ObjectType):
    """Staff closing the loop with a customer whose answer opened it (a detractor's NPS answer, a win-back answer)."""

    id = graphene.ID(required=True)
    source = graphene.Field(graphene.NonNull(FollowUpSource))
    score = graphene.Int(description="The NPS score (DETRACTOR); null for a win-back answer.")
    comment = graphene.String(description="The customer's words with the answer.")
    reasons = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="A win-back answer's WinbackReason codes."
    )
    profile = graphene.Field(graphene.NonNull(FanProfile))
    status = graphene.Field(graphene.NonNull(FollowUpStatus))
    outcome = graphene.Field(FollowUpOutcome)
    created_at = graphene.DateTime(required=True)
    first_contact_at = graphene.DateTime()
    closed_at = graphene.DateTime()
    closed_by = graphene.String()
    note = graphene.String(description="Staff's note.")

    @staticmethod
    def resolve_id(root: models.FollowUp, info: Any) -> str:
        return global_id("FollowUp", root.pk)

    @staticmethod
    def resolve_comment(root: models.FollowUp, info: Any) -> str | None:
        return root.comment or None

    @staticmethod
    def resolve_reasons(root: models.FollowUp, info: Any) -> list[str]:
        answer = root.winback_response if root.winback_response_id is not None else None
        return [str(reason) for reason in answer.reasons or []] if answer is not None else []

    @staticmethod
    def resolve_note(root: models.FollowUp, info: Any) -> str | None:
        return root.note or None

    @staticmethod
    def resolve_closed_by(root: models.FollowUp, info: Any) -> str | None:
        return root.closed_by or None


class FirstContactFigures(graphene.ObjectType):
    """How soon staff reach the customers whose answers opened follow-ups (the method's anchor: within a week)."""

    median_hours = graphene.Float(description="Median hours from opening to first contact; null before any.")
    within_target_rate = graphene.Float(
        description="Share contacted within targetDays, of those contacted or waiting longer than that."
    )
    target_days = graphene.Int(required=True)
    contacted = graphene.Int(required=True)
    waiting = graphene.Int(required=True, description="Open and not contacted yet.")
    overdue = graphene.Int(required=True, description="Waiting longer than targetDays.")


class FollowUpConnection(graphene.relay.Connection):
    class Meta:
        node = FollowUp

    total_count = graphene.Int(required=True)
    first_contact = graphene.Field(
        graphene.NonNull(FirstContactFigures), description="Time to first contact over every follow-up (one query)."
    )

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()

    @staticmethod
    def resolve_first_contact(root: Any, info: Any) -> Any:
        return first_contact(now=timezone.now(), using=root.queryset.db)


class WinbackResponse(graphene.ObjectType):
    """A win-back or improvement survey answer: the codes chosen and the customer's words."""

    id = graphene.ID(required=True)
    kind = graphene.Field(graphene.NonNull(WinbackSurveyKind))
    reasons = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Codes in the survey's order: WinbackReason for WINBACK, ImprovementArea for IMPROVEMENT.",
    )
    comment = graphene.String(required=True)
    profile_id = graphene.ID(required=True, description="The customer's FanProfile ID.")
    customer_email = graphene.String(required=True)
    customer_id = graphene.ID(description="The customer's User ID; null for a guest.")
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_id(root: models.WinbackResponse, info: Any) -> str:
        return global_id("WinbackResponse", root.pk)

    @staticmethod
    def resolve_profile_id(root: models.WinbackResponse, info: Any) -> str:
        return global_id("FanProfile", root.profile_id)

    @staticmethod
    def resolve_customer_email(root: models.WinbackResponse, info: Any) -> str:
        return root.profile.email

    @staticmethod
    def resolve_customer_id(root: models.WinbackResponse, info: Any) -> str | None:
        return global_id("User", root.profile.user_id) if root.profile.user_id is not None else None


class WinbackResponseConnection(graphene.relay.Connection):
    class Meta:
        node = WinbackResponse

    total_count = graphene.Int(required=True)

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()


# --- stats ---------------------------------------------------------------------------------


class NpsStats(graphene.ObjectType):
    score = graphene.Int(description="% promoters - % detractors; null without answers.")
    promoters = graphene.Int(required=True)
    passives = graphene.Int(required=True)
    detractors = graphene.Int(required=True)
    responses = graphene.Int(required=True)


class StageCount(graphene.ObjectType):
    stage = graphene.Field(graphene.NonNull(FanStage))
    count = graphene.Int(required=True)


class ShippingLeadTime(graphene.ObjectType):
    median_hours = graphene.Float()
    p90_hours = graphene.Float()
    same_day_rate = graphene.Float(description="Share of orders shipped on the day they were placed (shop time).")
    shipped = graphene.Int(required=True)


class TouchpointCount(graphene.ObjectType):
    rule = graphene.String(required=True)
    kind = graphene.Field(graphene.NonNull(TouchpointKind))
    status = graphene.Field(graphene.NonNull(TouchpointStatus))
    count = graphene.Int(required=True)


class EngagementCellCount(graphene.ObjectType):
    cell = graphene.String(required=True, description='A cell of the 3x3 engagement grid, "FAN/LIKING".')
    count = graphene.Int(required=True)


class MonthlyLeadTime(graphene.ObjectType):
    month = graphene.Date(required=True, description="First day of the month (shop time).")
    median_hours = graphene.Float()
    p90_hours = graphene.Float()
    same_day_rate = graphene.Float()
    shipped = graphene.Int(required=True)


class MonthlyFigures(graphene.ObjectType):
    month = graphene.Date(required=True, description="First day of the month (shop time).")
    nps = graphene.Int()
    repeat_rate = graphene.Float()
    average_order_value = graphene.Field(Money)
    orders = graphene.Int(required=True)

    @staticmethod
    def resolve_average_order_value(root: Any, info: Any) -> Any:
        return money(root.average_order_value, root.currency)


class ImprovingStreaks(graphene.ObjectType):
    nps = graphene.Int(required=True)
    repeat_rate = graphene.Int(required=True)
    average_order_value = graphene.Int(required=True)


class ConveyorStats(graphene.ObjectType):
    """The shop's measures for a window, computed in the database."""

    nps = graphene.Field(graphene.NonNull(NpsStats))
    stages = graphene.List(graphene.NonNull(StageCount), required=True)
    f2_conversion_rate = graphene.Float(description="First-time buyers of the window who bought again.")
    repeat_rate = graphene.Float(description="Buyers of the window for whom it was not the first purchase.")
    average_lifetime_value = graphene.Field(Money, description="In the currency with the most customers.")
    average_lifetime_values = graphene.List(graphene.NonNull(Money), required=True, description="Per currency.")
    shipping_lead_time = graphene.Field(graphene.NonNull(ShippingLeadTime))
    touchpoints = graphene.List(graphene.NonNull(TouchpointCount), required=True)
    monthly = graphene.List(graphene.NonNull(MonthlyFigures), required=True)
    improving_streak = graphene.Int(required=True, description="Months in a row whose NPS beat the month before.")
    improving_streaks = graphene.Field(graphene.NonNull(ImprovingStreaks))
    engagement_grid = graphene.List(
        graphene.NonNull(EngagementCellCount),
        required=True,
        description="Customers per cell of the engagement grid now (a channel: those who bought there).",
    )
    monthly_shipping_lead_time = graphene.List(
        graphene.NonNull(MonthlyLeadTime), required=True, description="shippingLeadTime per month of `monthly`."
    )

    @staticmethod
    def resolve_nps(root: StatsReport, info: Any) -> Any:
        return root.nps

    @staticmethod
    def resolve_stages(root: StatsReport, info: Any) -> Any:
        return [StageCount(stage=stage, count=count) for stage, count in root.stages]

    @staticmethod
    def resolve_average_lifetime_value(root: StatsReport, info: Any) -> Any:
        first = next(iter(root.average_lifetime_values), None)
        return money(first[1], first[0]) if first else None

    @staticmethod
    def resolve_average_lifetime_values(root: StatsReport, info: Any) -> Any:
        return [money(amount, currency) for currency, amount, _ in root.average_lifetime_values]

    @staticmethod
    def resolve_shipping_lead_time(root: StatsReport, info: Any) -> Any:
        return root.shipping_lead_time

    @staticmethod
    def resolve_touchpoints(root: StatsReport, info: Any) -> Any:
        return [
            TouchpointCount(rule=rule, kind=kind, status=status, count=count)
            for rule, kind, status, count in root.touchpoints
        ]

    @staticmethod
    def resolve_monthly(root: StatsReport, info: Any) -> Any:
        return root.monthly.months

    @staticmethod
    def resolve_improving_streak(root: StatsReport, info: Any) -> int:
        return root.monthly.streak("nps")

    @staticmethod
    def resolve_engagement_grid(root: StatsReport, info: Any) -> Any:
        return [EngagementCellCount(cell=cell, count=count) for cell, count in root.engagement_grid]

    @staticmethod
    def resolve_monthly_shipping_lead_time(root: StatsReport, info: Any) -> Any:
        return [
            MonthlyLeadTime(
                month=month,
                median_hours=lead.median_hours,
                p90_hours=lead.p90_hours,
                same_day_rate=lead.same_day_rate,
                shipped=lead.shipped,
            )
            for month, lead in root.shipping_lead_time_by_month
        ]

    @staticmethod
    def resolve_improving_streaks(root: StatsReport, info: Any) -> Any:
        monthly = root.monthly
        return ImprovingStreaks(
            nps=monthly.streak("nps"),
            repeat_rate=monthly.streak("repeat_rate"),
            average_order_value=monthly.streak("average_order_value"),
        )
