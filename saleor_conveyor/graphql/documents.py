"""A query document read, bounded and validated at a cost linear in its size, whatever a caller sends.

graphql-core 2 was not written for hostile documents: its lexer walks whitespace and strings
one character at a time, its parser and two validation rules recurse without bound (a fragment
that spreads itself never returns), `OverlappingFieldsCanBeMerged` compares every pair of fields
(2,000 fields took seconds), and every unknown name is compared with every name in the schema.
So, in this order, each step cheap because the ones before it bounded its input:

1. `parse`: graphql-core's parser on a lexer that skips whitespace, comments, names and strings
   with regular expressions and refuses more than MAX_TOKENS tokens, brackets nested deeper than
   MAX_NESTING, names longer than MAX_NAME_LENGTH and numbers longer than MAX_NUMBER_LENGTH.
2. `check`: no subscriptions or schema definitions, no fragment cycles, no unused fragments,
   fragments nested at most MAX_DEPTH deep, at most MAX_DEPTH levels and MAX_FIELDS fields
   (fragments expanded, every operation counted), at most MAX_MUTATION_FIELDS mutation fields,
   introspection not mixed with data (Saleor's rule).
3. `validate`: graphql-core's rules except the quadratic one, stopping at the first error.
4. `check_merge`: what `OverlappingFieldsCanBeMerged` checks, in linear time. This schema has no
   interfaces or unions, so every field of a selection set has the same parent type and the
   rule comes down to: one response name, one field with one set of arguments, and the
   sub-selections of the fields merged under that name obey the same rule.
5. `check_cost`: the values running it would resolve, every list at an estimated length, at
   most MAX_COST (as Saleor's query cost limit), so that a valid query is also a cheap one.

Every refusal is a ConveyorError (code INVALID) or a graphql-core GraphQLError.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from contextlib import suppress

from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.execution.utils import get_field_def
from graphql.language import ast
from graphql.language.lexer import Lexer, Token, TokenKind, print_char_code, read_token
from graphql.language.parser import Parser, parse_document
from graphql.language.printer import print_ast
from graphql.language.source import Source
from graphql.language.visitor import ParallelVisitor, TypeInfoVisitor, visit
from graphql.type import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
)
from graphql.utils.type_info import TypeInfo
from graphql.validation.rules import OverlappingFieldsCanBeMerged, specified_rules
from graphql.validation.validation import ValidationContext

from ..errors import ConveyorError
from .schema import schema

# Every real query (GraphiQL's introspection query is 150 tokens, the contract's largest
# operation under 100) is far inside these; each bound keeps the work after it small.
MAX_TOKENS = 1000
MAX_NESTING = 32
MAX_NAME_LENGTH = 64
MAX_NUMBER_LENGTH = 64
# Deep enough for every real query and for GraphiQL's introspection; a 20-level query is refused.
MAX_DEPTH = 15
# Field selections of all operations, fragments expanded: stops alias and fragment floods.
MAX_FIELDS = 300
# Top-level fields of a mutation operation (aliases counted, fragments expanded), as Saleor bounds query cost.
MAX_MUTATION_FIELDS = 10
# The most values one request may resolve, estimated before it runs (see `check_cost`): a page of 100
# return requests with their lines is about 9,200 (docs/graphql.md keeps the figure current). A document that
# asks `__schema` only is held to its own bound, INTROSPECTION_COST_FACTOR times what GraphiQL's introspection
# query costs in this schema (computed once, so it grows with the schema and a flood of introspections is still
# refused).
MAX_COST = 25_000
INTROSPECTION_COST_FACTOR = 2
# Validation stops at the first error: a document of a thousand unknown names costs one suggestion.
MAX_VALIDATION_ERRORS = 1

_IGNORED = re.compile(r"(?:[\ufeff\t \n\r,]++|#[^\x00-\x08\x0a-\x1f]*+)*+")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_NUMBER = re.compile(r"[-+.0-9eE]*")
# A whole string as graphql-core reads it: no line breaks or control characters but tab, known escapes.
_STRING = re.compile(r'"((?:[^"\\\x00-\x08\x0a-\x1f]++|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*+)"')
_STRING_PREFIX = re.compile(r'(?:[^"\\\x00-\x08\x0a-\x1f]++|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*+')
_OPENERS = frozenset({TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L})
_CLOSERS = frozenset({TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R})


# --- 1. reading ------------------------------------------------------------------------------


class _Lexer(Lexer):
    """graphql-core's lexer with regular expressions for the long tokens, and the document's bounds."""

    __slots__ = ("nesting", "tokens")

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.tokens = 0
        self.nesting = 0

    def next_token(self, reset_position: int | None = None) -> Token:
        body = self.source.body
        start = self.prev_position if reset_position is None else reset_position
        token = self._read(body, _IGNORED.match(body, start).end())
        self.prev_position = token.end
        if token.kind != TokenKind.EOF:
            self.tokens += 1
            if self.tokens > MAX_TOKENS:
                raise ConveyorError(f"The query is longer than {MAX_TOKENS} tokens.", field="query")
            if token.kind in _OPENERS:
                self.nesting += 1
                if self.nesting > MAX_NESTING:
                    raise ConveyorError(f"The query nests brackets more than {MAX_NESTING} deep.", field="query")
            elif token.kind in _CLOSERS:
                self.nesting -= 1
        return token

    def _read(self, body: str, position: int) -> Token:
        char = body[position : position + 1]
        if char == '"':
            return self._string(body, position)
        name = _NAME.match(body, position)
        if name:
            if name.end() - position > MAX_NAME_LENGTH:
                raise ConveyorError(f"A name in the query is longer than {MAX_NAME_LENGTH} characters.", field="query")
            return Token(TokenKind.NAME, position, name.end(), name.group())
        if (char == "-" or "0" <= char <= "9") and _NUMBER.match(body, position).end() - position > MAX_NUMBER_LENGTH:
            raise ConveyorError(f"A number in the query is longer than {MAX_NUMBER_LENGTH} characters.", field="query")
        return read_token(self.source, position)  # punctuation, numbers, the end, or graphql-core's syntax error

    def _string(self, body: str, position: int) -> Token:
        whole = _STRING.match(body, position)
        if whole:
            raw = whole.group(1)
            value = json.loads(f'"{raw}"', strict=False) if "\\" in raw else raw
            return Token(TokenKind.STRING, position, whole.end(), value)
        # where the string goes wrong, with graphql-core's words for it
        end = _STRING_PREFIX.match(body, position + 1).end()
        code = ord(body[end]) if end < len(body) else None
        if code in (None, 0x0A, 0x0D):
            raise GraphQLSyntaxError(self.source, end, "Unterminated string")
        if code == 0x5C:  # a backslash
            escape = body[end + 1 : end + 2]
            shown = f"u{body[end + 2 : end + 6]}" if escape == "u" else escape
            raise GraphQLSyntaxError(self.source, end + 1, f"Invalid character escape sequence: \\{shown}.")
        raise GraphQLSyntaxError(self.source, end, f"Invalid character within String: {print_char_code(code)}.")


class _Parser(Parser):
    __slots__ = ()

    def __init__(self, source: Source) -> None:
        self.lexer = _Lexer(source)
        self.source = source
        self.options = {"no_location": False, "no_source": False}
        self.prev_end = 0
        self.token = self.lexer.next_token()


def parse(query: str) -> ast.Document:
    """graphql-core's document for `query`, read within the bounds; ConveyorError or GraphQLSyntaxError if not."""
    return parse_document(_Parser(Source(query)))


