"""The rule book: every trigger of the method as data, and the plan it makes for a customer.

A rule book is a validated structure a shop can edit (the plugin's configuration holds
it as JSON). `plan_touchpoints` turns one customer's history into the set of
touchpoints that should exist, each with a unique occurrence key; the conveyor service
reconciles that plan with what is already in the outbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .conditions import ConditionError, Conditions, CustomerView, parse_conditions
from .experiments import Experiment, ExperimentError, Variant, as_number, parse_experiment
from .occasions import engagement_entries, latest_anniversary, stage_entries
from .stages import FanStage, Purchase, counted, is_lapsed
from .surveys import (
    ENGAGEMENT_CELLS,
    ENGAGEMENT_CLASSES,
    SURVEY_WINDOW_DAYS,
    FanSurveyAnswer,
    NpsAnswer,
    NpsCategory,
    engagement_cell,
    nps_category,
)

TRIGGERS = {
    "first_purchase": "days after the customer's first purchase (step mail, fan survey)",
    "purchase_count": "when the customer's n-th purchase is placed",
    "order_amount": "when one order's total reaches an amount tier, per currency",
    "nps": "when an NPS answer falls in a category",
    "fulfillment": "days after an order ships, at most once per cooldown",
    "lapsed": "when the customer has not bought for the lapse window",
    "stage_entry": "days after the customer enters a stage (e.g. becomes LOYAL), once per entry",
    "engagement_entry": "days after a fan-survey answer places the customer in an engagement cell or class",
    "anniversary": "days after each yearly anniversary of the first purchase",
}
KINDS = ("EMAIL", "COUPON", "BADGE", "STAFF_TASK")
VOUCHERS = ("vip", "referral")
# Triggers fed by the purchase ledger; the rest are fed by survey answers.
PURCHASE_TRIGGERS = frozenset(
    {"first_purchase", "purchase_count", "order_amount", "fulfillment", "lapsed", "stage_entry", "anniversary"}
)
NPS_TRIGGERS = frozenset({"nps"})
FAN_TRIGGERS = frozenset({"engagement_entry"})
# Triggers started by one order: only their rules may have conditions on the triggering order.
ORDER_TRIGGERS = frozenset({"first_purchase", "purchase_count", "order_amount", "fulfillment", "stage_entry"})
# The rule that mails the NPS survey: its cooldown is the window an answer without an order belongs to.
SURVEY_RULE = "nps_survey"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_RULE_FIELDS = {
    "name",
    "trigger",
    "kind",
    "days",
    "count",
    "tier",
    "category",
    "cooldown_days",
    "once",
    "marketing",
    "template",
    "badge",
    "voucher",
    "active",
    "description",
    "conditions",
    "stage",
    "engagement",
    # Variants and holdout (engine/experiments.py).
    "variants",
    "holdout",
    "experiment",
}
_BOOK_FIELDS = {"rules", "amount_tiers", "lapse_days"}
RULE_FIELDS = frozenset(_RULE_FIELDS)  # every field a rule may have (the rule editor reads them)


class RuleBookError(ValueError):
    """A rule book that cannot be used; the message names the bad entry (`error_path` reads it as a path)."""


@dataclass(frozen=True)
class RuleBookIssue:
    """One bad entry of a rule book: where (`rules[3].days`, `amount_tiers.card.JPY`, "" for the whole) and why."""

    path: str
    message: str


_AT_RULE = re.compile(r"^rules\[(\d+)\](?: \([a-z0-9_]*\))?(?::\s*|\s+)(?P<rest>.*)$", re.DOTALL)
_AT_PATH = re.compile(r"^(?P<path>(?:rules\[\d+\]|amount_tiers|lapse_days)(?:\.[A-Za-z0-9_]+|\[\d+\])*)[:\s]")
_UNKNOWN = re.compile(r"unknown (?:rule book )?field '([^']*)'")
_WORD = re.compile(r"[a-z_]+")


def error_path(message: str) -> str:
    """The entry a RuleBookError's message names, as a path: `rules[3].days`, `rules[3].conditions.stage`,
    `rules[3].variants[0].weight`, `amount_tiers.card.JPY`, `lapse_days`; "" when it is the book as a whole."""
    unknown = _UNKNOWN.search(message)
    direct = _AT_PATH.match(message)
    if direct is not None and not re.fullmatch(r"rules\[\d+\]", direct.group("path")):
        # A top-level entry, or a condition's or variant's own path (rules[3].conditions.stage).
        return f"{direct.group('path')}.{unknown.group(1)}" if unknown is not None else direct.group("path")
    rule = _AT_RULE.match(message)
    if rule is not None:
        index, rest = rule.group(1), rule.group("rest")
        if unknown is not None:
            return f"rules[{index}].{unknown.group(1)}"
        field = next((word for word in _WORD.findall(rest) if word in _RULE_FIELDS), None)
        return f"rules[{index}].{field}" if field else f"rules[{index}]"
    if unknown is not None:
        return unknown.group(1)
    return "rules" if message.startswith("'rules'") else ""


def check_rule_book(data: Any, *, extra_kinds: Iterable[str] = ()) -> list[RuleBookIssue]:
    """Every bad entry of a rule book given as plain data, one issue each (the first problem of each rule,
    each amount tier, `lapse_days`, each unknown field); empty when `RuleBook.from_data` accepts it."""
    if not isinstance(data, Mapping):
        return [RuleBookIssue("", "the rule book must be an object with 'rules', 'amount_tiers', 'lapse_days'")]
    issues: list[RuleBookIssue] = []

    def keep(error: Exception) -> None:
        issues.append(RuleBookIssue(error_path(str(error)), str(error)))

    for name in sorted(set(data) - _BOOK_FIELDS, key=str):
        issues.append(RuleBookIssue(str(name), f"unknown rule book field {name!r}"))
    try:
        _whole(data.get("lapse_days", 90), "lapse_days", minimum=1)
    except RuleBookError as error:
        keep(error)
    raw_tiers = data.get("amount_tiers", {})
    tiers: dict[str, Any] = {}
    if not isinstance(raw_tiers, Mapping):
        issues.append(RuleBookIssue("amount_tiers", "'amount_tiers' must map a tier name to {currency: amount}"))
    else:
        for tier, amounts in raw_tiers.items():
            try:
                tiers.update(_parse_tiers({tier: amounts}))
            except RuleBookError as error:
                keep(error)
                tiers[str(tier)] = {}  # named, so its rules are not also told the tier does not exist
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        issues.append(RuleBookIssue("rules", "'rules' must be a list of rules"))
        return issues
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        try:
            rule = _parse_rule(raw, index, tiers, (*KINDS, *extra_kinds))
        except RuleBookError as error:
            keep(error)
            if isinstance(raw, Mapping) and isinstance(raw.get("name"), str):
                seen.add(raw["name"])  # a later rule of the same name is told so now, not after this one is fixed
            continue
        if rule.name in seen:
            issues.append(
                RuleBookIssue(f"rules[{index}].name", f"rules[{index}] ({rule.name}): the name is used by another rule")
            )
        seen.add(rule.name)
    return issues


@dataclass(frozen=True)
class Rule:
    name: str
    trigger: str
    kind: str
    days: int = 0
    count: int | None = None
    tier: str | None = None
    category: NpsCategory | None = None
    cooldown_days: int = 0
    once: bool = True
    marketing: bool = True
    template: str = ""
    badge: str | None = None
    voucher: str | None = None
    active: bool = True
    description: str = ""
    conditions: Conditions | None = None
    stage: FanStage | None = None
    engagement: str | None = None
    variants: tuple[Variant, ...] = ()
    holdout: Decimal = Decimal(0)
    experiment: str = ""

    @property
    def trial(self) -> Experiment:
        """The rule's experiment (empty when it has neither variants nor a holdout)."""
        return Experiment(self.experiment, self.variants, self.holdout)

    def template_for(self, variant: str) -> str:
        """The template a touchpoint of this rule is rendered with: its variant's, else the rule's own."""
        return next((v.template for v in self.variants if v.name == variant), self.template)

    def to_data(self) -> dict[str, Any]:
        """The rule as the JSON a shop edits; fields left at their default are omitted."""
        data: dict[str, Any] = {"name": self.name, "trigger": self.trigger, "kind": self.kind}
        for key, default in (
            ("days", 0),
            ("count", None),
            ("tier", None),
            ("category", None),
            ("cooldown_days", 0),
            ("once", True),
            ("marketing", True),
            ("template", self.name),
            ("badge", None),
            ("voucher", None),
            ("active", True),
            ("description", ""),
            ("stage", None),
            ("engagement", None),
        ):
            value = getattr(self, key)
            if value != default:
                data[key] = str(value) if key in ("category", "stage") else value
        if self.conditions is not None:
            data["conditions"] = self.conditions.to_data()
        data.update(_experiment_data(self))
        return data


