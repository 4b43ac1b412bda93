"""The package's layers, read from its source with `ast` (nothing is imported):

- engine/ is pure: the standard library and itself, no Django;
- only the Saleor modules (saleor/ and hosts/saleor.py) import Saleor, so the core runs without it;
- the core does not reach into saleor/ (only the entry point, the Saleor host and start-up wiring do);
- no import cycle, neither among module-level imports nor once imports inside functions are counted too
  (an import moved into a function only to dodge a cycle is still a cycle).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "saleor_conveyor"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Modules outside saleor/ that may import Saleor itself.
SALEOR_IMPORTERS = {"saleor_conveyor.hosts.saleor"}
# Modules outside saleor/ that may import from saleor/: the entry point, the Saleor host, start-up wiring,
# and the commands that only run inside Saleor.
SALEOR_FOLDER_USERS = {"saleor_conveyor.plugin", "saleor_conveyor.hosts.saleor", "saleor_conveyor.apps"}
# Imports inside functions that still close a cycle, each with who removes it. Tolerated, not required.
PENDING_CYCLE_EDGES: set[tuple[str, str]] = set()  # edges to cut later; none left


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a dotted module name (ours resolved to the submodule when one is named)
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every import node with whether it runs later (inside a function) or at import; TYPE_CHECKING skipped."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (item for branch in child.orelse for item in _walk_one(branch, in_function))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def _walk_one(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, in_function
    yield from _walk(node, in_function)


def imports(name: str, path: Path, known: set[str]) -> list[Import]:
    is_package = path.name == "__init__.py"
    found = []
    for node, in_function in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import delivery` imports the submodule; `from .hosts import get_host` the package.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names
            ]
        found.extend(Import(name, target, node.lineno, in_function) for target in targets)
    return found


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    found = modules()
    known = set(found)
    return [item for name, path in found.items() for item in imports(name, path, known)]


def _ours(target: str) -> bool:
    return target == PACKAGE or target.startswith(PACKAGE + ".")


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def offending(graph: list[Import], wrong) -> list[str]:
    """The imports `wrong(importer, target)` refuses, as `module:line imports target`."""
    return [f"{item.importer}:{item.line} imports {item.target}" for item in graph if wrong(item.importer, item.target)]


def test_the_engine_imports_only_the_standard_library_and_itself(graph):
    engine = f"{PACKAGE}.engine"
    assert (
        offending(
            graph,
            lambda importer, target: _in(importer, engine)
            and not _in(target, engine)
            and target.split(".")[0] not in sys.stdlib_module_names,
        )
        == []
    )


def test_only_the_saleor_modules_import_saleor(graph):
    assert (
        offending(
            graph,
            lambda importer, target: target.split(".")[0] == "saleor"
            and not _in(importer, f"{PACKAGE}.saleor")
            and importer not in SALEOR_IMPORTERS,
        )
        == []
    )


def test_the_core_does_not_reach_into_the_saleor_folder(graph):
    assert (
        offending(
            graph,
            lambda importer, target: _in(target, f"{PACKAGE}.saleor")
            and not _in(importer, f"{PACKAGE}.saleor")
            and importer not in SALEOR_FOLDER_USERS
            and not _in(importer, f"{PACKAGE}.management.commands"),
        )
        == []
    )


def _edges(graph: list[Import], *, with_functions: bool) -> dict[str, set[str]]:
    """Who imports whom among our modules; importing a.b.c runs the packages a.b and a too."""
    edges: dict[str, set[str]] = {}
    for item in graph:
        if not _ours(item.target) or (item.in_function and not with_functions) or item.target == item.importer:
            continue
        if with_functions and (item.importer, item.target) in PENDING_CYCLE_EDGES:
            continue
        parts = item.target.split(".")
        for end in range(2, len(parts) + 1):
            target = ".".join(parts[:end])
            if not _in(item.importer, target):  # a module's own packages are loaded before it
                edges.setdefault(item.importer, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a path back to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_import_cycle_among_module_level_imports(graph):
    assert find_cycle(_edges(graph, with_functions=False)) is None


def test_no_import_cycle_hidden_in_a_function(graph):
    assert find_cycle(_edges(graph, with_functions=True)) is None


def test_the_walk_sees_every_kind_of_import(graph):
    """The checks above are only as good as the walk: it finds relative, absolute and in-function imports."""
    seen = {(item.importer, item.target, item.in_function) for item in graph}
    assert ("saleor_conveyor.tasks", "saleor_conveyor.delivery", False) in seen  # from . import conveyor, delivery
    assert ("saleor_conveyor.saleor.plugin", "saleor_conveyor.hosts.saleor", False) in seen  # from ..hosts.saleor
    assert ("saleor_conveyor.hosts.saleor", "saleor.core.utils", True) in seen  # in a method
    assert ("saleor_conveyor.apps", "saleor_conveyor.checks", True) in seen  # in ready()
