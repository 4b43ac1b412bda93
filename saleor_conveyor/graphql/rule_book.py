"""The rule book (MANAGE_PLUGINS): `ruleBook` reads the book in force, `updateRuleBook` saves a whole new one.

Both go through the service (`conveyor/rule_book.py`), as the console's rule editor does: a refused book
answers one error per bad entry (`field` is its path, `rules[3].days`) and nothing is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import graphene

from .. import conveyor
from ..hosts import MANAGE_PLUGINS, get_host
from ..models import RuleBookChange
from .core import require_permission
from .mutations.base import ConveyorMutation


class RuleSummary(graphene.ObjectType):
    """One rule of the book, in short."""

    name = graphene.String(required=True)
    trigger = graphene.String(required=True)
    kind = graphene.String(required=True)
    active = graphene.Boolean(required=True)
    description = graphene.String()


class RuleBookRebuild(graphene.ObjectType):
    """The rebuild after a save: the customers replanned so far of those there were when it started."""

    done = graphene.Int(required=True)
    total = graphene.Int(description="None until a worker starts it.")
    finished = graphene.Boolean(required=True)
    outcome = graphene.String(description='"done", "superseded by a later change", or why it stopped.')


class RuleBook(graphene.ObjectType):
    """The rule book in force: the whole book as JSON (what `updateRuleBook` takes), its rules, the last save."""

    json = graphene.JSONString(required=True, description='{"lapse_days", "amount_tiers", "rules"}')
    rules = graphene.List(graphene.NonNull(RuleSummary), required=True)
    updated_at = graphene.DateTime(description="When it was last saved here (the editor or updateRuleBook).")
    updated_by = graphene.String(description="Who saved it (the staff member's email).")
    rebuild = graphene.Field(RuleBookRebuild, description="The last save's rebuild of every customer's outbox.")


@dataclass(frozen=True)
class RuleBookValue:
    json: dict[str, Any]
    rules: list[RuleSummary]
    updated_at: datetime | None
    updated_by: str | None
    rebuild: RuleBookRebuild | None


def rule_book_value(change: RuleBookChange | None) -> RuleBookValue:
    """The book in force now, with the last save's who, when and rebuild."""
    book = get_host().config().rule_book
    return RuleBookValue(
        json=book.to_data(),
        rules=[
            RuleSummary(
                name=rule.name,
                trigger=rule.trigger,
                kind=rule.kind,
                active=rule.active,
                description=rule.description or None,
            )
            for rule in book.rules
        ],
        updated_at=change.created_at if change else None,
        updated_by=(change.changed_by or None) if change else None,
        rebuild=(
            RuleBookRebuild(
                done=change.rebuild_done,
                total=change.rebuild_total,
                finished=change.rebuild_finished_at is not None,
                outcome=change.rebuild_outcome or None,
            )
            if change
            else None
        ),
    )


def resolve_rule_book(info: Any) -> RuleBookValue:
    require_permission(info, MANAGE_PLUGINS)
    with get_host().writer():  # staff just saved it: read it where it was written
        return rule_book_value(conveyor.latest_change())


class UpdateRuleBook(ConveyorMutation):
    """Staff (MANAGE_PLUGINS) save a whole rule book; every customer's outbox is rebuilt in the background."""

    class Arguments:
        json = graphene.JSONString(required=True, description="The whole book, as `ruleBook.json` gives it.")

    rule_book = graphene.Field(RuleBook)

    @classmethod
    def perform(cls, info: Any, json: Any) -> UpdateRuleBook:
        staff = require_permission(info, MANAGE_PLUGINS)
        by = getattr(staff, "email", "") or str(staff.pk)
        with get_host().writer():
            change = conveyor.update_rule_book(json, by=by)
            return cls(rule_book=rule_book_value(change or conveyor.latest_change()), errors=[])
