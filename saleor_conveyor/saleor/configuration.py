"""The plugin's identity and its Dashboard configuration: the table of fields, and reading what was saved.

Saleor stores the configuration as `[{name, value}, ...]`; `settings_from_plugin_configuration` turns it
into the plain settings `config.ConveyorConfig.from_data` validates. Both the plugin (its hooks, its
save-time validation) and the Saleor host (outside a hook) read it through this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from saleor.plugins.base_plugin import ConfigurationTypeField

from ..config import KNOWN_KEYS, ConveyorConfig
from ..engine.rules import DEFAULT_RULES

PLUGIN_ID = "conveyor.crm"
_INT_SETTINGS = {"lapse_days", "return_window_days", "late_grace_hours", "frequency_cap_hours"}


def _json_default(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


_DEFAULT_BOOK = {"rules": DEFAULT_RULES["rules"]}
_DEFAULTS = ConveyorConfig()

# name: (type, label, help text, default)
SETTINGS: dict[str, tuple[str, str, str, str | bool]] = {
    "rule_book": (
        ConfigurationTypeField.MULTILINE,
        "Rule book",
        "The conveyor's rules as JSON: step mail days, purchase-count, amount and NPS triggers, entering a stage "
        "or engagement cell, the first purchase's anniversary. Edit a rule's days or set \"active\": false to "
        'switch it off; "conditions" limit a rule to customers by stage, engagement cell, NPS category, lapsed, '
        "account or guest, purchase count, language, or the order's channel, discount or gift, e.g. "
        '"conditions": {"stage": ["CAMPAIGN_ONLY"]}. Empty restores the method\'s defaults.',
        _json_default(_DEFAULT_BOOK),
    ),
    "amount_tiers": (
        ConfigurationTypeField.MULTILINE,
        "Amount thresholds",
        "Order totals that trigger the thank-you card, VIP badge and co-creation invitation, "
        'per currency, as JSON: {"card": {"JPY": 10000, "USD": 100}, ...}.',
        _json_default(DEFAULT_RULES["amount_tiers"]),
    ),
    "lapse_days": (
        ConfigurationTypeField.STRING,
        "Lapse after (days)",
        "A customer silent this many days since the last purchase is lapsed and gets the win-back survey.",
        str(DEFAULT_RULES["lapse_days"]),
    ),
    "return_window_days": (
        ConfigurationTypeField.STRING,
        "Return window (days)",
        "How many days after shipping a customer may request a return from the storefront.",
        str(_DEFAULTS.return_window_days),
    ),
    "late_grace_hours": (
        ConfigurationTypeField.STRING,
        "Late grace (hours)",
        "A touchpoint found this many hours past its time (e.g. after an outage) is skipped, not sent late.",
        str(int(_DEFAULTS.late_grace.total_seconds() // 3600)),
    ),
    "frequency_cap_hours": (
        ConfigurationTypeField.STRING,
        "Minimum hours between marketing emails",
        "At most one marketing email per customer within this many hours; later ones wait.",
        str(int(_DEFAULTS.frequency_cap.total_seconds() // 3600)),
    ),
    "sender_name": (
        ConfigurationTypeField.STRING,
        "Sender name",
        "The name customers see on conveyor emails, e.g. your shop's or founder's name.",
        _DEFAULTS.sender_name,
    ),
    "sender_email": (
        ConfigurationTypeField.STRING,
        "Sender email address",
        "The From address of conveyor emails. Empty uses Saleor's DEFAULT_FROM_EMAIL.",
        _DEFAULTS.sender_email,
    ),
    "storefront_url": (
        ConfigurationTypeField.STRING,
        "Storefront URL",
        "Your storefront's address, linked from every email.",
        _DEFAULTS.storefront_url,
    ),
    "storefront_pages": (
        ConfigurationTypeField.BOOLEAN,
        "Storefront serves the customer pages",
        "Off (default): survey, return, inquiry and mail-preference links open the plugin's own pages. "
        "On: they open your storefront's pages at <storefront URL>/conveyor/... instead.",
        _DEFAULTS.storefront_pages,
    ),
    "logo_url": (
        ConfigurationTypeField.STRING,
        "Logo URL",
        "An https address of your logo, shown on the customer pages. Empty shows the shop name.",
        _DEFAULTS.logo_url,
    ),
    "accent_color": (
        ConfigurationTypeField.STRING,
        "Accent colour",
        "The colour of buttons and links on the customer pages, e.g. #9c3d2b.",
        _DEFAULTS.accent_color,
    ),
    "privacy_note": (
        ConfigurationTypeField.MULTILINE,
        "Privacy note",
        "Shown under the inquiry form: how your shop uses what customers send.",
        _DEFAULTS.privacy_note,
    ),
    "vip_voucher": (
        ConfigurationTypeField.STRING,
        "VIP-candidate voucher",
        "The single-use voucher whose new codes become VIP-candidate coupons: its ID from the Dashboard URL, "
        "one of its codes, or its name.",
        _DEFAULTS.vip_voucher,
    ),
    "referral_voucher": (
        ConfigurationTypeField.STRING,
        "Referral voucher",
        "The single-use voucher whose new codes become customers' personal referral codes "
        "(ID from the Dashboard URL, one of its codes, or its name).",
        _DEFAULTS.referral_voucher,
    ),
    "quiet_hours": (
        ConfigurationTypeField.STRING,
        "Quiet hours",
        "No email is sent in this range of the shop's local time, e.g. 21:00-08:00. Empty: no quiet hours.",
        str(_DEFAULTS.quiet_hours or ""),
    ),
    "time_zone": (
        ConfigurationTypeField.STRING,
        "Shop time zone",
        "The time zone quiet hours and send times use, e.g. Asia/Tokyo or Europe/Berlin.",
        _DEFAULTS.time_zone,
    ),
    "templates": (
        ConfigurationTypeField.MULTILINE,
        "Email template overrides",
        'Optional JSON overriding built-in email templates per rule and language, e.g. {"step_day3": {"en": '
        '{"subject": "..."}}}. Empty keeps the built-in ones.',
        "{}",
    ),
}


CONFIG_STRUCTURE = {
    name: {"type": kind, "label": label, "help_text": help_text}
    for name, (kind, label, help_text, _default) in SETTINGS.items()
}
DEFAULT_CONFIGURATION = [{"name": name, "value": spec[3]} for name, spec in SETTINGS.items()]


def label(name: str) -> str:
    """A setting's name as the Dashboard shows it."""
    return SETTINGS[name][1] if name in SETTINGS else name


