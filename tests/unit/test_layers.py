"""The layers hold: every import of every module, read with `ast`, against the rules of docs/ARCHITECTURE.md.

`shared/` is the ground and imports none of the layers above it; `collector/` (ingest and the console) and `agent/`
(the only code that talks to Salesforce and WooCommerce) do not import each other; the emulators stand apart from
the product; `cli/` is the one place that wires them together. Imports inside functions and under
`if TYPE_CHECKING:` count too: a function-level import is still a dependency, only a later one.

Module-level imports must also not form a cycle (a cycle that only works because of import order breaks the day
someone reorders an import).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "collector", "agent", "cli", "emulators")

# layer -> the top-level packages it must not import. bench/ is not installed with the wheel, so nothing
# installed may import it.
FORBIDDEN: dict[str, frozenset[str]] = {
    "shared": frozenset({"agent", "collector", "emulators", "bench", "cli"}),
    "collector": frozenset({"agent", "emulators", "bench", "cli"}),
    "agent": frozenset({"collector", "emulators", "bench", "cli"}),
    "emulators": frozenset({"agent", "collector", "bench", "cli"}),
    "cli": frozenset({"bench"}),
}


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # absolute dotted name as written (`from a.b import c` -> "a.b", name "c")
    names: tuple[str, ...]  # the names of a `from` import; empty for `import x`
    module_level: bool  # runs when the module is imported (not inside a function, not under TYPE_CHECKING)


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in `source`, with whether it runs at import time."""
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(node.lineno, alias.name, (), module_level))
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append(Import(node.lineno, _resolve(node, module, is_package), names, module_level))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for child in ast.iter_child_nodes(node):
                visit(child, False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            visit(node.test, module_level)
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, module_level)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child, module_level)

    visit(ast.parse(source), True)
    return found


def layer_violations(rel: str, source: str) -> list[str]:
    """`file:line: message` for each import that breaks the layer rules, for the file at `rel` (repo-relative)."""
    path = Path(rel)
    layer = path.parts[0]
    forbidden = FORBIDDEN.get(layer, frozenset())
    out = []
    for imp in imports_of(source, module_name(path), path.name == "__init__.py"):
        top = imp.target.split(".")[0]
        if top in forbidden:
            where = "" if imp.module_level else " (inside a function or TYPE_CHECKING: still a dependency)"
            out.append(f"{rel}:{imp.line}: {layer}/ must not import {top}/ (imports {imp.target}){where}")
    return out


def _sources() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def import_graph(sources: dict[str, str]) -> dict[str, dict[str, str]]:
    """module -> {imported module: "file:line"}, module-level imports between the given modules only.

    `from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg` (its __init__)."""
    modules = {module_name(Path(rel)): rel for rel in sources}
    graph: dict[str, dict[str, str]] = {m: {} for m in modules}
    for module, rel in modules.items():
        for imp in imports_of(sources[rel], module, rel.endswith("__init__.py")):
            if not imp.module_level:
                continue
            targets = [f"{imp.target}.{n}" if f"{imp.target}.{n}" in modules else imp.target for n in imp.names]
            for target in targets or [imp.target]:
                if target in modules and target != module:
                    graph[module].setdefault(target, f"{rel}:{imp.line}")
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle (as a closed path of modules) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    found = []
    for component in components:
        start = min(component)
        # shortest way back to start inside the component (breadth first)
        paths = {start: [start]}
        frontier = [start]
        closed: list[str] | None = None
        while frontier and closed is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start:
                        closed = paths[v] + [start]
                        break
                    if w in component and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if closed:
                    break
            frontier = nxt
        assert closed is not None
        found.append(closed)
    return found


def describe(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    return "import cycle: " + " -> ".join(f"{a} ({graph[a][b]})" for a, b in pairwise(cycle)) + f" -> {cycle[-1]}"


# --- the checks ---------------------------------------------------------------------------------------------


def test_no_module_imports_a_layer_above_or_beside_it() -> None:
    violations = [v for rel, source in _sources() for v in layer_violations(rel, source)]
    assert not violations, "layer rules broken (see tests/unit/test_layers.py):\n" + "\n".join(violations)


def test_no_import_cycles_at_module_level() -> None:
    graph = import_graph(dict(_sources()))
    found = [describe(c, graph) for c in cycles(graph)]
    assert not found, "\n".join(found)


# --- the checker fires (a check that cannot fail is no check) -----------------------------------------------


def test_checker_reports_an_upward_import_with_file_and_line() -> None:
    source = "import json\n\nfrom agent.delivery import engine\n"
    assert layer_violations("shared/db.py", source) == [
        "shared/db.py:3: shared/ must not import agent/ (imports agent.delivery)"
    ]


def test_checker_reports_imports_inside_functions_and_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from collector.keys import DB\n"
        "async def erase():\n"
        "    import emulators.salesforce\n"
        "    from ..collector import app\n"
    )
    reported = layer_violations("agent/erasure.py", source)
    assert [r.split(":")[1] for r in reported] == ["3", "5", "6"], reported
    # a relative import that climbs out of agent/ resolves to the top-level package it names
    assert imports_of(source, "agent.erasure")[-1].target == "collector"
    assert layer_violations("collector/api/handlers.py", "def f():\n    from agent.erasure import erase\n")
    assert layer_violations("emulators/x.py", "import collector.app\n")
    assert layer_violations("cli/main.py", "import agent.app, collector.app, emulators.demo\n") == []


def test_cycle_detection_resolves_submodules_and_ignores_function_level_imports() -> None:
    sources = {
        "agent/__init__.py": "",
        "agent/twoway/__init__.py": "",
        "agent/twoway/ownership.py": "from agent.twoway import poll\n",
        "agent/twoway/poll.py": "from agent.twoway.ownership import owner\n",
        "agent/mapping.py": "def f():\n    from agent.twoway import ownership\n",
    }
    graph = import_graph(sources)
    assert graph["agent.twoway.ownership"] == {"agent.twoway.poll": "agent/twoway/ownership.py:1"}
    assert graph["agent.mapping"] == {}
    assert cycles(graph) == [["agent.twoway.ownership", "agent.twoway.poll", "agent.twoway.ownership"]]
    assert "agent/twoway/poll.py:1" in describe(cycles(graph)[0], graph)
