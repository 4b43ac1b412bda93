"""Plain inputs of the conveyor service: what happened, in a host's neutral words.

Hosts (the Saleor plugin, the sandbox, the backfill) build these; `validate()` rejects
bad values before anything is written.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .engine import FanDegree, Liking, WinbackKind, clean_reasons
from .engine.surveys import validate_score
from .errors import ConveyorError, ErrorCode

COMMENT_MAX = 2000
# RFC 5321's limit on a forward path, and the width of every email column.
EMAIL_MAX = 254
# Ids the host gives (orders, order lines): the width of their columns.
HOST_ID_MAX = 64
CHANNEL_MAX = 255


def storable(text: str, field: str) -> str:
    """Text PostgreSQL can hold (no NUL, no lone surrogate); anything else is INVALID on `field`."""
    if "\x00" in text:
        raise ConveyorError(f"{field} contains a NUL character.", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # a surrogate pair (graphql-core 2 reads an escaped emoji so) is the character it spells
            text = text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise ConveyorError(f"{field} contains a lone surrogate, which is not text.", field=field) from None
    return text


def sanitized(text: object, max_length: int) -> str:
    """A display value from the host (a first name): unstorable characters dropped, cut to its column."""
    if not isinstance(text, str):
        return ""
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "ignore")
    return text.replace("\x00", "")[:max_length]


def single_line(text: str, field: str) -> str:
    """Names and ids are one line: a line break or another control character is INVALID (mail headers)."""
    text = storable(text, field)
    if not text.isprintable():
        raise ConveyorError(f"{field} must be one line of text without control characters.", field=field)
    return text


def normalize_email(email: object) -> str:
    """Emails identify guests; compare them NFKC-normalised (a full-width at sign is @), trimmed and lower-cased."""
    if not isinstance(email, str) or not email.strip():
        raise ConveyorError("An email address is required.", field="email")
    cleaned = unicodedata.normalize("NFKC", storable(email, "email")).strip().lower()
    if len(cleaned) > EMAIL_MAX:
        raise ConveyorError(f"An email address has at most {EMAIL_MAX} characters.", field="email")
    try:
        validate_email(cleaned)
        valid = cleaned.isprintable()  # a quoted local part may hold control characters; no header may
    except ValidationError:
        valid = False
    if not valid:
        raise ConveyorError(f"{email!r} is not a valid email address.", field="email")
    return cleaned


def client_address_or_none(value: object) -> str | None:
    """An IP address in its one canonical form (IPv4-mapped IPv6 as IPv4, no zone), or None: never a crash."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        address = ipaddress.IPv6Address(int(address))  # drops a %zone, which no column stores
    return str(address)


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConveyorError(f"{name} must be a timezone-aware datetime, got {value!r}.", field=name)
    return value


