"""The product code's shape: no import cycle among its modules (lazy imports included), no oversized module.

Import-linter holds the packages' layers; these checks read every import
statement, the ones inside functions too, which import-linter also sees but
which hide a cycle from the interpreter until the function first runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
PACKAGES: Final = ("schema", "runtime", "volunteer", "ingest", "writer", "dashboard", "spartakus")
MAX_LINES: Final = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _product_modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The product modules one import statement loads (not the packages around them)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    if not isinstance(node, ast.ImportFrom):
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        origin = ".".join([*base, node.module] if node.module else base)
    else:
        origin = node.module or ""
    found_submodule = False
    for alias in node.names:
        if f"{origin}.{alias.name}" in known:
            found_submodule = True
            yield f"{origin}.{alias.name}"
    if not found_submodule and origin in known:
        yield origin


def _import_graph() -> dict[str, set[str]]:
    modules = _product_modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {
            target for node in ast.walk(tree) for target in _imported(node, name, is_package, known) if target != name
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_inside_functions_and_relative_ones_count() -> None:
    source = "def open_sink():\n    from a.duck import DuckSink\n    from . import free\n    import a.sinks\n"
    known = {"a.duck", "a.free", "a.sinks", "a.worker"}

    found = {target for node in ast.walk(ast.parse(source)) for target in _imported(node, "a.worker", False, known)}

    assert found == {"a.duck", "a.free", "a.sinks"}


def test_every_edge_names_a_product_module() -> None:
    graph = _import_graph()

    assert "runtime.settings" in graph["ingest.settings"]
    assert all(target in graph for targets in graph.values() for target in targets)


def test_a_cycle_hidden_in_a_function_is_found() -> None:
    graph = {"a.sinks": {"a.duck"}, "a.duck": {"a.sinks"}, "a.free": set()}

    assert _cycles(graph) == [["a.duck", "a.sinks"]]


def test_no_import_cycle_among_product_modules() -> None:
    assert _cycles(_import_graph()) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_product_module_is_over_400_lines(package: str) -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }

    assert too_long == {}
