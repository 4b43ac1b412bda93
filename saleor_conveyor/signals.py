"""Signals other code connects to in order to extend the conveyor. All are sent after commit.

They are sent with `send`: what they report is committed, so a receiver that raises is logged
and never turns the caller's success (a customer's answer, a recorded order) into an error.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)


class ConveyorSignal(Signal):
    """A Signal that knows its name, for the log line of a receiver that failed."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


# profile, previous (FanStage | None), stage (FanStage | None)
stage_changed = ConveyorSignal("stage_changed")
# touchpoint_ids: list[int], profile_id: int, touchpoints: list[Touchpoint] (as committed: id, kind, due_at)
touchpoint_scheduled = ConveyorSignal("touchpoint_scheduled")
# response (NpsResponse), profile (FanProfile)
nps_recorded = ConveyorSignal("nps_recorded")
# response (WinbackResponse), profile (FanProfile): a win-back or improvement answer, for staff follow-ups
winback_recorded = ConveyorSignal("winback_recorded")
# inquiry (Inquiry): the delivery side mails the shop (`delivery.notify_shop_of_inquiry`)
inquiry_submitted = ConveyorSignal("inquiry_submitted")
# reply (InquiryReply), inquiry (Inquiry): staff answered; the delivery side mails it (`delivery.mail_inquiry_reply`)
inquiry_replied = ConveyorSignal("inquiry_replied")
# change (RuleBookChange): a rule book was saved; the delivery side starts its rebuild (`delivery.start_rebuild`)
rule_book_saved = ConveyorSignal("rule_book_saved")


def send(signal: ConveyorSignal, sender: Any, **named: Any) -> None:
    """Call every receiver; one that raises is logged with its traceback and the others still run."""
    for receiver, outcome in signal.send_robust(sender=sender, **named):
        if isinstance(outcome, Exception):
            logger.error(
                "conveyor: receiver %r of the %s signal failed; the conveyor's work is committed",
                receiver,
                signal.name,
                exc_info=outcome,
            )
