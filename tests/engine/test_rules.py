import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_conveyor.engine import (
    DEFAULT_RULES,
    NpsAnswer,
    Purchase,
    RuleBook,
    RuleBookError,
    plan_touchpoints,
)

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
D = timedelta(days=1)
BOOK = RuleBook.default()


def buy(
    n: int,
    total: str = "5000",
    *,
    day: int | None = None,
    discounted: bool = False,
    fulfilled_day: float | None = None,
    cancelled: bool = False,
    currency: str = "JPY",
) -> Purchase:
    placed = T0 + (day if day is not None else n) * D
    return Purchase(
        order_id=f"o{n}",
        placed_at=placed,
        currency=currency,
        total=Decimal(total),
        discounted=discounted,
        fulfilled_at=placed + fulfilled_day * D if fulfilled_day is not None else None,
        cancelled_at=placed + D if cancelled else None,
    )


def plan(purchases, answers=(), now=T0, book=BOOK):
    return {p.key: p for p in plan_touchpoints(book, purchases, answers, now=now)}


def test_default_book_has_every_trigger_of_the_method():
    assert {rule.trigger for rule in BOOK.rules} == {
        "first_purchase",
        "purchase_count",
        "order_amount",
        "nps",
        "fulfillment",
        "lapsed",
        "stage_entry",
        "engagement_entry",
        "anniversary",
    }
    assert BOOK.lapse_days == 90


def test_step_mail_on_day_3_7_14_and_fan_survey_on_day_21_after_first_purchase():
    first = buy(1)
    result = plan([first, buy(2, day=5)])
    for key, day in (("step_day3", 3), ("step_day7", 7), ("step_day14", 14), ("fan_survey", 21)):
        assert result[key].due_at == first.placed_at + day * D
        assert result[key].order_id == "o1"


def test_step_mail_follows_the_earliest_order_whichever_arrived_first():
    late_arrival_but_earlier = buy(1, day=0)
    assert plan([buy(2, day=10), late_arrival_but_earlier])["step_day3"].due_at == T0 + 3 * D


def test_purchase_count_triggers_at_2_3_and_5():
    assert "second_purchase" not in plan([buy(1)])
    two = plan([buy(1), buy(2)])
    assert two["second_purchase"].due_at == T0 + 2 * D and "vip_candidate" not in two
    three = plan([buy(n) for n in range(1, 4)])
    assert three["vip_candidate"].kind == "COUPON" and three["vip_candidate"].order_id == "o3"
    assert "fan_meeting" not in plan([buy(n) for n in range(1, 5)])
    assert plan([buy(n) for n in range(1, 6)])["fan_meeting"].order_id == "o5"


def test_cancelled_orders_do_not_move_the_count():
    assert "second_purchase" not in plan([buy(1), buy(2, cancelled=True)])


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ("9999", set()),
        ("10000", {"thank_you_card:o1", "secret_info"}),
        ("20000", {"thank_you_card:o1", "secret_info", "vip_badge"}),
        ("30000", {"thank_you_card:o1", "secret_info", "vip_badge", "co_creation"}),
    ],
)
def test_amount_triggers_at_10000_20000_30000_yen(total, expected):
    keys = {
        k
        for k, p in plan([buy(1, total)]).items()
        if p.rule in {"thank_you_card", "secret_info", "vip_badge", "co_creation"}
    }
    assert keys == expected


def test_thank_you_card_is_a_staff_task_for_every_big_order_other_amount_rules_once():
    result = plan([buy(1, "12000"), buy(2, "25000")])
    assert result["thank_you_card:o1"].kind == "STAFF_TASK"
    assert result["thank_you_card:o2"].kind == "STAFF_TASK"
    assert result["secret_info"].order_id == "o1"
    assert result["vip_badge"].order_id == "o2" and result["vip_badge"].kind == "BADGE"


def test_amount_thresholds_are_per_currency():
    # No USD tier in the method's defaults: a $500 order triggers nothing.
    assert not [k for k in plan([buy(1, "500", currency="USD")]) if k.startswith("secret_info")]
    data = copy.deepcopy(DEFAULT_RULES)
    data["amount_tiers"]["card"]["USD"] = 100
    book = RuleBook.from_data(data)
    assert "secret_info" in plan([buy(1, "100", currency="USD")], book=book)


