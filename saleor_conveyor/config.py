"""The shop's conveyor settings: the rule book and everything a shop admin can change.

The same keys come from Django's `settings.CONVEYOR` (sandbox) or from the plugin's
Dashboard configuration (Saleor). `ConveyorConfig.from_data` validates them and says
which value is wrong in words a shop admin understands. The configuration in force is the
host's: `hosts.get_config()`. This module imports no host, so every host can build one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import conf
from .engine import RuleBook, RuleBookError, RuleBookIssue, check_rule_book
from .engine.rules import DEFAULT_RULES

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class ConfigError(ValueError):
    """A setting that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class ConveyorConfig:
    rule_book: RuleBook = field(default_factory=RuleBook.default)
    return_window_days: int = 30
    late_grace: timedelta = timedelta(hours=48)
    sender_name: str = ""
    sender_email: str = ""
    storefront_url: str = ""
    vip_voucher: str = ""
    referral_voucher: str = ""
    quiet_hours: QuietHours | None = QuietHours(time(21, 0), time(8, 0))
    time_zone: str = "Asia/Tokyo"
    frequency_cap: timedelta = timedelta(hours=24)
    templates: Mapping[str, Any] = field(default_factory=dict)
    # Language of emails to customers whose own language has no templates (a Japanese shop: ja).
    default_language: str = "ja"
    # True: the storefront serves the customer pages itself at {storefront_url}/conveyor/...; links go there.
    # False (default): links open the plugin's own pages (pages/), so no storefront code is needed.
    storefront_pages: bool = False
    # Branding of the plugin's customer pages.
    logo_url: str = ""
    accent_color: str = "#9c3d2b"
    privacy_note: str = ""

    @property
    def lapse_days(self) -> int:
        return self.rule_book.lapse_days

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> ConveyorConfig:
        """Build from plain settings; raise ConfigError naming the first bad value."""
        data = dict(data or {})
        unknown = set(data) - KNOWN_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(name, f"unknown setting (known: {', '.join(sorted(KNOWN_KEYS))})")
        book_data = _json(data.get("rule_book"), "rule_book", DEFAULT_RULES)
        if not isinstance(book_data, Mapping):
            raise ConfigError("rule_book", "must be a JSON object with 'rules'")
        book_data = dict(book_data)
        if data.get("amount_tiers") not in (None, ""):
            book_data["amount_tiers"] = _json(data["amount_tiers"], "amount_tiers", {})
        if data.get("lapse_days") not in (None, ""):
            book_data["lapse_days"] = _int(data["lapse_days"], "lapse_days", 1)
        try:
            book = RuleBook.from_data(book_data, extra_kinds=_handler_kinds())
        except RuleBookError as error:
            raise ConfigError("rule_book", str(error)) from None
        config = cls(rule_book=book)
        updates: dict[str, Any] = {}
        if "return_window_days" in data:
            updates["return_window_days"] = _int(data["return_window_days"], "return_window_days", 0)
        if "late_grace_hours" in data:
            updates["late_grace"] = timedelta(hours=_int(data["late_grace_hours"], "late_grace_hours", 0))
        if "frequency_cap_hours" in data:
            updates["frequency_cap"] = timedelta(hours=_int(data["frequency_cap_hours"], "frequency_cap_hours", 0))
        for name in ("sender_name", "vip_voucher", "referral_voucher"):
            if name in data:
                updates[name] = _text(data[name], name)
        if data.get("sender_email"):
            updates["sender_email"] = _email(data["sender_email"], "sender_email")
        if data.get("storefront_url"):
            updates["storefront_url"] = _url(data["storefront_url"], "storefront_url")
        if "quiet_hours" in data:
            updates["quiet_hours"] = parse_quiet_hours(data["quiet_hours"])
        if data.get("time_zone"):
            updates["time_zone"] = _zone(data["time_zone"])
        if "templates" in data:
            templates = _json(data["templates"], "templates", {})
            if not isinstance(templates, Mapping):
                raise ConfigError("templates", "must be a JSON object of template overrides")
            updates["templates"] = templates
        if data.get("default_language"):
            updates["default_language"] = _language(data["default_language"])
        if "storefront_pages" in data:
            updates["storefront_pages"] = _bool(data["storefront_pages"], "storefront_pages")
        if data.get("logo_url"):
            updates["logo_url"] = _url(data["logo_url"], "logo_url")
        if data.get("accent_color"):
            updates["accent_color"] = _color(data["accent_color"], "accent_color")
        if "privacy_note" in data:
            updates["privacy_note"] = _text(data["privacy_note"], "privacy_note")
        return replace(config, **updates)


