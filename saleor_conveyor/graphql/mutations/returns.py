"""The returns flow: customers ask, staff decide (approved returns are recorded in the host)."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor
from ...errors import ConveyorError, ErrorCode
from ...events import ReturnLineRequested, ReturnRequested
from ...hosts import MANAGE_ORDERS
from ..core import customer_of, decode_id, decode_uuid_id, require_permission, require_user
from ..types import ReturnReason, ReturnRequest
from .base import ConveyorMutation


class ReturnLineInput(graphene.InputObjectType):
    order_line_id = graphene.ID(required=True)
    quantity = graphene.Int(required=True)


class RequestReturn(ConveyorMutation):
    """A signed-in customer asks to return lines of their own fulfilled order."""

    class Arguments:
        order_id = graphene.ID(required=True)
        lines = graphene.List(graphene.NonNull(ReturnLineInput), required=True)
        reason = ReturnReason(required=True)
        comment = graphene.String(description="At most 2,000 characters.")

    return_request = graphene.Field(ReturnRequest)

    @classmethod
    def perform(
        cls, info: Any, order_id: str, lines: list[Any], reason: str, comment: str | None = None
    ) -> RequestReturn:
        user = require_user(info)
        request = ReturnRequested(
            customer=customer_of(user),
            order_id=decode_id(order_id, "Order", "orderId"),
            lines=tuple(
                ReturnLineRequested(decode_id(line.order_line_id, "OrderLine", f"lines.{i}.orderLineId"), line.quantity)
                for i, line in enumerate(lines)
            ),
            reason=reason,
            comment=comment or "",
        ).validate()  # a bad argument is told before anything about the order
        # The host is asked here, not inside the decision: the order (the customer's own, or NOT_FOUND) and the window.
        order = conveyor.order_for_return(request.order_id, request.customer)
        asked = conveyor.request_return(request, order=order, window_days=conveyor.return_window_days())
        return cls(return_request=asked, errors=[])


class DecideReturn(ConveyorMutation):
    """Staff approve or reject a requested return (MANAGE_ORDERS)."""

    class Arguments:
        id = graphene.ID(required=True)
        approve = graphene.Boolean(required=True)
        note = graphene.String()

    return_request = graphene.Field(ReturnRequest)

    @classmethod
    def perform(cls, info: Any, id: str, approve: bool, note: str | None = None) -> DecideReturn:
        staff = require_permission(info, MANAGE_ORDERS)
        raw_id = decode_uuid_id(id, "ReturnRequest", "id")
        if raw_id is None:
            raise ConveyorError("No such return request.", field="id", code=ErrorCode.NOT_FOUND)
        decided = conveyor.decide_return(
            raw_id, approve=approve, note=note or "", decided_by=getattr(staff, "email", "") or str(staff.pk)
        )
        return cls(return_request=decided, errors=[])
