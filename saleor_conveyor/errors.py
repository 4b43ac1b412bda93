"""Errors the conveyor reports to its callers: typed, with the API's codes."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    INVALID_TOKEN = "INVALID_TOKEN"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    WINDOW_CLOSED = "WINDOW_CLOSED"
    THROTTLED = "THROTTLED"


class ConveyorError(Exception):
    """A rejected input or action; nothing was written. Carries `field`, `code`, `message`."""

    def __init__(self, message: str, *, code: ErrorCode = ErrorCode.INVALID, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code)
        self.field = field

    def __repr__(self) -> str:
        return f"ConveyorError({self.code}, field={self.field!r}, {self.message!r})"


class ConveyorErrors(ConveyorError):
    """Several rejected inputs of one call (a rule book's bad entries), each a ConveyorError; nothing was written."""

    def __init__(self, errors: list[ConveyorError]):
        first = errors[0] if errors else ConveyorError("Refused.")
        super().__init__(first.message, code=first.code, field=first.field)
        self.errors = list(errors) or [first]
