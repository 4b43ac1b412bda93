"""Fixtures of the Saleor tier: the plugin switched on, and helpers that drive Saleor's actions."""

from __future__ import annotations

import json

import pytest
from saleor.order.actions import order_created
from saleor.order.fetch import fetch_order_info
from saleor.plugins.manager import get_plugins_manager
from saleor.plugins.models import PluginConfiguration

from saleor_conveyor import hosts
from saleor_conveyor.plugin import ConveyorPlugin

PLUGIN_PATH = "saleor_conveyor.plugin.ConveyorPlugin"
# Saleor's fixture orders are in USD; give the amount triggers a USD column.
USD_TIERS = {
    "card": {"JPY": 10000, "USD": 100},
    "vip": {"JPY": 20000, "USD": 200},
    "cocreate": {"JPY": 30000, "USD": 300},
}


def plugin_configuration(**values: str) -> list[dict]:
    """The plugin's default configuration with some values replaced."""
    merged = {item["name"]: item["value"] for item in ConveyorPlugin.DEFAULT_CONFIGURATION}
    merged.update(values)
    return [{"name": name, "value": value} for name, value in merged.items()]


@pytest.fixture(autouse=True)
def fresh_host():
    hosts.reset_host()
    yield
    hosts.reset_host()


@pytest.fixture
def conveyor_installed(settings):
    """The plugin is listed in PLUGINS (as the entry point makes it) but not configured yet."""
    settings.PLUGINS = [*settings.PLUGINS, PLUGIN_PATH]
    return settings


@pytest.fixture
def conveyor_enabled(conveyor_installed):
    """The plugin active, as a shop admin leaves it after Dashboard > Plugins > Fan Conveyor."""
    return PluginConfiguration.objects.create(
        identifier=ConveyorPlugin.PLUGIN_ID,
        name=ConveyorPlugin.PLUGIN_NAME,
        active=True,
        configuration=plugin_configuration(amount_tiers=json.dumps(USD_TIERS)),
    )


@pytest.fixture
def place_order(django_capture_on_commit_callbacks):
    """Run Saleor's own order_created action (what checkout completion calls), commit callbacks included."""

    def place(order, user=None):
        manager = get_plugins_manager(allow_replica=False)
        with django_capture_on_commit_callbacks(execute=True):
            order_created(fetch_order_info(order), user, None, manager)
        return order

    return place
