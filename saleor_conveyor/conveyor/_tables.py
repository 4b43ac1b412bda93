"""The conveyor's tables as the service reads and writes them, and the constraints it tells apart.

Each `Table` names only the columns its readers use: decoding columns is most of a read's cost.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection

from ..models import FanProfile, NpsResponse, Purchase, Touchpoint
from ..sql import Table

PROFILES = Table(FanProfile)
PURCHASES = Table(Purchase)
TOUCHPOINTS = Table(Touchpoint)
# What recording an order reads and writes, and no more.
# The profile's summary is recomputed from the ledger, so only what that keeps is read (others load if touched).
# `nps_category` and `segment` are what a rule's conditions ask that the ledger cannot tell.
ORDER_PROFILES = Table(
    FanProfile,
    only=("id", "user", "email", "first_name", "language_code", "stage", "currency", "nps_category", "segment"),
)
LEDGER = Table(Purchase, only=[f.name for f in Purchase._meta.concrete_fields if f.name != "recorded_at"], light=True)
# What planning and "the latest answer" need of earlier NPS answers.
NPS_ANSWERS = Table(
    NpsResponse, only=("id", "profile", "order_id", "occasion", "score", "created_at", "replaceable_until"), light=True
)
NEW_NPS_RESPONSES = Table(NpsResponse, insert_pk=True)
OUTBOX = Table(
    Touchpoint,
    only=("id", "profile", "rule", "key", "kind", "status", "planned_at", "order_id", "attempts", "sent_at"),
    light=True,
)

# The profile's purchase figures, recomputed from the ledger on every change.
PROFILE_SUMMARY_FIELDS = (
    "stage",
    "purchase_count",
    "currency",
    "total_spent_amount",
    "average_order_value_amount",
    "lifetime_value_amount",
    "first_purchase_at",
    "last_purchase_at",
)
# An order's fields a placement event sets (the rest come from later events).
PLACED_FIELDS = (
    "order_number",
    "channel",
    "currency",
    "total_gross_amount",
    "placed_at",
    "used_voucher",
    "used_sale",
    "used_campaign",
    "gift",
)

TOUCHPOINT_PROFILE = Touchpoint._meta.get_field("profile")
NPS_PROFILE = NpsResponse._meta.get_field("profile")

ORDER_UNIQUE = "conveyor_purchase_order_unique"
NPS_ONCE = "conveyor_nps_once_per_occasion"
FAN_SURVEY_ONCE = "conveyor_fan_survey_once_per_occasion"
UNIQUE_VIOLATION = "23505"
# Tables whose unique keys a concurrent worker recording the same customer can take first.
RACE_TABLES = frozenset({FanProfile._meta.db_table, Touchpoint._meta.db_table})


def violated(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, as PostgreSQL reports it."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def table_of(cause: Any) -> str | None:
    """The table of a driver error, as PostgreSQL reports it."""
    return getattr(getattr(cause, "diag", None), "table_name", None)


def touchpoint_column(name: str) -> str:
    """A touchpoint field's column, quoted, for the delivery state machine's own statements."""
    return connection.ops.quote_name(Touchpoint._meta.get_field(name).column)
