"""The HTTP endpoint: POST JSON only, bounded in size and depth, errors typed, never a stack trace.

`handle_graphql_request(request)` is the one entry point: the sandbox routes `/graphql/`
to it and the Saleor plugin calls it for `/plugins/global/conveyor.crm/graphql/`. Who
is asking comes from the host (`get_host().user_from_request`), never from here.

Errors outside a mutation's payload use Saleor-like top-level entries:
`{"message", "locations", "path", "extensions": {"code", "field"}}`, where `code` is a
ConveyorErrorCode (INVALID for a request GraphQL refuses before running it), or
INTERNAL_ERROR for a bug (logged, details never sent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from graphql import GraphQLError, parse, validate
from graphql.language import ast
from graphql.type import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLString,
)
from graphql.utils.type_from_ast import type_from_ast

from ..errors import ConveyorError, ErrorCode
from ..hosts import get_host
from .execution import execute
from .schema import schema

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Deep enough for every real query and for GraphiQL's introspection; a 20-level query is refused.
MAX_DEPTH = 15
# Field selections after expanding fragments: stops alias and fragment floods.
MAX_FIELDS = 2000
_CACHED_QUERY_MAX = 20_000
_INT_RANGE = (-(2**31), 2**31 - 1)
_BAD_ARGUMENT = re.compile(r'^Argument "(?P<name>\w+)" has invalid value (?P<value>.*?)\.\n', re.S)


class _QuietConveyorErrors(logging.Filter):
    """graphql-core logs every resolver exception; a ConveyorError is an answer, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ConveyorError):
            return False
        return "saleor_conveyor.errors.ConveyorError" not in record.getMessage()


for _name in ("graphql.execution.utils", "graphql.execution.executor"):
    logging.getLogger(_name).addFilter(_QuietConveyorErrors())


def _error(message: str, code: str = ErrorCode.INVALID, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra, "extensions": {"code": str(code), "field": field}}


