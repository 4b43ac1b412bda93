"""Staff close the loop: a follow-up marked contacted, closed with an outcome, noted (MANAGE_USERS)."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor
from ...hosts import MANAGE_USERS
from ..core import decode_int_id, require_permission, staff_name
from ..types import FollowUp, FollowUpOutcome, FollowUpStatus
from .base import ConveyorMutation


class UpdateFollowUp(ConveyorMutation):
    """CONTACTED records the first contact (once); CLOSED needs an outcome; a closed follow-up is final."""

    class Arguments:
        id = graphene.ID(required=True)
        status = FollowUpStatus(required=True)
        outcome = FollowUpOutcome(description="Required when closing; only then.")
        note = graphene.String(description="Staff's note, at most 5,000 characters; omitted: kept as it is.")

    follow_up = graphene.Field(FollowUp)

    @classmethod
    def perform(
        cls, info: Any, id: str, status: str, outcome: str | None = None, note: str | None = None
    ) -> UpdateFollowUp:
        staff = require_permission(info, MANAGE_USERS)
        follow_up_id = decode_int_id(id, "FollowUp", "id")
        changed = conveyor.update_follow_up(
            follow_up_id, status=status, outcome=outcome, note=note, by=staff_name(staff)
        )
        return cls(follow_up=changed, errors=[])
