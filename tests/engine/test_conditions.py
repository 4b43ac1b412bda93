"""Rule conditions (which customer) and the layer triggers (stage entry, engagement entry, anniversary)."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saleor_conveyor.engine import (
    DEFAULT_RULES,
    ExistingTouchpoint,
    FanDegree,
    FanStage,
    FanSurveyAnswer,
    Liking,
    NpsAnswer,
    NpsCategory,
    Purchase,
    RuleBook,
    RuleBookError,
    diff_outbox,
    plan_touchpoints,
    stage_for,
)
from saleor_conveyor.engine.conditions import CustomerView
from saleor_conveyor.engine.occasions import add_years, latest_anniversary, stage_entries

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
D = timedelta(days=1)


def buy(n: int, *, day: int | None = None, discounted=False, gift=False, channel="jp", cancelled=False) -> Purchase:
    placed = T0 + (n if day is None else day) * D
    return Purchase(
        f"o{n}",
        placed,
        "JPY",
        Decimal("5000"),
        discounted=discounted,
        gift=gift,
        channel=channel,
        cancelled_at=placed + D if cancelled else None,
    )


def book_with(*rules, lapse_days=90) -> RuleBook:
    return RuleBook.from_data({"lapse_days": lapse_days, "rules": list(rules)})


def rule(name="r", trigger="first_purchase", **extra):
    return {"name": name, "trigger": trigger, "kind": "EMAIL", **extra}


def keys(book, purchases, *, now=T0 + 30 * D, **extra) -> set[str]:
    return {tp.key for tp in plan_touchpoints(book, purchases, now=now, **extra)}


# --- each condition, holding and not ----------------------------------------------------

VIEW = CustomerView(
    stage=FanStage.LOYAL,
    purchase_count=4,
    last_purchase_at=T0,
    nps_category=NpsCategory.PROMOTER,
    engagement_cell="HIGH/MID",
    has_account=True,
    language="ja-JP",
)
ORDER = buy(1, discounted=True, gift=True, channel="jp")


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        ({"stage": "LOYAL"}, None),
        ({"stage": ["FIRST_TIME", "SECOND_TIME"]}, "stage is LOYAL, rule wants one of FIRST_TIME, SECOND_TIME"),
        ({"engagement": "HIGH/MID"}, None),
        ({"engagement": "CORE"}, None),
        ({"engagement": ["COOL", "LOW/LOW"]}, "engagement cell is HIGH/MID, rule wants one of COOL, LOW/LOW"),
        ({"nps": "PROMOTER"}, None),
        ({"nps": ["DETRACTOR"]}, "NPS category is PROMOTER, rule wants DETRACTOR"),
        ({"lapsed": True}, None),
        ({"lapsed": False}, "the customer is lapsed, rule wants an active customer"),
        ({"customer": "account"}, None),
        ({"customer": "guest"}, "the customer is an account, rule wants a guest"),
        ({"channel": ["jp", "us"]}, None),
        ({"channel": "us"}, "order o1 is in channel 'jp', rule wants us"),
        ({"purchase_count": {"min": 3, "max": 4}}, None),
        ({"purchase_count": {"min": 5}}, "purchase count is 4, rule wants at least 5"),
        ({"purchase_count": {"max": 3}}, "purchase count is 4, rule wants at most 3"),
        ({"discounted_order": True}, None),
        ({"discounted_order": False}, "order o1 is discounted, rule wants a full-price order"),
        ({"gift_order": True}, None),
        ({"gift_order": False}, "order o1 is a gift, rule wants no gift"),
        ({"language": "ja"}, None),
        ({"language": ["en", "zh-hans"]}, "language is ja-JP, rule wants one of en, zh-hans"),
    ],
)
def test_each_condition_holds_or_names_what_differs(conditions, reason):
    parsed = book_with(rule(conditions=conditions)).rules[0].conditions
    assert parsed.failure(VIEW, ORDER, now=T0 + 100 * D, lapse_days=90) == reason


def test_a_customer_without_survey_or_answer_does_not_meet_engagement_or_nps_conditions():
    parsed = book_with(rule(conditions={"engagement": "CORE", "nps": "PROMOTER"})).rules[0].conditions
    assert "unknown (no fan survey)" in parsed.failure(CustomerView(), None, now=T0, lapse_days=90)


def test_order_facts_are_left_out_when_asked_not_to_check_them():
    parsed = book_with(rule(conditions={"gift_order": False})).rules[0].conditions
    assert parsed.failure(VIEW, ORDER, now=T0, lapse_days=90, orders=False) is None


@pytest.mark.parametrize(
    ("spoken", "wanted", "matches"),
    [("ja", "ja", True), ("JA_jp", "ja", True), ("jam", "ja", False), ("pt_BR", "pt-br", True), ("pt", "pt-br", False)],
)
def test_language_condition_matches_the_primary_language(spoken, wanted, matches):
    parsed = book_with(rule(conditions={"language": wanted})).rules[0].conditions
    view = CustomerView(language=spoken)
    assert (parsed.failure(view, None, now=T0, lapse_days=90) is None) is matches


# --- conditions when planning -----------------------------------------------------------


def test_planned_only_when_the_condition_holds_with_the_reason_kept_for_the_rest():
    book = book_with(
        rule("gift_day3", days=3, conditions={"gift_order": True}),
        rule("plain_day3", days=3, conditions={"gift_order": False}),
    )
    held: dict[str, str] = {}
    assert keys(book, [buy(1, gift=True)], held_back=held) == {"gift_day3"}
    assert held == {"plain_day3": "condition does not hold: order o1 is a gift, rule wants no gift"}
    assert keys(book, [buy(1)]) == {"plain_day3"}


def test_stage_condition_reads_the_history_when_no_view_is_given():
    book = book_with(rule("campaign_second", "purchase_count", count=2, conditions={"stage": "CAMPAIGN_ONLY"}))
    assert keys(book, [buy(1, discounted=True), buy(2, discounted=True)]) == {"campaign_second"}
    assert keys(book, [buy(1, discounted=True), buy(2)]) == set()


def test_the_given_view_is_what_conditions_see():
    book = book_with(rule("ja_only", conditions={"language": "ja", "customer": "guest"}))
    assert keys(book, [buy(1)], customer=CustomerView(language="ja")) == {"ja_only"}
    assert keys(book, [buy(1)], customer=CustomerView(language="en")) == set()


def test_a_held_back_scheduled_touchpoint_is_cancelled_with_the_conditions_words():
    existing = {"r": ExistingTouchpoint("r", "r", "SCHEDULED", T0 + 3 * D)}
    changes = diff_outbox([], existing, late_before=T0, backfill=False, held_back={"r": "condition does not hold: x"})
    assert [(c.key, c.reason) for c in changes.cancel] == [("r", "condition does not hold: x")]


def test_the_default_examples_are_switched_off_and_hold_for_their_layer():
    book = RuleBook.default()
    gift, campaign = book.rule("step_day3_gift"), book.rule("campaign_second_purchase")
    assert not gift.active and not campaign.active
    assert gift.conditions.gift_order is True and campaign.conditions.stages == {FanStage.CAMPAIGN_ONLY}
    on = copy.deepcopy(DEFAULT_RULES)
    for raw in on["rules"]:
        raw["active"] = True
    live = RuleBook.from_data(on)
    assert "step_day3_gift" in keys(live, [buy(1, gift=True)], now=T0)
    assert "step_day3_gift" not in keys(live, [buy(1)], now=T0)
    assert "campaign_second_purchase" in keys(live, [buy(1, discounted=True), buy(2, discounted=True)], now=T0)


@given(
    purchases=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6),
    stages=st.sets(st.sampled_from(list(FanStage)), min_size=1),
)
@settings(max_examples=60, deadline=None)
def test_a_stage_condition_keeps_exactly_the_occurrences_of_customers_in_those_stages(purchases, stages):
    history = [buy(n, discounted=d, gift=g) for n, (d, g) in enumerate(purchases, start=1)]
    plain = book_with(*[rule(f"r{n}", "purchase_count", count=n) for n in range(1, 7)])
    conditional = book_with(
        *[rule(f"r{n}", "purchase_count", count=n, conditions={"stage": sorted(stages)}) for n in range(1, 7)]
    )
    expected = keys(plain, history) if stage_for(history) in stages else set()
    assert keys(conditional, history) == expected


# --- bad rule books -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (rule(conditions={"stage": "VIP"}), r"rules\[0\]\.conditions\.stage: unknown stage 'VIP'"),
        (
            rule(conditions={"engagement": "HIGH/TOP"}),
            r"rules\[0\]\.conditions\.engagement: unknown engagement cell or class 'HIGH/TOP'",
        ),
        (rule(conditions={"mood": "happy"}), r"rules\[0\]\.conditions\.mood: unknown condition"),
        (rule(conditions={"nps": ["FAN"]}), r"rules\[0\]\.conditions\.nps: unknown NPS category 'FAN'"),
        (
            rule(trigger="lapsed", conditions={"discounted_order": True}),
            r"conditions\.discounted_order: lapsed rules have no triggering order",
        ),
        (
            rule(trigger="nps", category="PROMOTER", conditions={"gift_order": True}),
            r"conditions\.gift_order: nps rules have no triggering order",
        ),
        (
            rule(trigger="anniversary", conditions={"channel": "jp"}),
            r"conditions\.channel: anniversary rules have no triggering order",
        ),
        (
            rule(trigger="engagement_entry", engagement="CORE", conditions={"discounted_order": False}),
            r"engagement_entry rules have no triggering order",
        ),
        (rule(conditions={"stage": 3}), r"conditions\.stage: must be a stage or a non-empty list of them, got 3"),
        (rule(conditions={"stage": []}), r"conditions\.stage: must be a stage or a non-empty list"),
        (rule(conditions={"lapsed": "yes"}), r"conditions\.lapsed: must be true or false, got 'yes'"),
        (rule(conditions={"customer": "member"}), r'conditions\.customer: must be "account" or "guest"'),
        (
            rule(conditions={"purchase_count": {"min": 4, "max": 2}}),
            r"conditions\.purchase_count: min 4 is more than max 2",
        ),
        (rule(conditions={"purchase_count": {"min": -1}}), r"conditions\.purchase_count\.min: must be a whole number"),
        (rule(conditions={"purchase_count": 3}), r"conditions\.purchase_count: must be"),
        (rule(conditions={"language": ["ja\x00"]}), r"conditions\.language: .* is not a language code"),
        (rule(conditions=["stage"]), r"rules\[0\]\.conditions must be an object"),
        (rule(trigger="stage_entry", stage="VIP"), r"\(r\): unknown stage 'VIP'"),
        (rule(trigger="stage_entry"), r"\(r\): unknown stage None"),
        (rule(trigger="engagement_entry", engagement="WARM"), r"unknown engagement cell or class 'WARM'"),
        (rule(stage="LOYAL"), r"'stage' only applies to stage_entry rules"),
        (rule(engagement="CORE"), r"'engagement' only applies to engagement_entry rules"),
    ],
)
def test_a_bad_condition_or_trigger_is_refused_naming_the_entry(bad, message):
    with pytest.raises(RuleBookError, match=message):
        book_with(bad)


def test_a_book_with_conditions_and_new_triggers_survives_its_own_json():
    book = book_with(
        rule("a", conditions={"stage": ["LOYAL", "SECOND_TIME"], "lapsed": False, "purchase_count": {"min": 2}}),
        rule("b", "stage_entry", stage="LOYAL", days=2, conditions={"discounted_order": False, "language": "ja"}),
        rule("c", "engagement_entry", engagement="HIGH/HIGH", conditions={"customer": "account", "nps": "PROMOTER"}),
        rule("d", "anniversary", days=1, conditions={"engagement": "CORE"}),
    )
    assert RuleBook.from_data(book.to_data()) == book


# --- stage entry -----------------------------------------------------------------------------


def test_becoming_loyal_fires_once_keyed_by_the_entry():
    book = book_with(rule("loyal", "stage_entry", stage="LOYAL", days=1))
    history = [buy(1), buy(2), buy(3), buy(4)]
    plan = plan_touchpoints(book, history, now=T0)
    assert [(tp.key, tp.order_id, tp.due_at) for tp in plan] == [("loyal:stage:LOYAL:1", "o3", T0 + 4 * D)]
    assert keys(book, history[:2]) == set()


def test_a_cancelled_order_moves_the_entry_to_the_order_that_made_it_and_keeps_its_key():
    book = book_with(rule("loyal", "stage_entry", stage="LOYAL"))
    plan = plan_touchpoints(book, [buy(1), buy(2), buy(3, cancelled=True), buy(4)], now=T0)
    assert [(tp.key, tp.order_id) for tp in plan] == [("loyal:stage:LOYAL:1", "o4")]


def test_campaign_only_buyer_who_pays_full_price_enters_the_next_stage():
    book = book_with(
        rule("campaign", "stage_entry", stage="CAMPAIGN_ONLY"),
        rule("second", "stage_entry", stage="SECOND_TIME"),
        rule("loyal", "stage_entry", stage="LOYAL"),
    )
    history = [buy(1, discounted=True), buy(2, discounted=True), buy(3)]
    assert keys(book, history) == {"campaign:stage:CAMPAIGN_ONLY:1", "loyal:stage:LOYAL:1"}


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=8))
@settings(max_examples=80, deadline=None)
def test_stage_entries_follow_the_stage_ladder(flags):
    history = [buy(n, discounted=d, cancelled=c) for n, (d, c) in enumerate(flags, start=1)]
    entries = stage_entries(history)
    real = [p for p in history if p.counts]
    stages_after = [stage_for(real[: i + 1]) for i in range(len(real))]
    changes = [(s, real[i]) for i, s in enumerate(stages_after) if i == 0 or stages_after[i - 1] != s]
    assert [(e.stage, e.purchase) for e in entries] == changes
    assert all(e.number == 1 for e in entries)  # each stage is entered at most once along one history


# --- engagement entry ------------------------------------------------------------------------


def fan(day: int, degree: FanDegree, liking: Liking) -> FanSurveyAnswer:
    return FanSurveyAnswer(degree, liking, T0 + day * D)


def test_entering_an_engagement_class_fires_once_per_entry():
    book = book_with(rule("core", "engagement_entry", engagement="CORE", days=2))
    answers = [
        fan(1, FanDegree.PART_OF_LIFE, Liking.ADORE),  # HIGH/HIGH: CORE, entry 1
        fan(100, FanDegree.WANT_TO_HELP, Liking.LIKE),  # HIGH/MID: still CORE, no new entry
        fan(200, FanDegree.NOT_A_FAN, Liking.NEUTRAL),  # LOW/LOW: left
        fan(300, FanDegree.MORE_THAN_EVER, Liking.LOVE),  # MID/HIGH: CORE again, entry 2
    ]
    plan = plan_touchpoints(book, [buy(1)], now=T0, fan_answers=answers)
    assert [(tp.key, tp.due_at) for tp in plan] == [
        ("core:engagement:CORE:1", T0 + 3 * D),
        ("core:engagement:CORE:2", T0 + 302 * D),
    ]


def test_entering_a_fine_cell_needs_that_cell():
    book = book_with(rule("top", "engagement_entry", engagement="HIGH/HIGH"))
    assert keys(book, [], fan_answers=[fan(1, FanDegree.WANT_TO_HELP, Liking.LIKE)]) == set()
    assert keys(book, [], fan_answers=[fan(1, FanDegree.WANT_TO_HELP, Liking.LOVE)]) == {"top:engagement:HIGH/HIGH:1"}


def test_engagement_and_nps_conditions_read_the_latest_answers_of_the_history():
    book = book_with(rule("promoter_core", conditions={"nps": "PROMOTER", "engagement": "CORE"}))
    answers = [NpsAnswer("o1", 3, T0 + D), NpsAnswer("window-1", 10, T0 + 5 * D)]
    core = [fan(2, FanDegree.PART_OF_LIFE, Liking.ADORE)]
    assert keys(book, [buy(1)], nps_answers=answers, fan_answers=core) == {"promoter_core"}
    assert keys(book, [buy(1)], nps_answers=answers[:1], fan_answers=core) == set()


# --- anniversary -----------------------------------------------------------------------------


def test_the_latest_anniversary_within_the_lookahead_is_planned_keyed_by_its_year():
    book = book_with(rule("anniversary", "anniversary"))
    first = buy(1, day=0)
    assert keys(book, [first], now=T0 + 300 * D) == set()
    assert keys(book, [first], now=add_years(T0, 1) - 3 * D) == {"anniversary:year:1"}
    plan = plan_touchpoints(book, [first, buy(2, day=500)], now=add_years(T0, 3) + 30 * D)
    assert [(tp.key, tp.due_at, tp.order_id) for tp in plan] == [("anniversary:year:3", add_years(T0, 3), None)]


def test_a_first_purchase_on_the_29th_of_february_has_its_anniversary_on_the_28th():
    leap = datetime(2028, 2, 29, 9, tzinfo=UTC)
    assert latest_anniversary(leap, now=datetime(2029, 3, 1, tzinfo=UTC), delay=timedelta(0)) == (
        1,
        datetime(2029, 2, 28, 9, tzinfo=UTC),
    )
    assert add_years(leap, 4) == datetime(2032, 2, 29, 9, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=30))
@settings(max_examples=100, deadline=None)
def test_the_planned_anniversary_is_never_beyond_the_lookahead_nor_a_year_stale(offset, delay_days):
    now = T0 + offset * D
    found = latest_anniversary(T0, now=now, delay=timedelta(days=delay_days))
    if found is None:
        assert add_years(T0, 1) + timedelta(days=delay_days) > now + timedelta(days=7)
        return
    years, due = found
    assert due == add_years(T0, years) + timedelta(days=delay_days)
    assert due <= now + timedelta(days=7) < add_years(T0, years + 1) + timedelta(days=delay_days)