def _refuse(status: int, *errors: dict[str, Any], **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": list(errors)}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


# --- the document: parsed, measured and validated once per distinct query -----------------


def _measure(document: ast.Document) -> tuple[int, int]:
    """(depth, field count) of the deepest operation, fragments expanded, each fragment measured once."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinition)}
    measured: dict[str, tuple[int, int]] = {}

    def selections(selection_set: ast.SelectionSet | None, stack: frozenset[str]) -> tuple[int, int]:
        depth = fields = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, ast.Field):
                inner_depth, inner_fields = selections(node.selection_set, stack)
                depth, fields = max(depth, inner_depth + 1), fields + inner_fields + 1
            elif isinstance(node, ast.InlineFragment):
                inner_depth, inner_fields = selections(node.selection_set, stack)
                depth, fields = max(depth, inner_depth), fields + inner_fields
            elif isinstance(node, ast.FragmentSpread):
                name = node.name.value
                if name in stack or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation reports it
                if name not in measured:
                    measured[name] = selections(fragments[name].selection_set, stack | {name})
                inner_depth, inner_fields = measured[name]
                depth, fields = max(depth, inner_depth), fields + inner_fields
        return depth, fields

    worst = (0, 0)
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinition):
            depth, fields = selections(definition.selection_set, frozenset())
            worst = (max(worst[0], depth), max(worst[1], fields))
    return worst


def _located(error: GraphQLError) -> dict[str, Any]:
    locations = [{"line": loc.line, "column": loc.column} for loc in error.locations or ()]
    message = str(error)
    field, code = None, ErrorCode.INVALID
    bad = _BAD_ARGUMENT.match(message)
    if bad:
        field = bad.group("name")
        try:
            float(bad.group("value"))
            code = ErrorCode.OUT_OF_RANGE  # a number, but not one the argument accepts (e.g. 7.5 for Int)
        except ValueError:
            pass
    return _error(message, code, field, **({"locations": locations} if locations else {}))


def _prepare(query: str) -> tuple[ast.Document | None, list[dict[str, Any]]]:
    """Parse, bound and validate a query; returns the document or the errors."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return None, [_located(error)]
    except Exception:  # graphql-core 2 may raise plain errors on odd input; never a trace
        return None, [_error("The query could not be parsed.")]
    depth, fields = _measure(document)
    if depth > MAX_DEPTH:
        return None, [_error(f"The query is {depth} levels deep; at most {MAX_DEPTH} are allowed.")]
    if fields > MAX_FIELDS:
        return None, [_error(f"The query selects {fields} fields; at most {MAX_FIELDS} are allowed.")]
    errors = validate(schema, document)
    if errors:
        return None, [_located(error) for error in errors]
    return document, []


_prepare_cached = lru_cache(maxsize=512)(_prepare)


def prepare(query: str) -> tuple[ast.Document | None, list[dict[str, Any]]]:
    """Short queries (every real client's) are cached; one-off huge ones are not kept in memory."""
    return _prepare_cached(query) if len(query) <= _CACHED_QUERY_MAX else _prepare(query)


# --- variables: GraphQL 2 would round 7.5 to 7 and read "false" as true; refuse instead -----


def _check_value(graphql_type: Any, value: Any, path: str) -> dict[str, Any] | None:
    if isinstance(graphql_type, GraphQLNonNull):
        graphql_type = graphql_type.of_type
    if value is None:
        return None  # missing required values are GraphQL's to report
    if isinstance(graphql_type, GraphQLList):
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            problem = _check_value(graphql_type.of_type, item, f"{path}.{index}")
            if problem:
                return problem
        return None
    if isinstance(graphql_type, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return _error(f"{path} must be an object.", field=path)
        for name, field in graphql_type.fields.items():
            problem = _check_value(field.type, value.get(name), f"{path}.{name}")
            if problem:
                return problem
        return None
    if graphql_type is GraphQLInt:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, float):
            return _error(f"{path} must be a whole number, got {value}.", ErrorCode.OUT_OF_RANGE, path)
        if isinstance(value, bool) or not isinstance(value, int):
            return _error(f"{path} must be a whole number, got {json.dumps(value)[:40]}.", field=path)
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            return _error(f"{path} is out of range, got {value}.", ErrorCode.OUT_OF_RANGE, path)
    elif graphql_type is GraphQLBoolean and not isinstance(value, bool):
        return _error(f"{path} must be true or false.", field=path)
    elif graphql_type is GraphQLString and not isinstance(value, str):
        return _error(f"{path} must be a string.", field=path)
    elif graphql_type is GraphQLID and (isinstance(value, bool) or not isinstance(value, str | int)):
        return _error(f"{path} must be an ID.", field=path)
    return None


def _check_variables(document: ast.Document, operation_name: str | None, variables: dict[str, Any]) -> list[dict]:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    if len(chosen) != 1:
        return [_error("Name the operation to run (operationName)." if chosen else "No operation of that name.")]
    for definition in chosen[0].variable_definitions or ():
        name = definition.variable.name.value
        problem = _check_value(type_from_ast(schema, definition.type), variables.get(name), name)
        if problem:
            return [problem]
    return []


# --- results -------------------------------------------------------------------------------


def _format(error: Exception) -> dict[str, Any]:
    original = getattr(error, "original_error", None)
    located = {}
    if isinstance(error, GraphQLError):
        if error.locations:
            located["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        if error.path:
            located["path"] = error.path
    if isinstance(original, ConveyorError):
        return _error(original.message, original.code, original.field, **located)
    if isinstance(error, GraphQLError) and original is None:
        return _error(str(error), **located)
    logger.error("GraphQL resolver failed", exc_info=(type(original or error), original or error, None))
    return _error("Internal server error.", "INTERNAL_ERROR", **located)


def run(
    request: HttpRequest, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Execute one operation for this request: (HTTP status, response body)."""
    document, errors = prepare(query)
    if document is None:
        return 400, {"errors": errors}
    variables = variables or {}
    errors = _check_variables(document, operation_name, variables)
    if errors:
        return 400, {"errors": errors}
    mutation = any(  # the one operation `_check_variables` found to run
        isinstance(d, ast.OperationDefinition)
        and d.operation == "mutation"
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
        for d in document.definitions
    )
    if mutation:
        # What Saleor's patch_executor() gives its own mutations, which this executor does not pass through:
        # the writer open while the fields resolve, and the request marked so Saleor's loaders read the writer.
        request.allow_replica = False  # type: ignore[attr-defined]
    try:
        with get_host().writer() if mutation else contextlib.nullcontext():
            result = execute(
                schema, document, context_value=request, variable_values=variables, operation_name=operation_name
            )
    except GraphQLError as error:  # variables GraphQL itself refuses (missing, unknown enum value)
        return 400, {"errors": [_format(error)]}
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format(error) for error in result.errors]
    return 200, body


def _body(request: HttpRequest) -> tuple[dict[str, Any] | None, JsonResponse | None]:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = _error(f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
    if declared > MAX_BODY_BYTES:
        return None, _refuse(413, too_big)
    try:
        raw = request.body
    except RequestDataTooBig:
        return None, _refuse(413, too_big)
    if len(raw) > MAX_BODY_BYTES:
        return None, _refuse(413, too_big)
    content_type = request.content_type or ""
    if content_type not in ("application/json", "application/graphql+json"):
        return None, _refuse(415, _error("Send the request as JSON (Content-Type: application/json)."))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, _refuse(400, _error("The request body is not valid JSON."))
    if not isinstance(data, dict):
        return None, _refuse(400, _error("Send one operation as a JSON object: {query, variables, operationName}."))
    return data, None


@csrf_exempt
def handle_graphql_request(request: HttpRequest) -> HttpResponse:
    """POST {query, variables, operationName} -> {data, errors}; GET shows GraphiQL in debug only."""
    if request.method == "GET" and settings.DEBUG:
        return HttpResponse(GRAPHIQL_HTML, content_type="text/html; charset=utf-8")
    if request.method != "POST":
        return _refuse(405, _error("Use POST with a JSON body."), Allow="POST")
    data, refused = _body(request)
    if refused is not None:
        return refused
    assert data is not None
    query, variables, operation_name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return _refuse(400, _error("query must be a GraphQL document (a string).", field="query"))
    if variables is not None and not isinstance(variables, dict):
        return _refuse(400, _error("variables must be a JSON object.", field="variables"))
    if operation_name is not None and not isinstance(operation_name, str):
        return _refuse(400, _error("operationName must be a string.", field="operationName"))
    status, body = run(request, query, variables, operation_name)
    return JsonResponse(body, status=status, encoder=DjangoJSONEncoder)


GRAPHIQL_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Conveyor GraphQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.0.10/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script src="https://unpkg.com/react@18.2.0/umd/react.production.min.js"></script>
<script src="https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js"></script>
<script src="https://unpkg.com/graphiql@3.0.10/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({url: window.location.pathname});
ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {fetcher}));
</script></body></html>
"""
