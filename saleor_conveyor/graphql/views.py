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
from collections import Counter
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from graphql import GraphQLError
from graphql.language import ast
from graphql.type import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.utils.type_from_ast import type_from_ast

from ..errors import ConveyorError, ErrorCode
from ..hosts import get_host
from . import documents
from .documents import (  # noqa: F401  (the limits, where callers and docs/graphql.md look for them)
    MAX_COST,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_MUTATION_FIELDS,
    MAX_NAME_LENGTH,
    MAX_NESTING,
    MAX_TOKENS,
    MAX_VALIDATION_ERRORS,
)
from .execution import execute_chosen as execute  # the executor CONVEYOR_GRAPHQL_EXECUTOR names
from .schema import schema

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_CACHED_QUERY_MAX = 20_000
_INTROSPECTION_ANSWERS_MAX = 16
_INT_RANGE = (-(2**31), 2**31 - 1)
_BAD_ARGUMENT = re.compile(r'^Argument "(?P<name>\w+)" has invalid value (?P<value>.*?)\.\n', re.S)
_EXPECTED_TYPE = re.compile(r'Expected type "(?P<type>\w+)!?"')


def _error(message: str, code: str = ErrorCode.INVALID, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra, "extensions": {"code": str(code), "field": field}}


def _refuse(status: int, *errors: dict[str, Any], **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": list(errors)}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


# --- the document: parsed, bounded and validated once per distinct query ----------------------


def _located(error: GraphQLError) -> dict[str, Any]:
    locations = [{"line": loc.line, "column": loc.column} for loc in error.locations or ()]
    message = str(error)
    field, code = None, ErrorCode.INVALID
    bad = _BAD_ARGUMENT.match(message)
    if bad:
        field = bad.group("name")
        expected = _EXPECTED_TYPE.search(message)
        if expected and expected.group("type") in ("Int", "Float") and _is_number(bad.group("value")):
            code = ErrorCode.OUT_OF_RANGE  # a number, but not one the argument accepts (7.5 or 10**30 for an Int)
    return _error(message, code, field, **({"locations": locations} if locations else {}))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _prepare(query: str) -> tuple[ast.Document | None, list[dict[str, Any]]]:
    """Parse, bound and validate a query; returns the document or the errors (see `documents`)."""
    try:
        document = documents.parse(query)
        documents.check(document)
        errors = documents.validate(document)
        if errors:
            return None, [_located(error) for error in errors]
        documents.check_merge(document)
        documents.check_cost(document)
    except ConveyorError as error:
        return None, [_error(error.message, error.code, error.field)]
    except GraphQLError as error:
        return None, [_located(error)]
    except RecursionError:  # the bounds should make this unreachable; never a 500 if they do not
        return None, [_error("The query is nested too deeply.", field="query")]
    return document, []


_prepare_cached = lru_cache(maxsize=512)(_prepare)


def prepare(query: str) -> tuple[ast.Document | None, list[dict[str, Any]]]:
    """Short queries (every real client's) are cached; one-off huge ones are not kept in memory."""
    return _prepare_cached(query) if len(query) <= _CACHED_QUERY_MAX else _prepare(query)


# --- variables: GraphQL 2 would round 7.5 to 7 and read "false" as true; refuse instead -----


def _shown(value: Any) -> str:
    """A short, safe rendering of a variable's value for a message (never the whole of a deep value)."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return json.dumps(value)[:40]


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
        for name in value:
            if name not in graphql_type.fields:
                return _error(f"{path}.{name[:40]} is not a field of {graphql_type.name}.", field=path)
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
            return _error(f"{path} must be a whole number, got {_shown(value)}.", field=path)
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            return _error(f"{path} is out of range, got {_shown(value)}.", ErrorCode.OUT_OF_RANGE, path)
    elif graphql_type is GraphQLBoolean and not isinstance(value, bool):
        return _error(f"{path} must be true or false.", field=path)
    elif graphql_type is GraphQLString and not isinstance(value, str):
        return _error(f"{path} must be a string.", field=path)
    elif graphql_type is GraphQLID and (isinstance(value, bool) or not isinstance(value, str | int)):
        return _error(f"{path} must be an ID.", field=path)
    elif graphql_type is GraphQLFloat and (isinstance(value, bool) or not isinstance(value, int | float)):
        return _error(f"{path} must be a number.", field=path)
    elif isinstance(graphql_type, GraphQLEnumType | GraphQLScalarType) and not isinstance(value, str | int | float):
        return _error(f"{path} must be a {graphql_type.name}, got {_shown(value)}.", field=path)
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


def _log_refusals(errors: list[Exception]) -> None:
    """The answers a request refused, in one line at INFO: a refusal is an answer, not a fault."""
    codes = Counter(
        str(error.original_error.code)
        for error in errors
        if isinstance(getattr(error, "original_error", None), ConveyorError)
    )
    if codes:
        logger.info("GraphQL request refused %s", ", ".join(f"{count} {code}" for code, count in codes.items()))


_introspection_answers: dict[tuple[str, str | None], tuple[int, dict[str, Any]]] = {}


def clear_caches() -> None:
    """Forget prepared documents and introspection answers (tests that time or count preparing)."""
    _prepare_cached.cache_clear()
    _introspection_answers.clear()


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
    # As Saleor: introspection is served (the schema is public), its answer computed once outside debug.
    cacheable = not variables and not settings.DEBUG and documents.introspection_only(document)
    key = (query, operation_name)
    if cacheable and key in _introspection_answers:
        return _introspection_answers[key]
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
        _log_refusals(result.errors)
        body["errors"] = [_format(error) for error in result.errors]
    elif cacheable:
        if len(_introspection_answers) >= _INTROSPECTION_ANSWERS_MAX:
            _introspection_answers.clear()
        _introspection_answers[key] = (200, body)
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
    except RecursionError:
        return None, _refuse(400, _error("The request body is nested too deeply."))
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


# A page of our own to try queries in debug: nothing loaded from elsewhere, no third-party code.
GRAPHIQL_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conveyor GraphQL</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1rem; display: grid; gap: .5rem;
       grid-template-columns: 1fr 1fr; grid-template-rows: auto 1fr auto auto; height: calc(100vh - 2rem); }
h1 { font-size: 1rem; margin: 0; grid-column: 1 / 3; }
label { display: flex; flex-direction: column; gap: .25rem; }
textarea, pre, input { font: 13px ui-monospace, monospace; box-sizing: border-box; width: 100%; }
#query { height: 100%; } #variables { height: 8rem; }
#answer { grid-column: 2; grid-row: 2 / 5; margin: 0; padding: .5rem; overflow: auto; background: #f6f6f6; }
</style></head>
<body>
<h1>Conveyor GraphQL (debug only). Ctrl+Enter runs the query.</h1>
<label>Query <textarea id="query" spellcheck="false">{ myFanProfile { stage } }</textarea></label>
<pre id="answer" aria-live="polite"></pre>
<label>Variables (JSON) <textarea id="variables" spellcheck="false">{}</textarea></label>
<div><label>Bearer token (optional) <input id="token" autocomplete="off"></label>
<button id="run" type="button">Run</button></div>
<script>
const field = (id) => document.getElementById(id);
async function run() {
  const answer = field("answer");
  let variables;
  try { variables = JSON.parse(field("variables").value || "{}"); }
  catch (error) { answer.textContent = "Variables are not JSON: " + error.message; return; }
  const headers = {"Content-Type": "application/json"};
  if (field("token").value.trim()) headers.Authorization = "Bearer " + field("token").value.trim();
  answer.textContent = "...";
  try {
    const response = await fetch(window.location.pathname, {method: "POST", headers, credentials: "same-origin",
      body: JSON.stringify({query: field("query").value, variables})});
    const text = await response.text();
    try { answer.textContent = response.status + "\\n" + JSON.stringify(JSON.parse(text), null, 2); }
    catch (error) { answer.textContent = response.status + "\\n" + text; }
  } catch (error) { answer.textContent = "The request failed: " + error.message; }
}
field("run").addEventListener("click", run);
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run();
});
</script></body></html>
"""
