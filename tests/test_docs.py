"""The docs follow the code: operations, arguments, fields, error codes, limits and commands named; links resolve.

A newcomer reads docs/ before the code; these tests fail when the schema, the request limits or
the management commands change and the page that describes them does not.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from graphql.type import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from saleor_conveyor.errors import ErrorCode
from saleor_conveyor.graphql import documents, views
from saleor_conveyor.graphql.schema import schema

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GRAPHQL_DOC = DOCS / "graphql.md"
DELIVERY_DOC = DOCS / "delivery.md"
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
# Inline code, paired from the start of the text (a span may wrap onto the next line).
_CODE_SPAN = re.compile(r"`([^`]+)`")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The page without its code blocks (links and headings inside them are examples)."""
    return _FENCE.sub("", text)


def _sections(text: str) -> dict[str, str]:
    """Each heading's text (backticks removed) -> the text up to the next heading."""
    prose = _prose(text)
    found = list(_HEADING.finditer(prose))
    return {
        match.group(2).replace("`", ""): prose[match.end() : found[i + 1].start() if i + 1 < len(found) else None]
        for i, match in enumerate(found)
    }


def _in_code(name: str, text: str) -> bool:
    """`name` appears as a whole word inside an inline code span of the text."""
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    return any(word.search(span) for span in _CODE_SPAN.findall(text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in _HEADING.finditer(_prose(_text(path))):
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


# --- the GraphQL page --------------------------------------------------------------------------


def _root_fields() -> list[tuple[str, str, list[str]]]:
    """(Query or Mutation, field name, argument names) for every operation the schema serves."""
    operations = []
    for root in (schema.get_query_type(), schema.get_mutation_type()):
        for name, field in root.fields.items():
            operations.append((root.name, name, list(field.args)))
    return operations


@pytest.mark.parametrize(("root", "name", "arguments"), _root_fields(), ids=lambda value: str(value))
def test_every_operation_has_its_section_naming_its_arguments(root: str, name: str, arguments: list[str]) -> None:
    sections = _sections(_text(GRAPHQL_DOC))
    assert name in sections, f"docs/graphql.md has no '### `{name}`' section for {root}.{name}"
    missing = [argument for argument in arguments if not re.search(rf"\b{argument}\b", sections[name])]
    assert not missing, f"docs/graphql.md's section on {name} does not name its arguments {missing}"


def _named_types() -> list[tuple[str, list[str]]]:
    """(type name, its field or value names) for every object, input and enum type but the roots."""
    roots = {schema.get_query_type().name, schema.get_mutation_type().name}
    found = []
    for type_name, graphql_type in sorted(schema.get_type_map().items()):
        if type_name.startswith("__") or type_name in roots:
            continue
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInputObjectType):
            found.append((type_name, list(graphql_type.fields)))
        elif isinstance(graphql_type, GraphQLEnumType):
            found.append((type_name, [value.name for value in graphql_type.values]))
    return found


@pytest.mark.parametrize(("type_name", "members"), _named_types(), ids=lambda value: str(value))
def test_every_type_and_its_fields_are_named(type_name: str, members: list[str]) -> None:
    text = _prose(_text(GRAPHQL_DOC))
    assert _in_code(type_name, text), f"docs/graphql.md never names the type {type_name}"
    missing = [member for member in members if not _in_code(member, text)]
    assert not missing, f"docs/graphql.md does not name {type_name}'s {missing}"


def test_every_error_code_has_a_row() -> None:
    text = _text(GRAPHQL_DOC)
    missing = [code.value for code in ErrorCode if not re.search(rf"^\| `{code.value}` \|", text, re.M)]
    assert not missing, f"docs/graphql.md's table of error codes lacks {missing}"


def _limits() -> list[tuple[str, int]]:
    limits = [
        (name, value) for name, value in vars(documents).items() if re.fullmatch(r"(MAX|[A-Z]+_COST)_[A-Z_]+", name)
    ]
    return sorted([*limits, ("MAX_BODY_BYTES", views.MAX_BODY_BYTES)])


@pytest.mark.parametrize(("constant", "value"), _limits())
def test_every_request_limit_is_stated_with_its_value(constant: str, value: int) -> None:
    rows = [line for line in _text(GRAPHQL_DOC).splitlines() if line.startswith("|") and f"`{constant}`" in line]
    assert rows, f"docs/graphql.md's table of request limits has no row for {constant}"
    assert f"| {value:,} " in rows[0], f"docs/graphql.md gives {constant} another value than {value:,}: {rows[0]}"


def test_the_costs_quoted_are_current() -> None:
    """The examples that say what the cost limit lets through are computed, not remembered."""
    text = _text(GRAPHQL_DOC)
    page = documents.cost(
        documents.parse(
            "{ returnRequests(first: 100) { totalCount edges { node { id orderId orderNumber customerEmail status"
            " reason comment note createdAt decidedAt lines { orderLineId productName quantity } } } } }"
        )
    )
    assert f"about {round(page, -2):,}" in text, f"a page of 100 return requests now costs {page:,}"


# --- commands, links -----------------------------------------------------------------------------


def _commands() -> list[str]:
    folders = [ROOT / "saleor_conveyor" / "management" / "commands", *ROOT.glob("sandbox/*/management/commands")]
    return sorted(path.stem for folder in folders for path in folder.glob("*.py") if not path.stem.startswith("_"))


def test_there_are_commands_to_check() -> None:
    assert {"conveyor_backfill", "conveyor_demo"} <= set(_commands())


@pytest.mark.parametrize("command", _commands())
def test_every_management_command_has_a_line_in_the_operations_page(command: str) -> None:
    assert re.search(rf"^\| `{command}` \|", _text(DELIVERY_DOC), re.M), (
        f"docs/delivery.md's table of management commands has no row for {command}"
    )


def _links() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    return [
        (page.relative_to(ROOT).as_posix(), target)
        for page in pages
        for target in _LINK.findall(_prose(_text(page)))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: are not files here
    ]


def test_there_are_links_to_check() -> None:
    assert any(target.startswith("docs/") for page, target in _links() if page == "README.md")


@pytest.mark.parametrize(("page", "target"), _links())
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page: str, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    source = ROOT / page
    destination = (source.parent / path_part).resolve() if path_part else source
    relative = destination.relative_to(ROOT).as_posix() if destination.is_relative_to(ROOT) else str(destination)
    if not destination.exists():
        pytest.fail(f"{page} links to {target}: {relative} does not exist")
    if anchor and destination.suffix == ".md":
        assert anchor in _anchors(destination), f"{page} links to {target}: {relative} has no heading #{anchor}"


# --- the front page and the code's references ------------------------------------------------------


def test_the_readme_gives_the_two_commands_the_makefile_has() -> None:
    readme, makefile = _text(ROOT / "README.md"), _text(ROOT / "Makefile")
    for target in ("demo", "test"):
        assert re.search(rf"^make {target}\s", readme, re.M), f"README.md lost `make {target}`"
        assert re.search(rf"^{target}:", makefile, re.M), f"the Makefile lost its {target} target"


def test_the_code_cites_the_contract_in_the_repository() -> None:
    """The contract is docs/graphql.md; a path to a copy outside the repository would lead nowhere."""
    stale = [
        path.relative_to(ROOT).as_posix()
        for folder in ("saleor_conveyor", "sandbox", "benchmarks", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "contract/graphql.md" in _text(path) and path != Path(__file__).resolve()
    ]
    assert not stale, f"these cite contract/graphql.md; point them at docs/graphql.md: {stale}"