def host_id_problem(value: object) -> str | None:
    """Why a host's id (order, order line) cannot be one, or None: 1 to 64 printable characters, no spaces."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty id"
    if len(value) > HOST_ID_MAX:
        return f"must be an id of at most {HOST_ID_MAX} characters"
    if not value.isprintable() or " " in value:
        return "must be an id without spaces or control characters"
    return None


def _order_id(value: object) -> str:
    problem = host_id_problem(value)
    if problem:
        raise ConveyorError(f"order_id {problem}, got {value!r}.", field="order_id")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Customer:
    """Who bought: an account (user_id) or a guest (email only)."""

    email: str
    user_id: int | None = None
    first_name: str = ""
    language_code: str = ""

    def validate(self) -> Customer:
        email = normalize_email(self.email)
        if self.user_id is not None and (isinstance(self.user_id, bool) or not isinstance(self.user_id, int)):
            raise ConveyorError(f"user_id must be an integer, got {self.user_id!r}.", field="user_id")
        # Display values from the host: cleaned, never a reason to lose the customer's order.
        return Customer(email, self.user_id, sanitized(self.first_name, 256), sanitized(self.language_code, 35))


@dataclass(frozen=True)
class OrderPlaced:
    order_id: str
    customer: Customer
    channel: str
    currency: str
    total: Decimal
    placed_at: datetime
    order_number: str = ""
    # Currencies of the order's lines; each must be the order's currency.
    line_currencies: tuple[str, ...] = ()
    used_voucher: bool = False
    used_sale: bool = False
    used_campaign: bool = False
    gift: bool = False

    def validate(self) -> OrderPlaced:
        _order_id(self.order_id)
        _aware(self.placed_at, "placed_at")
        currency = self.currency
        if not isinstance(currency, str) or len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
            raise ConveyorError(f"currency must be a 3-letter code, got {self.currency!r}.", field="currency")
        currency = self.currency.upper()
        mismatched = sorted({line for line in self.line_currencies if line.upper() != currency})
        if mismatched:
            raise ConveyorError(
                f"The order is in {currency} but its lines are in {', '.join(mismatched)}.",
                field="currency",
            )
        if isinstance(self.total, bool | float) or not isinstance(self.total, Decimal | int | str):
            raise ConveyorError(f"total must be a decimal amount, got {self.total!r}.", field="total")
        try:
            total = Decimal(str(self.total))
        except InvalidOperation:
            raise ConveyorError(f"total must be a number, got {self.total!r}.", field="total") from None
        if not total.is_finite():
            raise ConveyorError(f"total must be a finite amount, got {self.total!r}.", field="total")
        if total < 0:
            raise ConveyorError(f"total cannot be negative, got {total}.", field="total", code=ErrorCode.OUT_OF_RANGE)
        if total >= Decimal("1e9"):
            raise ConveyorError(
                f"total {total} is larger than the ledger can hold.", field="total", code=ErrorCode.OUT_OF_RANGE
            )
        if not isinstance(self.channel, str) or not self.channel.strip():
            raise ConveyorError("channel is required.", field="channel")
        return OrderPlaced(
            order_id=self.order_id,
            customer=self.customer.validate(),
            channel=storable(self.channel, "channel")[:CHANNEL_MAX],
            currency=currency,
            total=total,
            placed_at=self.placed_at,
            order_number=sanitized(str(self.order_number or ""), 64),
            line_currencies=self.line_currencies,
            used_voucher=bool(self.used_voucher),
            used_sale=bool(self.used_sale),
            used_campaign=bool(self.used_campaign),
            gift=self.gift is True,
        )


@dataclass(frozen=True)
class OrderFulfilled:
    order_id: str
    fulfilled_at: datetime

    def validate(self) -> OrderFulfilled:
        _order_id(self.order_id)
        _aware(self.fulfilled_at, "fulfilled_at")
        return self


@dataclass(frozen=True)
class OrderCancelled:
    """The order no longer counts: cancelled, or fully refunded."""

    order_id: str
    cancelled_at: datetime

    def validate(self) -> OrderCancelled:
        _order_id(self.order_id)
        _aware(self.cancelled_at, "cancelled_at")
        return self


@dataclass(frozen=True)
class OrderReturned:
    """Goods came back. Only a full return takes the order off the customer's count."""

    order_id: str
    returned_at: datetime
    fully_returned: bool = True

    def validate(self) -> OrderReturned:
        _order_id(self.order_id)
        _aware(self.returned_at, "returned_at")
        return self


@dataclass(frozen=True)
class NpsAnswered:
    customer: Customer
    score: int
    answered_at: datetime
    order_id: str | None = None
    comment: str = ""

    def validate(self) -> NpsAnswered:
        try:
            validate_score(self.score)
        except ValueError as error:
            raise ConveyorError(str(error), field="score", code=ErrorCode.OUT_OF_RANGE) from None
        if self.order_id is not None:
            _order_id(self.order_id)
        _aware(self.answered_at, "answered_at")
        return NpsAnswered(
            self.customer.validate(), self.score, self.answered_at, self.order_id, _comment(self.comment)
        )


@dataclass(frozen=True)
class FanSurveyAnswered:
    customer: Customer
    fan_degree: FanDegree
    liking: Liking
    answered_at: datetime
    comment: str = ""

    def validate(self) -> FanSurveyAnswered:
        try:
            fan_degree, liking = FanDegree(self.fan_degree), Liking(self.liking)
        except ValueError as error:
            raise ConveyorError(str(error), field="fanDegree") from None
        _aware(self.answered_at, "answered_at")
        return FanSurveyAnswered(self.customer.validate(), fan_degree, liking, self.answered_at, _comment(self.comment))


def bounded_text(text: object, field: str, max_length: int) -> str:
    """Text of at most `max_length` characters a column can hold: not text, or a NUL, is INVALID; longer is
    OUT_OF_RANGE (customers' comments, staff's replies and notes)."""
    if not isinstance(text, str):
        raise ConveyorError(f"{field} must be text.", field=field)
    text = storable(text, field)
    if len(text) > max_length:
        raise ConveyorError(
            f"{field} is {len(text)} characters; at most {max_length} are kept.",
            field=field,
            code=ErrorCode.OUT_OF_RANGE,
        )
    return text


