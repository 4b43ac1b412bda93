"""The contract's v2 staff tasks (MANAGE_ORDERS): what staff do by hand, such as the paper thank-you card.

A staff task is a touchpoint of kind STAFF_TASK; `staffTasks` lists them and `completeStaffTasks` marks a batch
done (`conveyor.complete_staff_tasks`). The console's tasks page (console/tasks.py) reads and writes the same.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphql_relay import from_global_id

from .. import models
from ..errors import ConveyorError
from ..hosts import get_config
from .core import BIGINT_MAX, global_id
from .types import FanProfile, for_orders_staff

StaffTaskStatus = graphene.Enum(
    "StaffTaskStatus", [("OPEN", "OPEN"), ("DONE", "DONE")], description="OPEN: waiting for staff; DONE: done."
)
# A task's id is its touchpoint's: FanProfile.touchpoints' Touchpoint IDs name the same tasks.
ID_TYPES = ("StaffTask", "Touchpoint")


def task_status(task: models.Touchpoint) -> str:
    return "DONE" if task.status == models.TouchpointStatus.SENT else "OPEN"


def decode_task_id(value: Any, field: str) -> int:
    """A StaffTask (or Touchpoint) global ID's row id; INVALID on `field` when it is not one."""
    try:
        type_name, raw_id = from_global_id(value)
    except Exception:
        type_name, raw_id = None, ""
    if type_name not in ID_TYPES or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 19:
        raise ConveyorError("Expected a StaffTask ID.", field=field)
    if not 1 <= int(raw_id) <= BIGINT_MAX:
        raise ConveyorError("Expected a StaffTask ID.", field=field)
    return int(raw_id)


class StaffTask(graphene.ObjectType):
    """Something a rule asks staff to do by hand for a customer (a paper thank-you card, a call)."""

    id = graphene.ID(required=True)
    rule = graphene.String(required=True)
    description = graphene.String(required=True, description="What to do: the rule's description in the rule book.")
    profile = graphene.Field(graphene.NonNull(FanProfile), description="The customer.")
    order_id = graphene.ID(description="The order it is about, if any.")
    due_at = graphene.DateTime(required=True)
    status = graphene.Field(graphene.NonNull(StaffTaskStatus))
    done_at = graphene.DateTime()
    done_by = graphene.String(description="Who did it (the staff member's email address).")
    note = graphene.String(description="What they noted when marking it done.")

    @staticmethod
    def resolve_id(root: models.Touchpoint, info: Any) -> str:
        return global_id("StaffTask", root.pk)

    @staticmethod
    def resolve_description(root: models.Touchpoint, info: Any) -> str:
        rule = get_config().rule_book.rule(root.rule)
        return (rule.description if rule is not None else "") or root.rule

    @staticmethod
    def resolve_profile(root: models.Touchpoint, info: Any) -> models.FanProfile:
        # MANAGE_ORDERS lists tasks; what the conveyor knows of the customer beyond the order needs MANAGE_USERS.
        for_orders_staff(info, root.profile)
        return root.profile

    @staticmethod
    def resolve_order_id(root: models.Touchpoint, info: Any) -> str | None:
        return global_id("Order", root.order_id) if root.order_id else None

    @staticmethod
    def resolve_status(root: models.Touchpoint, info: Any) -> str:
        return task_status(root)

    @staticmethod
    def resolve_done_at(root: models.Touchpoint, info: Any) -> Any:
        return root.done_at if root.status == models.TouchpointStatus.SENT else None

    @staticmethod
    def resolve_done_by(root: models.Touchpoint, info: Any) -> str | None:
        return root.done_by or None

    @staticmethod
    def resolve_note(root: models.Touchpoint, info: Any) -> str | None:
        return root.note or None


class StaffTaskConnection(graphene.relay.Connection):
    class Meta:
        node = StaffTask

    total_count = graphene.Int(required=True)

    @staticmethod
    def resolve_total_count(root: Any, info: Any) -> int:
        return root.queryset.count()


def share_profiles(tasks: list[models.Touchpoint]) -> None:
    """A field read for each task's profile (touchpoints, timeline) is read once for the page (types._page_of)."""
    profiles = list({task.profile_id: task.profile for task in tasks}.values())
    for profile in profiles:
        profile._conveyor_page = profiles
