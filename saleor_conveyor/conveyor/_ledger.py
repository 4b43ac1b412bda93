"""The purchase ledger as the engine reads it, and the profile figures it gives.

Shared by the live service and the backfill's replay: one computation of the summary fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .. import signals
from ..engine import NpsAnswer, summarize
from ..engine import Purchase as PurchaseFact
from ..errors import ConveyorError
from ..events import OrderPlaced
from ..models import FanProfile, NpsResponse, Purchase
from ..sql import Batch, on_commit
from ._tables import PROFILE_SUMMARY_FIELDS, PROFILES


def fact(row: Purchase) -> PurchaseFact:
    """A ledger row as the engine plans from it (`row` may be a light row)."""
    return PurchaseFact(
        order_id=row.order_id,
        placed_at=row.placed_at,
        currency=row.currency,
        total=row.total_gross_amount,
        discounted=Purchase.discounted.fget(row),  # the model's rule, on a light row too
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
        returned_at=row.returned_at,
        channel=row.channel,
        gift=row.gift,
    )


def answer(response: NpsResponse) -> NpsAnswer:
    """An answer as the engine plans from it (`response` may be a light row)."""
    return NpsAnswer(
        occasion=response.occasion,
        score=response.score,
        answered_at=response.created_at,
        settles_at=response.replaceable_until,
    )


def placed_values(event: OrderPlaced) -> dict[str, Any]:
    """The ledger row's fields a placement event sets (`PLACED_FIELDS`)."""
    return {
        "order_number": event.order_number,
        "channel": event.channel,
        "currency": event.currency,
        "total_gross_amount": event.total,
        "placed_at": event.placed_at,
        "used_voucher": event.used_voucher,
        "used_sale": event.used_sale,
        "used_campaign": event.used_campaign,
        "gift": event.gift,
    }


def unchanged_by_repeat(existing: Any, event: OrderPlaced, values: dict[str, Any]) -> bool:
    """A placement event for a recorded order: True if it changes nothing, else apply it to `existing`."""
    if existing.currency != event.currency:
        raise ConveyorError(
            f"Order {event.order_id} is in {existing.currency}; this event says {event.currency}.",
            field="currency",
        )
    if all(getattr(existing, k) == v for k, v in values.items()):
        return True
    for key, value in values.items():
        setattr(existing, key, value)
    return False


def apply_summary(profile: Any, facts: Sequence[PurchaseFact], now: datetime) -> bool:
    """Set the profile's purchase figures and stage from its ledger (in memory); True if the stage changed."""
    summary = summarize(facts)
    previous_stage = profile.stage
    profile.stage = summary.stage.value if summary.stage else None
    profile.purchase_count = summary.purchase_count
    profile.currency = summary.currency or profile.currency
    profile.total_spent_amount = summary.total_spent
    profile.average_order_value_amount = summary.average_order_value
    profile.lifetime_value_amount = summary.lifetime_value
    profile.first_purchase_at = summary.first_purchase_at
    profile.last_purchase_at = summary.last_purchase_at
    if previous_stage != profile.stage:
        profile.stage_changed_at = now
        return True
    return False


def update_summary(
    profile: FanProfile,
    facts: Sequence[PurchaseFact],
    now: datetime,
    *,
    extra: Sequence[str] = (),
    batch: Batch | None = None,
    write: bool = True,
) -> None:
    """Recompute the profile's figures and stage and write them; `write=False` when the caller inserts the row."""
    previous_stage = profile.stage
    stage_changed = apply_summary(profile, facts, now)
    update = [*PROFILE_SUMMARY_FIELDS, *extra, "updated_at"]
    if stage_changed:
        update.append("stage_changed_at")
    if write:
        PROFILES.update(profile, update, batch=batch)
    if stage_changed:
        on_commit(
            lambda: signals.send(
                signals.stage_changed, FanProfile, profile=profile, previous=previous_stage, stage=profile.stage
            )
        )
