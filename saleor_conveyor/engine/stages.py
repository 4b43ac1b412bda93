"""The stage ladder: which kind of customer someone is, from their purchases alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class FanStage(StrEnum):
    FIRST_TIME = "FIRST_TIME"
    SECOND_TIME = "SECOND_TIME"
    CAMPAIGN_ONLY = "CAMPAIGN_ONLY"
    LOYAL = "LOYAL"


@dataclass(frozen=True)
class Purchase:
    """One order as the conveyor sees it."""

    order_id: str
    placed_at: datetime
    currency: str
    total: Decimal
    discounted: bool = False
    fulfilled_at: datetime | None = None
    cancelled_at: datetime | None = None
    returned_at: datetime | None = None
    channel: str = ""
    gift: bool = False

    @property
    def counts(self) -> bool:
        """Cancelled and fully returned orders are not purchases."""
        return self.cancelled_at is None and self.returned_at is None


def counted(purchases: Iterable[Purchase]) -> list[Purchase]:
    """Purchases that count, oldest first (ties broken by order id for determinism)."""
    return sorted((p for p in purchases if p.counts), key=lambda p: (p.placed_at, p.order_id))


def stage_for(purchases: Iterable[Purchase]) -> FanStage | None:
    """The stage ladder: none, first-time, second-time, campaign-only, loyal."""
    real = counted(purchases)
    if not real:
        return None
    if len(real) == 1:
        return FanStage.FIRST_TIME
    if all(p.discounted for p in real):
        return FanStage.CAMPAIGN_ONLY
    if len(real) >= 3:
        return FanStage.LOYAL
    return FanStage.SECOND_TIME


def is_lapsed(last_purchase_at: datetime | None, now: datetime, lapse_days: int) -> bool:
    """A customer is lapsed once the lapse window has passed since their last purchase."""
    return last_purchase_at is not None and now - last_purchase_at >= timedelta(days=lapse_days)


@dataclass(frozen=True)
class CustomerSummary:
    """What the fan profile stores about purchases, recomputed from the ledger."""

    stage: FanStage | None
    purchase_count: int
    currency: str | None
    total_spent: Decimal
    average_order_value: Decimal | None
    lifetime_value: Decimal | None
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None


def summarize(purchases: Sequence[Purchase]) -> CustomerSummary:
    """Money figures are in the currency of the latest purchase; other currencies are not mixed in."""
    real = counted(purchases)
    if not real:
        return CustomerSummary(None, 0, None, Decimal(0), None, None, None, None)
    currency = real[-1].currency
    same_currency = [p for p in real if p.currency == currency]
    total = sum((p.total for p in same_currency), Decimal(0))
    average = total / len(same_currency)
    return CustomerSummary(
        stage=stage_for(real),
        purchase_count=len(real),
        currency=currency,
        total_spent=total,
        average_order_value=average,
        lifetime_value=average * len(real),
        first_purchase_at=real[0].placed_at,
        last_purchase_at=real[-1].placed_at,
    )
