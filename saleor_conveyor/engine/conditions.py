"""Conditions on a rule: which customer a touchpoint is for (stage, engagement cell, NPS, lapse, ...).

A rule's `conditions` are checked on a `CustomerView` (what the conveyor knows of the customer at
that moment) and the triggering order, when the touchpoint is planned and again just before it
goes out: a customer who moved on is skipped with the reason, never sent a stale message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .stages import FanStage, Purchase, counted, is_lapsed, stage_for
from .surveys import ENGAGEMENT_CELLS, ENGAGEMENT_CLASSES, NpsCategory, engagement_class

# Conditions on the triggering order: only triggers that have one can be asked about it.
ORDER_CONDITIONS = frozenset({"discounted_order", "gift_order", "channel"})
CONDITIONS = {
    "stage": "one or more of FIRST_TIME, SECOND_TIME, CAMPAIGN_ONLY, LOYAL",
    "engagement": 'engagement cells ("HIGH/MID") or classes (CORE, GROWING, COOL) of the fan survey',
    "nps": "NPS categories of the latest answer: PROMOTER, PASSIVE, DETRACTOR",
    "lapsed": "true: silent for the lapse window; false: bought within it",
    "customer": '"account" (a registered customer) or "guest"',
    "channel": "channel slugs of the triggering order",
    "purchase_count": '{"min": n, "max": m}: the customer\'s purchases that count, both ends included',
    "discounted_order": "true: the triggering order used a voucher, sale or campaign; false: full price",
    "gift_order": "true: the triggering order is a gift; false: it is not",
    "language": 'language codes ("ja", "en"); "ja" also matches "ja-JP"',
}
CUSTOMER_KINDS = ("account", "guest")


class ConditionError(ValueError):
    """A condition that cannot be used; the message names the entry (the rule book adds the rule)."""


@dataclass(frozen=True)
class CustomerView:
    """What a condition may ask about a customer, as the conveyor knows it right now."""

    stage: FanStage | None = None
    purchase_count: int = 0
    last_purchase_at: datetime | None = None
    nps_category: NpsCategory | None = None
    engagement_cell: str | None = None
    has_account: bool = False
    language: str = ""

    def with_purchases(self, purchases: Iterable[Purchase]) -> CustomerView:
        """The view with its purchase figures taken from this history (the planner's own facts)."""
        real = counted(purchases)
        return CustomerView(
            stage=stage_for(real),
            purchase_count=len(real),
            last_purchase_at=real[-1].placed_at if real else None,
            nps_category=self.nps_category,
            engagement_cell=self.engagement_cell,
            has_account=self.has_account,
            language=self.language,
        )


def language_matches(wanted: str, language: str) -> bool:
    """ "ja" matches "ja", "ja-JP" and "ja_jp"; "pt-br" matches only itself."""
    spoken = language.strip().lower().replace("_", "-")
    return spoken == wanted or spoken.startswith(wanted + "-")


@dataclass(frozen=True)
class Conditions:
    """Every condition of one rule; None means the rule does not ask."""

    stages: frozenset[FanStage] | None = None
    engagement: frozenset[str] | None = None
    nps: frozenset[NpsCategory] | None = None
    lapsed: bool | None = None
    customer: str | None = None
    channels: frozenset[str] | None = None
    min_purchases: int | None = None
    max_purchases: int | None = None
    discounted_order: bool | None = None
    gift_order: bool | None = None
    languages: frozenset[str] | None = None

    def failure(
        self, view: CustomerView, order: Purchase | None, *, now: datetime, lapse_days: int, orders: bool = True
    ) -> str | None:
        """Why this customer (and order) does not meet the conditions, in words staff read; None if they do.

        `orders=False` leaves out the triggering order's facts (delivery: they were checked when planned).
        """
        if self.stages is not None and view.stage not in self.stages:
            return f"stage is {view.stage or 'none'}, rule wants {_listed(self.stages)}"
        if self.engagement is not None and not self.engagement_holds(view.engagement_cell):
            cell = view.engagement_cell or "unknown (no fan survey)"
            return f"engagement cell is {cell}, rule wants {_listed(self.engagement)}"
        if self.nps is not None and view.nps_category not in self.nps:
            return f"NPS category is {view.nps_category or 'unknown (no answer)'}, rule wants {_listed(self.nps)}"
        if self.lapsed is not None:
            lapsed = is_lapsed(view.last_purchase_at, now, lapse_days)
            if lapsed != self.lapsed:
                return (
                    "the customer is lapsed, rule wants an active customer"
                    if lapsed
                    else ("the customer is not lapsed, rule wants a lapsed customer")
                )
        if self.customer is not None and (self.customer == "account") != view.has_account:
            actual = "an account" if view.has_account else "a guest"
            return f"the customer is {actual}, rule wants {'an account' if self.customer == 'account' else 'a guest'}"
        if self.min_purchases is not None and view.purchase_count < self.min_purchases:
            return f"purchase count is {view.purchase_count}, rule wants at least {self.min_purchases}"
        if self.max_purchases is not None and view.purchase_count > self.max_purchases:
            return f"purchase count is {view.purchase_count}, rule wants at most {self.max_purchases}"
        if self.languages is not None and not any(language_matches(w, view.language) for w in self.languages):
            return f"language is {view.language or 'not set'}, rule wants {_listed(self.languages)}"
        if orders and order is not None:
            if self.channels is not None and order.channel not in self.channels:
                return f"order {order.order_id} is in channel {order.channel!r}, rule wants {_listed(self.channels)}"
            if self.discounted_order is not None and order.discounted != self.discounted_order:
                said = "discounted" if order.discounted else "at full price"
                wanted = "a discounted" if self.discounted_order else "a full-price"
                return f"order {order.order_id} is {said}, rule wants {wanted} order"
            if self.gift_order is not None and order.gift != self.gift_order:
                said = "a gift" if order.gift else "not a gift"
                return f"order {order.order_id} is {said}, rule wants {'a gift' if self.gift_order else 'no gift'}"
        return None

    def engagement_holds(self, cell: str | None) -> bool:
        return (
            cell is not None
            and self.engagement is not None
            and (cell in self.engagement or engagement_class(cell) in self.engagement)
        )

    def engagement_cells(self) -> frozenset[str]:
        """The fine cells the engagement condition accepts (a class stands for its cells)."""
        return frozenset(c for c in ENGAGEMENT_CELLS if self.engagement_holds(c))

    def to_data(self) -> dict[str, Any]:
        """The conditions as the JSON a shop edits."""
        data: dict[str, Any] = {}
        for key, value in (
            ("stage", self.stages),
            ("engagement", self.engagement),
            ("nps", self.nps),
            ("channel", self.channels),
            ("language", self.languages),
        ):
            if value is not None:
                data[key] = sorted(str(v) for v in value)
        for key, value in (
            ("lapsed", self.lapsed),
            ("customer", self.customer),
            ("discounted_order", self.discounted_order),
            ("gift_order", self.gift_order),
        ):
            if value is not None:
                data[key] = value
        if self.min_purchases is not None or self.max_purchases is not None:
            data["purchase_count"] = {
                k: v for k, v in (("min", self.min_purchases), ("max", self.max_purchases)) if v is not None
            }
        return data


def _listed(values: Iterable[Any]) -> str:
    names = sorted(str(v) for v in values)
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)


