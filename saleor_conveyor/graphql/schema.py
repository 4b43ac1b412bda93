"""The conveyor's schema: the queries and mutations of the API contract (docs/graphql.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from typing import Any

import graphene
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from graphql.type import GraphQLBoolean, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLScalarType, GraphQLString

from .. import measures
from .. import timeline as timelines
from ..conveyor import find_profile, staff_tasks
from ..errors import ConveyorError
from ..events import normalize_email
from ..hosts import MANAGE_ORDERS, MANAGE_USERS, get_host
from ..models import ReturnRequest as ReturnRequestModel
from ..models import WinbackResponse as WinbackResponseModel
from ..stats import StatsReport, StatsWindow
from ..work_queues import follow_up_list, inquiry_list
from . import loaders
from .core import decode_int_id, guard_resolvers, paginate, require_permission, require_user
from .measures import Cohort, RulePerformance, StageFlow
from .mutations import (
    CompleteStaffTasks,
    DecideReturn,
    ReplyToInquiry,
    RequestReturn,
    ResendInquiryReply,
    Resubscribe,
    SubmitFanSurvey,
    SubmitInquiry,
    SubmitNps,
    SubmitWinbackSurvey,
    Unsubscribe,
    UpdateFollowUp,
    UpdateInquiry,
)
from .rule_book import RuleBook, UpdateRuleBook, resolve_rule_book
from .staff_tasks import StaffTaskConnection, StaffTaskStatus, share_profiles
from .types import (
    ConveyorStats,
    FanProfile,
    FanProfileConnection,
    FanStage,
    FollowUpConnection,
    FollowUpStatus,
    InquiryConnection,
    InquiryStatus,
    NpsCategory,
    ReturnRequest,
    ReturnRequestConnection,
    ReturnStatus,
    WinbackResponseConnection,
    WinbackSurveyKind,
)


def _return_requests(using: str = DEFAULT_DB_ALIAS) -> Any:
    return ReturnRequestModel.objects.using(using).select_related("purchase", "profile").prefetch_related("lines")


def _staff_reads() -> str:
    """Staff reports may be a moment behind the writer: they read the host's replica where it has one."""
    return get_host().replica_alias()


def _staff_window(since: date | None, until: date | None, now: Any) -> StatsWindow:
    """A staff report's window in the shop's days, read where staff reports read; OUT_OF_RANGE / INVALID refused."""
    zone = get_host().config().time_zone
    window = StatsWindow.from_dates(since, until, None, zone=zone, now=now, using=_staff_reads())
    if since and until and since > until:
        raise ConveyorError("since is after until.", field="since")
    return window


