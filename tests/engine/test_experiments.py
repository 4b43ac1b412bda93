"""Variants and holdouts: validated with messages naming the entry, assigned by a hash, stable, close to the shares."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_conveyor.engine import DEFAULT_RULES, RuleBook, RuleBookError, diff_outbox, plan_touchpoints
from saleor_conveyor.engine.experiments import HOLDOUT, assign
from saleor_conveyor.engine.outbox import ExistingTouchpoint, assigner
from saleor_conveyor.engine.stages import Purchase

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)


def book_with(index: int, **fields) -> dict:
    data = copy.deepcopy(DEFAULT_RULES)
    data["rules"][index].update(fields)
    return data


def step_day7(**fields) -> dict:
    return book_with(1, **{"experiment": "2026-05", **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"holdout": 0.7}, "rules[1].holdout: must be between 0 and 0.5, got 0.7"),
        ({"holdout": -0.1}, "rules[1].holdout: must be between 0 and 0.5"),
        ({"holdout": "lots"}, "rules[1].holdout: must be a number"),
        ({"holdout": True}, "rules[1].holdout: must be a number"),
        (
            {"variants": [{"name": "a", "template": "step_day7", "weight": 0.5}]},
            "rules[1].variants: the weights add up to 0.5, they must add up to 1",
        ),
        (
            {
                "variants": [
                    {"name": "a", "template": "step_day7", "weight": 60},
                    {"name": "b", "template": "x", "weight": 40},
                ]
            },
            "rules[1].variants[0].weight: must be more than 0 and at most 1, got 60",
        ),
        (
            {
                "variants": [
                    {"name": "a", "template": "step_day7", "weight": 0.5},
                    {"name": "a", "template": "x", "weight": 0.5},
                ]
            },
            "rules[1].variants[1].name: 'a' is used by another variant",
        ),
        ({"variants": [{"name": "a", "template": "Bad Name", "weight": 1}]}, "rules[1].variants[0].template"),
        ({"variants": [{"name": "a", "template": "t"}]}, "rules[1].variants[0].weight: missing"),
        ({"variants": [{"name": "a", "template": "t", "weight": 1, "colour": "red"}]}, "unknown field 'colour'"),
        ({"variants": {"a": 1}}, "rules[1].variants: must be a list"),
        ({"experiment": "has space", "holdout": 0.1}, "rules[1].experiment: must be an id"),
        ({"experiment": "x\x00", "holdout": 0.1}, "rules[1].experiment: must be an id"),
    ],
)
def test_a_bad_experiment_is_refused_with_a_message_naming_the_entry(fields, message):
    with pytest.raises(RuleBookError) as refused:
        RuleBook.from_data(step_day7(**fields))
    assert message in str(refused.value)


def test_a_holdout_or_variants_need_an_experiment_id_and_an_id_alone_is_refused():
    with pytest.raises(RuleBookError, match=r"rules\[1\]\.experiment: a rule with variants or a holdout needs"):
        RuleBook.from_data(book_with(1, holdout=0.1))
    with pytest.raises(RuleBookError, match=r"rules\[1\]\.experiment: only applies"):
        RuleBook.from_data(book_with(1, experiment="2026-05"))


def test_weights_are_compared_as_decimals_and_the_book_round_trips():
    variants = [
        {"name": "a", "template": "step_day7", "weight": 0.1},
        {"name": "b", "template": "step_day14", "weight": 0.2},
        {"name": "c", "template": "step_day3", "weight": 0.7},
    ]
    book = RuleBook.from_data(step_day7(variants=variants, holdout=0.25))
    rule = book.rule("step_day7")
    assert rule.holdout == Decimal("0.25") and [v.weight for v in rule.variants] == [
        Decimal(x) for x in ["0.1", "0.2", "0.7"]
    ]
    assert rule.template_for("b") == "step_day14" and rule.template_for("") == "step_day7"
    assert RuleBook.from_data(book.to_data()) == book


def _book(holdout: float, weights: list[int], experiment: str = "e1") -> RuleBook:
    total = sum(weights)
    shares = [Decimal(w) / total for w in weights]
    shares[-1] = 1 - sum(shares[:-1], Decimal(0))  # exactly 1
    variants = [{"name": f"v{n}", "template": "step_day7", "weight": str(s)} for n, s in enumerate(shares)]
    return RuleBook.from_data(step_day7(holdout=holdout, variants=variants, experiment=experiment))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    holdout=st.sampled_from([0, 0.05, 0.1, 0.25, 0.5]),
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    keys=st.lists(st.emails(), min_size=1, max_size=30),
    days=st.integers(0, 60),
    description=st.text(max_size=20),
)
def test_assignment_is_deterministic_and_stable_under_edits_that_keep_the_experiment_id(
    holdout, weights, keys, days, description
):
    book = _book(holdout, weights)
    rule = book.rule("step_day7")
    first = [assign("step_day7", rule.trial, key) for key in keys]
    assert first == [assign("step_day7", rule.trial, key) for key in keys]  # the same every time
    # Another rule changed, this rule's timing and words edited, a rule added: the same arms.
    edited = book.to_data()
    edited["rules"][0]["days"] = 5
    edited["rules"][1].update(days=days, description=description)
    edited["rules"].append({"name": "extra", "trigger": "first_purchase", "kind": "EMAIL", "days": 2})
    again = RuleBook.from_data(edited).rule("step_day7")
    assert [assign("step_day7", again.trial, key) for key in keys] == first
    # A new experiment id draws afresh (same shares): over enough keys some customers move.
    renamed = _book(holdout, weights, experiment="e2").rule("step_day7")
    many = [f"c{n}@example.com" for n in range(400)]
    if holdout or len(weights) > 1:
        assert [assign("step_day7", rule.trial, k) for k in many] != [
            assign("step_day7", renamed.trial, k) for k in many
        ]


# 20,000 customers: one share's standard error is at most 0.0036, so 0.02 is over five of them.
SHARE_TOLERANCE = 0.02


@settings(max_examples=8, deadline=None)
@given(holdout=st.sampled_from([0.05, 0.1, 0.3, 0.5]), weights=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_assignment_is_close_to_the_configured_shares_over_many_customers(holdout, weights):
    book = _book(holdout, weights)
    rule = book.rule("step_day7")
    n = 20_000
    arms = [assign("step_day7", rule.trial, f"customer{k}@example.jp") for k in range(n)]
    held = sum(arm.held_out for arm in arms)
    assert abs(held / n - holdout) <= SHARE_TOLERANCE
    reached = [arm for arm in arms if not arm.held_out]
    for variant in rule.variants:
        got = sum(arm.variant == variant.name for arm in reached) / len(reached)
        assert abs(got - float(variant.weight)) <= SHARE_TOLERANCE
    assert all(arm.variant == "" for arm in arms if arm.held_out)


def test_a_held_out_touchpoint_is_skipped_with_outcome_holdout_and_a_written_row_keeps_its_arm():
    book = _book(0.5, [1, 1])
    history = [Purchase("o1", T0, "JPY", Decimal(3000))]
    plan = [p for p in plan_touchpoints(book, history, now=T0) if p.rule == "step_day7"]
    keys = [f"k{n}@example.com" for n in range(40)]
    outcomes = set()
    for key in keys:
        (placed,) = diff_outbox(plan, {}, late_before=T0, backfill=False, arms=assigner(book, key)).create
        arm = assign("step_day7", book.rule("step_day7").trial, key)
        assert (placed.experiment, placed.variant) == (arm.experiment, arm.variant)
        assert (placed.status, placed.outcome) == (("SKIPPED", HOLDOUT) if arm.held_out else ("SCHEDULED", ""))
        outcomes.add(placed.outcome)
    assert outcomes == {HOLDOUT, ""}
    # An existing row moved to another time is not drawn again: a move carries no arm.
    row = ExistingTouchpoint("step_day7", "step_day7", "SCHEDULED", planned_at=T0 + timedelta(days=1))
    changes = diff_outbox(plan, {"step_day7": row}, late_before=T0, backfill=False, arms=assigner(book, keys[0]))
    assert not changes.create and [(m.status, m.experiment) for m in changes.move] == [("SCHEDULED", "")]
