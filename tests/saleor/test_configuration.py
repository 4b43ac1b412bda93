"""Dashboard configuration through Saleor's own pluginUpdate mutation."""

from __future__ import annotations

import json

import pytest
from saleor.plugins.models import PluginConfiguration

from saleor_conveyor.hosts import get_host
from saleor_conveyor.plugin import ConveyorPlugin

PLUGIN_UPDATE = """
mutation pluginUpdate($id: ID!, $active: Boolean, $configuration: [ConfigurationItemInput!]) {
  pluginUpdate(id: $id, input: {active: $active, configuration: $configuration}) {
    plugin { globalConfiguration { active configuration { name value } } }
    errors { field message code }
  }
}
"""
PLUGIN_QUERY = """
query plugin($id: ID!) { plugin(id: $id) { globalConfiguration { active configuration { name value } } } }
"""


@pytest.fixture
def admin(staff_api_client, permission_manage_plugins):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    return staff_api_client


def update(client, active=None, **values):
    variables = {
        "id": ConveyorPlugin.PLUGIN_ID,
        "configuration": [{"name": name, "value": value} for name, value in values.items()],
    }
    if active is not None:
        variables["active"] = active
    return client.post_graphql(PLUGIN_UPDATE, variables).json()["data"]["pluginUpdate"]


def shown(client) -> dict:
    """What the Dashboard shows for the plugin."""
    data = client.post_graphql(PLUGIN_QUERY, {"id": ConveyorPlugin.PLUGIN_ID}).json()["data"]["plugin"]
    config = data["globalConfiguration"]
    return {"active": config["active"], **{item["name"]: item["value"] for item in config["configuration"]}}


def stored() -> tuple:
    row = PluginConfiguration.objects.get(identifier=ConveyorPlugin.PLUGIN_ID)
    return row.active, row.configuration


def test_the_dashboard_lists_every_setting_with_the_methods_defaults(conveyor_installed, admin):
    values = shown(admin)

    assert values["active"] is False
    assert set(values) - {"active"} == set(ConveyorPlugin.CONFIG_STRUCTURE)
    assert values["lapse_days"] == "90" and values["quiet_hours"] == "21:00-08:00"
    assert values["time_zone"] == "Asia/Tokyo"
    assert json.loads(values["amount_tiers"])["vip"] == {"JPY": 20000}
    assert [rule["name"] for rule in json.loads(values["rule_book"])["rules"]][:3] == [
        "step_day3",
        "step_day7",
        "step_day14",
    ]


def test_activating_with_valid_settings_saves_them_and_the_conveyor_uses_them(conveyor_installed, admin, voucher):
    voucher.single_use = True
    voucher.save(update_fields=["single_use"])
    assert get_host().config().lapse_days == 90

    data = update(
        admin,
        active=True,
        lapse_days="60",
        sender_email="owner@shop.example",
        storefront_url="https://shop.example/",
        vip_voucher="mirumee",
        quiet_hours="",
        amount_tiers=json.dumps({"card": {"USD": 50}, "vip": {"USD": 150}, "cocreate": {"USD": 250}}),
    )

    assert data["errors"] == []
    assert data["plugin"]["globalConfiguration"]["active"] is True
    config = get_host().config()
    assert config.lapse_days == 60 and config.sender_email == "owner@shop.example"
    assert config.storefront_url == "https://shop.example" and config.vip_voucher == "mirumee"
    assert config.quiet_hours is None
    assert str(config.rule_book.amount_tiers["vip"]["USD"]) == "150"


@pytest.mark.parametrize(
    ("setting", "value", "field", "words"),
    [
        ("rule_book", '{"rules": [', "ruleBook", "Rule book: is not valid JSON"),
        ("rule_book", '{"rules": [{"name": "x", "trigger": "someday", "kind": "EMAIL"}]}', "ruleBook", "someday"),
        (
            "rule_book",
            '{"rules": [{"name": "x", "trigger": "first_purchase", "kind": "EMAIL", "conditions": {"stage": "VIP"}}]}',
            "ruleBook",
            "rules[0].conditions.stage: unknown stage 'VIP'",
        ),
        ("amount_tiers", '{"vip": {"USD": -5}}', "ruleBook", "positive amount"),
        ("lapse_days", "soon", "lapseDays", "whole number"),
        ("sender_email", "not-an-address", "senderEmail", "not a valid email"),
        ("storefront_url", "shop.example", "storefrontUrl", "https://shop.example.com"),
        ("quiet_hours", "9pm-8am", "quietHours", "21:00-08:00"),
        ("time_zone", "Mars/Olympus", "timeZone", "Asia/Tokyo"),
        ("vip_voucher", "NO-SUCH-CODE", "vipVoucher", "no voucher matches"),
        ("referral_voucher", "mirumee", "referralVoucher", "not single-use"),
    ],
)
def test_an_invalid_setting_is_refused_with_words_an_admin_understands_and_changes_nothing(
    conveyor_enabled, admin, voucher, setting, value, field, words
):
    before = stored()
    host_config = get_host().config()

    data = update(admin, active=False, **{setting: value})

    [error] = data["errors"]
    assert error["field"] == field and error["code"] == "INVALID"
    assert words in error["message"]
    assert data["plugin"] is None
    assert stored() == before  # still active, old values
    assert get_host().config() == host_config


def test_a_refused_first_save_leaves_the_plugin_as_it_was(conveyor_installed, admin):
    before = shown(admin)

    data = update(admin, active=True, time_zone="Nowhere/Else")

    assert data["errors"][0]["field"] == "timeZone"
    # Saleor creates the row before validating; it holds the defaults and stays inactive,
    # which is exactly what the Dashboard showed before the save.
    assert shown(admin) == before
    active, configuration = stored()
    assert active is False
    assert {item["name"]: item["value"] for item in configuration}["time_zone"] == "Asia/Tokyo"


def test_emptied_numbers_fall_back_to_the_methods_defaults(conveyor_enabled, admin):
    data = update(admin, active=True, lapse_days="", return_window_days="")

    assert data["errors"] == []
    config = get_host().config()
    assert config.lapse_days == 90 and config.return_window_days == 30


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        [{"name": "lapse_days", "value": "60"}],
        [{"name": "lapse_days", "value": "60"}, {"name": "retired_setting", "value": "x"}],
        [{"name": name, "value": ""} for name in ConveyorPlugin.CONFIG_STRUCTURE],
    ],
)
def test_the_hosts_merge_of_the_stored_configuration_is_saleors_own(stored):
    """The host reads the stored configuration outside a hook; it must merge it as Saleor merges it for the plugin."""
    from saleor_conveyor.saleor.configuration import merged_configuration

    saleors = ConveyorPlugin._update_configuration_structure(stored if isinstance(stored, list) else [])
    assert sorted(merged_configuration(stored), key=str) == sorted(saleors, key=str)


def test_the_entry_point_name_is_the_plugin_in_the_saleor_folder():
    from saleor_conveyor.plugin import ConveyorPlugin as by_entry_point
    from saleor_conveyor.saleor.plugin import ConveyorPlugin as itself

    assert by_entry_point is itself
