"""Survey answers and opt-outs: signed in, or with the signed token from an email link."""

from __future__ import annotations

from typing import Any

import graphene
from django.utils import timezone

from ... import conveyor, tokens
from ...events import Customer, FanSurveyAnswered, NpsAnswered
from ...models import ConsentSource
from ...models import FanProfile as FanProfileModel
from ..core import customer_of, decode_id, require_user
from ..types import FanDegree, FanProfile, Liking, NpsResponse
from .base import ConveyorMutation


def survey_customer(info: Any, token: str | None) -> Customer:
    """The link's customer when a token is given (valid; a merged guest's names its account), else the signed-in one."""
    if token is not None:
        profile = tokens.profile_for_token(token, tokens.SURVEY)
        return Customer(email=profile.email, user_id=profile.user_id)
    return customer_of(require_user(info))


class SubmitNps(ConveyorMutation):
    """How likely is the customer to recommend the shop, 0-10: one answer per order, else per survey window."""

    class Arguments:
        token = graphene.String(description="The signed token of the survey link; else sign in.")
        order_id = graphene.ID(description="The order the answer is about.")
        score = graphene.Int(required=True)
        comment = graphene.String(description="At most 2,000 characters.")

    response = graphene.Field(NpsResponse)

    @classmethod
    def perform(
        cls, info: Any, score: int, token: str | None = None, order_id: str | None = None, comment: str | None = None
    ) -> SubmitNps:
        customer = survey_customer(info, token)
        raw_order_id = decode_id(order_id, "Order", "orderId") if order_id is not None else None
        answer = NpsAnswered(customer, score, timezone.now(), order_id=raw_order_id, comment=comment or "")
        return cls(response=conveyor.record_nps(answer), errors=[])


class SubmitFanSurvey(ConveyorMutation):
    """The fan-degree survey: places the customer on the engagement grid; one answer per survey window."""

    class Arguments:
        token = graphene.String(description="The signed token of the survey link; else sign in.")
        fan_degree = FanDegree(required=True)
        liking = Liking(required=True)
        comment = graphene.String(description="At most 2,000 characters.")

    profile = graphene.Field(FanProfile)

    @classmethod
    def perform(
        cls, info: Any, fan_degree: str, liking: str, token: str | None = None, comment: str | None = None
    ) -> SubmitFanSurvey:
        customer = survey_customer(info, token)
        answer = FanSurveyAnswered(customer, fan_degree, liking, timezone.now(), comment=comment or "")
        response = conveyor.record_fan_survey(answer)
        return cls(profile=FanProfileModel.objects.get(pk=response.profile_id), errors=[])


class Unsubscribe(ConveyorMutation):
    """The unsubscribe link of a marketing mail: no sign-in, the token names the customer."""

    class Arguments:
        token = graphene.String(required=True)

    ok = graphene.Boolean(required=True)

    @classmethod
    def perform(cls, info: Any, token: str) -> Unsubscribe:
        profile = tokens.profile_for_token(token, tokens.UNSUBSCRIBE)
        conveyor.unsubscribe(profile.pk, source=ConsentSource.API)
        return cls(ok=True, errors=[])

    @classmethod
    def mutate(cls, root: Any, info: Any, **data: Any) -> Unsubscribe:
        result = super().mutate(root, info, **data)
        if result.ok is None:
            result.ok = False
        return result
