"""Mutations: each returns `errors: [ConveyorError!]!` beside its payload, and changes nothing when refused."""

from .base import ConveyorMutation
from .consent import Resubscribe
from .follow_ups import UpdateFollowUp
from .inquiries import ReplyToInquiry, ResendInquiryReply, SubmitInquiry, UpdateInquiry
from .returns import DecideReturn, RequestReturn
from .staff_tasks import CompleteStaffTasks
from .surveys import SubmitFanSurvey, SubmitNps, Unsubscribe
from .winback import SubmitWinbackSurvey

__all__ = [
    "CompleteStaffTasks",
    "ConveyorMutation",
    "DecideReturn",
    "ReplyToInquiry",
    "RequestReturn",
    "ResendInquiryReply",
    "Resubscribe",
    "SubmitFanSurvey",
    "SubmitInquiry",
    "SubmitNps",
    "SubmitWinbackSurvey",
    "Unsubscribe",
    "UpdateFollowUp",
    "UpdateInquiry",
]