@pytest.mark.parametrize(
    ("score", "rule", "kind"),
    [
        (10, "referral", "COUPON"),
        (9, "referral", "COUPON"),
        (8, "story_video", "EMAIL"),
        (7, "story_video", "EMAIL"),
        (6, "honesty_letter", "EMAIL"),
        (0, "honesty_letter", "EMAIL"),
    ],
)
def test_nps_triggers_by_category(score, rule, kind):
    answer = NpsAnswer("o1", score, T0 + 12 * D)
    result = plan([buy(1)], [answer])
    nps_rules = {p.rule for p in result.values() if p.rule in {"referral", "story_video", "honesty_letter"}}
    assert nps_rules == {rule}
    assert result[f"{rule}:o1"].kind == kind and result[f"{rule}:o1"].due_at == answer.answered_at


def test_nps_survey_10_days_after_fulfilment_at_most_once_per_90_days():
    history = [buy(1, day=0, fulfilled_day=1), buy(2, day=30, fulfilled_day=2), buy(3, day=120, fulfilled_day=1)]
    surveys = {k: p for k, p in plan(history).items() if p.rule == "nps_survey"}
    assert set(surveys) == {"nps_survey:o1", "nps_survey:o3"}
    assert surveys["nps_survey:o1"].due_at == T0 + 11 * D


def test_nps_survey_cooldown_counts_surveys_already_sent():
    history = [buy(2, day=30, fulfilled_day=2)]
    sent = {"nps_survey": [T0 + 10 * D]}
    planned = plan_touchpoints(BOOK, history, now=T0, recent_sends=sent)
    assert not [p for p in planned if p.rule == "nps_survey"]


def test_unshipped_order_gets_no_nps_survey():
    assert not [k for k in plan([buy(1)]) if k.startswith("nps_survey")]


def test_win_back_survey_once_lapsed_for_90_days():
    history = [buy(1, day=0)]
    assert not [k for k in plan(history, now=T0 + 89 * D) if k.startswith("winback")]
    lapsed = plan(history, now=T0 + 90 * D)
    assert lapsed["winback_survey:o1"].due_at == T0 + 90 * D


def test_a_new_purchase_ends_the_lapse():
    history = [buy(1, day=0), buy(2, day=100)]
    assert not [k for k in plan(history, now=T0 + 101 * D) if k.startswith("winback")]


def test_inactive_rules_plan_nothing():
    data = copy.deepcopy(DEFAULT_RULES)
    for rule in data["rules"]:
        rule["active"] = False
    assert plan([buy(1, "50000")], book=RuleBook.from_data(data)) == {}


def test_rule_book_round_trips_through_its_json_form():
    assert RuleBook.from_data(BOOK.to_data()) == BOOK


def _with(change):
    data = copy.deepcopy(DEFAULT_RULES)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"][0].update(trigger="birthday"), r"rules\[0\] \(step_day3\): unknown trigger 'birthday'"),
        (
            lambda d: d["rules"][1].update(days=-1),
            r"rules\[1\] \(step_day7\): days must be at least 0, got -1 \(negative\)",
        ),
        (lambda d: d["rules"][1].update(days="7"), r"rules\[1\] \(step_day7\): days must be a whole number"),
        (lambda d: d["rules"][0].update(kind="FAX"), r"unknown kind 'FAX'"),
        (lambda d: d["rules"][0].update(dayz=3), r"unknown field 'dayz'"),
        (lambda d: d["rules"][4].update(count=0), r"\(second_purchase\): count must be at least 1"),
        (lambda d: d["rules"][7].update(tier="gold"), r"\(thank_you_card\): tier 'gold' is not one of"),
        (lambda d: d["rules"][12].update(category="FAN"), r"\(referral\): category must be one of"),
        (lambda d: d["rules"][5].pop("voucher"), r"\(vip_candidate\): a COUPON rule needs 'voucher'"),
        (lambda d: d["rules"][9].pop("badge"), r"\(vip_badge\): a BADGE rule needs the 'badge'"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), r"rules\[21\] \(step_day3\): the name is used"),
        (lambda d: d["rules"][0].update(name="Step 3"), r"rules\[0\]: 'name' must be lowercase"),
        (lambda d: d.update(lapse_days=0), r"lapse_days must be at least 1"),
        (lambda d: d["amount_tiers"]["card"].update(JPY=-5), r"amount_tiers.card.JPY must be a positive amount"),
        (lambda d: d["amount_tiers"]["card"].update(yen=5), r"'yen' is not a currency code"),
        (lambda d: d["amount_tiers"]["card"].update(JPY="lots"), r"'lots' is not a number"),
        (lambda d: d.update(rules="all"), r"'rules' must be a list"),
    ],
)
def test_invalid_rule_book_is_rejected_naming_the_bad_entry(change, message):
    with pytest.raises(RuleBookError, match=message):
        RuleBook.from_data(_with(change))


def test_rule_book_must_be_an_object():
    with pytest.raises(RuleBookError, match="must be an object"):
        RuleBook.from_data([])