# --- 2. what graphql-core cannot bear ------------------------------------------------------------


def _selections(selection_set: ast.SelectionSet | None) -> Iterator[ast.Field | ast.FragmentSpread]:
    """Fields and fragment spreads of a selection set, inline fragments opened, in document order."""
    stack = [iter(selection_set.selections)] if selection_set else []
    while stack:
        for node in stack[-1]:
            if isinstance(node, ast.InlineFragment):
                stack.append(iter(node.selection_set.selections))
                break
            yield node
        else:
            stack.pop()


def _spreads(selection_set: ast.SelectionSet) -> list[str]:
    """Names of the fragments spread anywhere inside a selection set."""
    names, sets = [], [selection_set]
    while sets:
        for node in _selections(sets.pop()):
            if isinstance(node, ast.FragmentSpread):
                names.append(node.name.value)
            elif node.selection_set:
                sets.append(node.selection_set)
    return names


def _fragment_depths(fragments: dict[str, ast.FragmentDefinition]) -> dict[str, int]:
    """How deep each fragment's spreads go (a fragment spreading none is 1); refuses a cycle."""
    spreads = {name: [s for s in _spreads(f.selection_set) if s in fragments] for name, f in fragments.items()}
    depths: dict[str, int] = {}
    for root in fragments:
        if root in depths:
            continue
        path, stack = [root], [iter(spreads[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                done = path.pop()
                stack.pop()
                depths[done] = 1 + max((depths[s] for s in spreads[done]), default=0)
            elif child in path:
                via = path[path.index(child) + 1 :]
                raise ConveyorError(
                    f'Cannot spread fragment "{child}" within itself' + (f" via {', '.join(via)}." if via else ".")
                )
            elif child not in depths:
                path.append(child)
                stack.append(iter(spreads[child]))
    return depths


def _measure(
    selection_set: ast.SelectionSet, fragments: dict[str, ast.FragmentDefinition], measured: dict[str, tuple[int, int]]
) -> tuple[int, int]:
    """(depth, field count) of a selection set, fragments expanded, each fragment measured once."""
    depth = fields = 0
    for node in _selections(selection_set):
        if isinstance(node, ast.Field):
            inner_depth, inner_fields = (0, 0)
            if node.selection_set:
                inner_depth, inner_fields = _measure(node.selection_set, fragments, measured)
            depth, fields = max(depth, inner_depth + 1), fields + inner_fields + 1
        elif node.name.value in fragments:  # an unknown fragment is validation's to report
            name = node.name.value
            if name not in measured:
                measured[name] = _measure(fragments[name].selection_set, fragments, measured)
            inner_depth, inner_fields = measured[name]
            depth, fields = max(depth, inner_depth), fields + inner_fields
    return depth, fields


def _top_fields(selection_set: ast.SelectionSet, fragments: dict[str, ast.FragmentDefinition]) -> Iterator[ast.Field]:
    """The fields at the root of an operation, every fragment expanded where it is spread."""
    sets = [selection_set]
    while sets:
        for node in _selections(sets.pop()):
            if isinstance(node, ast.Field):
                yield node
            elif node.name.value in fragments:
                sets.append(fragments[node.name.value].selection_set)


def check(document: ast.Document) -> None:
    """Refuse, with a ConveyorError, a document graphql-core 2 would spend too long on or should never run."""
    operations: list[ast.OperationDefinition] = []
    fragments: dict[str, ast.FragmentDefinition] = {}
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinition):
            if definition.operation == "subscription":
                raise ConveyorError("Subscriptions are not served: send a query or a mutation.")
            operations.append(definition)
        elif isinstance(definition, ast.FragmentDefinition):
            fragments.setdefault(definition.name.value, definition)
        else:
            raise ConveyorError("Send queries, mutations and fragments only.")
    depths = _fragment_depths(fragments)
    deepest = max(depths.values(), default=0)
    if deepest > MAX_DEPTH:
        raise ConveyorError(f"The query nests fragments {deepest} deep; at most {MAX_DEPTH} are allowed.")
    used: set[str] = set()
    pending = [name for operation in operations for name in _spreads(operation.selection_set)]
    while pending:
        name = pending.pop()
        if name in fragments and name not in used:
            used.add(name)
            pending.extend(_spreads(fragments[name].selection_set))
    for name in fragments:
        if name not in used:
            raise ConveyorError(f'Fragment "{name}" is never used.')
    measured: dict[str, tuple[int, int]] = {}
    depth = fields = 0
    for operation in operations:
        operation_depth, operation_fields = _measure(operation.selection_set, fragments, measured)
        depth, fields = max(depth, operation_depth), fields + operation_fields
    if depth > MAX_DEPTH:
        raise ConveyorError(f"The query is {depth} levels deep; at most {MAX_DEPTH} are allowed.")
    if fields > MAX_FIELDS:
        raise ConveyorError(f"The query selects {fields} fields; at most {MAX_FIELDS} are allowed.")
    introspection = data = False
    for operation in operations:
        top = [field.name.value for field in _top_fields(operation.selection_set, fragments)]
        if operation.operation == "mutation" and len(top) > MAX_MUTATION_FIELDS:
            raise ConveyorError(
                f"The request runs {len(top)} mutation fields; at most {MAX_MUTATION_FIELDS} are allowed."
            )
        if operation.operation == "query":
            introspection = introspection or "__schema" in top
            data = data or any(name != "__schema" for name in top)
    if introspection and data:
        raise ConveyorError("Queries and introspection cannot be mixed in the same request.")


def introspection_only(document: ast.Document) -> bool:
    """Every operation asks `__schema` only: the answer is the same for everyone, as long as the schema."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinition)}
    names = [
        field.name.value
        for definition in document.definitions
        if isinstance(definition, ast.OperationDefinition)
        for field in _top_fields(definition.selection_set, fragments)
    ]
    return bool(names) and all(name == "__schema" for name in names)


# --- 3. graphql-core's rules, but the quadratic one, up to the first error --------------------------

_RULES = [rule for rule in specified_rules if rule is not OverlappingFieldsCanBeMerged]


class _EnoughErrors(Exception):
    pass


class _ValidationContext(ValidationContext):
    __slots__ = ()

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(error)
        if len(self.get_errors()) >= MAX_VALIDATION_ERRORS:
            raise _EnoughErrors


def validate(document: ast.Document) -> list[GraphQLError]:
    """graphql-core's validation errors (the first MAX_VALIDATION_ERRORS), without OverlappingFieldsCanBeMerged."""
    type_info = TypeInfo(schema)
    context = _ValidationContext(schema, document, type_info)
    visitors = [rule(context) for rule in _RULES]
    with suppress(_EnoughErrors):
        visit(document, TypeInfoVisitor(type_info, ParallelVisitor(visitors)))
    return context.get_errors()


# --- 4. fields that cannot be merged, in linear time -------------------------------------------------


def _arguments(field: ast.Field) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((argument.name.value, print_ast(argument.value)) for argument in field.arguments or ()))


def _merge_conflict(
    selection_sets: list[ast.SelectionSet], fragments: dict[str, ast.FragmentDefinition]
) -> tuple[str, str] | None:
    """The first (response name, reason) of fields under one name that are not one field; else None."""
    by_name: dict[str, list[ast.Field]] = {}
    seen: set[str] = set()
    sets = list(reversed(selection_sets))
    while sets:
        for node in _selections(sets.pop()):
            if isinstance(node, ast.Field):
                by_name.setdefault(node.alias.value if node.alias else node.name.value, []).append(node)
            elif node.name.value in fragments and node.name.value not in seen:
                seen.add(node.name.value)
                sets.append(fragments[node.name.value].selection_set)
    for response_name, fields in by_name.items():
        first = fields[0]
        for other in fields[1:]:
            if other.name.value != first.name.value:
                return response_name, f"{first.name.value} and {other.name.value} are different fields"
            if _arguments(other) != _arguments(first):
                return response_name, "they have differing arguments"
        inner = [field.selection_set for field in fields if field.selection_set]
        if inner:
            conflict = _merge_conflict(inner, fragments)
            if conflict:
                return response_name, f'subfields "{conflict[0]}" conflict because {conflict[1]}'
    return None


def check_merge(document: ast.Document) -> None:
    """Refuse fields that share a response name but are not the same field with the same arguments."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinition)}
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinition):
            conflict = _merge_conflict([definition.selection_set], fragments)
            if conflict:
                raise ConveyorError(
                    f'Fields "{conflict[0]}" conflict because {conflict[1]}. '
                    "Use different aliases on the fields to fetch both if this was intentional."
                )


# --- 5. what running it would cost --------------------------------------------------------------------

# How many items a list field holds, for the estimate: a page is at most 100 edges; a profile's
# touchpoints, a return's lines and the stats' rows are tens; introspection's lists as the schema makes them.
_PAGE = 100
_LIST_DEFAULT = 20


def _introspection_sizes() -> dict[str, int]:
    """Introspection's lists at their average length in this schema: `types` asks them for every type."""
    types = list(schema.get_type_map().values())
    directives = schema.get_directives()
    fields = [f for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType) for f in t.fields.values()]
    totals = {
        "fields": len(fields),
        "inputFields": sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)),
        "enumValues": sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType)),
        "interfaces": sum(len(t.interfaces) for t in types if isinstance(t, GraphQLObjectType)),
        "possibleTypes": len(types),
    }
    sizes = {name: -(-total // len(types)) for name, total in totals.items()}
    sizes["args"] = -(-sum(len(f.args) for f in fields) // max(len(fields), 1))
    sizes["locations"] = -(-sum(len(d.locations) for d in directives) // max(len(directives), 1))
    return {"types": len(types), "directives": len(directives), **{k: max(v, 1) for k, v in sizes.items()}}


_INTROSPECTION_SIZES = _introspection_sizes()


def _list_size(parent_type: GraphQLObjectType, field: ast.Field) -> int:
    if parent_type.name.startswith("__"):
        return _INTROSPECTION_SIZES.get(field.name.value, _LIST_DEFAULT)
    if field.name.value == "edges":
        return _PAGE
    return _LIST_DEFAULT


def _cost(
    selection_set: ast.SelectionSet,
    parent_type: GraphQLObjectType,
    fragments: dict[str, ast.FragmentDefinition],
    costed: dict[str, int],
) -> int:
    total = 0
    for node in _selections(selection_set):
        if isinstance(node, ast.FragmentSpread):
            name = node.name.value
            if name not in costed:
                costed[name] = _cost(fragments[name].selection_set, parent_type, fragments, costed)
            total += costed[name]
            continue
        field_def = get_field_def(schema, parent_type, node.name.value)
        if field_def is None:  # validation refuses unknown fields; nothing to cost
            continue
        graphql_type, items = field_def.type, 1
        while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
            if isinstance(graphql_type, GraphQLList):
                items *= _list_size(parent_type, node)
            graphql_type = graphql_type.of_type
        inner = 0
        if node.selection_set and isinstance(graphql_type, GraphQLObjectType):
            inner = _cost(node.selection_set, graphql_type, fragments, costed)
        total += items * (1 + inner)
    return total


def cost(document: ast.Document) -> int:
    """An estimate of the values running the document's operations would resolve, lists at their longest."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinition)}
    costed: dict[str, int] = {}
    total = 0
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinition):
            root = schema.get_mutation_type() if definition.operation == "mutation" else schema.get_query_type()
            total += _cost(definition.selection_set, root, fragments, costed)
    return total


@functools.cache
def introspection_max_cost() -> int:
    """The bound of a document that asks `__schema` only: a few times GraphiQL's own introspection query."""
    from graphql.utils.introspection_query import introspection_query

    return INTROSPECTION_COST_FACTOR * cost(parse(introspection_query))


def check_cost(document: ast.Document) -> None:
    """Refuse a valid document whose answer would be too long to compute (Saleor bounds query cost too).
    Introspection alone has its own bound (`introspection_max_cost`): its answer is the schema's, cached."""
    limit = introspection_max_cost() if introspection_only(document) else MAX_COST
    estimate = cost(document)
    if estimate > limit:
        raise ConveyorError(f"The query would cost {estimate} to answer; at most {limit} is allowed.")