@dataclass(frozen=True)
class PlannedTouchpoint:
    """A touchpoint the rule book says should exist for this customer."""

    key: str
    rule: str
    kind: str
    due_at: datetime
    order_id: str | None = None
    marketing: bool = True


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[Rule, ...]
    amount_tiers: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    lapse_days: int = 90

    @classmethod
    def default(cls) -> RuleBook:
        """The method's own values."""
        return cls.from_data(DEFAULT_RULES)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, extra_kinds: Iterable[str] = ()) -> RuleBook:
        """Validate a rule book given as plain data (parsed JSON); raise RuleBookError.

        `extra_kinds` are delivery kinds a developer registered (a LINE message, an SMS).
        """
        if not isinstance(data, Mapping):
            raise RuleBookError("the rule book must be an object with 'rules', 'amount_tiers', 'lapse_days'")
        unknown = set(data) - _BOOK_FIELDS
        if unknown:
            raise RuleBookError(f"unknown rule book field {sorted(unknown)[0]!r}")
        lapse_days = _whole(data.get("lapse_days", 90), "lapse_days", minimum=1)
        tiers = _parse_tiers(data.get("amount_tiers", {}))
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            raise RuleBookError("'rules' must be a list of rules")
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, index, tiers, (*KINDS, *extra_kinds))
            if rule.name in seen:
                raise RuleBookError(f"rules[{index}] ({rule.name}): the name is used by another rule")
            seen.add(rule.name)
            rules.append(rule)
        return cls(rules=tuple(rules), amount_tiers=tiers, lapse_days=lapse_days)

    def to_data(self) -> dict[str, Any]:
        return {
            "lapse_days": self.lapse_days,
            "amount_tiers": {
                tier: {currency: str(amount) for currency, amount in amounts.items()}
                for tier, amounts in self.amount_tiers.items()
            },
            "rules": [rule.to_data() for rule in self.rules],
        }

    def rule(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def active_rules(self, triggers: Iterable[str] | None = None) -> list[Rule]:
        wanted = set(triggers) if triggers is not None else set(TRIGGERS)
        return [rule for rule in self.rules if rule.active and rule.trigger in wanted]

    def threshold(self, rule: Rule, currency: str) -> Decimal | None:
        return self.amount_tiers.get(rule.tier or "", {}).get(currency)

    def survey_window_days(self) -> int:
        """How long a survey occasion lasts for answers without an order: the NPS survey's cooldown, else 90 days."""
        rule = self.rule(SURVEY_RULE)
        return rule.cooldown_days if rule is not None and rule.cooldown_days > 0 else SURVEY_WINDOW_DAYS

    def follow_up_rules(self) -> frozenset[str]:
        """Rules that answer a customer's answer: their messages are paced like marketing, marketing or not."""
        return frozenset(rule.name for rule in self.rules if rule.trigger in NPS_TRIGGERS)


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two rule books (their `to_data()`), one line per changed entry, in the book's own
    names: `lapse_days: 90 → 60`, `amount_tiers.card.JPY: 10000 → 12000`, `step_day7.days: 7 → 10`,
    `rule loyal_thanks added`."""
    lines: list[str] = []
    if before.get("lapse_days") != after.get("lapse_days"):
        lines.append(f"lapse_days: {before.get('lapse_days')} → {after.get('lapse_days')}")
    old_tiers, new_tiers = before.get("amount_tiers") or {}, after.get("amount_tiers") or {}
    for tier in sorted(set(old_tiers) | set(new_tiers)):
        old, new = old_tiers.get(tier) or {}, new_tiers.get(tier) or {}
        for currency in sorted(set(old) | set(new)):
            if old.get(currency) != new.get(currency):
                was, now = _shown(old.get(currency)), _shown(new.get(currency))
                lines.append(f"amount_tiers.{tier}.{currency}: {was} → {now}")
    old_rules = {rule["name"]: rule for rule in before.get("rules") or ()}
    new_rules = {rule["name"]: rule for rule in after.get("rules") or ()}
    for name, rule in new_rules.items():
        if name not in old_rules:
            lines.append(f"rule {name} added")
            continue
        old = old_rules[name]
        defaults = {**_RULE_DEFAULTS, "template": name}  # what to_data() leaves out
        for key in [k for k in rule if k != "name"] + [k for k in old if k not in rule and k != "name"]:
            was, now = old.get(key, defaults.get(key)), rule.get(key, defaults.get(key))
            if was != now:
                lines.append(f"{name}.{key}: {_shown(was)} → {_shown(now)}")
    lines.extend(f"rule {name} removed" for name in old_rules if name not in new_rules)
    return lines


_RULE_DEFAULTS: dict[str, Any] = {
    "days": 0,
    "cooldown_days": 0,
    "once": True,
    "marketing": True,
    "active": True,
    "description": "",
}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _whole(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleBookError(f"{where} must be a whole number, got {value!r}")
    if value < minimum:
        qualifier = "negative" if value < 0 else "too small"
        raise RuleBookError(f"{where} must be at least {minimum}, got {value} ({qualifier})")
    return value


def _parse_tiers(raw: Any) -> dict[str, dict[str, Decimal]]:
    if not isinstance(raw, Mapping):
        raise RuleBookError("'amount_tiers' must map a tier name to {currency: amount}")
    tiers: dict[str, dict[str, Decimal]] = {}
    for tier, amounts in raw.items():
        if not isinstance(tier, str) or not _NAME.match(tier):
            raise RuleBookError(f"amount_tiers: bad tier name {tier!r} (lowercase letters, digits, _)")
        if not isinstance(amounts, Mapping) or not amounts:
            raise RuleBookError(f"amount_tiers.{tier} must map currency codes to amounts")
        parsed: dict[str, Decimal] = {}
        for currency, amount in amounts.items():
            if not isinstance(currency, str) or not _CURRENCY.match(currency):
                raise RuleBookError(f"amount_tiers.{tier}: {currency!r} is not a currency code like JPY")
            try:
                value = Decimal(str(amount))
            except InvalidOperation:
                raise RuleBookError(f"amount_tiers.{tier}.{currency}: {amount!r} is not a number") from None
            if isinstance(amount, bool) or not value.is_finite() or value <= 0:
                raise RuleBookError(f"amount_tiers.{tier}.{currency} must be a positive amount, got {amount!r}")
            parsed[currency] = value
        tiers[tier] = parsed
    return tiers


def _experiment_data(rule: Rule) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if rule.variants:
        data["variants"] = [variant.to_data() for variant in rule.variants]
    if rule.holdout:
        data["holdout"] = as_number(rule.holdout)
    if rule.experiment:
        data["experiment"] = rule.experiment
    return data


def _parse_experiment_fields(raw: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A rule's `variants`, `holdout` and `experiment` as Rule fields; the message names the entry."""
    try:
        parsed = parse_experiment(raw, f"rules[{index}]")
    except ExperimentError as error:
        raise RuleBookError(str(error)) from None
    return {"variants": parsed.variants, "holdout": parsed.holdout, "experiment": parsed.experiment}


def _parse_rule(raw: Any, index: int, tiers: Mapping[str, Any], kinds: Sequence[str] = KINDS) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleBookError(f"rules[{index}] must be an object, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RuleBookError(f"rules[{index}]: 'name' must be lowercase letters, digits and _ (got {name!r})")
    where = f"rules[{index}] ({name})"
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise RuleBookError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    trigger = raw.get("trigger")
    if trigger not in TRIGGERS:
        raise RuleBookError(f"{where}: unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    kind = raw.get("kind")
    if kind not in kinds:
        raise RuleBookError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(kinds)}")
    days = _whole(raw.get("days", 0), f"{where}: days", minimum=0)
    cooldown_days = _whole(raw.get("cooldown_days", 0), f"{where}: cooldown_days", minimum=0)
    count = raw.get("count")
    tier = raw.get("tier")
    category = raw.get("category")
    if trigger == "purchase_count":
        count = _whole(count, f"{where}: count", minimum=1)
    elif count is not None:
        raise RuleBookError(f"{where}: 'count' only applies to purchase_count rules")
    if trigger == "order_amount":
        if tier not in tiers:
            raise RuleBookError(f"{where}: tier {tier!r} is not one of amount_tiers {sorted(tiers)}")
    elif tier is not None:
        raise RuleBookError(f"{where}: 'tier' only applies to order_amount rules")
    if trigger == "nps":
        if category not in NpsCategory.__members__:
            raise RuleBookError(f"{where}: category must be one of {', '.join(NpsCategory)}")
        category = NpsCategory(category)
    elif category is not None:
        raise RuleBookError(f"{where}: 'category' only applies to nps rules")
    flags = {}
    for flag, default in (("once", True), ("marketing", True), ("active", True)):
        value = raw.get(flag, default)
        if not isinstance(value, bool):
            raise RuleBookError(f"{where}: {flag} must be true or false, got {value!r}")
        flags[flag] = value
    badge = raw.get("badge")
    if kind == "BADGE" and not (isinstance(badge, str) and badge.strip()):
        raise RuleBookError(f"{where}: a BADGE rule needs the 'badge' it gives")
    voucher = raw.get("voucher")
    if kind == "COUPON" and voucher not in VOUCHERS:
        raise RuleBookError(f"{where}: a COUPON rule needs 'voucher': one of {', '.join(VOUCHERS)}")
    template = raw.get("template", name)
    if not isinstance(template, str) or not _NAME.match(template):
        raise RuleBookError(f"{where}: template must be a template name like {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RuleBookError(f"{where}: description must be text")
    stage, engagement = _parse_layer_target(raw, where, trigger)
    try:
        conditions = parse_conditions(
            raw.get("conditions"), f"rules[{index}]", trigger=trigger, order_triggers=ORDER_TRIGGERS
        )
    except ConditionError as error:
        raise RuleBookError(f"{error} (rule {name})") from None
    return Rule(
        conditions=conditions,
        stage=stage,
        engagement=engagement,
        name=name,
        trigger=trigger,
        kind=kind,
        days=days,
        count=count,
        tier=tier,
        category=category,
        cooldown_days=cooldown_days,
        template=template,
        badge=badge,
        voucher=voucher,
        description=description,
        **flags,
        **_parse_experiment_fields(raw, index),
    )


def _parse_layer_target(raw: Mapping[str, Any], where: str, trigger: str) -> tuple[FanStage | None, str | None]:
    """The stage a stage_entry rule waits for, the cell or class an engagement_entry rule waits for."""
    stage, engagement = raw.get("stage"), raw.get("engagement")
    if trigger == "stage_entry":
        if stage not in FanStage.__members__:
            raise RuleBookError(f"{where}: unknown stage {stage!r}; expected one of {', '.join(FanStage)}")
        stage = FanStage(stage)
    elif stage is not None:
        raise RuleBookError(f"{where}: 'stage' only applies to stage_entry rules (a condition is conditions.stage)")
    if trigger == "engagement_entry":
        known = (*ENGAGEMENT_CELLS, *ENGAGEMENT_CLASSES)
        if engagement not in known:
            raise RuleBookError(
                f"{where}: unknown engagement cell or class {engagement!r}; expected one of {', '.join(known)}"
            )
    elif engagement is not None:
        raise RuleBookError(
            f"{where}: 'engagement' only applies to engagement_entry rules (a condition is conditions.engagement)"
        )
    return stage, engagement


def plan_touchpoints(
    book: RuleBook,
    purchases: Sequence[Purchase],
    nps_answers: Sequence[NpsAnswer] = (),
    *,
    now: datetime,
    triggers: Iterable[str] | None = None,
    recent_sends: Mapping[str, Sequence[datetime]] | None = None,
    fan_answers: Sequence[FanSurveyAnswer] = (),
    customer: CustomerView | None = None,
    held_back: dict[str, str] | None = None,
) -> list[PlannedTouchpoint]:
    """Every touchpoint the rule book wants for this history, keyed by occurrence.

    The result depends only on the history (and `now`, for lapse and anniversaries), not on
    the order events arrived in, which is what makes recording idempotent. `recent_sends` lists,
    per rule, when that rule already went out, so a cooldown also counts real sends.
    A rule's conditions are checked on `customer` (derived from the history when not given);
    an occurrence they hold back is left out, its reason put in `held_back` by key.
    """
    real = counted(purchases)
    plan: list[PlannedTouchpoint] = []
    for rule in book.active_rules(triggers):
        delay = timedelta(days=rule.days)
        if rule.trigger == "first_purchase" and real:
            plan.append(_planned(rule, rule.name, real[0].placed_at + delay, real[0].order_id))
        elif rule.trigger == "purchase_count" and rule.count and len(real) >= rule.count:
            anchor = real[rule.count - 1]
            plan.append(_planned(rule, rule.name, anchor.placed_at + delay, anchor.order_id))
        elif rule.trigger == "order_amount":
            plan.extend(_amount_plan(book, rule, real, delay))
        elif rule.trigger == "fulfillment":
            plan.extend(_fulfillment_plan(rule, real, delay, (recent_sends or {}).get(rule.name, ())))
        elif rule.trigger == "nps":
            for answer in sorted(nps_answers, key=lambda a: (a.answered_at, a.occasion)):
                if nps_category(answer.score) == rule.category:
                    key = f"{rule.name}:{answer.occasion}"
                    due = answer.answered_at + delay
                    if answer.settles_at is not None and answer.settles_at > due:
                        due = answer.settles_at  # a changed answer must not have sent the first one's follow-up
                    plan.append(_planned(rule, key, due, None))
        elif rule.trigger == "lapsed" and real:
            last = real[-1]
            if is_lapsed(last.placed_at, now, book.lapse_days):
                due = last.placed_at + timedelta(days=book.lapse_days) + delay
                plan.append(_planned(rule, f"{rule.name}:{last.order_id}", due, last.order_id))
        elif rule.trigger == "stage_entry":
            for entry in stage_entries(real):
                if entry.stage == rule.stage:
                    key = f"{rule.name}:stage:{entry.stage}:{entry.number}"
                    order_id = entry.purchase.order_id
                    plan.append(_planned(rule, key, entry.purchase.placed_at + delay, order_id))
        elif rule.trigger == "engagement_entry" and rule.engagement:
            for entered in engagement_entries(fan_answers, rule.engagement):
                key = f"{rule.name}:engagement:{rule.engagement}:{entered.number}"
                plan.append(_planned(rule, key, entered.answer.answered_at + delay, None))
        elif rule.trigger == "anniversary" and real:
            anniversary = latest_anniversary(real[0].placed_at, now=now, delay=delay)
            if anniversary is not None:
                years, due = anniversary
                plan.append(_planned(rule, f"{rule.name}:year:{years}", due, None))
    return _meeting_conditions(book, plan, real, nps_answers, fan_answers, customer, now=now, held_back=held_back)


def _meeting_conditions(
    book: RuleBook,
    plan: list[PlannedTouchpoint],
    real: Sequence[Purchase],
    nps_answers: Sequence[NpsAnswer],
    fan_answers: Sequence[FanSurveyAnswer],
    customer: CustomerView | None,
    *,
    now: datetime,
    held_back: dict[str, str] | None,
) -> list[PlannedTouchpoint]:
    """The plan without the occurrences whose rule's conditions do not hold (their reasons in `held_back`)."""
    conditional = {rule.name: rule for rule in book.rules if rule.conditions is not None}
    if not conditional:
        return plan
    view = customer or customer_view_from_history(real, nps_answers, fan_answers)
    orders = {p.order_id: p for p in real}
    kept = []
    for item in plan:
        rule = conditional.get(item.rule)
        if rule is None or rule.conditions is None:
            kept.append(item)
            continue
        order = orders.get(item.order_id or "") if rule.trigger in ORDER_TRIGGERS else None
        reason = rule.conditions.failure(view, order, now=now, lapse_days=book.lapse_days)
        if reason is None:
            kept.append(item)
        elif held_back is not None:
            held_back[item.key] = f"condition does not hold: {reason}"
    return kept


def customer_view_from_history(
    purchases: Sequence[Purchase], nps_answers: Sequence[NpsAnswer] = (), fan_answers: Sequence[FanSurveyAnswer] = ()
) -> CustomerView:
    """What the history alone tells of a customer (the service also knows the account and language)."""
    latest_nps = max(nps_answers, key=lambda a: (a.answered_at, a.occasion), default=None)
    latest_fan = max(fan_answers, key=lambda a: a.answered_at, default=None)
    return CustomerView(
        nps_category=nps_category(latest_nps.score) if latest_nps else None,
        engagement_cell=engagement_cell(latest_fan.fan_degree, latest_fan.liking) if latest_fan else None,
    ).with_purchases(purchases)


def _planned(rule: Rule, key: str, due_at: datetime, order_id: str | None) -> PlannedTouchpoint:
    return PlannedTouchpoint(key, rule.name, rule.kind, due_at, order_id, rule.marketing)


def _amount_plan(book: RuleBook, rule: Rule, real: Sequence[Purchase], delay: timedelta) -> list[PlannedTouchpoint]:
    reaching = [p for p in real if (threshold := book.threshold(rule, p.currency)) is not None and p.total >= threshold]
    if rule.once:
        reaching = reaching[:1]
    return [
        _planned(rule, rule.name if rule.once else f"{rule.name}:{p.order_id}", p.placed_at + delay, p.order_id)
        for p in reaching
    ]


def _fulfillment_plan(
    rule: Rule, real: Sequence[Purchase], delay: timedelta, sent: Sequence[datetime]
) -> list[PlannedTouchpoint]:
    cooldown = timedelta(days=rule.cooldown_days)
    taken = sorted(sent)
    plan = []
    shipped = sorted((p for p in real if p.fulfilled_at), key=lambda p: (p.fulfilled_at, p.order_id))
    for purchase in shipped:
        due = purchase.fulfilled_at + delay  # type: ignore[operator]
        if cooldown and any(abs(due - other) < cooldown for other in taken):
            continue
        taken.append(due)
        plan.append(_planned(rule, f"{rule.name}:{purchase.order_id}", due, purchase.order_id))
    return plan


def _rule(**data: Any) -> dict[str, Any]:
    return data


DEFAULT_RULES: dict[str, Any] = {
    "lapse_days": 90,
    "amount_tiers": {
        "card": {"JPY": 10000},
        "vip": {"JPY": 20000},
        "cocreate": {"JPY": 30000},
    },
    "rules": [
        _rule(
            name="step_day3",
            trigger="first_purchase",
            kind="EMAIL",
            days=3,
            marketing=False,
            description="Thanks, and how to use what you bought",
        ),
        _rule(name="step_day7", trigger="first_purchase", kind="EMAIL", days=7, description="Other customers' stories"),
        _rule(
            name="step_day14", trigger="first_purchase", kind="EMAIL", days=14, description="A message from the founder"
        ),
        _rule(
            name="fan_survey",
            trigger="first_purchase",
            kind="EMAIL",
            days=21,
            description="Fan-degree survey within a month of the first purchase",
        ),
        _rule(
            name="second_purchase",
            trigger="purchase_count",
            kind="EMAIL",
            count=2,
            description="Personal recommendation",
        ),
        _rule(
            name="vip_candidate",
            trigger="purchase_count",
            kind="COUPON",
            count=3,
            voucher="vip",
            description="VIP-candidate coupon",
        ),
        _rule(
            name="fan_meeting",
            trigger="purchase_count",
            kind="EMAIL",
            count=5,
            description="Invitation to the fan meeting",
        ),
        _rule(
            name="thank_you_card",
            trigger="order_amount",
            kind="STAFF_TASK",
            tier="card",
            once=False,
            marketing=False,
            description="Hand-written thank-you card (paper)",
        ),
        _rule(
            name="secret_info",
            trigger="order_amount",
            kind="EMAIL",
            tier="card",
            description="Secret information for big orders",
        ),
        _rule(
            name="vip_badge",
            trigger="order_amount",
            kind="BADGE",
            tier="vip",
            badge="VIP",
            marketing=False,
            description="VIP badge on the profile",
        ),
        _rule(
            name="co_creation",
            trigger="order_amount",
            kind="EMAIL",
            tier="cocreate",
            description="Invitation to co-create the next product",
        ),
        _rule(
            name="nps_survey",
            trigger="fulfillment",
            kind="EMAIL",
            days=10,
            cooldown_days=90,
            marketing=False,
            description="NPS survey after delivery, at most once per 90 days",
        ),
        _rule(
            name="referral",
            trigger="nps",
            kind="COUPON",
            category="PROMOTER",
            voucher="referral",
            description="Referral campaign with a personal referral code",
        ),
        _rule(
            name="story_video",
            trigger="nps",
            kind="EMAIL",
            category="PASSIVE",
            description="The story behind the product (video)",
        ),
        _rule(
            name="honesty_letter",
            trigger="nps",
            kind="EMAIL",
            category="DETRACTOR",
            marketing=False,
            description="Thank you for your honesty, with an improvement survey",
        ),
        _rule(
            name="winback_survey",
            trigger="lapsed",
            kind="EMAIL",
            description="Win-back survey for a customer silent for the lapse window",
        ),
        _rule(
            name="step_day3_gift",
            trigger="first_purchase",
            kind="EMAIL",
            days=3,
            marketing=False,
            active=False,
            conditions={"gift_order": True},
            description="Day 3 for a gift order: how the one who receives it can enjoy it (give step_day3 "
            '"gift_order": false to send this one instead)',
        ),
        _rule(
            name="campaign_second_purchase",
            trigger="purchase_count",
            kind="EMAIL",
            count=2,
            active=False,
            conditions={"stage": ["CAMPAIGN_ONLY"]},
            description="A campaign-only buyer's second purchase: a reason to buy at full price, no coupon "
            '(give second_purchase "stage": ["SECOND_TIME"] to send this one instead)',
        ),
        _rule(
            name="loyal_recognition",
            trigger="stage_entry",
            kind="EMAIL",
            stage="LOYAL",
            active=False,
            description="Recognition when a customer becomes loyal (3+ regular purchases)",
        ),
        _rule(
            name="core_fan_invitation",
            trigger="engagement_entry",
            kind="EMAIL",
            engagement="CORE",
            active=False,
            description="A fan survey placed the customer in the CORE class: an invitation to co-create",
        ),
        _rule(
            name="purchase_anniversary",
            trigger="anniversary",
            kind="EMAIL",
            active=False,
            description="A year (and every year) since the first purchase",
        ),
    ],
}
