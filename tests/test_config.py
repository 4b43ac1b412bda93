"""Shop settings: defaults are the method's values; bad values are refused by name."""

import json
from datetime import time, timedelta

import pytest

from saleor_conveyor.config import ConfigError, ConveyorConfig, QuietHours
from saleor_conveyor.engine import RuleBook


def test_defaults_are_the_methods_values():
    config = ConveyorConfig.from_data({})
    assert config.rule_book == RuleBook.default()
    assert config.lapse_days == 90 and config.return_window_days == 30
    assert config.quiet_hours == QuietHours(time(21), time(8)) and config.time_zone == "Asia/Tokyo"
    assert config.frequency_cap == timedelta(hours=24)


def test_rule_book_and_tiers_may_come_as_json_text_from_the_dashboard():
    config = ConveyorConfig.from_data(
        {
            "amount_tiers": json.dumps({"card": {"USD": 90}, "vip": {"USD": 180}, "cocreate": {"USD": 270}}),
            "lapse_days": "60",
            "quiet_hours": "22:30-07:15",
            "time_zone": "Europe/Warsaw",
        }
    )
    assert config.rule_book.amount_tiers["card"] == {"USD": 90}
    assert config.lapse_days == 60
    assert str(config.quiet_hours) == "22:30-07:15"
    assert ConveyorConfig.from_data({"quiet_hours": ""}).quiet_hours is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"rule_book": "{not json"}, "rule_book", "not valid JSON"),
        (
            {"rule_book": {"rules": [{"name": "x", "trigger": "birthday", "kind": "EMAIL"}]}},
            "rule_book",
            "unknown trigger 'birthday'",
        ),
        ({"lapse_days": "-3"}, "lapse_days", "1 or more"),
        ({"lapse_days": "soon"}, "lapse_days", "whole number"),
        ({"return_window_days": -1}, "return_window_days", "0 or more"),
        ({"sender_email": "shop-at-example"}, "sender_email", "not a valid email"),
        ({"storefront_url": "ftp://x"}, "storefront_url", r"http\(s\) address"),
        ({"quiet_hours": "9pm-8am"}, "quiet_hours", "range like 21:00-08:00"),
        ({"quiet_hours": "25:00-08:00"}, "quiet_hours", "does not exist"),
        ({"quiet_hours": "08:00-08:00"}, "quiet_hours", "the same"),
        ({"time_zone": "Tokyo"}, "time_zone", "not a time zone"),
        ({"colour": "red"}, "colour", "unknown setting"),
        ({"amount_tiers": {"card": {"JPY": 0}}}, "rule_book", "positive amount"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(data, field, message):
    with pytest.raises(ConfigError, match=message) as error:
        ConveyorConfig.from_data(data)
    assert error.value.field == field
