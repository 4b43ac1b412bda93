"""The conveyor's Django settings (conf.py): defaults, overrides, and a system check for every bad value."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from saleor_conveyor import conf

DEFAULTS = {
    "SHOP": ("CONVEYOR", {}),
    "HOST": ("CONVEYOR_HOST", None),
    "DELIVERY": ("CONVEYOR_DELIVERY", {}),
    "DELIVERY_HANDLERS": ("CONVEYOR_DELIVERY_HANDLERS", {}),
    "ORDER_INFO": ("CONVEYOR_ORDER_INFO", None),
    "CREATE_RETURN": ("CONVEYOR_CREATE_RETURN", None),
    "SHIPPING_ADDRESSES": ("CONVEYOR_SHIPPING_ADDRESSES", None),
    "PUBLIC_URL": ("CONVEYOR_PUBLIC_URL", "http://localhost:8000"),
    "TRUSTED_PROXIES": ("CONVEYOR_TRUSTED_PROXIES", ()),
    "DASHBOARD_ORIGINS": ("CONVEYOR_DASHBOARD_ORIGINS", ()),
    "PREPARED_STATEMENTS": ("CONVEYOR_PREPARED_STATEMENTS", True),
    "GRAPHQL_EXECUTOR": ("CONVEYOR_GRAPHQL_EXECUTOR", "lean"),
    "OWN_TRANSACTION": ("CONVEYOR_OWN_TRANSACTION", True),
    "SQL_BATCHING": ("CONVEYOR_SQL_BATCHING", "joined"),
    "CONSOLE_CACHE_SECONDS": ("CONVEYOR_CONSOLE_CACHE_SECONDS", 300),
    "CONSOLE_CONNECTIONS": ("CONVEYOR_CONSOLE_CONNECTIONS", 3),
}


def send_line(touchpoint, context) -> str:
    """A delivery handler a developer could register (checks import it)."""
    return "sent on LINE"


def conveyor_problems() -> list[str]:
    return sorted(message.id for message in run_checks() if message.id and message.id.startswith("saleor_conveyor"))


def test_every_setting_has_a_property_and_is_listed():
    assert {setting for setting, _default in DEFAULTS.values()} == conf.SETTING_NAMES
    assert all(getattr(conf.AppSettings, name).__doc__ for name in DEFAULTS)


@pytest.mark.parametrize(("name", "setting", "default"), [(name, *spec) for name, spec in DEFAULTS.items()])
def test_defaults_when_unset(settings, name, setting, default):
    if hasattr(settings, setting):
        delattr(settings, setting)
    assert getattr(conf, name) == default


@pytest.mark.parametrize(
    ("setting", "value", "name", "read"),
    [
        ("CONVEYOR", {"sender_name": "Tea"}, "SHOP", {"sender_name": "Tea"}),
        ("CONVEYOR_HOST", "tests.hosts.Host", "HOST", "tests.hosts.Host"),
        ("CONVEYOR_DELIVERY", {"batch_size": 5}, "DELIVERY", {"batch_size": 5}),
        ("CONVEYOR_DELIVERY_HANDLERS", {"LINE": "x.y"}, "DELIVERY_HANDLERS", {"LINE": "x.y"}),
        ("CONVEYOR_ORDER_INFO", "shop.orders.info", "ORDER_INFO", "shop.orders.info"),
        ("CONVEYOR_CREATE_RETURN", "shop.orders.back", "CREATE_RETURN", "shop.orders.back"),
        ("CONVEYOR_SHIPPING_ADDRESSES", "shop.orders.to", "SHIPPING_ADDRESSES", "shop.orders.to"),
        ("CONVEYOR_PUBLIC_URL", "https://shop.example.com", "PUBLIC_URL", "https://shop.example.com"),
        ("CONVEYOR_TRUSTED_PROXIES", ["10.0.0.0/8"], "TRUSTED_PROXIES", ("10.0.0.0/8",)),
        ("CONVEYOR_DASHBOARD_ORIGINS", "http://localhost:9000", "DASHBOARD_ORIGINS", ("http://localhost:9000",)),
        ("CONVEYOR_PREPARED_STATEMENTS", False, "PREPARED_STATEMENTS", False),
        ("CONVEYOR_GRAPHQL_EXECUTOR", "graphql-core", "GRAPHQL_EXECUTOR", "graphql-core"),
        ("CONVEYOR_OWN_TRANSACTION", False, "OWN_TRANSACTION", False),
        ("CONVEYOR_CONSOLE_CACHE_SECONDS", 60, "CONSOLE_CACHE_SECONDS", 60),
        ("CONVEYOR_CONSOLE_CONNECTIONS", 1, "CONSOLE_CONNECTIONS", 1),
    ],
)
def test_overrides_are_read_at_once(settings, setting, value, name, read):
    setattr(settings, setting, value)
    assert getattr(conf, name) == read


def test_an_unknown_name_is_not_a_setting():
    with pytest.raises(AttributeError):
        conf.HOSTS  # noqa: B018
    with pytest.raises(AttributeError):
        conf.host  # noqa: B018


def test_the_test_settings_and_the_defaults_pass_every_check(settings):
    assert conveyor_problems() == []
    for setting, _default in DEFAULTS.values():
        if hasattr(settings, setting):
            delattr(settings, setting)
    assert conveyor_problems() == []


def test_good_values_pass(settings):
    settings.CONVEYOR_HOST = "saleor_conveyor.hosts.django.DjangoHost"
    settings.CONVEYOR_DELIVERY = {"retry_delay": 0.5, "enqueue": False, "batch_size": 10, "lapse_scan_hour": 0}
    settings.CONVEYOR_DELIVERY_HANDLERS = {"LINE": f"{__name__}.send_line", "SMS": send_line}
    settings.CONVEYOR = {
        **settings.CONVEYOR,
        "rule_book": {"rules": [{"name": "hi", "trigger": "first_purchase", "kind": "LINE", "days": 1}]},
    }
    settings.CONVEYOR_TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1", "fd00::/8"]
    settings.CONVEYOR_PUBLIC_URL = "https://shop.example.com"
    settings.CONVEYOR_GRAPHQL_EXECUTOR = "graphql-core"
    settings.CONVEYOR_PREPARED_STATEMENTS = False
    settings.CONVEYOR_OWN_TRANSACTION = False
    assert conveyor_problems() == []


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("CONVEYOR", "quiet_hours=21:00-08:00", "E001"),
        ("CONVEYOR", {"quiet_hours": "late"}, "E001"),
        ("CONVEYOR", {"sender_emial": "shop@example.com"}, "E001"),
        ("CONVEYOR", {"rule_book": {"rules": [{"name": "hi", "trigger": "first_purchase", "kind": "LINE"}]}}, "E001"),
        ("CONVEYOR_HOST", "saleor_conveyor.hosts.nowhere.Host", "E002"),
        ("CONVEYOR_HOST", "saleor_conveyor.config.ConveyorConfig", "E002"),
        ("CONVEYOR_HOST", 42, "E002"),
        ("CONVEYOR_DELIVERY", [("batch_size", 10)], "E003"),
        ("CONVEYOR_DELIVERY", {"batch_sise": 10}, "E003"),
        ("CONVEYOR_DELIVERY", {"retry_delay": -1}, "E003"),
        ("CONVEYOR_DELIVERY", {"retry_delay": "60"}, "E003"),
        ("CONVEYOR_DELIVERY", {"enqueue": "no"}, "E003"),
        ("CONVEYOR_DELIVERY", {"batch_size": 2.5}, "E003"),
        ("CONVEYOR_DELIVERY", {"max_attempts": -3}, "E003"),
        ("CONVEYOR_DELIVERY", {"lapse_scan_hour": 24}, "E003"),
        ("CONVEYOR_DELIVERY_HANDLERS", ["LINE"], "E004"),
        ("CONVEYOR_DELIVERY_HANDLERS", {"line": f"{__name__}.send_line"}, "E004"),
        ("CONVEYOR_DELIVERY_HANDLERS", {"A_VERY_LONG_KIND_NAME": f"{__name__}.send_line"}, "E004"),
        ("CONVEYOR_DELIVERY_HANDLERS", {"LINE": f"{__name__}.no_such_handler"}, "E004"),
        ("CONVEYOR_DELIVERY_HANDLERS", {"LINE": f"{__name__}.DEFAULTS"}, "E004"),
        ("CONVEYOR_ORDER_INFO", "sandbox.shop.orders.no_such_function", "E005"),
        ("CONVEYOR_CREATE_RETURN", 42, "E005"),
        ("CONVEYOR_SHIPPING_ADDRESSES", "sandbox.shop.orders.no_such_function", "E005"),
        ("CONVEYOR_PUBLIC_URL", "localhost:8000", "E006"),
        ("CONVEYOR_PUBLIC_URL", "ftp://shop.example.com", "E006"),
        ("CONVEYOR_TRUSTED_PROXIES", "10.0.0.1", "E007"),
        ("CONVEYOR_TRUSTED_PROXIES", ["10.0.0.0/8", "the load balancer"], "E007"),
        ("CONVEYOR_TRUSTED_PROXIES", {"10.0.0.1": True}, "E007"),
        ("CONVEYOR_PREPARED_STATEMENTS", "0", "E008"),
        ("CONVEYOR_OWN_TRANSACTION", 1, "E008"),
        ("CONVEYOR_GRAPHQL_EXECUTOR", "fast", "E009"),
        ("CONVEYOR_SQL_BATCHING", "batched", "E010"),
        ("CONVEYOR_CONSOLE_CACHE_SECONDS", -1, "E011"),
        ("CONVEYOR_CONSOLE_CACHE_SECONDS", "300", "E011"),
        ("CONVEYOR_CONSOLE_CACHE_SECONDS", True, "E011"),
        ("CONVEYOR_CONSOLE_CACHE_SECONDS", 86401, "E011"),
        ("CONVEYOR_CONSOLE_CONNECTIONS", 0, "E012"),
        ("CONVEYOR_CONSOLE_CONNECTIONS", 9, "E012"),
        ("CONVEYOR_CONSOLE_CONNECTIONS", "3", "E012"),
        ("CONVEYOR_CONSOLE_CONNECTIONS", True, "E012"),
        ("CONVEYOR_DELIVERY_HANDLER", {"LINE": f"{__name__}.send_line"}, "W001"),
    ],
)
def test_each_bad_value_has_its_check(settings, setting, value, problem):
    setattr(settings, setting, value)
    assert conveyor_problems() == [f"saleor_conveyor.{problem}"]


def test_manage_py_check_stops_on_a_bad_value(settings):
    settings.CONVEYOR_TRUSTED_PROXIES = ["the load balancer"]
    with pytest.raises(SystemCheckError, match=r"saleor_conveyor\.E007.*CONVEYOR_TRUSTED_PROXIES"):
        call_command("check")
