"""Rule conditions and the layer triggers through the service: planned only for the layer, once per entry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from saleor_conveyor import conveyor
from saleor_conveyor.engine.occasions import add_years
from saleor_conveyor.engine.rules import DEFAULT_RULES
from saleor_conveyor.events import FanSurveyAnswered
from saleor_conveyor.models import FanProfile, Purchase, Touchpoint
from saleor_conveyor.saleor.orders import is_gift

from .factories import T0, customer, days, placed

pytestmark = pytest.mark.django_db


def use_rules(settings, *, on: tuple[str, ...] = (), add: tuple[dict[str, Any], ...] = (), change=None) -> None:
    """The default rule book with these rules switched on, these added, and `change(rules)` applied."""
    book = copy.deepcopy(DEFAULT_RULES)
    for rule in book["rules"]:
        if rule["name"] in on:
            rule["active"] = True
    book["rules"].extend(add)
    if change is not None:
        change({rule["name"]: rule for rule in book["rules"]})
    settings.CONVEYOR = {**settings.CONVEYOR, "rule_book": book}


def keys(email: str = "hanako@example.com", rule: str | None = None) -> dict[str, tuple[str, str]]:
    rows = Touchpoint.objects.filter(profile__email=email)
    if rule is not None:
        rows = rows.filter(rule=rule)
    return {tp.key: (tp.status, tp.outcome) for tp in rows}


def order(at, email="hanako@example.com", **extra) -> None:
    event = placed(at=at, who=customer(email, language_code=extra.pop("language_code", "")), **extra)
    conveyor.record_order_placed(event, now=at)


def test_a_campaign_only_buyer_gets_the_full_price_reason_and_a_regular_buyer_does_not(settings):
    use_rules(settings, on=("campaign_second_purchase",))
    order(T0, discounted=True)
    order(T0 + days(10), discounted=True)
    order(T0, "taro@example.com", discounted=True)
    order(T0 + days(10), "taro@example.com")
    assert "campaign_second_purchase" in keys()
    assert "campaign_second_purchase" not in keys("taro@example.com")
    assert "second_purchase" in keys("taro@example.com")


def test_a_gift_order_is_recorded_and_gets_the_gift_day3_mail(settings):
    use_rules(
        settings,
        on=("step_day3_gift",),
        change=lambda rules: rules["step_day3"].update(conditions={"gift_order": False}),
    )
    order(T0, gift=True)
    order(T0, "taro@example.com")
    assert Purchase.objects.get(profile__email="hanako@example.com").gift is True
    assert {"step_day3_gift"} <= set(keys()) and "step_day3" not in keys()
    assert "step_day3" in keys("taro@example.com") and "step_day3_gift" not in keys("taro@example.com")


def test_a_scheduled_touchpoint_whose_condition_stops_holding_is_cancelled_with_the_reason(settings):
    use_rules(settings, change=lambda rules: rules["step_day14"].update(conditions={"stage": "FIRST_TIME"}))
    order(T0)
    assert keys(rule="step_day14") == {"step_day14": ("SCHEDULED", "")}
    order(T0 + days(2))
    assert keys(rule="step_day14") == {
        "step_day14": ("CANCELLED", "condition does not hold: stage is SECOND_TIME, rule wants FIRST_TIME")
    }


def test_becoming_loyal_is_planned_once_per_entry(settings):
    use_rules(settings, on=("loyal_recognition",))
    for n in range(3):
        order(T0 + days(n))
    assert keys(rule="loyal_recognition") == {"loyal_recognition:stage:LOYAL:1": ("SCHEDULED", "")}
    order(T0 + days(5))
    conveyor.rebuild_profile(FanProfile.objects.get().id, now=T0 + days(6))
    assert list(keys(rule="loyal_recognition")) == ["loyal_recognition:stage:LOYAL:1"]


def test_entering_the_core_class_after_the_fan_survey_is_planned_once_per_entry(settings):
    use_rules(settings, on=("core_fan_invitation",))
    order(T0)
    answer = FanSurveyAnswered(customer(), "PART_OF_LIFE", "ADORE", T0 + days(22))
    conveyor.record_fan_survey(answer, now=T0 + days(22))
    conveyor.record_fan_survey(answer, now=T0 + days(22))  # the same answer again changes nothing
    assert keys(rule="core_fan_invitation") == {"core_fan_invitation:engagement:CORE:1": ("SCHEDULED", "")}
    conveyor.record_fan_survey(FanSurveyAnswered(customer(), "NEW_FAN", "LIKE", T0 + days(130)), now=T0 + days(130))
    assert list(keys(rule="core_fan_invitation")) == ["core_fan_invitation:engagement:CORE:1"]


def test_the_daily_scan_plans_each_anniversary_once_and_only_for_admitted_customers(settings):
    use_rules(
        settings,
        on=("purchase_anniversary",),
        change=lambda rules: rules["purchase_anniversary"].update(conditions={"customer": "guest"}),
    )
    order(T0)
    order(T0, "taro@example.com")
    FanProfile.objects.create(email="sato@example.com", user=None)  # no purchase: no anniversary
    order(T0 + days(30), "jiro@example.com")
    near = add_years(T0, 1) - days(3)
    assert conveyor.schedule_anniversaries(now=near) == 2
    assert conveyor.schedule_anniversaries(now=near + days(1)) == 0
    assert keys(rule="purchase_anniversary") == {"purchase_anniversary:year:1": ("SCHEDULED", "")}
    assert not keys("jiro@example.com", rule="purchase_anniversary")  # a month later: not due yet
    assert conveyor.schedule_anniversaries(now=add_years(T0, 1) + days(29)) == 1  # jiro's, within a week
    assert conveyor.schedule_anniversaries(now=add_years(T0, 2) - days(1)) == 2
    assert set(keys(rule="purchase_anniversary")) == {"purchase_anniversary:year:1", "purchase_anniversary:year:2"}


def test_the_anniversary_scan_leaves_out_customers_the_conditions_refuse(settings):
    use_rules(
        settings,
        on=("purchase_anniversary",),
        change=lambda rules: rules["purchase_anniversary"].update(conditions={"language": "ja"}),
    )
    order(T0, language_code="en")
    order(T0, "taro@example.com", language_code="ja-JP")
    assert conveyor.schedule_anniversaries(now=add_years(T0, 1)) == 1
    assert not keys(rule="purchase_anniversary")
    assert list(keys("taro@example.com", rule="purchase_anniversary")) == ["purchase_anniversary:year:1"]


def test_the_lapse_scan_plans_only_customers_the_conditions_admit_and_is_not_stuck_on_the_rest(settings):
    use_rules(settings, change=lambda rules: rules["winback_survey"].update(conditions={"language": "ja"}))
    for n in range(5):
        order(T0, f"en{n}@example.com", language_code="en")
    order(T0, "taro@example.com", language_code="ja")
    assert conveyor.schedule_lapsed(now=T0 + days(91), batch_size=2) == 1
    assert Touchpoint.objects.filter(rule="winback_survey").get().profile.email == "taro@example.com"


@pytest.mark.parametrize(
    ("value", "gift"), [("true", True), (" Yes ", True), ("1", True), ("false", False), (None, False), (True, False)]
)
def test_saleor_orders_are_gifts_when_their_metadata_says_so(value, gift):
    assert is_gift(value) is gift


# --- the rule book as the Dashboard and the sandbox settings give it --------------------------


def test_the_dashboards_default_json_with_conditions_reads_back_as_the_default_book():
    import json

    from saleor_conveyor.config import ConveyorConfig
    from saleor_conveyor.engine import RuleBook

    shown = json.dumps({"rules": DEFAULT_RULES["rules"]}, indent=2, ensure_ascii=False)  # the plugin's default text
    assert '"conditions"' in shown and '"stage_entry"' in shown
    tiers = json.dumps(DEFAULT_RULES["amount_tiers"])
    assert ConveyorConfig.from_data({"rule_book": shown, "amount_tiers": tiers}).rule_book == RuleBook.default()


def test_a_bad_condition_in_the_settings_is_refused_naming_the_entry():
    from saleor_conveyor.config import ConfigError, ConveyorConfig

    bad = '{"rules": [{"name": "x", "trigger": "lapsed", "kind": "EMAIL", "conditions": {"gift_order": true}}]}'
    with pytest.raises(ConfigError, match=r"rules\[0\]\.conditions\.gift_order: lapsed rules have no triggering order"):
        ConveyorConfig.from_data({"rule_book": bad})


def test_every_condition_and_trigger_has_its_row_in_the_rules_page():
    from pathlib import Path

    from saleor_conveyor.engine.conditions import CONDITIONS
    from saleor_conveyor.engine.rules import TRIGGERS

    page = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in page.splitlines() if line.startswith("| `")}
    assert set(CONDITIONS) <= rows
    assert {"stage_entry", "engagement_entry", "anniversary"} <= rows
    extending = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text()
    assert all(f"`{trigger}`" in extending for trigger in TRIGGERS)
