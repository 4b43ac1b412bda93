"""The conveyor service: the only code that writes the conveyor's tables. This package's public API.

Every `record_*` function takes a plain event (see `events.py`), validates it, and in one
transaction updates the purchase ledger and the fan profile and reconciles the outbox with the
rule book's plan. Recording is idempotent: the same event twice, or events out of order, leave
the same state, and the unique (profile, key) constraint means an occurrence is never written
twice. A customer's row is locked for the duration (`_locking.py`), so concurrent events for one
customer are applied one after the other.

The modules follow the flow: `customers` (which profile, its lock, merges) -> `orders`,
`surveys`, `winback`, `returns`, `inquiries` (the events; `follow_ups`, staff's, open with the answers) ->
`outbox` (plan <-> rows, via the engine's `diff_outbox`) -> `delivery_state` (what delivery records);
`backfill` replays `orders` in bulk.
"""

from __future__ import annotations

from ..errors import ConveyorError, ErrorCode  # what the service raises, typed for API callers
from . import (
    backfill,
    customers,
    dashboard,
    delivery_state,
    follow_ups,
    inquiries,
    orders,
    outbox,
    returns,
    rule_book,
    surveys,
    winback,
)
from .backfill import BackfillOrder, BackfillResult, record_order_history, record_orders_backfill
from .customers import find_profile, link_customer, resubscribe, unsubscribe
from .dashboard import register_dashboard_app
from .delivery_state import (
    Reservation,
    add_badge,
    claim_touchpoint,
    claim_touchpoints,
    fail_stale_sending,
    record_coupon_code,
    record_delivery_failed,
    record_delivery_retry,
    record_delivery_sent,
    release_claims,
    renew_claims,
    reserve_due_touchpoints,
)
from .follow_ups import update_follow_up
from .inquiries import (
    may_be_resent,
    record_reply_mail,
    reply_to_inquiry,
    resend_inquiry_reply,
    submit_inquiry,
    update_inquiry,
)
from .orders import record_fulfillment, record_order_cancelled, record_order_placed, record_return
from .outbox import (
    complete_staff_task,
    complete_staff_tasks,
    mark_touchpoints,
    open_staff_tasks,
    rebuild_profile,
    schedule_anniversaries,
    schedule_lapsed,
    staff_tasks,
)
from .returns import decide_return, order_for_return, request_return, return_window_days
from .rule_book import latest_change, update_rule_book
from .surveys import record_fan_survey, record_nps
from .winback import record_winback_survey

__all__ = [
    "BackfillOrder",
    "BackfillResult",
    "ConveyorError",
    "ErrorCode",
    "Reservation",
    "add_badge",
    "backfill",
    "claim_touchpoint",
    "claim_touchpoints",
    "complete_staff_task",
    "complete_staff_tasks",
    "customers",
    "dashboard",
    "decide_return",
    "delivery_state",
    "fail_stale_sending",
    "find_profile",
    "follow_ups",
    "inquiries",
    "latest_change",
    "link_customer",
    "mark_touchpoints",
    "may_be_resent",
    "open_staff_tasks",
    "order_for_return",
    "orders",
    "outbox",
    "rebuild_profile",
    "record_coupon_code",
    "record_delivery_failed",
    "record_delivery_retry",
    "record_delivery_sent",
    "record_fan_survey",
    "record_fulfillment",
    "record_nps",
    "record_order_cancelled",
    "record_order_history",
    "record_order_placed",
    "record_orders_backfill",
    "record_reply_mail",
    "record_return",
    "record_winback_survey",
    "register_dashboard_app",
    "release_claims",
    "renew_claims",
    "reply_to_inquiry",
    "request_return",
    "resend_inquiry_reply",
    "reserve_due_touchpoints",
    "resubscribe",
    "return_window_days",
    "returns",
    "rule_book",
    "schedule_anniversaries",
    "schedule_lapsed",
    "staff_tasks",
    "submit_inquiry",
    "surveys",
    "unsubscribe",
    "update_follow_up",
    "update_inquiry",
    "update_rule_book",
    "winback",
]
