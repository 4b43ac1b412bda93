"""What every resolver shares: who is asking, arguments checked, global IDs, Money, typed errors, pagination."""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import graphene
from django.db.models import QuerySet
from graphene.utils.str_converters import to_camel_case
from graphql_relay import from_global_id, to_global_id
from graphql_relay.connection.arrayconnection import PREFIX as CURSOR_PREFIX
from graphql_relay.connection.arrayconnection import offset_to_cursor

from ..errors import ConveyorError, ErrorCode
from ..events import Customer, host_id_problem, storable
from ..hosts import get_host

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
# Ids and offsets the database compares with bigint columns.
BIGINT_MAX = 2**63 - 1
# Offsets of at most 18 digits: far beyond any list, and offset + a page stays inside bigint.
_CURSOR_DIGITS_MAX = 18
_NO_USER = object()


# --- arguments: text no column can hold never reaches a resolver ----------------------------


def checked_arguments(arguments: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every string in the arguments (inside lists and input objects too) storable, else INVALID on its path."""
    for key, value in arguments.items():
        path = f"{prefix}{to_camel_case(key)}"
        cleaned = _checked(value, path)
        if cleaned is not value:
            arguments[key] = cleaned
            if hasattr(arguments, key):  # graphene's input objects are read as attributes too
                setattr(arguments, key, cleaned)
    return arguments


def _checked(value: Any, path: str) -> Any:
    if isinstance(value, str):
        return storable(value, path)
    if isinstance(value, dict):
        return checked_arguments(value, f"{path}.")
    if isinstance(value, list):
        for index, item in enumerate(value):
            cleaned = _checked(item, f"{path}.{index}")
            if cleaned is not item:
                value[index] = cleaned
    return value


def guard_resolvers(object_type: type) -> type:
    """Class decorator: each `resolve_*` of a query type sees only checked arguments."""
    for name in [n for n in vars(object_type) if n.startswith("resolve_")]:
        resolver = getattr(object_type, name)

        def guarded(root: Any, info: Any, _resolver: Callable[..., Any] = resolver, **arguments: Any) -> Any:
            return _resolver(root, info, **checked_arguments(arguments))

        setattr(object_type, name, staticmethod(functools.wraps(resolver)(guarded)))
    return object_type


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


def staff_name(user: Any) -> str:
    """Who did it, as staff operations record it: the staff member's email address (else their id)."""
    return getattr(user, "email", "") or str(user.pk)


def customer_of(user: Any) -> Customer:
    """The service's view of a signed-in account."""
    return Customer(email=user.email or "", user_id=user.pk, first_name=getattr(user, "first_name", "") or "")


def global_id(type_name: str, raw_id: Any) -> str:
    return to_global_id(type_name, str(raw_id))


def _raw_id(value: Any, type_name: str, field: str) -> str:
    try:
        found_type, raw_id = from_global_id(value)
    except Exception:
        found_type, raw_id = None, ""
    if found_type != type_name or not raw_id:
        raise ConveyorError(f"Expected a {type_name} ID.", field=field)
    return raw_id


def decode_id(value: Any, type_name: str, field: str) -> str:
    """The host's id (Order, OrderLine) inside a Relay global ID of the expected type; INVALID otherwise."""
    raw_id = _raw_id(value, type_name, field)
    if host_id_problem(raw_id):
        raise ConveyorError(f"Expected a {type_name} ID.", field=field)
    return raw_id


def decode_int_id(value: Any, type_name: str, field: str) -> int:
    """A whole-number id (User, Touchpoint): 1..bigint in ASCII digits (`str.isdigit` also takes "²")."""
    raw_id = _raw_id(value, type_name, field)
    if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 19 or not 1 <= int(raw_id) <= BIGINT_MAX:
        raise ConveyorError(f"Expected a {type_name} ID.", field=field)
    return int(raw_id)


def decode_uuid_id(value: Any, type_name: str, field: str) -> str | None:
    """A UUID id (ReturnRequest, Inquiry) in its canonical form, or None when the global ID holds no UUID."""
    raw_id = _raw_id(value, type_name, field)
    if not raw_id.isascii():
        return None
    try:
        return str(uuid.UUID(raw_id))
    except ValueError:
        return None


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
    offset = 0 if after is None else _cursor_offset(after) + 1
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


def _cursor_offset(cursor: str) -> int:
    """The offset in one of our cursors (base64 of "arrayconnection:<ASCII digits>"); INVALID on `after` else."""
    try:
        text = base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    digits = text[len(CURSOR_PREFIX) :] if text.startswith(CURSOR_PREFIX) else ""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _CURSOR_DIGITS_MAX:
        raise ConveyorError("after is not a cursor of this list.", field="after")
    return int(digits)
