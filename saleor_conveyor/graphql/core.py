"""What every resolver shares: who is asking, global IDs, Money, typed errors, pagination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import graphene
from django.db.models import QuerySet
from graphql_relay import from_global_id, to_global_id
from graphql_relay.connection.arrayconnection import cursor_to_offset, offset_to_cursor

from ..errors import ConveyorError, ErrorCode
from ..events import Customer
from ..hosts import get_host

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
_NO_USER = object()


def current_user(info: Any) -> Any | None:
    """The caller's account, asked of the host once per request."""
    request = info.context
    user = getattr(request, "_conveyor_user", _NO_USER)
    if user is _NO_USER:
        user = get_host().user_from_request(request)
        request._conveyor_user = user
    return user


def require_user(info: Any) -> Any:
    """Customer operations need a signed-in caller."""
    user = current_user(info)
    if user is None:
        raise ConveyorError("Sign in to see this.", code=ErrorCode.PERMISSION_DENIED)
    return user


def require_permission(info: Any, permission: str) -> Any:
    """Staff operations need the named permission (MANAGE_USERS, MANAGE_ORDERS)."""
    user = current_user(info)
    if user is None or not get_host().has_permission(user, permission):
        raise ConveyorError(f"This needs the {permission} permission.", code=ErrorCode.PERMISSION_DENIED)
    return user


def customer_of(user: Any) -> Customer:
    """The service's view of a signed-in account."""
    return Customer(email=user.email or "", user_id=user.pk, first_name=getattr(user, "first_name", "") or "")


def global_id(type_name: str, raw_id: Any) -> str:
    return to_global_id(type_name, str(raw_id))


def decode_id(value: Any, type_name: str, field: str) -> str:
    """The raw id inside a Relay global ID of the expected type; INVALID otherwise."""
    try:
        found_type, raw_id = from_global_id(value)
    except Exception:
        found_type, raw_id = None, ""
    if found_type != type_name or not raw_id:
        raise ConveyorError(f"Expected a {type_name} ID.", field=field)
    return raw_id


class Money(graphene.ObjectType):
    """An amount in a currency, as Saleor's API shows money."""

    amount = graphene.Float(required=True)
    currency = graphene.String(required=True)


@dataclass(frozen=True)
class MoneyValue:
    amount: Decimal
    currency: str


def money(amount: Decimal | None, currency: str | None) -> MoneyValue | None:
    return MoneyValue(amount, currency) if amount is not None and currency else None


class ConveyorErrorType(graphene.ObjectType):
    """A rejected input or action; nothing was changed."""

    class Meta:
        name = "ConveyorError"

    field = graphene.String(description="The input that was refused, when one was.")
    code = graphene.Field(graphene.NonNull(lambda: ConveyorErrorCodeEnum))
    message = graphene.String(required=True)


ConveyorErrorCodeEnum = graphene.Enum("ConveyorErrorCode", [(code.value, code.value) for code in ErrorCode])


def paginate(queryset: QuerySet, connection: type, first: int | None, after: str | None) -> Any:
    """Offset cursors (Relay's array connection): one query for the page, one for totalCount if asked."""
    size = PAGE_SIZE_DEFAULT if first is None else first
    if size < 0 or size > PAGE_SIZE_MAX:
        raise ConveyorError(f"first must be 0..{PAGE_SIZE_MAX}.", field="first", code=ErrorCode.OUT_OF_RANGE)
    offset = 0
    if after is not None:
        try:
            offset = cursor_to_offset(after) + 1
        except Exception:
            offset = None
        if offset is None or offset < 1:
            raise ConveyorError("after is not a cursor of this list.", field="after")
    rows: Sequence[Any] = list(queryset[offset : offset + size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    edges = [connection.Edge(node=row, cursor=offset_to_cursor(offset + i)) for i, row in enumerate(rows)]
    page = connection(
        edges=edges,
        page_info=graphene.relay.PageInfo(
            has_next_page=has_next,
            has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
    page.queryset = queryset
    return page
