"""Pure rules of the conveyor: no Django, no I/O. Dataclasses in, dataclasses out."""

from .rules import (
    DEFAULT_RULES,
    KINDS,
    TRIGGERS,
    PlannedTouchpoint,
    Rule,
    RuleBook,
    RuleBookError,
    plan_touchpoints,
)
from .stages import CustomerSummary, FanStage, Purchase, is_lapsed, stage_for, summarize
from .surveys import (
    FanDegree,
    FanSurveyAnswer,
    Liking,
    NpsAnswer,
    NpsCategory,
    engagement_cell,
    engagement_class,
    nps_category,
    nps_score,
)

__all__ = [
    "DEFAULT_RULES",
    "KINDS",
    "TRIGGERS",
    "CustomerSummary",
    "FanDegree",
    "FanStage",
    "FanSurveyAnswer",
    "Liking",
    "NpsAnswer",
    "NpsCategory",
    "PlannedTouchpoint",
    "Purchase",
    "Rule",
    "RuleBook",
    "RuleBookError",
    "engagement_cell",
    "engagement_class",
    "is_lapsed",
    "nps_category",
    "nps_score",
    "plan_touchpoints",
    "stage_for",
    "summarize",
]