def parse_conditions(raw: Any, where: str, *, trigger: str, order_triggers: Iterable[str]) -> Conditions | None:
    """Validate a rule's `conditions` (parsed JSON); raise ConditionError naming `where`.conditions.<entry>.

    `order_triggers` are the triggers that have a triggering order: the only ones that may ask about it.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConditionError(f'{where}.conditions must be an object like {{"stage": ["FIRST_TIME"]}}, got {raw!r}')
    values: dict[str, Any] = {}
    for key, value in raw.items():
        at = f"{where}.conditions.{key}"
        if key not in CONDITIONS:
            raise ConditionError(f"{at}: unknown condition; expected one of {', '.join(CONDITIONS)}")
        if key in ORDER_CONDITIONS and trigger not in order_triggers:
            raise ConditionError(
                f"{at}: {trigger} rules have no triggering order to ask about; "
                f"only {', '.join(sorted(order_triggers))} rules do"
            )
        values.update(_parse_one(key, value, at))
    return Conditions(**values) if values else None


def _parse_one(key: str, value: Any, at: str) -> dict[str, Any]:
    if key == "stage":
        return {"stages": _members(value, at, "stage", FanStage.__members__, FanStage)}
    if key == "engagement":
        known = {*ENGAGEMENT_CELLS, *ENGAGEMENT_CLASSES}
        return {"engagement": _members(value, at, "engagement cell or class", known, str)}
    if key == "nps":
        return {"nps": _members(value, at, "NPS category", NpsCategory.__members__, NpsCategory)}
    if key == "channel":
        return {"channels": _texts(value, at, "channel slug", lower=False)}
    if key == "language":
        return {"languages": _texts(value, at, "language code", lower=True)}
    if key == "customer":
        if value not in CUSTOMER_KINDS:
            raise ConditionError(f'{at}: must be "account" or "guest", got {value!r}')
        return {"customer": value}
    if key == "purchase_count":
        return _count_range(value, at)
    if not isinstance(value, bool):
        raise ConditionError(f"{at}: must be true or false, got {value!r}")
    return {{"lapsed": "lapsed", "discounted_order": "discounted_order", "gift_order": "gift_order"}[key]: value}


def _as_list(value: Any, at: str, what: str) -> Sequence[Any]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise ConditionError(f"{at}: must be a {what} or a non-empty list of them, got {value!r}")
    return values


def _members(value: Any, at: str, what: str, known: Iterable[str], kind: Any) -> frozenset[Any]:
    allowed = sorted(known)
    parsed = set()
    for item in _as_list(value, at, what):
        if not isinstance(item, str) or item not in allowed:
            raise ConditionError(f"{at}: unknown {what} {item!r}; expected one of {', '.join(allowed)}")
        parsed.add(kind(item))
    return frozenset(parsed)


def _texts(value: Any, at: str, what: str, *, lower: bool) -> frozenset[str]:
    parsed = set()
    for item in _as_list(value, at, what):
        if not isinstance(item, str) or not item.strip() or len(item) > 255 or not item.isprintable():
            raise ConditionError(f"{at}: {item!r} is not a {what}")
        item = item.strip()
        parsed.add(item.lower().replace("_", "-") if lower else item)
    return frozenset(parsed)


def _count_range(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value or set(value) - {"min", "max"}:
        raise ConditionError(f'{at}: must be {{"min": n, "max": m}} (either may be left out), got {value!r}')
    bounds = {}
    for end in ("min", "max"):
        if end in value:
            number = value[end]
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ConditionError(f"{at}.{end}: must be a whole number of at least 0, got {number!r}")
            bounds[end] = number
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise ConditionError(f"{at}: min {bounds['min']} is more than max {bounds['max']}")
    return {"min_purchases": bounds.get("min"), "max_purchases": bounds.get("max")}