def _comment(comment: object) -> str:
    return "" if comment is None else bounded_text(comment, "comment", COMMENT_MAX)


@dataclass(frozen=True)
class WinbackAnswered:
    """A win-back answer (why the customer stopped) or an improvement answer (what to improve): the codes
    chosen and a comment; at least one of the two."""

    profile_id: int
    kind: WinbackKind
    reasons: tuple[str, ...]
    answered_at: datetime
    comment: str = ""

    def validate(self) -> WinbackAnswered:
        try:
            kind = WinbackKind(self.kind)
        except ValueError:
            raise ConveyorError(f"{self.kind!r} is not a survey kind.", field="kind") from None
        if isinstance(self.reasons, str | bytes):
            raise ConveyorError("reasons must be a list of codes.", field="reasons")
        try:
            reasons = clean_reasons(kind, self.reasons)
        except (TypeError, ValueError) as error:
            raise ConveyorError(f"Unknown reason: {error}.", field="reasons") from None
        comment = _comment(self.comment)
        if not reasons and not comment.strip():
            raise ConveyorError("Choose at least one reason or write a comment.", field="reasons")
        _aware(self.answered_at, "answered_at")
        return WinbackAnswered(self.profile_id, kind, reasons, self.answered_at, comment)


@dataclass
class RecordResult:
    """What one recorded event changed (for logs, tests and the demo)."""

    profile_id: int | None = None
    changed: bool = False
    scheduled: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# --- returns and inquiries (the GraphQL API's inputs) --------------------------------------

INQUIRY_MESSAGE_MAX = 5000
NAME_MAX = 256


@dataclass(frozen=True)
class ReturnLineRequested:
    order_line_id: str
    quantity: int


@dataclass(frozen=True)
class ReturnRequested:
    """A customer asks to send goods back; the service checks the order with the host."""

    customer: Customer
    order_id: str
    lines: tuple[ReturnLineRequested, ...]
    reason: str
    comment: str = ""

    def validate(self) -> ReturnRequested:
        from .models import ReturnReason

        _order_id(self.order_id)
        if self.reason not in ReturnReason.values:
            raise ConveyorError(f"Unknown return reason {self.reason!r}.", field="reason")
        if not self.lines:
            raise ConveyorError("Choose at least one line to return.", field="lines")
        seen: set[str] = set()
        for line in self.lines:
            if host_id_problem(line.order_line_id):
                raise ConveyorError(f"Bad order line id {line.order_line_id!r}.", field="lines")
            if line.order_line_id in seen:
                raise ConveyorError("Each order line may appear once.", field="lines")
            seen.add(line.order_line_id)
            if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity < 1:
                raise ConveyorError(
                    f"Quantity must be a whole number of at least 1, got {line.quantity!r}.",
                    field="lines",
                    code=ErrorCode.OUT_OF_RANGE,
                )
        customer = self.customer.validate()
        if customer.user_id is None:
            raise ConveyorError("Only a signed-in customer can request a return.", code=ErrorCode.PERMISSION_DENIED)
        return ReturnRequested(customer, self.order_id, tuple(self.lines), self.reason, _comment(self.comment))


@dataclass(frozen=True)
class InquirySubmitted:
    """The shop's contact form; anyone may send it, throttled per email and per client address."""

    email: str
    topic: str
    message: str
    name: str = ""
    order_id: str | None = None
    client_address: str | None = None
    user_id: int | None = None

    def validate(self) -> InquirySubmitted:
        from .models import InquiryTopic

        email = normalize_email(self.email)
        if self.topic not in InquiryTopic.values:
            raise ConveyorError(f"Unknown topic {self.topic!r}.", field="topic")
        if not isinstance(self.message, str) or not self.message.strip():
            raise ConveyorError("Write a message.", field="message")
        message = storable(self.message, "message")
        if len(message) > INQUIRY_MESSAGE_MAX:
            raise ConveyorError(
                f"message is {len(message)} characters; at most {INQUIRY_MESSAGE_MAX} are accepted.",
                field="message",
                code=ErrorCode.OUT_OF_RANGE,
            )
        name = self.name or ""
        if not isinstance(name, str) or len(name) > NAME_MAX:
            raise ConveyorError(f"name must be text of at most {NAME_MAX} characters.", field="name")
        name = single_line(name, "name")
        if self.order_id is not None:
            _order_id(self.order_id)
        address = client_address_or_none(self.client_address)
        return InquirySubmitted(email, self.topic, message, name.strip(), self.order_id, address, self.user_id)
