"""A lean synchronous executor for graphql-core 2, and the switch between it and graphql-core's own.

It replaces `graphql.execution.execute` with the synchronous executor (graphql-core 2.3.2's
`executor.py`, which it follows step by step, without promises, middleware or the executor
object: every resolver in this schema is synchronous). `CONVEYOR_GRAPHQL_EXECUTOR` picks one
per request: "lean" (this module) or "graphql-core"; both give the same results and errors
(tests/graphql/test_execution.py runs them side by side, and the whole tests/graphql suite
runs under each). The lean one is the default because `make bench-api` with
`--variants lean,graphql-core` (asgi-pool) served myFanProfile, a read of about 120 fields,
with 16-27% more requests/s than graphql-core's (submitNps, a small answer, within noise):
docs/benchmarks.md, "Executor". Remove it when the project moves to graphql-core 3 (another
algorithm), or when a run shows graphql-core's level with it: tests/graphql/test_execution.py
pins the versions it follows and fails on an upgrade.

What it keeps of graphql-core: the ExecutionContext (operation choice, variable coercion,
fragments, @skip/@include), the ResolveInfo resolvers get, the completion rules (non-null
errors propagate to the nearest nullable field, a resolver's exception becomes a located
error at its path, leaves serialized by their type, abstract types resolved as graphql-core
does). Graphene's default resolver is read in place, without a ResolveInfo nobody looks at.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from graphene.types.resolver import attr_resolver, dict_or_attr_resolver, dict_resolver
from graphql.error import GraphQLError, GraphQLLocatedError
from graphql.execution.base import ExecutionResult, ResolveInfo
from graphql.execution.executor import execute as graphql_core_execute
from graphql.execution.executor import get_default_resolve_type_fn
from graphql.execution.executors.sync import SyncExecutor
from graphql.execution.utils import (
    ExecutionContext,
    collect_fields,
    default_resolve_fn,
    get_field_def,
    get_operation_root_type,
)
from graphql.language.ast import Document
from graphql.pyutils.default_ordered_dict import DefaultOrderedDict
from graphql.type import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)
from graphql.utils.undefined import Undefined
from promise import Promise, is_thenable

from .. import conf
from ..errors import ConveyorError

# graphql-core's own logger for resolver errors, so its filters and handlers still apply.
logger = logging.getLogger("graphql.execution.executor")

# Values that are never promises: skip the duck-typing check for them.
_PLAIN = frozenset({str, int, float, bool, list, tuple, dict, Decimal, datetime, date, type(None)})
_ATTR_RESOLVERS = (dict_or_attr_resolver, attr_resolver, dict_resolver)
_LEAF = (GraphQLScalarType, GraphQLEnumType)
_ABSTRACT = (GraphQLInterfaceType, GraphQLUnionType)


class _Leaf(NamedTuple):
    """How to answer one leaf field of an object without the general machinery."""

    response_name: str
    field_name: str
    field_asts: list
    return_type: Any
    reader: tuple[Any, str, Any] | None  # graphene's default resolver (see `_default_reader`); else `resolver` runs
    resolver: Any
    serialize: Any
    non_null: bool


class _Context(ExecutionContext):
    """graphql-core's context, with sub-field and argument caches keyed by identity, not by AST hashing."""

    __slots__ = ("_fast_subfields", "_leaf_plans")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._fast_subfields: dict[tuple[int, int], DefaultOrderedDict] = {}
        self._leaf_plans: dict[tuple[int, int], list[_Leaf] | None] = {}

    def leaf_plan(self, object_type: GraphQLObjectType, fields: DefaultOrderedDict) -> list[_Leaf] | None:
        """For an object whose selected fields are all leaves without arguments: how to answer each; else None."""
        key = (id(object_type), id(fields))
        if key not in self._leaf_plans:
            self._leaf_plans[key] = _plan_leaves(self.schema, object_type, fields)
        return self._leaf_plans[key]

    def report_error(self, error: Exception, traceback: Any = None) -> None:
        """As graphql-core, but a ConveyorError is an answer: kept for the response, never logged as a crash."""
        if isinstance(getattr(error, "original_error", None), ConveyorError):
            self.errors.append(error)
        else:
            super().report_error(error, traceback)

    def sub_fields(self, return_type: GraphQLObjectType, field_asts: list) -> DefaultOrderedDict:
        # field_asts is the list kept in the parent's (cached) field map: its identity is stable
        # for the whole request, and both objects outlive the cache.
        key = (id(return_type), id(field_asts))
        found = self._fast_subfields.get(key)
        if found is None:
            found = self._fast_subfields[key] = self.get_sub_fields(return_type, field_asts)
        return found