def merged_configuration(stored: Any) -> list[dict[str, Any]]:
    """Stored values over the defaults, as Saleor's `BasePlugin._update_configuration_structure` merges them."""
    items = [dict(item) for item in stored if item.get("name") in CONFIG_STRUCTURE] if isinstance(stored, list) else []
    present = {item["name"] for item in items}
    return items + [dict(item) for item in DEFAULT_CONFIGURATION if item["name"] not in present]


def settings_from_plugin_configuration(configuration: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """Saleor's `[{name, value, ...}]` list as the plain settings `ConveyorConfig.from_data` reads."""
    values: dict[str, Any] = {}
    for item in configuration or ():
        name = item.get("name")
        if name not in KNOWN_KEYS:
            continue
        value = item.get("value")
        if name in _INT_SETTINGS and (value is None or (isinstance(value, str) and not value.strip())):
            continue  # an emptied number means "use the method's default"
        values[name] = value
    return values


def rule_book_settings(book: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A whole rule book (`RuleBook.to_data()`) as the plugin's three settings, the way the Dashboard shows them:
    `rule_book` (the rules), `amount_tiers` and `lapse_days`."""
    tiers = {
        tier: {currency: _amount(amount) for currency, amount in amounts.items()}
        for tier, amounts in (book.get("amount_tiers") or {}).items()
    }
    return [
        {"name": "rule_book", "value": _json_default({"rules": list(book.get("rules") or [])})},
        {"name": "amount_tiers", "value": _json_default(tiers)},
        {"name": "lapse_days", "value": str(book.get("lapse_days", DEFAULT_RULES["lapse_days"]))},
    ]


def _amount(value: Any) -> Any:
    """An amount as the Dashboard's JSON shows it: 10000, not "10000" (a decimal part stays text: "99.90")."""
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else str(number)
