"""The rule editor inside Saleor: a rule edited in the console is written to the plugin's configuration with
Saleor's own save, so the Dashboard's plugin page shows it, and the conveyor's ruleBook query reads it back."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from saleor.core.jwt import create_access_token
from saleor.plugins.models import PluginConfiguration

from saleor_conveyor.console import auth
from saleor_conveyor.console.rules import form_from_book
from saleor_conveyor.hosts import get_host
from saleor_conveyor.models import RuleBookChange
from saleor_conveyor.plugin import ConveyorPlugin

ROOT = "/plugins/global/conveyor.crm/"
RULES = f"{ROOT}console/rules/"
PLUGIN_QUERY = "query plugin($id: ID!) { plugin(id: $id) { globalConfiguration { configuration { name value } } } }"
RULE_BOOK = "{ ruleBook { json updatedBy rules { name active } } }"


@pytest.fixture
def editor(staff_user, permission_manage_plugins):
    staff_user.user_permissions.add(permission_manage_plugins)
    return staff_user


def stored() -> dict:
    row = PluginConfiguration.objects.get(identifier=ConveyorPlugin.PLUGIN_ID)
    return {item["name"]: item["value"] for item in row.configuration}


def the_form(user, **changes: str) -> dict:
    """The page's form for the book in force, as the Dashboard's iframe posts it (the session in `s`)."""
    values = form_from_book(get_host().config().rule_book.to_data())
    values.update(changes, action="save")
    values[auth.SESSION_PARAM] = auth.session_token(user, auth.VIA_DASHBOARD)
    return values


def index_of(name: str) -> int:
    return [rule.name for rule in get_host().config().rule_book.rules].index(name)


def test_a_rule_edited_in_the_console_is_saleors_plugin_configuration_and_reads_back(
    conveyor_enabled, editor, staff_api_client, permission_manage_plugins, django_capture_on_commit_callbacks
):
    i = index_of("step_day7")
    form = the_form(editor, **{f"r{i}-days": "10", f"r{i}-c0-key": "customer", f"r{i}-c0-value": "account"})
    form["lapse_days"] = "60"
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(RULES + "?lang=en", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    values = stored()
    step_day7 = next(rule for rule in json.loads(values["rule_book"])["rules"] if rule["name"] == "step_day7")
    assert step_day7["days"] == 10 and step_day7["conditions"] == {"customer": "account"}
    assert values["lapse_days"] == "60" and json.loads(values["amount_tiers"])["card"]["USD"] == 100
    # The Dashboard's plugin page (Saleor's own plugin query) shows the same values.
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    shown = staff_api_client.post_graphql(PLUGIN_QUERY, {"id": ConveyorPlugin.PLUGIN_ID}).json()
    dashboard = {
        item["name"]: item["value"] for item in shown["data"]["plugin"]["globalConfiguration"]["configuration"]
    }
    assert dashboard["rule_book"] == values["rule_book"] and dashboard["lapse_days"] == "60"
    # Every process reads it again, and the conveyor's API answers with it.
    assert get_host().config().rule_book.rule("step_day7").days == 10
    change = RuleBookChange.objects.get()
    assert change.changed_by == editor.email and change.rebuild_outcome == "done"  # Saleor's Celery is eager here
    answer = (
        Client()
        .post(
            f"{ROOT}graphql/",
            data=json.dumps({"query": RULE_BOOK}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"JWT {create_access_token(editor)}",
        )
        .json()
    )
    book = json.loads(answer["data"]["ruleBook"]["json"])
    assert next(rule for rule in book["rules"] if rule["name"] == "step_day7")["days"] == 10
    assert book["lapse_days"] == 60 and answer["data"]["ruleBook"]["updatedBy"] == editor.email


def test_a_refused_edit_leaves_saleors_configuration_unchanged(conveyor_enabled, editor):
    before = stored()
    i = index_of("step_day7")
    response = Client().post(RULES + "?lang=en", the_form(editor, **{f"r{i}-days": "-3"}))
    assert response.status_code == 400 and f'id="r{i}-days-error"' in response.content.decode()
    assert stored() == before and RuleBookChange.objects.count() == 0


def test_staff_without_manage_plugins_cannot_edit_the_rules(conveyor_enabled, staff_user):
    before = stored()
    i = index_of("step_day7")
    response = Client().post(RULES, the_form(staff_user, **{f"r{i}-days": "10"}))
    assert response.status_code == 403 and stored() == before


def test_without_the_plugin_installed_the_save_is_not_found_and_nothing_is_kept(staff_user):
    from saleor_conveyor import conveyor

    book = get_host().config().rule_book.to_data()
    book["lapse_days"] = 61
    with pytest.raises(conveyor.ConveyorError) as refused:
        conveyor.update_rule_book(book, by="admin@example.com")
    assert refused.value.code == conveyor.ErrorCode.NOT_FOUND
    assert RuleBookChange.objects.count() == 0 and not PluginConfiguration.objects.exists()


def test_a_save_saleors_own_validation_refuses_is_invalid_on_json_and_nothing_is_kept(conveyor_enabled):
    from saleor_conveyor import conveyor

    row = PluginConfiguration.objects.get(identifier=ConveyorPlugin.PLUGIN_ID)
    for item in row.configuration:
        if item["name"] == "vip_voucher":
            item["value"] = "NO-SUCH-VOUCHER"  # stored before the voucher was deleted
    row.save()
    before = stored()
    book = get_host().config().rule_book.to_data()
    book["lapse_days"] = 61
    with pytest.raises(conveyor.ConveyorError) as refused:
        conveyor.update_rule_book(book, by="admin@example.com")
    assert refused.value.code == conveyor.ErrorCode.INVALID and refused.value.field == "json"
    assert "no voucher matches" in refused.value.message
    assert stored() == before and RuleBookChange.objects.count() == 0
