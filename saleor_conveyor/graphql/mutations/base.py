"""The mutation shape of the contract: a payload plus typed errors, never an exception."""

from __future__ import annotations

from typing import Any

import graphene

from ...errors import ConveyorError
from ..core import ConveyorErrorType, checked_arguments


class ConveyorMutation(graphene.Mutation):
    """Subclasses implement `perform` (on checked arguments); a ConveyorError becomes the payload's `errors`."""

    class Meta:
        abstract = True

    errors = graphene.List(graphene.NonNull(ConveyorErrorType), required=True)

    @classmethod
    def mutate(cls, root: Any, info: Any, **data: Any) -> ConveyorMutation:
        try:
            return cls.perform(info, **checked_arguments(data))
        except ConveyorError as error:
            refused = getattr(error, "errors", None) or [error]  # ConveyorErrors: one per bad entry
            return cls(errors=[ConveyorErrorType(field=e.field, code=e.code.value, message=e.message) for e in refused])

    @classmethod
    def perform(cls, info: Any, **data: Any) -> ConveyorMutation:
        raise NotImplementedError
