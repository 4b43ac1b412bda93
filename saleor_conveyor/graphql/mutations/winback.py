"""The win-back and improvement surveys, answered with the signed token from the email link."""

from __future__ import annotations

from typing import Any

import graphene
from django.utils import timezone

from ... import conveyor, tokens
from ...engine import WinbackKind
from ...events import WinbackAnswered
from ..types import WinbackResponse, WinbackSurveyKind
from .base import ConveyorMutation


class SubmitWinbackSurvey(ConveyorMutation):
    """Why a lapsed customer stopped (or, kind IMPROVEMENT, what a detractor wants improved): one answer per
    customer per occasion."""

    class Arguments:
        token = graphene.String(required=True, description="The signed token of the survey link.")
        reasons = graphene.List(
            graphene.NonNull(graphene.String),
            required=True,
            description="Codes: WinbackReason for WINBACK, ImprovementArea for IMPROVEMENT.",
        )
        comment = graphene.String(description="At most 2,000 characters.")
        kind = graphene.Argument(WinbackSurveyKind, description="Which survey; default WINBACK.")

    response = graphene.Field(WinbackResponse)

    @classmethod
    def perform(
        cls,
        info: Any,
        token: str,
        reasons: list[str],
        comment: str | None = None,
        kind: str | None = None,
    ) -> SubmitWinbackSurvey:
        profile = tokens.profile_for_token(token, tokens.SURVEY)
        answer = WinbackAnswered(
            profile.pk, WinbackKind(kind or WinbackKind.WINBACK), tuple(reasons), timezone.now(), comment or ""
        )
        return cls(response=conveyor.record_winback_survey(answer), errors=[])
