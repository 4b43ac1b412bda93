"""ruleBook and updateRuleBook (MANAGE_PLUGINS): the book in force, a save with its history, one error per bad
entry and nothing saved when refused, the rebuild that moves scheduled touchpoints."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from saleor_conveyor.conveyor import rule_book
from saleor_conveyor.engine import RuleBook
from saleor_conveyor.hosts import get_config
from saleor_conveyor.models import FanProfile, RuleBookChange, Touchpoint
from tests.factories import shop_order

from .helpers import snapshot

pytestmark = pytest.mark.django_db

QUERY = "{ ruleBook { json rules { name trigger kind active description } updatedAt updatedBy "
QUERY += "rebuild { done total finished outcome } } }"
UPDATE = """
mutation update($json: JSONString!) {
  updateRuleBook(json: $json) {
    ruleBook { json updatedAt updatedBy rules { name active } rebuild { done total finished } }
    errors { field code message }
  }
}
"""


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", staff_permissions=("manage_plugins",))


def book_in_force() -> dict:
    return get_config().rule_book.to_data()


def edited(**changes) -> dict:
    """The book in force with rule changes: {"step_day7": {"days": 10}}."""
    book = copy.deepcopy(book_in_force())
    for rule in book["rules"]:
        rule.update(changes.get(rule["name"], {}))
    return book


def rows() -> dict:
    return {**snapshot(), "RuleBookChange": list(RuleBookChange.objects.order_by("pk").values())}


def test_rule_book_reads_the_book_in_force_with_its_rules(api, admin):
    answer = api(QUERY, user=admin)
    assert answer.errors == []
    data = answer.data["ruleBook"]
    assert json.loads(data["json"]) == book_in_force()
    assert data["rules"][0] == {
        "name": "step_day3",
        "trigger": "first_purchase",
        "kind": "EMAIL",
        "active": True,
        "description": "Thanks, and how to use what you bought",
    }
    assert data["updatedAt"] is None and data["updatedBy"] is None and data["rebuild"] is None


def test_a_saved_book_is_in_force_with_who_and_when_and_a_history_row(api, admin):
    book = edited(step_day7={"days": 10})
    book["lapse_days"] = 60
    book["amount_tiers"]["card"]["USD"] = 120

    payload = api(UPDATE, {"json": json.dumps(book)}, user=admin).payload("updateRuleBook")

    assert payload["errors"] == []
    assert payload["ruleBook"]["updatedBy"] == "admin@example.com" and payload["ruleBook"]["updatedAt"]
    config = get_config()
    assert config.rule_book.rule("step_day7").days == 10 and config.lapse_days == 60
    assert str(config.rule_book.amount_tiers["card"]["USD"]) == "120"
    change = RuleBookChange.objects.get()
    assert change.changed_by == "admin@example.com"
    assert change.summary == ["lapse_days: 90 → 60", "amount_tiers.card.USD: 100 → 120", "step_day7.days: 7 → 10"]
    assert RuleBook.from_data(change.before).rule("step_day7").days == 7
    again = api(QUERY, user=admin).data["ruleBook"]
    assert json.loads(again["json"])["lapse_days"] == 60 and again["rebuild"]["finished"] is False


def test_saving_the_same_book_again_changes_nothing(api, admin):
    before = rows()
    payload = api(UPDATE, {"json": json.dumps(book_in_force())}, user=admin).payload("updateRuleBook")
    assert payload["errors"] == [] and payload["ruleBook"]["updatedAt"] is None
    assert rows() == before


def test_a_refused_book_answers_one_error_per_bad_entry_and_saves_nothing(api, admin):
    book = edited(
        step_day3={"days": -3},
        step_day7={"trigger": "someday"},
        step_day14={"conditions": {"stage": "VIP"}},
        fan_survey={"holdout": 0.9},
    )
    book["rules"][4]["variants"] = [{"name": "a", "template": "b", "weight": 0.4}]
    book["rules"][4]["experiment"] = "2026-05"
    book["lapse_days"] = 0
    book["amount_tiers"]["card"]["JPY"] = -1
    before = rows()

    payload = api(UPDATE, {"json": json.dumps(book)}, user=admin).payload("updateRuleBook")

    fields = [error["field"] for error in payload["errors"]]
    assert fields == [
        "lapse_days",
        "amount_tiers.card.JPY",
        "rules[0].days",
        "rules[1].trigger",
        "rules[2].conditions.stage",
        "rules[3].holdout",
        "rules[4].variants",
    ]
    assert {error["code"] for error in payload["errors"]} == {"INVALID"}
    assert "negative" in payload["errors"][2]["message"]
    assert payload["ruleBook"] is None
    assert rows() == before and get_config().rule_book.rule("step_day3").days == 3


@pytest.mark.parametrize(
    ("book", "field"),
    [
        ([1, 2], "json"),
        ({"rules": "none"}, "rules"),
        ({"rules": [], "colour": "red"}, "colour"),
        ({"rules": [{"name": "Bad Name", "trigger": "first_purchase", "kind": "EMAIL"}]}, "rules[0].name"),
        ({"rules": [{"name": "x", "trigger": "first_purchase", "kind": "EMAIL", "extra": 1}]}, "rules[0].extra"),
        ({"rules": [{"name": "x", "trigger": "first_purchase", "kind": "FAX"}]}, "rules[0].kind"),
        ({"rules": [{"name": "x", "trigger": "first_purchase", "kind": "EMAIL", "days": "3"}]}, "rules[0].days"),
        (
            {"rules": [{"name": "x", "trigger": "first_purchase", "kind": "EMAIL", "conditions": {"mood": "happy"}}]},
            "rules[0].conditions.mood",
        ),
        (
            {
                "rules": [
                    {"name": "x", "trigger": "first_purchase", "kind": "EMAIL"},
                    {"name": "x", "trigger": "first_purchase", "kind": "EMAIL"},
                ]
            },
            "rules[1].name",
        ),
        ({"amount_tiers": {"card": {"yen": 5}}, "rules": []}, "amount_tiers.card"),
    ],
)
def test_each_kind_of_bad_entry_is_named_by_its_path(api, admin, book, field):
    before = rows()
    payload = api(UPDATE, {"json": json.dumps(book)}, user=admin).payload("updateRuleBook")
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, "INVALID")]
    assert rows() == before


def test_json_that_does_not_parse_is_refused_before_the_resolver(api, admin):
    before = rows()
    answer = api(UPDATE, {"json": '{"rules": ['}, user=admin)
    assert answer.codes() == ["INVALID"] and rows() == before


def test_a_nul_byte_in_the_book_is_refused_and_saves_nothing(api, admin):
    book = edited(step_day7={"description": "tea\x00time"})
    before = rows()
    payload = api(UPDATE, {"json": json.dumps(book)}, user=admin).payload("updateRuleBook")
    assert [error["code"] for error in payload["errors"]] == ["INVALID"] and rows() == before


@pytest.mark.parametrize("who", ["customer", "staff_without_plugins", "nobody"])
def test_anyone_without_manage_plugins_is_refused_and_nothing_changes(api, make_user, staff, who):
    user = {"customer": make_user("hanako@example.com"), "staff_without_plugins": staff, "nobody": None}[who]
    before = rows()
    payload = api(UPDATE, {"json": json.dumps(edited(step_day7={"days": 10}))}, user=user).payload("updateRuleBook")
    assert [error["code"] for error in payload["errors"]] == ["PERMISSION_DENIED"]
    assert rows() == before and get_config().rule_book.rule("step_day7").days == 7
    read = api(QUERY, user=user)
    assert read.codes() == ["PERMISSION_DENIED"]


def test_the_rebuild_moves_a_scheduled_touchpoint_and_records_its_progress(api, admin, hanako):
    placed = timezone.now() - timedelta(days=1)
    shop_order(hanako, placed_at=placed)
    profile = FanProfile.objects.get(user=hanako)
    scheduled = Touchpoint.objects.get(profile=profile, rule="step_day7")
    assert scheduled.status == "SCHEDULED" and scheduled.due_at == placed + timedelta(days=7)

    api(UPDATE, {"json": json.dumps(edited(step_day7={"days": 12}))}, user=admin).payload("updateRuleBook")
    change = RuleBookChange.objects.get()
    assert Touchpoint.objects.get(pk=scheduled.pk).due_at == placed + timedelta(days=7)  # not before the rebuild

    rule_book.run_rebuild(change.pk, batch=1)

    assert Touchpoint.objects.get(pk=scheduled.pk).due_at == placed + timedelta(days=12)
    change.refresh_from_db()
    assert (change.rebuild_done, change.rebuild_total, change.rebuild_outcome) == (1, 1, "done")
    assert change.rebuild_finished_at is not None
    rule_book.run_rebuild(change.pk)  # a second run does nothing more
    change.refresh_from_db()
    assert change.rebuild_done == 1
    shown = api(QUERY, user=admin).data["ruleBook"]["rebuild"]
    assert shown == {"done": 1, "total": 1, "finished": True, "outcome": "done"}


def test_a_rebuild_that_stopped_resumes_where_it_stopped_and_no_longer_says_stopped(api, admin, make_user, monkeypatch):
    for n in range(3):
        shop_order(make_user(f"c{n}@example.com"))
    api(UPDATE, {"json": json.dumps(edited(step_day7={"days": 12}))}, user=admin).payload("updateRuleBook")
    change = RuleBookChange.objects.get()
    real = rule_book.rebuild_profile
    calls = []

    def second_customer_fails(profile_id, **kwargs):
        calls.append(profile_id)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(profile_id, **kwargs)

    monkeypatch.setattr(rule_book, "rebuild_profile", second_customer_fails)
    with pytest.raises(RuntimeError):
        rule_book.run_rebuild(change.pk, batch=1)
    change.refresh_from_db()
    assert (change.rebuild_done, change.rebuild_outcome) == (1, "stopped: RuntimeError")
    assert change.rebuild_finished_at is None
    monkeypatch.setattr(rule_book, "rebuild_profile", real)
    assert rule_book.rebuild_step(change.pk, batch=1)  # resumed: the stale word is gone at once
    change.refresh_from_db()
    assert (change.rebuild_done, change.rebuild_outcome) == (2, "")
    assert rule_book.run_rebuild(change.pk, batch=1).rebuild_outcome == "done"
    change.refresh_from_db()
    assert change.rebuild_done == change.rebuild_total == 3


def test_a_rebuild_made_obsolete_by_a_later_save_stops(api, admin):
    api(UPDATE, {"json": json.dumps(edited(step_day7={"days": 12}))}, user=admin).payload("updateRuleBook")
    api(UPDATE, {"json": json.dumps(edited(step_day7={"days": 13}))}, user=admin).payload("updateRuleBook")
    first, second = RuleBookChange.objects.order_by("created_at", "id")
    assert rule_book.run_rebuild(first.pk).rebuild_outcome == "superseded by a later change"
    assert rule_book.run_rebuild(second.pk).rebuild_outcome == "done"
    assert second.summary == ["step_day7.days: 12 → 13"]


def test_the_rebuild_is_started_after_commit_through_the_task(admin, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rule_book.update_rule_book(edited(step_day7={"days": 9}), by="admin@example.com")
    change = RuleBookChange.objects.get()
    assert change.rebuild_outcome == "done" and change.rebuild_finished_at is not None
