"""Returns: a customer asks to return lines of their own order; staff approve or reject the request."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ..errors import ConveyorError, ErrorCode
from ..events import Customer, ReturnRequested
from ..hosts import OrderInfo, get_host
from ..models import ReturnLine, ReturnRequest, ReturnStatus
from ._locking import own_purchase_for_update, return_request_for_update


def order_for_return(order_id: str, customer: Customer) -> OrderInfo:
    """The customer's own order as the host knows it, read before `request_return` decides (a host call).

    Someone else's order looks exactly like a missing one: nothing about it is revealed.
    """
    order = get_host().order_info(order_id)
    if order is None or not _is_own(order, order_id, customer):
        raise ConveyorError("No such order of yours.", field="orderId", code=ErrorCode.NOT_FOUND)
    return order


def return_window_days() -> int:
    """The shop's return window, for `request_return` (a host call, made by its caller)."""
    return get_host().config().return_window_days


def _is_own(order: OrderInfo, order_id: str, customer: Customer) -> bool:
    return order.id == order_id and order.user_id is not None and order.user_id == customer.user_id


def request_return(
    request: ReturnRequested, *, order: OrderInfo, window_days: int, now: datetime | None = None
) -> ReturnRequest:
    """A customer asks to return lines of their own fulfilled order, inside the return window.

    The caller reads `order` (`order_for_return`) and `window_days` (`return_window_days`) from the
    host after validating the request, so that this decision makes no host call of its own.
    """
    request = request.validate()
    now = now or timezone.now()
    if not _is_own(order, request.order_id, request.customer):  # an order the caller read for someone else
        raise ConveyorError("No such order of yours.", field="orderId", code=ErrorCode.NOT_FOUND)
    with transaction.atomic():
        # The ledger row must be the account's own too: a host's word on the order is not enough
        # for the return to land on (and be listed for) whichever profile recorded it.
        purchase = own_purchase_for_update(request.order_id, request.customer.user_id)
        if purchase is None:
            raise ConveyorError("No such order of yours.", field="orderId", code=ErrorCode.NOT_FOUND)
        # The window counts from the first shipment; before one is recorded, from the order itself.
        window_start = purchase.fulfilled_at or purchase.placed_at
        if now > window_start + timedelta(days=window_days):
            raise ConveyorError(
                f"Returns are accepted within {window_days} days of delivery.",
                field="orderId",
                code=ErrorCode.WINDOW_CLOSED,
            )
        order_lines = {line.id: line for line in order.lines}
        requested = dict(
            ReturnLine.objects.filter(request__purchase=purchase)
            .exclude(request__status=ReturnStatus.REJECTED)
            .values_list("order_line_id")
            .annotate(total=Sum("quantity"))
        )
        for index, line in enumerate(request.lines):
            order_line = order_lines.get(line.order_line_id)
            if order_line is None:
                raise ConveyorError(
                    "This line is not part of the order.", field=f"lines.{index}.orderLineId", code=ErrorCode.NOT_FOUND
                )
            available = order_line.quantity_fulfilled - requested.get(line.order_line_id, 0)
            if line.quantity > available:
                raise ConveyorError(
                    f"At most {max(available, 0)} of {order_line.product_name or 'this line'} can be returned.",
                    field=f"lines.{index}.quantity",
                    code=ErrorCode.OUT_OF_RANGE,
                )
        return_request = ReturnRequest.objects.create(
            profile_id=purchase.profile_id, purchase=purchase, reason=request.reason, comment=request.comment
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(
                request=return_request,
                order_line_id=line.order_line_id,
                quantity=line.quantity,
                product_name=order_lines[line.order_line_id].product_name[:386],
            )
            for line in request.lines
        )
        return return_request


def decide_return(
    return_id: str, *, approve: bool, note: str = "", decided_by: str = "", now: datetime | None = None
) -> ReturnRequest:
    """Staff approve (the host records the return on the order) or reject a requested return."""
    if not isinstance(note, str) or len(note) > 2000:
        raise ConveyorError("note must be text of at most 2000 characters.", field="note", code=ErrorCode.OUT_OF_RANGE)
    now = now or timezone.now()
    with transaction.atomic():
        found = return_request_for_update(return_id)
        if found is None:
            raise ConveyorError("No such return request.", field="id", code=ErrorCode.NOT_FOUND)
        if found.status != ReturnStatus.REQUESTED:
            raise ConveyorError(f"This return was already {found.status.lower()}.", field="id")
        if approve:
            lines = [(line.order_line_id, line.quantity) for line in found.lines.all()]
            # Inside the transaction: if the host refuses, the request stays as it was.
            found.host_reference = get_host().create_return(found.purchase.order_id, lines)[:64]
        found.status = ReturnStatus.APPROVED if approve else ReturnStatus.REJECTED
        found.note = note
        found.decided_by = decided_by[:254]
        found.decided_at = now
        found.save(update_fields=["status", "note", "decided_by", "decided_at", "host_reference", "updated_at"])
        return found


def requested_quantities(purchase_id: int) -> dict[str, int]:
    """Per order line, how many are already asked for in requests not rejected: what a new request must leave room for.

    The customer pages read it to show what is still returnable; `request_return` counts the same rows.
    """
    return dict(
        ReturnLine.objects.filter(request__purchase_id=purchase_id)
        .exclude(request__status=ReturnStatus.REJECTED)
        .values_list("order_line_id")
        .annotate(total=Sum("quantity"))
    )
