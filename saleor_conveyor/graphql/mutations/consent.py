"""Opting back in to marketing mail with the token of the mail's unsubscribe link (`unsubscribe` is beside the
surveys, in surveys.py)."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor, tokens
from ...models import ConsentSource
from .base import ConveyorMutation


class Resubscribe(ConveyorMutation):
    """The customer receives marketing mail again; touchpoints skipped while unsubscribed are not sent late."""

    class Arguments:
        token = graphene.String(required=True, description="The signed token of the mail's unsubscribe link.")

    ok = graphene.Boolean(required=True)

    @classmethod
    def perform(cls, info: Any, token: str) -> Resubscribe:
        profile = tokens.profile_for_token(token, tokens.UNSUBSCRIBE)
        conveyor.resubscribe(profile.pk, source=ConsentSource.API)
        return cls(ok=True, errors=[])

    @classmethod
    def mutate(cls, root: Any, info: Any, **data: Any) -> Resubscribe:
        result = super().mutate(root, info, **data)
        if result.ok is None:
            result.ok = False
        return result
