"""The shop's contact form: anyone may write; the shop is told by mail; staff reply by email and close it."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor
from ...errors import ConveyorError, ErrorCode
from ...events import InquirySubmitted
from ...hosts import MANAGE_USERS, get_host
from ...models import Inquiry as InquiryModel
from ...models import InquiryReply as InquiryReplyModel
from ..core import current_user, decode_id, decode_int_id, decode_uuid_id, require_permission, staff_name
from ..types import Inquiry, InquiryReply, InquiryStatus, InquiryTopic
from .base import ConveyorMutation


class SubmitInquiry(ConveyorMutation):
    """Store a contact-form message; throttled per email and per client address."""

    class Arguments:
        email = graphene.String(required=True)
        name = graphene.String()
        order_id = graphene.ID()
        topic = InquiryTopic(required=True)
        message = graphene.String(required=True, description="1 to 5,000 characters.")

    inquiry = graphene.Field(Inquiry)

    @classmethod
    def perform(
        cls,
        info: Any,
        email: str,
        topic: str,
        message: str,
        name: str | None = None,
        order_id: str | None = None,
    ) -> SubmitInquiry:
        user = current_user(info)
        inquiry = InquirySubmitted(
            email=email,
            topic=topic,
            message=message,
            name=name or "",
            order_id=decode_id(order_id, "Order", "orderId") if order_id is not None else None,
            client_address=get_host().client_address(info.context),
            user_id=user.pk if user is not None else None,
        )
        return cls(inquiry=conveyor.submit_inquiry(inquiry), errors=[])


def _inquiry_id(value: str) -> str:
    raw_id = decode_uuid_id(value, "Inquiry", "id")
    if raw_id is None:
        raise ConveyorError("No such inquiry.", field="id", code=ErrorCode.NOT_FOUND)
    return raw_id


class ReplyToInquiry(ConveyorMutation):
    """Staff answer an inquiry (MANAGE_USERS): recorded, marked ANSWERED, emailed to the customer after commit.
    A mail failure keeps the reply (`reply.mailStatus` FAILED); `resendInquiryReply` tries again."""

    class Arguments:
        id = graphene.ID(required=True)
        message = graphene.String(required=True, description="1 to 5,000 characters.")

    inquiry = graphene.Field(Inquiry)
    reply = graphene.Field(InquiryReply)

    @classmethod
    def perform(cls, info: Any, id: str, message: str) -> ReplyToInquiry:
        staff = require_permission(info, MANAGE_USERS)
        reply = conveyor.reply_to_inquiry(_inquiry_id(id), message=message, by=staff_name(staff))
        # Read again: the mail went out (or failed) after the commit, and the reply records which.
        inquiry = InquiryModel.objects.prefetch_related("replies").get(pk=reply.inquiry_id)
        return cls(inquiry=inquiry, reply=InquiryReplyModel.objects.get(pk=reply.pk), errors=[])


class ResendInquiryReply(ConveyorMutation):
    """Staff send a reply whose email failed again (MANAGE_USERS)."""

    class Arguments:
        id = graphene.ID(required=True, description="An InquiryReply ID.")

    reply = graphene.Field(InquiryReply)

    @classmethod
    def perform(cls, info: Any, id: str) -> ResendInquiryReply:
        staff = require_permission(info, MANAGE_USERS)
        reply = conveyor.resend_inquiry_reply(decode_int_id(id, "InquiryReply", "id"), by=staff_name(staff))
        return cls(reply=InquiryReplyModel.objects.get(pk=reply.pk), errors=[])


class UpdateInquiry(ConveyorMutation):
    """Staff set an inquiry's status (CLOSED closes it, OPEN reopens it) and internal note (MANAGE_USERS)."""

    class Arguments:
        id = graphene.ID(required=True)
        status = InquiryStatus(required=True)
        note = graphene.String(description="Internal note, at most 5,000 characters; omitted: kept as it is.")

    inquiry = graphene.Field(Inquiry)

    @classmethod
    def perform(cls, info: Any, id: str, status: str, note: str | None = None) -> UpdateInquiry:
        staff = require_permission(info, MANAGE_USERS)
        changed = conveyor.update_inquiry(_inquiry_id(id), status=status, note=note, by=staff_name(staff))
        return cls(inquiry=changed, errors=[])
