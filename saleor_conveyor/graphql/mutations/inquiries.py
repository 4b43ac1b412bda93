"""The shop's contact form: anyone may write; the shop is told by mail."""

from __future__ import annotations

from typing import Any

import graphene

from ... import conveyor
from ...events import InquirySubmitted
from ...hosts import get_host
from ..core import current_user, decode_id
from ..types import Inquiry, InquiryTopic
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
