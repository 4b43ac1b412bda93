"""Variants and holdouts of a rule: who gets which template, and who is held back to compare with.

A rule with `variants` and/or a `holdout` share runs an experiment named by its `experiment` id.
Each customer is assigned by a hash of (rule name, experiment id, customer key), so the same
customer always lands in the same arm of a running experiment, on the live path, in the backfill's
replay and on a rebuild alike; a new experiment id draws everyone afresh. The assignment is stored
on the touchpoint when it is created and never recomputed, so later edits of the rule book (even of
the shares) leave every assignment already made as it was.

The customer key is the profile's email (as stored, normalized): it is known before the profile's
row exists (a first order writes profile and touchpoints in one round trip; the backfill draws ids
only when it writes), it is the same in both paths, and a guest profile merged into an account keeps it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

HOLDOUT = "holdout"  # the outcome of a held-out touchpoint (SKIPPED, never sent, counted)
HOLDOUT_MAX = Decimal("0.5")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VARIANT_FIELDS = {"name", "template", "weight"}
_SCALE = 2**64


class ExperimentError(ValueError):
    """A rule's variants, holdout or experiment id that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Variant:
    """One arm of a rule: its own template, and its share of the customers who are not held out."""

    name: str
    template: str
    weight: Decimal

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "template": self.template, "weight": as_number(self.weight)}


@dataclass(frozen=True)
class Experiment:
    """A rule's experiment, parsed: empty (no experiment) when the rule has neither variants nor holdout."""

    experiment: str = ""
    variants: tuple[Variant, ...] = ()
    holdout: Decimal = Decimal(0)

    @property
    def running(self) -> bool:
        return bool(self.experiment)


@dataclass(frozen=True)
class Assignment:
    """Where a customer landed: a variant's name ("" for the rule's own template), or held out."""

    experiment: str
    variant: str
    held_out: bool


def as_number(value: Decimal) -> float | str:
    """A share as JSON: a number where a float holds it exactly as written, else its decimal text."""
    as_float = float(value)
    return as_float if Decimal(str(as_float)) == value else str(value)


def _fraction(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExperimentError(f"{where}: must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ExperimentError(f"{where}: must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ExperimentError(f"{where}: must be a number, got {value!r}")
    return number


def parse_experiment(raw: Mapping[str, Any], where: str) -> Experiment:
    """Read `variants`, `holdout` and `experiment` of one rule (`where` is e.g. "rules[2]").

    Weights are shares of 1 (like the holdout): they must add up to exactly 1, e.g. 0.5 + 0.5 or
    0.2 + 0.3 + 0.5 (compared as decimals, so 0.1 + 0.2 + 0.7 adds up). The holdout is 0 to 0.5.
    """
    holdout = _fraction(raw.get("holdout", 0), f"{where}.holdout")
    if not Decimal(0) <= holdout <= HOLDOUT_MAX:
        raise ExperimentError(f"{where}.holdout: must be between 0 and 0.5, got {raw.get('holdout')!r}")
    variants = _parse_variants(raw.get("variants", []), where)
    experiment = raw.get("experiment", "")
    if not isinstance(experiment, str) or (experiment and not _EXPERIMENT.match(experiment)):
        raise ExperimentError(
            f"{where}.experiment: must be an id of letters, digits, '_', '.', '-' (at most 64), got {experiment!r}"
        )
    if (variants or holdout) and not experiment:
        raise ExperimentError(
            f'{where}.experiment: a rule with variants or a holdout needs an experiment id (e.g. "2026-05");'
            " a new id starts a new experiment"
        )
    if experiment and not (variants or holdout):
        raise ExperimentError(f"{where}.experiment: only applies to a rule with variants or a holdout")
    return Experiment(experiment=experiment, variants=variants, holdout=holdout)


def _parse_variants(raw: Any, where: str) -> tuple[Variant, ...]:
    if not isinstance(raw, list):
        raise ExperimentError(f"{where}.variants: must be a list of {{name, template, weight}}")
    variants: list[Variant] = []
    for index, entry in enumerate(raw):
        at = f"{where}.variants[{index}]"
        if not isinstance(entry, Mapping):
            raise ExperimentError(f"{at}: must be an object with name, template and weight")
        unknown = set(entry) - _VARIANT_FIELDS
        if unknown:
            raise ExperimentError(f"{at}: unknown field {sorted(unknown)[0]!r}")
        name, template = entry.get("name"), entry.get("template")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ExperimentError(f"{at}.name: must be lowercase letters, digits and _ (got {name!r})")
        if any(v.name == name for v in variants):
            raise ExperimentError(f"{at}.name: {name!r} is used by another variant of this rule")
        if not isinstance(template, str) or not _NAME.match(template):
            raise ExperimentError(f"{at}.template: must be a template name like 'step_day7' (got {template!r})")
        if "weight" not in entry:
            raise ExperimentError(f"{at}.weight: missing (a share of 1, e.g. 0.5)")
        weight = _fraction(entry["weight"], f"{at}.weight")
        if not Decimal(0) < weight <= 1:
            raise ExperimentError(f"{at}.weight: must be more than 0 and at most 1, got {entry['weight']!r}")
        variants.append(Variant(name, template, weight))
    if variants:
        total = sum((v.weight for v in variants), Decimal(0))
        if total != 1:
            raise ExperimentError(f"{where}.variants: the weights add up to {total}, they must add up to 1")
    return tuple(variants)


def unit(*parts: str) -> float:
    """A number in [0, 1) fixed by the parts: blake2b of them, read as a fraction of 2**64."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(rule_name: str, experiment: Experiment, customer_key: str) -> Assignment | None:
    """The arm of this customer in the rule's running experiment (None when the rule runs none).

    One draw u in [0, 1): below the holdout share the customer is held out; the rest of [0, 1) is
    split between the variants by their weights, in the order the rule book lists them.
    """
    if not experiment.running:
        return None
    u = unit(rule_name, experiment.experiment, customer_key)
    holdout = float(experiment.holdout)
    if u < holdout:
        return Assignment(experiment.experiment, "", True)
    return Assignment(experiment.experiment, _variant_at((u - holdout) / (1 - holdout), experiment.variants), False)


def _variant_at(position: float, variants: Sequence[Variant]) -> str:
    reached = 0.0
    for variant in variants:
        reached += float(variant.weight)
        if position < reached:
            return variant.name
    return variants[-1].name if variants else ""
