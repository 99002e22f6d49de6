"""The package's import graph has no cycle (issue 16): every `import` of an `analytics_engine` module,
at module level or inside a function (a lazy import still couples the two modules), read with `ast`.

Imports under `if TYPE_CHECKING:` are not counted: they never run, and a facade that hands out
objects typed by it (the warehouse and its tenant scopes) needs them. A module importing its own
package's `__init__` is not counted: `from analytics_engine.x import y`
runs `x/__init__.py`, but it is a package, not a peer that could import back."""

from __future__ import annotations

import ast
from pathlib import Path

import analytics_engine

ROOT = Path(analytics_engine.__file__).parent
PACKAGE = "analytics_engine"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The analytics_engine modules `path` imports (a `from m import name` naming a submodule counts as it)."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    own = {m for m in found if m.startswith(PACKAGE) and m in modules}
    # Deepest existing module for `import a.b.c` style names that are not modules themselves.
    return {m for m in own if m != name and not name.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_finder_sees_a_cycle() -> None:
    # The checker itself can fail: a two-module loop is reported.
    assert find_cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "analytics_engine.exports.sources" in graph["analytics_engine.exports.integrations"]
    assert "analytics_engine.insights.registry" in graph["analytics_engine.metrics.service"]


def test_exports_integrations_and_sources_do_not_import_each_other() -> None:
    graph = import_graph()
    assert "analytics_engine.exports.integrations" not in graph["analytics_engine.exports.sources"]


def test_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None
