"""The rule book checked as a whole (one issue per bad entry, each with its path) and the changes between books."""

from __future__ import annotations

import copy

import pytest

from saleor_conveyor.engine import DEFAULT_RULES, RuleBook, RuleBookError, check_rule_book, error_path
from saleor_conveyor.engine.rules import describe_changes


def test_the_default_book_has_no_issue():
    assert check_rule_book(DEFAULT_RULES) == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"days": -1}, "rules[0].days"),
        ({"cooldown_days": "x"}, "rules[0].cooldown_days"),
        ({"trigger": "someday"}, "rules[0].trigger"),
        ({"kind": "FAX"}, "rules[0].kind"),
        ({"count": 2}, "rules[0].count"),
        ({"tier": "card"}, "rules[0].tier"),
        ({"category": "PROMOTER"}, "rules[0].category"),
        ({"once": "yes"}, "rules[0].once"),
        ({"template": "Bad Name"}, "rules[0].template"),
        ({"description": 5}, "rules[0].description"),
        ({"stage": "LOYAL"}, "rules[0].stage"),
        ({"engagement": "CORE"}, "rules[0].engagement"),
        ({"colour": "red"}, "rules[0].colour"),
        ({"conditions": {"stage": "VIP"}}, "rules[0].conditions.stage"),
        ({"conditions": []}, "rules[0].conditions"),
        ({"holdout": 0.9, "experiment": "e1"}, "rules[0].holdout"),
        (
            {"variants": [{"name": "a", "template": "b", "weight": 2}], "experiment": "e1"},
            "rules[0].variants[0].weight",
        ),
        ({"kind": "BADGE"}, "rules[0].badge"),
        ({"kind": "COUPON"}, "rules[0].voucher"),
    ],
)
def test_each_bad_field_of_a_rule_is_named_by_its_path_as_from_data_words_it(change, path):
    book = copy.deepcopy(DEFAULT_RULES)
    book["rules"][0].update(change)
    issues = check_rule_book(book)
    assert [issue.path for issue in issues] == [path]
    with pytest.raises(RuleBookError) as refused:
        RuleBook.from_data(book)
    assert str(refused.value) == issues[0].message and error_path(str(refused.value)) == path


def test_every_bad_entry_is_told_at_once_and_a_bad_tier_does_not_also_blame_its_rules():
    book = copy.deepcopy(DEFAULT_RULES)
    book["lapse_days"] = 0
    book["amount_tiers"]["card"] = {"JPY": -1}
    book["rules"][0]["days"] = -1
    book["rules"][2]["name"] = "step_day3"
    paths = [issue.path for issue in check_rule_book(book)]
    assert paths == ["lapse_days", "amount_tiers.card.JPY", "rules[0].days", "rules[2].name"]


def test_the_changes_between_two_books_are_one_line_each():
    before = RuleBook.default().to_data()
    after = copy.deepcopy(before)
    after["lapse_days"] = 60
    after["amount_tiers"]["card"]["USD"] = "100"
    after["rules"][1]["days"] = 10
    after["rules"][1]["active"] = False
    removed = after["rules"].pop()
    after["rules"].append({"name": "new_rule", "trigger": "first_purchase", "kind": "EMAIL"})
    assert describe_changes(before, after) == [
        "lapse_days: 90 → 60",
        "amount_tiers.card.USD: — → 100",
        "step_day7.days: 7 → 10",
        "step_day7.active: true → false",
        "rule new_rule added",
        f"rule {removed['name']} removed",
    ]
    assert describe_changes(before, before) == []