@guard_resolvers
class Query(graphene.ObjectType):
    my_fan_profile = graphene.Field(FanProfile, description="The signed-in customer's own profile.")
    fan_profile = graphene.Field(
        FanProfile,
        customer_id=graphene.ID(description="A User ID."),
        email=graphene.String(),
        description="Staff (MANAGE_USERS): a customer's profile by account or email.",
    )
    fan_profiles = graphene.Field(
        FanProfileConnection,
        stage=graphene.Argument(FanStage),
        segment=graphene.String(description='A cell of the engagement grid, e.g. "HIGH/MID".'),
        lapsed=graphene.Boolean(description="Only lapsed (true) or only not lapsed (false) customers."),
        nps_category=graphene.Argument(NpsCategory),
        search=graphene.String(description="Part of the email address or first name."),
        first=graphene.Int(),
        after=graphene.String(),
        description="Staff (MANAGE_USERS): customers, latest buyers first.",
    )
    conveyor_stats = graphene.Field(
        ConveyorStats,
        since=graphene.Date(description="First day counted (shop time)."),
        until=graphene.Date(description="Last day counted, inclusive (shop time); default: up to now."),
        channel=graphene.String(description="A channel slug; default: every channel."),
        description="Staff (MANAGE_ORDERS): the shop's measures.",
    )
    rule_performance = graphene.List(
        graphene.NonNull(RulePerformance),
        required=True,
        since=graphene.Date(description="First day of touchpoints counted, by due time (shop time)."),
        until=graphene.Date(description="Last day counted, inclusive; default: up to now."),
        within_days=graphene.Int(description="Bought again within this many days of the due time (1-365, 30)."),
        description="Staff (MANAGE_ORDERS): each rule and variant against the customers held out from it.",
    )
    stage_flow = graphene.List(
        graphene.NonNull(StageFlow),
        required=True,
        since=graphene.Date(description="First month shown (shop time); default: the last twelve months."),
        until=graphene.Date(description="Last day counted, inclusive; default: up to now."),
        description="Staff (MANAGE_ORDERS): customers moving between stages and engagement classes, per month.",
    )
    cohorts = graphene.List(
        graphene.NonNull(Cohort),
        required=True,
        since=graphene.Date(description="First cohort month (shop time); default: the last twelve months."),
        until=graphene.Date(description="Last day counted, inclusive; default: up to now."),
        description="Staff (MANAGE_ORDERS): customers by month of first purchase, bought again per later month.",
    )
    my_return_requests = graphene.List(
        graphene.NonNull(ReturnRequest), required=True, description="The signed-in customer's return requests."
    )
    return_requests = graphene.Field(
        ReturnRequestConnection,
        status=graphene.Argument(ReturnStatus),
        first=graphene.Int(),
        after=graphene.String(),
        description="Staff (MANAGE_ORDERS): return requests, newest first.",
    )
    inquiries = graphene.Field(
        InquiryConnection,
        first=graphene.Int(),
        after=graphene.String(),
        status=graphene.Argument(InquiryStatus),
        description="Staff (MANAGE_USERS): contact-form messages, newest first.",
    )
    follow_ups = graphene.Field(
        FollowUpConnection,
        status=graphene.Argument(FollowUpStatus),
        first=graphene.Int(),
        after=graphene.String(),
        description="Staff (MANAGE_USERS): follow-ups of detractors and win-back answers, oldest open first.",
    )
    staff_tasks = graphene.Field(
        StaffTaskConnection,
        status=graphene.Argument(StaffTaskStatus, description="Default: open and done."),
        first=graphene.Int(),
        after=graphene.String(),
        description="Staff (MANAGE_ORDERS): staff tasks (paper cards, calls); open ones oldest due first.",
    )
    winback_responses = graphene.Field(
        WinbackResponseConnection,
        kind=graphene.Argument(WinbackSurveyKind, description="One survey's answers; default both."),
        first=graphene.Int(),
        after=graphene.String(),
        description="Staff (MANAGE_USERS): win-back and improvement survey answers, newest first.",
    )
    rule_book = graphene.Field(
        graphene.NonNull(RuleBook), description="Staff (MANAGE_PLUGINS): the rule book in force and its last save."
    )

    @staticmethod
    def resolve_my_fan_profile(root: Any, info: Any) -> Any:
        user = require_user(info)
        with get_host().writer():  # a customer sees their own answer at once: read now, on the writer
            return loaders.profile_of_user(user.pk, with_touchpoints=loaders.selects(info, "touchpoints"))

    @staticmethod
    def resolve_fan_profile(root: Any, info: Any, customer_id: str | None = None, email: str | None = None) -> Any:
        require_permission(info, MANAGE_USERS)
        if customer_id is None and not email:
            raise ConveyorError("Give customerId or email.", field="customerId")
        user_id = decode_int_id(customer_id, "User", "customerId") if customer_id is not None else None
        if email:
            with contextlib.suppress(ConveyorError):  # not an address: it matches no profile
                email = normalize_email(email)  # found as it was stored (a full-width at sign is @)
        return find_profile(user_id=user_id, email=email, using=_staff_reads())

    @staticmethod
    def resolve_fan_profiles(
        root: Any,
        info: Any,
        stage: str | None = None,
        segment: str | None = None,
        lapsed: bool | None = None,
        nps_category: str | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Any:
        require_permission(info, MANAGE_USERS)
        found = timelines.CustomerFilter(stage, segment, lapsed, nps_category, search)
        rows = timelines.customer_list(
            found, now=timezone.now(), lapse_days=get_host().config().lapse_days, using=_staff_reads()
        )
        page = paginate(rows, FanProfileConnection, first, after)
        profiles = [edge.node for edge in page.edges]
        for profile in profiles:  # a field read for each node is read once for the page (types._page_of)
            profile._conveyor_page = profiles
        return page

    @staticmethod
    def resolve_conveyor_stats(
        root: Any, info: Any, since: date | None = None, until: date | None = None, channel: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_ORDERS)
        zone = get_host().config().time_zone
        window = StatsWindow.from_dates(since, until, channel, zone=zone, now=timezone.now(), using=_staff_reads())
        if since and until and since > until:
            raise ConveyorError("since is after until.", field="since")
        return StatsReport(window)

    @staticmethod
    def resolve_rule_performance(
        root: Any, info: Any, since: date | None = None, until: date | None = None, within_days: int | None = None
    ) -> Any:
        require_permission(info, MANAGE_ORDERS)
        days = measures.checked_within_days(within_days)
        now = timezone.now()
        return measures.rule_performance(_staff_window(since, until, now), within_days=days, now=now)

    @staticmethod
    def resolve_stage_flow(root: Any, info: Any, since: date | None = None, until: date | None = None) -> Any:
        require_permission(info, MANAGE_ORDERS)
        return measures.stage_flow(_staff_window(since, until, timezone.now()))

    @staticmethod
    def resolve_cohorts(root: Any, info: Any, since: date | None = None, until: date | None = None) -> Any:
        require_permission(info, MANAGE_ORDERS)
        return measures.cohorts(_staff_window(since, until, timezone.now()))

    @staticmethod
    def resolve_my_return_requests(root: Any, info: Any) -> Any:
        user = require_user(info)
        with get_host().writer():  # read now, on the writer, as myFanProfile
            return list(_return_requests().filter(profile__user_id=user.pk).order_by("-created_at"))

    @staticmethod
    def resolve_return_requests(
        root: Any, info: Any, status: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_ORDERS)
        rows = _return_requests(_staff_reads()).order_by("-created_at", "id")
        if status is not None:
            rows = rows.filter(status=status)
        return paginate(rows, ReturnRequestConnection, first, after)

    @staticmethod
    def resolve_inquiries(
        root: Any, info: Any, first: int | None = None, after: str | None = None, status: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_USERS)
        return paginate(inquiry_list(status, using=_staff_reads()), InquiryConnection, first, after)

    @staticmethod
    def resolve_follow_ups(
        root: Any, info: Any, status: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_USERS)
        rows = follow_up_list(status, using=_staff_reads())
        page = paginate(rows, FollowUpConnection, first, after)
        profiles = [edge.node.profile for edge in page.edges]
        for profile in profiles:  # a profile's fields read for each follow-up are read once for the page
            profile._conveyor_page = profiles
        return page

    @staticmethod
    def resolve_staff_tasks(
        root: Any, info: Any, status: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_ORDERS)
        page = paginate(staff_tasks(status, using=_staff_reads()), StaffTaskConnection, first, after)
        share_profiles([edge.node for edge in page.edges])
        return page

    @staticmethod
    def resolve_winback_responses(
        root: Any, info: Any, kind: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        require_permission(info, MANAGE_USERS)
        rows = WinbackResponseModel.objects.using(_staff_reads()).select_related("profile")
        if kind is not None:
            rows = rows.filter(kind=kind)
        return paginate(rows.order_by("-created_at", "-id"), WinbackResponseConnection, first, after)

    @staticmethod
    def resolve_rule_book(root: Any, info: Any) -> Any:
        return resolve_rule_book(info)


class Mutation(graphene.ObjectType):
    submit_nps = SubmitNps.Field()
    submit_fan_survey = SubmitFanSurvey.Field()
    request_return = RequestReturn.Field()
    decide_return = DecideReturn.Field(description="Staff (MANAGE_ORDERS).")
    submit_inquiry = SubmitInquiry.Field()
    unsubscribe = Unsubscribe.Field()
    submit_winback_survey = SubmitWinbackSurvey.Field()
    resubscribe = Resubscribe.Field()
    update_follow_up = UpdateFollowUp.Field(description="Staff (MANAGE_USERS).")
    reply_to_inquiry = ReplyToInquiry.Field(description="Staff (MANAGE_USERS).")
    resend_inquiry_reply = ResendInquiryReply.Field(description="Staff (MANAGE_USERS).")
    update_inquiry = UpdateInquiry.Field(description="Staff (MANAGE_USERS).")
    complete_staff_tasks = CompleteStaffTasks.Field(description="Staff (MANAGE_ORDERS).")
    update_rule_book = UpdateRuleBook.Field(description="Staff (MANAGE_PLUGINS).")


def _parse_or_none(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_or_none(value: Any) -> Any:
        try:
            return parse(value)
        except Exception:  # e.g. aniso8601's NotImplementedError for "-2026-01-01"
            return None  # GraphQL answers "Expected type Date": INVALID on the argument

    return parse_or_none


def _values_never_raise(built: graphene.Schema) -> graphene.Schema:
    """This schema's own scalars (Date, DateTime) refuse a value they cannot read instead of raising."""
    shared = {GraphQLBoolean, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLString}  # every schema's: left alone
    for graphql_type in built.get_type_map().values():
        if isinstance(graphql_type, GraphQLScalarType) and graphql_type not in shared:
            graphql_type.parse_value = _parse_or_none(graphql_type.parse_value)
            graphql_type.parse_literal = _parse_or_none(graphql_type.parse_literal)
    return built


schema = _values_never_raise(graphene.Schema(query=Query, mutation=Mutation))
