"""Reads behind the profile queries: a profile and, when asked for, its touchpoints in one round trip.

The statements are built once from the models (see `sql.py`); touchpoints come back as light
rows holding only what the GraphQL type shows, not as model instances (decoding every column
of every row into a model was most of `myFanProfile`'s cost).
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from graphql.language import ast

from ..models import FanProfile, Touchpoint, TouchpointStatus
from ..sql import Batch, Table


class TouchpointRow(NamedTuple):
    """What the Touchpoint type shows of a row, in `_TouchpointColumns.names` order."""

    id: int
    rule: str
    kind: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    detail: str

    @property
    def pk(self) -> int:
        return self.id


class _Statements:
    """SQL generated on first use from the models' metadata (table and column names)."""

    profiles = Table(FanProfile)

    @cached_property
    def touchpoint_columns(self) -> str:
        quote = connection.ops.quote_name
        table = quote(Touchpoint._meta.db_table)
        return ", ".join(f"{table}.{quote(Touchpoint._meta.get_field(name).column)}" for name in TouchpointRow._fields)

    @cached_property
    def profile_by_user(self) -> str:
        profiles = self.profiles
        return f"SELECT {profiles.columns} FROM {profiles.name} WHERE {profiles.name}.user_id = %s LIMIT 1"

    @cached_property
    def touchpoints_of_user(self) -> str:
        quote = connection.ops.quote_name
        table = quote(Touchpoint._meta.db_table)
        return (
            f"SELECT {self.touchpoint_columns} FROM {table} WHERE {table}.profile_id = "
            f"(SELECT id FROM {self.profiles.name} WHERE user_id = %s LIMIT 1) ORDER BY {table}.due_at, {table}.id"
        )

    @cached_property
    def touchpoints_of_profile(self) -> str:
        quote = connection.ops.quote_name
        table = quote(Touchpoint._meta.db_table)
        return (
            f"SELECT {self.touchpoint_columns} FROM {table} WHERE {table}.profile_id = %s"
            f" ORDER BY {table}.due_at, {table}.id"
        )


_SQL = _Statements()


def profile_of_user(user_id: int, *, with_touchpoints: bool) -> FanProfile | None:
    """The account's profile (user_id is unique), with its touchpoints attached when asked: one round trip."""
    found: list[FanProfile] = []
    rows: list[tuple] = []
    batch = Batch()
    batch.add(_SQL.profile_by_user, [user_id], lambda result: found.extend(map(_SQL.profiles.from_row, result)))
    if with_touchpoints:
        batch.add(_SQL.touchpoints_of_user, [user_id], rows.extend)
    batch.flush()
    if not found:
        return None
    profile = found[0]
    if with_touchpoints:
        profile._conveyor_touchpoints = [TouchpointRow._make(row) for row in rows]
    return profile


def attach_touchpoints(profiles: list[FanProfile]) -> None:
    """Read the touchpoints of a page of profiles in one query (fanProfiles), in due order, onto each."""
    if not profiles:
        return
    alias = profiles[0]._state.db or DEFAULT_DB_ALIAS
    by_profile: dict[int, list[TouchpointRow]] = {profile.pk: [] for profile in profiles}
    rows = (
        Touchpoint.objects.using(alias)
        .filter(profile_id__in=list(by_profile))
        .order_by("due_at", "id")
        .values_list("profile_id", *TouchpointRow._fields)
    )
    for profile_id, *values in rows:
        by_profile[profile_id].append(TouchpointRow._make(values))
    for profile in profiles:
        profile._conveyor_touchpoints = by_profile[profile.pk]


def touchpoints(profile: Any, status: str | None = None) -> list[TouchpointRow]:
    """The profile's touchpoints in due order (attached by `profile_of_user`, else read now), by shown status.

    SENDING is shown as SCHEDULED, so asking for SCHEDULED includes the ones being sent.
    """
    rows = getattr(profile, "_conveyor_touchpoints", None)
    alias = profile._state.db or DEFAULT_DB_ALIAS
    if rows is None and alias != DEFAULT_DB_ALIAS:  # a profile a staff query read from the replica: read it there
        with connections[alias].cursor() as cursor:
            cursor.execute(_SQL.touchpoints_of_profile, [profile.pk])
            rows = [TouchpointRow._make(row) for row in cursor.fetchall()]
    if rows is None:
        rows = []
        batch = Batch()  # as every other read here: timestamps parsed by the driver's loader
        batch.add(_SQL.touchpoints_of_profile, [profile.pk], lambda found: rows.extend(map(TouchpointRow._make, found)))
        batch.flush()
    if status is None:
        return rows
    scheduled = status == TouchpointStatus.SCHEDULED
    wanted = {TouchpointStatus.SCHEDULED, TouchpointStatus.SENDING} if scheduled else {status}
    return [row for row in rows if row.status in wanted]


def selects(info: Any, name: str) -> bool:
    """Whether the field being resolved selects `name` directly (through fragments too)."""

    def within(selection_set: ast.SelectionSet | None, seen: frozenset[str]) -> bool:
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, ast.Field):
                if node.name.value == name:
                    return True
            elif isinstance(node, ast.InlineFragment):
                if within(node.selection_set, seen):
                    return True
            elif isinstance(node, ast.FragmentSpread):
                spread = node.name.value
                fragment = (info.fragments or {}).get(spread)
                if fragment is not None and spread not in seen and within(fragment.selection_set, seen | {spread}):
                    return True
        return False

    return any(within(field.selection_set, frozenset()) for field in info.field_asts)
