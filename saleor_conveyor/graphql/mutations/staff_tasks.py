"""Staff mark a batch of staff tasks done (MANAGE_ORDERS): all of them, or none when one cannot be."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor
from ...conveyor.outbox import STAFF_TASKS_MAX
from ...errors import ConveyorError
from ...hosts import MANAGE_ORDERS
from ..core import require_permission
from ..staff_tasks import StaffTask, decode_task_id, share_profiles
from .base import ConveyorMutation


class CompleteStaffTasks(ConveyorMutation):
    """Mark staff tasks done, with who (the caller) and a note; tasks already done are left as they were."""

    class Arguments:
        ids = graphene.List(graphene.NonNull(graphene.ID), required=True, description=f"1 to {STAFF_TASKS_MAX}.")
        note = graphene.String(description="At most 2,000 characters, kept on each task.")

    staff_tasks = graphene.List(graphene.NonNull(StaffTask), description="The tasks, in the order given.")

    @classmethod
    def perform(cls, info: Any, ids: list[str], note: str | None = None) -> CompleteStaffTasks:
        staff = require_permission(info, MANAGE_ORDERS)
        if not ids or len(ids) > STAFF_TASKS_MAX:
            raise ConveyorError(f"Give 1 to {STAFF_TASKS_MAX} staff tasks.", field="ids")
        task_ids = [decode_task_id(value, f"ids.{index}") for index, value in enumerate(ids)]
        done = conveyor.complete_staff_tasks(task_ids, getattr(staff, "email", "") or str(staff.pk), note or "")
        share_profiles(done)
        return cls(staff_tasks=done, errors=[])
