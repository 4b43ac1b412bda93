"""Mutations: each returns `errors: [ConveyorError!]!` beside its payload, and changes nothing when refused."""

from .base import ConveyorMutation
from .inquiries import SubmitInquiry
from .returns import DecideReturn, RequestReturn
from .surveys import SubmitFanSurvey, SubmitNps, Unsubscribe

__all__ = [
    "ConveyorMutation",
    "DecideReturn",
    "RequestReturn",
    "SubmitFanSurvey",
    "SubmitInquiry",
    "SubmitNps",
    "Unsubscribe",
]
