"""Precompiled statements and one-round-trip batches for the service's hot path.

Building a query through the ORM costs more than the round trip to PostgreSQL; these
statements are generated once from the models' metadata, so they follow the models,
and values are prepared by the model fields themselves, exactly as the ORM would.
A `Batch` sends several statements in one round trip (Django's PostgreSQL cursor binds
parameters on the client, so a multi-statement string is one simple query); with
server-side binding configured it falls back to one statement at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cached_property
from typing import Any

from django.db import connection, models
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault

RowsHandler = Callable[[list[tuple]], None]


class Batch:
    """Statements to run together, in order, each with an optional handler for its rows."""

    def __init__(self) -> None:
        self._statements: list[tuple[str, list[Any], RowsHandler | None]] = []

    def add(self, sql: str, params: Sequence[Any], on_rows: RowsHandler | None = None) -> None:
        self._statements.append((sql, list(params), on_rows))

    def flush(self) -> None:
        """Run what was added (one round trip where the driver allows), then call the handlers."""
        statements, self._statements = self._statements, []
        if not statements:
            return
        with connection.cursor() as cursor:
            if connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
                for sql, params, on_rows in statements:
                    cursor.execute(sql, params)
                    if on_rows:
                        on_rows(cursor.fetchall())
                return
            cursor.execute("; ".join(sql for sql, _, _ in statements), [p for _, ps, _ in statements for p in ps])
            for index, (_, _, on_rows) in enumerate(statements):
                if index:
                    cursor.nextset()
                if on_rows:
                    on_rows(cursor.fetchall())


class Table[M: Model]:
    """One model's table: select rows as model instances, insert and update them."""

    def __init__(self, model: type[M], *, only: Sequence[str] = (), light: bool = False):
        """`only` limits reads and inserts to these fields (others are deferred, or take their db_default).

        `light` reads rows as plain attribute holders instead of model instances: much cheaper,
        enough for reading and for `update` of the fields read or set.
        """
        self.model = model
        self.only = tuple(only)
        self.light = light

    @cached_property
    def name(self) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    @cached_property
    def fields(self) -> list[Field]:
        meta = self.model._meta
        if not self.only:
            return list(meta.concrete_fields)
        wanted = {meta.get_field(name).attname for name in self.only}
        return [f for f in meta.concrete_fields if f.attname in wanted]

    @cached_property
    def columns(self) -> str:
        """Every column, qualified by the table name, in model field order."""
        return self.columns_as(self.name)

    def columns_as(self, alias: str) -> str:
        """Every column qualified by `alias` (a short alias keeps the statement short)."""
        return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in self.fields)

    @cached_property
    def _converters(self) -> list[tuple[int, Field]]:
        return [(i, f) for i, f in enumerate(self.fields) if hasattr(f, "from_db_value")]

    @cached_property
    def _pre_save(self) -> frozenset[Field]:
        """Fields whose value is made on save (auto_now, auto_now_add)."""
        return frozenset(f for f in self.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))

    @cached_property
    def _driver_native(self) -> frozenset[Field]:
        """Fields whose Python values psycopg sends as they are: preparing them would only cost time.

        The service hands these fields already-clean values (validated text, Decimal, aware datetimes).
        """
        native = (
            models.CharField,
            models.TextField,
            models.BooleanField,
            models.IntegerField,
            models.DecimalField,
            models.DateTimeField,
            models.ForeignKey,
            models.UUIDField,
        )
        return frozenset(f for f in self.fields if isinstance(f, native) and not isinstance(f, models.JSONField))

    @cached_property
    def _attnames(self) -> list[str]:
        return [f.attname for f in self.fields]

    def select(self, where: str, params: Sequence[Any], *, suffix: str = "") -> list[M]:
        """Rows matching a WHERE clause (written against this table), as model instances."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {self.columns} FROM {self.name} WHERE {where}{suffix}", params)
            return [self.from_row(row) for row in cursor.fetchall()]

    @cached_property
    def _row_class(self) -> type:
        names = self._attnames
        pk = self.model._meta.pk.attname

        class Row:
            def __init__(self, values: Sequence[Any]):
                for name, value in zip(names, values, strict=True):
                    setattr(self, name, value)

            @property
            def pk(self) -> Any:
                return getattr(self, pk)

        Row.__name__ = f"{self.model.__name__}Row"
        return Row

    def from_row(self, row: Sequence[Any]) -> M:
        """A model instance (or a light row) from this table's columns (as `columns` lists them)."""
        values = list(row)
        for index, field in self._converters:
            values[index] = field.from_db_value(values[index], None, connection)
        if self.light:
            return self._row_class(values)
        return self.model.from_db(connection.alias, self._attnames, values)

    def _insert_sql(
        self, objs: Sequence[M], tail: str, column_sql: Mapping[str, tuple[str, list[Any]]] | None = None
    ) -> tuple[str, list[Any]]:
        quote = connection.ops.quote_name
        writable = [f for f in self.fields if not f.primary_key]
        column_sql = column_sql or {}
        rows: list[str] = []
        params: list[Any] = []
        for obj in objs:
            placeholders = []
            for f in writable:
                if f.attname in column_sql:
                    placeholders.append(column_sql[f.attname][0])
                    params += column_sql[f.attname][1]
                    continue
                value = f.pre_save(obj, add=True) if f in self._pre_save else getattr(obj, f.attname)
                if isinstance(value, DatabaseDefault):  # a field with only a db_default, left unset
                    placeholders.append("DEFAULT")
                    continue
                placeholders.append("%s")
                if f not in self._driver_native:
                    value = f.get_db_prep_save(value, connection)
                elif isinstance(value, Enum):  # psycopg would send an enum's name, Django its value
                    value = value.value
                params.append(value)
            rows.append("(" + ", ".join(placeholders) + ")")
        columns = ", ".join(quote(f.column) for f in writable)
        return f"INSERT INTO {self.name} ({columns}) VALUES {', '.join(rows)} {tail}", params

    def insert(
        self,
        objs: Sequence[M],
        *,
        batch: Batch | None = None,
        on_conflict: str = "",
        on_skipped: Callable[[], None] | None = None,
        column_sql: Mapping[str, tuple[str, list[Any]]] | None = None,
    ) -> None:
        """Insert in one statement and set each primary key (now, or when the batch runs).

        With `on_conflict` (a DO NOTHING clause) give one object; `on_skipped` runs if it was not inserted.
        `column_sql` gives some columns as SQL (with params) instead of the objects' values, e.g. the id
        of a row an earlier statement of the same batch inserts.
        """
        if not objs:
            return
        assert not on_conflict or len(objs) == 1, "skipped rows can only be told apart for one object"
        pk = connection.ops.quote_name(self.model._meta.pk.column)
        sql, params = self._insert_sql(objs, f"{on_conflict} RETURNING {pk}", column_sql)

        def set_keys(rows: list[tuple]) -> None:
            if len(rows) < len(objs):  # only with on_conflict, and then for one object
                if on_skipped is not None:
                    on_skipped()
                return
            for obj, (value,) in zip(objs, rows, strict=True):
                obj.pk = value
                obj._state.adding = False

        own = batch or Batch()
        own.add(sql, params, set_keys)
        if batch is None:
            own.flush()

    def update(self, obj: M, field_names: Sequence[str], *, batch: Batch | None = None) -> None:
        """UPDATE one row's given fields (auto_now fields included when named)."""
        quote = connection.ops.quote_name
        fields = [self.model._meta.get_field(name) for name in field_names]
        values = [f.get_db_prep_save(f.pre_save(obj, add=False), connection) for f in fields]
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        own = batch or Batch()
        own.add(
            f"UPDATE {self.name} SET {assignments} WHERE {quote(self.model._meta.pk.column)} = %s", [*values, obj.pk]
        )
        if batch is None:
            own.flush()
