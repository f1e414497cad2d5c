"""No import circles in ft_app (issue 16, item 7). The import graph is read from the source with `ast`: every import
statement counts, also one inside a function (putting an import off into a function hides a circle, it does not
break it), and relative imports are resolved. The checker is tested on a package with circles made on purpose."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ft_app"


def import_graph(package: Path) -> dict[str, dict[str, str]]:
    """module -> {module of the same package it imports: 'file:line' of the first such import statement}."""
    root = package.parent
    modules = {_module_name(path, root): path for path in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, path.name == "__init__.py")
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]  # `from pkg import module`
            else:
                continue
            for target in targets:
                # A module importing its own package's __init__ is how Python loads any submodule: not a circle.
                if target in modules and target != name and not name.startswith(f"{target}."):
                    edges.setdefault(target, f"{path.relative_to(root).as_posix()}:{node.lineno}")
    return graph


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from ... import` names, with a relative import resolved against the importing module."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")[: None if is_package else -1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def import_cycles(graph: dict[str, dict[str, str]]) -> list[str]:
    """One line per circle (a group of modules that import each other, directly or not): its modules, then a
    shortest circle through the first of them, each arrow with the import statement that makes it."""
    lines = []
    for group in _strongly_connected(graph):
        path = _shortest_cycle(graph, min(group), set(group))
        steps = "; ".join(f"{a} -> {b} ({graph[a][b]})" for a, b in zip(path, path[1:]))
        lines.append(f"{', '.join(sorted(group))}: {steps}")
    return sorted(lines)


def _strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, without recursion; groups of one module are no circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def _shortest_cycle(graph: dict[str, dict[str, str]], start: str, group: set[str]) -> list[str]:
    """start -> ... -> start along the fewest imports, inside the group (breadth first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child in group and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a circle but none was found")


def test_ft_app_has_no_import_circles() -> None:
    cycles = import_cycles(import_graph(PACKAGE))
    assert not cycles, "import circles in ft_app (every import counted, also inside functions):\n" + "\n".join(cycles)


def test_the_checker_finds_circles_made_on_purpose(tmp_path: Path) -> None:
    """A circle at module level, one closed by an import inside a function through a two-level relative import, and
    imports that make no circle (a submodule importing its own package; a one-way chain)."""
    package = tmp_path / "pkg"
    files = {
        "__init__.py": "from pkg import util\n",
        "util.py": "X = 1\n",
        "a.py": "from pkg import b\n",
        "b.py": "import pkg.util\n\n\ndef late():\n    from .a import A\n    return A\n",
        "c.py": "def later():\n    import pkg.sub.d\n    return pkg.sub.d\n",
        "sub/__init__.py": "",
        "sub/d.py": "from ..c import later\nfrom pkg.sub import e\n",
        "sub/e.py": "from pkg.sub import X  # its own package: no circle\nfrom .. import util\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    graph = import_graph(package)
    assert graph["pkg.b"] == {"pkg.util": "pkg/b.py:1", "pkg.a": "pkg/b.py:5"}
    assert graph["pkg.sub.d"] == {"pkg.c": "pkg/sub/d.py:1", "pkg.sub.e": "pkg/sub/d.py:2"}
    assert graph["pkg.sub.e"] == {"pkg.util": "pkg/sub/e.py:2"}
    cycles = import_cycles(graph)
    assert cycles == [
        "pkg.a, pkg.b: pkg.a -> pkg.b (pkg/a.py:1); pkg.b -> pkg.a (pkg/b.py:5)",
        "pkg.c, pkg.sub.d: pkg.c -> pkg.sub.d (pkg/c.py:2); pkg.sub.d -> pkg.c (pkg/sub/d.py:1)",
    ]
    # Without the import inside the function the second circle is gone.
    (package / "c.py").write_text("def later():\n    return None\n")
    assert import_cycles(import_graph(package)) == [cycles[0]]