def execute(
    schema: GraphQLSchema,
    document: Document,
    root_value: Any = None,
    context_value: Any = None,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """Like `graphql.execution.execute` with the synchronous executor and no middleware.

    Raises GraphQLError, as graphql-core does, for an unknown operation or invalid variables.
    """
    context = _Context(
        schema, document, root_value, context_value, variable_values or {}, operation_name, None, None, False
    )
    try:
        data = _execute_operation(context, root_value)
    except Exception as error:  # a null that reached the root, or an operation that cannot run
        context.errors.append(error)
        data = None
    if not context.errors:
        return ExecutionResult(data=data)
    return ExecutionResult(data=data, errors=context.errors)


LEAN = "lean"
GRAPHQL_CORE = "graphql-core"
EXECUTORS = (LEAN, GRAPHQL_CORE)
DEFAULT_EXECUTOR = LEAN


def executor_name() -> str:
    """The executor `CONVEYOR_GRAPHQL_EXECUTOR` names ("lean" or "graphql-core"): the one place it is read."""
    name = conf.GRAPHQL_EXECUTOR
    if name not in EXECUTORS:
        raise ValueError(f"CONVEYOR_GRAPHQL_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {name!r}")
    return name


def execute_chosen(
    schema: GraphQLSchema,
    document: Document,
    *,
    context_value: Any = None,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """Run the operation with the executor the setting names; either raises GraphQLError for bad variables."""
    run = execute if executor_name() == LEAN else execute_with_graphql_core
    return run(
        schema, document, context_value=context_value, variable_values=variable_values, operation_name=operation_name
    )


class _HeldRecords(logging.Filter):
    """Holds graphql-core's own log records while `execute_with_graphql_core` runs on this thread."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        held = getattr(self.local, "records", None)
        if held is None:
            return True
        held.append(record)
        return False


_held = _HeldRecords()
_GRAPHQL_CORE_LOGGERS = ("graphql.execution.executor", "graphql.execution.utils")
for _name in _GRAPHQL_CORE_LOGGERS:
    logging.getLogger(_name).addFilter(_held)


def execute_with_graphql_core(schema: GraphQLSchema, document: Document, **kwargs: Any) -> ExecutionResult:
    """graphql-core 2's own `execute` with its synchronous executor, logging as the lean executor does.

    graphql-core logs every resolver exception with its traceback; a ConveyorError is an answer
    (a refusal), so its records are dropped and the others are passed on after the run.
    """
    _held.local.records = []
    try:
        result = graphql_core_execute(schema, document, executor=SyncExecutor(), **kwargs)
    finally:
        records, _held.local.records = _held.local.records, None
    errors = result.errors or []
    bug = any(not isinstance(getattr(error, "original_error", error), ConveyorError) for error in errors)
    for record in records:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ConveyorError) or (error is None and not bug):
            continue
        logging.getLogger(record.name).handle(record)
    return result


def _execute_operation(context: _Context, root_value: Any) -> dict[str, Any] | None:
    operation = context.operation
    root_type = get_operation_root_type(context.schema, operation)
    fields = collect_fields(context, root_type, operation.selection_set, DefaultOrderedDict(list), set())
    if operation.operation == "subscription":
        raise Exception(
            "Subscriptions are not allowed. You will need to either use the subscribe function "
            "or pass allow_subscriptions=True"
        )
    # Mutations run one after the other; so does everything here (all resolvers are synchronous).
    return _execute_fields(context, root_type, root_value, fields, [])


def _execute_fields(
    context: _Context,
    parent_type: GraphQLObjectType,
    source: Any,
    fields: DefaultOrderedDict,
    path: list,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for response_name, field_asts in fields.items():
        result = _resolve_field(context, parent_type, source, field_asts, [*path, response_name])
        if result is not Undefined:
            results[response_name] = result
    return results


def _resolve_field(context: _Context, parent_type: GraphQLObjectType, source: Any, field_asts: list, path: list) -> Any:
    field_ast = field_asts[0]
    field_name = field_ast.name.value
    field_def = get_field_def(context.schema, parent_type, field_name)
    if not field_def:
        return Undefined
    return_type = field_def.type
    resolve_fn = field_def.resolver or default_resolve_fn
    args = context.get_argument_values(field_def, field_ast) if field_def.args else {}
    info = None
    leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    reader = _default_reader(resolve_fn) if isinstance(leaf, _LEAF) else None
    try:
        if reader is not None:  # graphene's default resolver, for a leaf: the attribute (or key); no info needed
            result = _read(reader, source)
        else:
            info = _info(context, field_name, field_asts, return_type, parent_type, path)
            result = resolve_fn(source, info, **args)
    except Exception as error:
        _log_unexpected(error, parent_type, field_name)
        result = error
    if info is None and (result is None or type(result) not in _PLAIN):
        # a null (its message names the field) or anything but a plain value: as graphql-core, with info
        info = _info(context, field_name, field_asts, return_type, parent_type, path)
    return _complete_catching(context, return_type, field_asts, info, path, result)


def _log_unexpected(error: Exception, parent_type: GraphQLObjectType, field_name: str) -> None:
    """graphql-core logs every resolver exception with its traceback; a ConveyorError is an expected answer."""
    if not isinstance(error, ConveyorError):
        logger.exception(f"An error occurred while resolving field {parent_type.name}.{field_name}")
        error.stack = sys.exc_info()[2]  # type: ignore[attr-defined]


def _default_reader(resolve_fn: Any) -> tuple[Any, str, Any] | None:
    """graphene's default resolver (an attribute or a key, with a default) as (its function, name, default)."""
    if (
        type(resolve_fn) is partial
        and resolve_fn.func in _ATTR_RESOLVERS
        and not resolve_fn.keywords
        and len(resolve_fn.args) == 2
    ):
        return resolve_fn.func, *resolve_fn.args
    return None


def _read(reader: tuple[Any, str, Any], source: Any) -> Any:
    """What that default resolver returns for `source`, without building a ResolveInfo."""
    func, name, default = reader
    if func is attr_resolver or (func is dict_or_attr_resolver and not isinstance(source, dict)):
        return getattr(source, name, default)
    return source.get(name, default)


def _info(
    context: _Context, field_name: str, field_asts: list, return_type: Any, parent_type: Any, path: list
) -> ResolveInfo:
    return ResolveInfo(
        field_name,
        field_asts,
        return_type,
        parent_type,
        schema=context.schema,
        fragments=context.fragments,
        root_value=context.root_value,
        operation=context.operation,
        variable_values=context.variable_values,
        context=context.context_value,
        path=path,
    )


def _complete_catching(
    context: _Context, return_type: Any, field_asts: list, info: ResolveInfo | None, path: list, result: Any
) -> Any:
    if isinstance(return_type, GraphQLNonNull):
        return _complete(context, return_type, field_asts, info, path, result)
    try:
        return _complete(context, return_type, field_asts, info, path, result)
    except Exception as error:
        context.report_error(error, sys.exc_info()[2])
        return None


def _complete(
    context: _Context, return_type: Any, field_asts: list, info: ResolveInfo | None, path: list, result: Any
) -> Any:
    result_type = type(result)
    if result_type not in _PLAIN:
        if is_thenable(result):
            try:
                result = Promise.resolve(result).get()
            except Exception as error:
                raise GraphQLLocatedError(field_asts, original_error=error, path=path) from None
            return _complete(context, return_type, field_asts, info, path, result)
        if isinstance(result, Exception):
            raise GraphQLLocatedError(field_asts, original_error=result, path=path)

    if isinstance(return_type, GraphQLNonNull):
        completed = _complete(context, return_type.of_type, field_asts, info, path, result)
        if completed is None:
            assert info is not None
            raise GraphQLError(
                f"Cannot return null for non-nullable field {info.parent_type}.{info.field_name}.",
                field_asts,
                path=path,
            )
        return completed

    if result is None:
        return None

    if isinstance(return_type, _LEAF):
        serialized = return_type.serialize(result)
        if serialized is None:
            raise GraphQLError(f'Expected a value of type "{return_type}" but received: {result}', path=path)
        return serialized

    assert info is not None
    if isinstance(return_type, GraphQLList):
        assert isinstance(result, Iterable), (
            f"User Error: expected iterable, but did not find one for field {info.parent_type}.{info.field_name}."
        )
        item_type = return_type.of_type
        return [
            _complete_catching(context, item_type, field_asts, info, [*path, index], item)
            for index, item in enumerate(result)
        ]

    if isinstance(return_type, _ABSTRACT):
        return_type = _runtime_type(context, return_type, field_asts, info, result)

    if isinstance(return_type, GraphQLObjectType):
        if return_type.is_type_of and not return_type.is_type_of(result, info):
            raise GraphQLError(f'Expected value of type "{return_type}" but got: {type(result).__name__}.', field_asts)
        fields = context.sub_fields(return_type, field_asts)
        plan = context.leaf_plan(return_type, fields)
        if plan is not None:
            return _answer_leaves(context, plan, return_type, result, path)
        return _execute_fields(context, return_type, result, fields, path)

    raise AssertionError(f'Cannot complete value of unexpected type "{return_type}".')


def _runtime_type(
    context: _Context, return_type: Any, field_asts: list, info: ResolveInfo, result: Any
) -> GraphQLObjectType:
    """graphql-core's complete_abstract_value, up to the object type it completes with."""
    if return_type.resolve_type:
        runtime_type = return_type.resolve_type(result, info)
    else:
        runtime_type = get_default_resolve_type_fn(result, info, return_type)
    if isinstance(runtime_type, str):
        runtime_type = info.schema.get_type(runtime_type)
    if not isinstance(runtime_type, GraphQLObjectType):
        raise GraphQLError(
            f"Abstract type {return_type} must resolve to an Object type at runtime for field "
            f'{info.parent_type}.{info.field_name} with value "{result}", received "{runtime_type}".',
            field_asts,
        )
    if not context.schema.is_possible_type(return_type, runtime_type):
        raise GraphQLError(
            f'Runtime Object type "{runtime_type}" is not a possible type for "{return_type}".', field_asts
        )
    return runtime_type


def _plan_leaves(
    schema: GraphQLSchema, object_type: GraphQLObjectType, fields: DefaultOrderedDict
) -> list[_Leaf] | None:
    plan = []
    for response_name, field_asts in fields.items():
        field_name = field_asts[0].name.value
        field_def = get_field_def(schema, object_type, field_name)
        if not field_def or field_def.args:
            return None
        return_type = field_def.type
        non_null = isinstance(return_type, GraphQLNonNull)
        leaf = return_type.of_type if non_null else return_type
        if not isinstance(leaf, _LEAF):
            return None
        resolve_fn = field_def.resolver or default_resolve_fn
        plan.append(
            _Leaf(
                response_name,
                field_name,
                field_asts,
                return_type,
                _default_reader(resolve_fn),
                resolve_fn,
                leaf.serialize,
                non_null,
            )
        )
    return plan


def _answer_leaves(
    context: _Context, plan: list[_Leaf], parent_type: GraphQLObjectType, source: Any, path: list
) -> dict[str, Any]:
    """The object's leaves, each resolved once and serialized in one loop.

    A leaf whose value is not plain (an error, a promise, a null for a non-null field, a value
    its type refuses) is completed by the general path with that same value, so its errors and
    their paths are graphql-core's and no resolver runs twice.
    """
    results: dict[str, Any] = {}
    for leaf in plan:
        info = None
        try:
            if leaf.reader is not None:
                value = _read(leaf.reader, source)
            else:
                field_path = [*path, leaf.response_name]
                info = _info(context, leaf.field_name, leaf.field_asts, leaf.return_type, parent_type, field_path)
                value = leaf.resolver(source, info)
        except Exception as error:  # as _resolve_field reports it
            _log_unexpected(error, parent_type, leaf.field_name)
            value = error
        if value is None and not leaf.non_null:
            results[leaf.response_name] = None
            continue
        if value is not None and type(value) in _PLAIN:
            serialized = leaf.serialize(value)
            if serialized is not None:
                results[leaf.response_name] = serialized
                continue
        field_path = [*path, leaf.response_name]
        if info is None:
            info = _info(context, leaf.field_name, leaf.field_asts, leaf.return_type, parent_type, field_path)
        results[leaf.response_name] = _complete_catching(
            context, leaf.return_type, leaf.field_asts, info, field_path, value
        )
    return results
