"""The package's import graph, read with ``ast`` (imports under ``if TYPE_CHECKING:`` and inside
functions included): no circle anywhere, and the layers run downhill — tasks never import the
API, the trainer, the CLI, the batch runner, the gallery or the ``--alpha auto`` policy."""

from __future__ import annotations

import ast
from pathlib import Path

import tunecli

PACKAGE = Path(tunecli.__file__).parent
#: what a task module may not import (the layers above it)
ABOVE_TASKS = (
    "tunecli.api",
    "tunecli.training",
    "tunecli.cli",
    "tunecli.runner",
    "tunecli.gallery",
    "tunecli.estimation",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``{module: the tunecli modules it imports}`` (``from a.b import c`` counts as ``a.b.c``
    when that is a module, else ``a.b``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(resolve(f"{node.module}.{alias.name}") for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(resolve(alias.name) for alias in node.names)
        graph[name] = {t for t in targets if t.startswith("tunecli") and t != name}
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_finder_sees_a_circle() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "tunecli.tasks.registry" in graph["tunecli.tasks.denoise"]
    assert find_circle(graph) is None, " -> ".join(find_circle(graph) or [])


def test_tasks_import_nothing_above_them() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("tunecli.tasks"):
            above = sorted(t for t in targets if t.startswith(ABOVE_TASKS))
            assert not above, f"{module} imports {above}"
