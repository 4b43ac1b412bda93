"""The contract's v2 measures for staff: RulePerformance, StageFlow, Cohort (computed in `measures.py`)."""

from __future__ import annotations

from typing import Any

import graphene

from .. import measures
from ..engine.uplift import Verdict
from .core import Money, money

PerformanceVerdict = graphene.Enum(
    "PerformanceVerdict",
    [(v.value, v.value) for v in Verdict],
    description="TOO_FEW: not enough customers yet; BETTER / WORSE: the 95% interval is wholly above / below 0.",
)


class RulePerformance(graphene.ObjectType):
    """One rule (and variant) against the customers its experiment held out, over a window."""

    rule = graphene.String(required=True)
    variant = graphene.String(description="The variant's name; null for the rule's own template.")
    experiment = graphene.String(description="The experiment id; null for touchpoints outside any experiment.")
    reached = graphene.Int(required=True, description="Customers the rule's touchpoint was sent to.")
    held_out = graphene.Int(required=True, description="Customers the experiment held out (never sent).")
    reached_rate = graphene.Float(description="Share of the reached who bought again within withinDays.")
    held_out_rate = graphene.Float(description="Share of the held out who bought again within withinDays.")
    difference = graphene.Float(description="reachedRate - heldOutRate (a share: 0.05 is 5 points).")
    difference_low = graphene.Float(description="95% interval, lower end (Newcombe's hybrid score method).")
    difference_high = graphene.Float(description="95% interval, upper end.")
    revenue_per_customer = graphene.Field(Money, description="What the reached spent within withinDays, per customer.")
    held_out_revenue_per_customer = graphene.Field(Money)
    verdict = graphene.Field(graphene.NonNull(PerformanceVerdict))
    verdict_text = graphene.String(
        required=True, description='The verdict in words, e.g. "not enough customers yet", "better by 4.2 points".'
    )
    within_days = graphene.Int(required=True)

    @staticmethod
    def resolve_experiment(root: measures.RulePerformance, info: Any) -> str | None:
        return root.experiment or None

    @staticmethod
    def resolve_reached_rate(root: measures.RulePerformance, info: Any) -> float | None:
        return root.comparison.reached_rate

    @staticmethod
    def resolve_held_out_rate(root: measures.RulePerformance, info: Any) -> float | None:
        return root.comparison.held_out_rate

    @staticmethod
    def resolve_difference(root: measures.RulePerformance, info: Any) -> float | None:
        return root.comparison.difference

    @staticmethod
    def resolve_difference_low(root: measures.RulePerformance, info: Any) -> float | None:
        return root.comparison.low

    @staticmethod
    def resolve_difference_high(root: measures.RulePerformance, info: Any) -> float | None:
        return root.comparison.high

    @staticmethod
    def resolve_revenue_per_customer(root: measures.RulePerformance, info: Any) -> Any:
        return money(root.revenue_per_customer, root.currency)

    @staticmethod
    def resolve_held_out_revenue_per_customer(root: measures.RulePerformance, info: Any) -> Any:
        return money(root.held_out_revenue_per_customer, root.currency)

    @staticmethod
    def resolve_verdict(root: measures.RulePerformance, info: Any) -> str:
        return root.comparison.verdict.value

    @staticmethod
    def resolve_verdict_text(root: measures.RulePerformance, info: Any) -> str:
        return root.comparison.words


class StageFlow(graphene.ObjectType):
    """Customers in fromStage at the end of the month before and in toStage at the end of `month`."""

    month = graphene.String(required=True, description="The month, YYYY-MM (shop time).")
    from_stage = graphene.String(required=True, description="A FanStage, an engagement class, or NONE (not yet).")
    to_stage = graphene.String(required=True)
    customers = graphene.Int(required=True)
    dimension = graphene.String(required=True, description="STAGE (the stage ladder) or ENGAGEMENT (coarse class).")

    @staticmethod
    def resolve_month(root: measures.StageMove, info: Any) -> str:
        return f"{root.month:%Y-%m}"


class Cohort(graphene.ObjectType):
    """Customers by month of first purchase, and the share who bought in each following month."""

    month = graphene.String(required=True, description="The month of the first purchase, YYYY-MM (shop time).")
    customers = graphene.Int(required=True)
    bought_again = graphene.List(
        graphene.NonNull(graphene.Float),
        required=True,
        description="Share of the cohort who bought in month 1, 2, ... after the first (each month on its own).",
    )

    @staticmethod
    def resolve_month(root: measures.Cohort, info: Any) -> str:
        return f"{root.month:%Y-%m}"