KNOWN_KEYS = {
    "rule_book",
    "amount_tiers",
    "lapse_days",
    "return_window_days",
    "late_grace_hours",
    "sender_name",
    "sender_email",
    "storefront_url",
    "vip_voucher",
    "referral_voucher",
    "quiet_hours",
    "time_zone",
    "frequency_cap_hours",
    "templates",
    "default_language",
    "storefront_pages",
    "logo_url",
    "accent_color",
    "privacy_note",
}


def _json(value: Any, name: str, default: Any) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(
                name, f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
            ) from None
    return value


def rule_book_issues(data: Any) -> list[RuleBookIssue]:
    """Every bad entry of a whole rule book (`{"lapse_days", "amount_tiers", "rules"}`), with this shop's kinds."""
    return check_rule_book(data, extra_kinds=_handler_kinds())


def parse_rule_book(data: Any) -> RuleBook:
    """A whole rule book as plain data, validated with this shop's delivery kinds; raises RuleBookError."""
    return RuleBook.from_data(data, extra_kinds=_handler_kinds())


def _handler_kinds() -> tuple[str, ...]:
    """Delivery kinds a developer registered in settings.CONVEYOR_DELIVERY_HANDLERS (e.g. LINE)."""
    return tuple(conf.DELIVERY_HANDLERS)


def _language(value: Any) -> str:
    text = _text(value, "default_language").lower().replace("_", "-")
    if not re.match(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$", text):
        raise ConfigError("default_language", f"{value!r} is not a language code like ja or en")
    return text


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise ConfigError(name, f"must be true or false, got {value!r}")


_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def _color(value: Any, name: str) -> str:
    text = _text(value, name)
    if not _COLOR.match(text):
        raise ConfigError(name, f"{text!r} is not a colour like #9c3d2b")
    return text.lower()


def _int(value: Any, name: str, minimum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(name, f"must be {minimum} or more, got {number}")
    return number


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(name, "must be text")
    return value.strip()


def _email(value: Any, name: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    text = _text(value, name)
    try:
        validate_email(text)
    except ValidationError:
        raise ConfigError(name, f"{text!r} is not a valid email address") from None
    return text


def _url(value: Any, name: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    text = _text(value, name).rstrip("/")
    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        raise ConfigError(name, f"{text!r} is not an http(s) address like https://shop.example.com") from None
    return text


def _zone(value: Any) -> str:
    text = _text(value, "time_zone")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("time_zone", f"{text!r} is not a time zone name like Asia/Tokyo") from None
    return text


def parse_quiet_hours(value: Any) -> QuietHours | None:
    """ "21:00-08:00" (may cross midnight); empty means no quiet hours."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    match = _HOURS.match(str(value))
    if not match:
        raise ConfigError("quiet_hours", f"{value!r} is not a range like 21:00-08:00 (or empty for none)")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        raise ConfigError("quiet_hours", f"{value!r} has a time that does not exist")
    if (start_h, start_m) == (end_h, end_m):
        raise ConfigError("quiet_hours", "start and end are the same; leave it empty for no quiet hours")
    return QuietHours(time(start_h, start_m), time(end_h, end_m))
