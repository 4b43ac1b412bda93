"""The outbox diff: what to create, move and cancel for a plan and the rows already written (no database)."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from saleor_conveyor.engine import (
    Cancellation,
    ExistingTouchpoint,
    OutboxStatus,
    PlannedTouchpoint,
    Purchase,
    RuleBook,
    diff_outbox,
    plan_touchpoints,
    recent_sends,
)
from saleor_conveyor.engine.outbox import BACKFILL_SKIP, LATE_SKIP

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
D = timedelta(days=1)


def planned(key: str, due_at: datetime, *, rule: str | None = None, order_id: str | None = "o1") -> PlannedTouchpoint:
    return PlannedTouchpoint(key=key, rule=rule or key.split(":")[0], kind="EMAIL", due_at=due_at, order_id=order_id)


def row(key: str, status: str, planned_at: datetime | None = T0, **values) -> ExistingTouchpoint:
    return ExistingTouchpoint(
        key=key, rule=values.pop("rule", key.split(":")[0]), status=status, planned_at=planned_at, **values
    )


def by_key(*rows: ExistingTouchpoint) -> dict[str, ExistingTouchpoint]:
    return {r.key: r for r in rows}


def test_a_new_plan_item_is_created_scheduled_and_one_already_due_skipped():
    plan = [planned("step_day3", T0 + 3 * D), planned("step_day7", T0 - D)]

    changes = diff_outbox(plan, {}, late_before=T0, backfill=False)

    assert [(p.key, p.status, p.outcome) for p in changes.create] == [
        ("step_day3", OutboxStatus.SCHEDULED, ""),
        ("step_day7", OutboxStatus.SKIPPED, LATE_SKIP),
    ]
    assert not changes.move and not changes.cancel


def test_a_backfill_says_so_in_what_it_skipped():
    changes = diff_outbox([planned("step_day3", T0 - D)], {}, late_before=T0, backfill=True)
    assert changes.create[0].status == OutboxStatus.SKIPPED and changes.create[0].outcome == BACKFILL_SKIP


def test_a_waiting_row_at_another_time_is_moved_and_one_at_its_time_left_alone():
    plan = [planned("nps_survey:o1", T0 + 5 * D), planned("step_day3", T0)]
    existing = by_key(row("nps_survey:o1", "SCHEDULED", T0 + 2 * D), row("step_day3", "SCHEDULED", T0))

    changes = diff_outbox(plan, existing, late_before=T0 - D, backfill=False)

    assert [(p.key, p.item.due_at, p.status) for p in changes.move] == [
        ("nps_survey:o1", T0 + 5 * D, OutboxStatus.SCHEDULED)
    ]
    assert not changes.create and not changes.cancel


def test_a_row_cancelled_before_any_attempt_is_reopened_one_that_went_further_is_history():
    plan = [planned("a", T0 + D), planned("b", T0 + D), planned("c", T0 + D), planned("d", T0 + D)]
    existing = by_key(
        row("a", "CANCELLED"),
        row("b", "CANCELLED", attempts=1),
        row("c", "SENT", sent_at=T0),
        row("d", "SKIPPED"),
    )

    changes = diff_outbox(plan, existing, late_before=T0, backfill=False)

    assert [p.key for p in changes.move] == ["a"]
    assert not changes.create and not changes.cancel


def test_waiting_rows_the_plan_no_longer_has_are_cancelled_with_the_reason_staff_read():
    purchases = [
        Purchase("o1", T0, "JPY", Decimal("5000"), cancelled_at=T0 + D),
        Purchase("o2", T0, "JPY", Decimal("5000"), returned_at=T0 + D),
        Purchase("o3", T0, "JPY", Decimal("5000")),
    ]
    existing = by_key(
        row("thanks:o1", "SCHEDULED", order_id="o1"),
        row("thanks:o2", "SCHEDULED", order_id="o2"),
        row("thanks:o3", "SCHEDULED", order_id="o3"),
        row("vip:o3", "SCHEDULED", order_id="o3"),
        row("sent:o3", "SENT", order_id="o3", sent_at=T0),
    )

    changes = diff_outbox([], existing, late_before=T0, backfill=False, purchases=purchases, switched_off={"vip"})

    assert changes.cancel == [
        Cancellation("thanks:o1", "order o1 was cancelled"),
        Cancellation("thanks:o2", "order o2 was returned"),
        Cancellation("thanks:o3", "no longer applies to the customer's history"),
        Cancellation("vip:o3", "its rule was switched off in the rule book"),
    ]


def test_recent_sends_are_the_sent_rows_by_rule():
    rows = [
        row("f:1", "SENT", sent_at=T0, rule="fulfillment_thanks"),
        row("f:2", "SENT", sent_at=T0 + D, rule="fulfillment_thanks"),
        row("f:3", "FAILED", sent_at=None, rule="fulfillment_thanks"),
        row("n:1", "SCHEDULED", rule="nps_survey"),
    ]
    assert recent_sends(rows) == {"fulfillment_thanks": [T0, T0 + D]}


def test_the_diff_of_a_plan_against_itself_is_empty():
    """Planning twice changes nothing: what the first diff created, the second leaves alone."""
    book = RuleBook.default()
    purchases = [Purchase("o1", T0, "JPY", Decimal("12000"), fulfilled_at=T0 + D)]
    plan = plan_touchpoints(book, purchases, (), now=T0)
    first = diff_outbox(plan, {}, late_before=T0, backfill=False, purchases=purchases)
    written = {p.key: row(p.key, p.status, p.item.due_at, rule=p.item.rule) for p in first.create}

    second = diff_outbox(plan, written, late_before=T0, backfill=False, purchases=purchases)

    assert first.create and not second.create and not second.move and not second.cancel


def test_the_outbox_diff_imports_no_django():
    code = "import sys, saleor_conveyor.engine.outbox; print(any(m.split('.')[0] == 'django' for m in sys.modules))"
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env)
    assert done.stdout.strip() == "False"
