"""raycxr's import graph, read with ``ast`` (nothing is imported): package boundaries and no cycles.

(a) A module imports another package's public names only (Optuna's way: ``optuna.samplers``,
    never ``optuna.samplers._tpe``): no ``raycxr.<pkg>._<module>`` and no ``_private`` name
    from outside ``<pkg>``. Inside a package, private modules import each other freely.
(b) No import cycle between modules. The graph has every ``import`` statement that runs:
    module-level ones *and* those inside functions (a deferred import is still a dependency,
    and deferring is the usual way to hide a cycle, e.g. the registry that imported its
    backbones in a function). Imports under ``if TYPE_CHECKING:`` never run and are left out.
    The implicit import of a package's ``__init__`` when one of its modules is imported is
    left out too (every package would be a cycle); an explicit ``from raycxr.pkg import x``
    inside ``raycxr/pkg/`` is an edge like any other.
(c) Walking the graph prints nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "raycxr"

#: Accepted exceptions, ``(importing module, imported module, name)``: none. An entry that no
#: longer occurs fails the test too, so the list cannot go stale.
KNOWN: set[tuple[str, str, str]] = set()
#: Accepted import cycles, as sorted module tuples: none.
KNOWN_CYCLES: set[tuple[str, ...]] = set()

Edge = tuple[str, str, str | None, int]  # (importer, imported module, imported name or None, line)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _package(module: str, modules: dict[str, Path]) -> str:
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def _is_private(module: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _absolute(node: ast.ImportFrom, module: str, modules: dict[str, Path]) -> str | None:
    if node.level == 0:
        return node.module
    base = _package(module, modules).split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _edges(modules: dict[str, Path]) -> list[Edge]:
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges += [(module, a.name, None, node.lineno) for a in node.names if a.name in modules]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(node, module, modules)
                if source is None or source not in modules:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # ``from raycxr.data import _io``: the module itself
                        edges.append((module, submodule, None, node.lineno))
                    else:
                        edges.append((module, source, alias.name, node.lineno))
    return edges


def _crossings(modules: dict[str, Path], edges: list[Edge]) -> set[tuple[str, str, str | None]]:
    """Imports of another package's private module or private name."""
    found = set()
    for importer, imported, name, _ in edges:
        if imported == "raycxr":
            continue
        own = _package(importer, modules)
        if imported == own or imported.startswith(own + "."):
            continue
        if _is_private(imported) or (name is not None and name.startswith("_")):
            found.add((importer, imported, name))
    return found


def _cycles(modules: dict[str, Path], edges: list[Edge]) -> set[tuple[str, ...]]:
    """Strongly connected components of two or more modules (or a module importing itself)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, imported, _, _ in edges:
        graph[importer].add(imported)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[tuple[str, ...]] = set()

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative (no recursion limit)
        work = [(start, iter(sorted(graph[start])))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.add(tuple(sorted(component)))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Edge]]:
    modules = _modules()
    return modules, _edges(modules)


def test_no_module_imports_another_packages_private_module(graph) -> None:
    modules, edges = graph
    found = _crossings(modules, edges)
    new = sorted(found - KNOWN, key=str)
    assert not new, "imports of another package's private module or name (export it from the package):\n" + "\n".join(
        f"  {importer} imports {name or '*'} from {imported}" for importer, imported, name in new
    )
    assert not KNOWN - found, f"fixed, remove from KNOWN: {sorted(KNOWN - found, key=str)}"


def test_no_import_cycles(graph) -> None:
    modules, edges = graph
    found = _cycles(modules, edges)
    assert not found - KNOWN_CYCLES, f"import cycles: {sorted(found - KNOWN_CYCLES)}"
    assert not KNOWN_CYCLES - found, f"fixed, remove from KNOWN_CYCLES: {sorted(KNOWN_CYCLES - found)}"


def test_the_walker_finds_what_it_is_meant_to(tmp_path: Path) -> None:
    """The checks themselves, on a made-up package: a private crossing, a deferred cycle, TYPE_CHECKING."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "from pkg.a._x import f\n",
        "pkg/a/_x.py": "from pkg.a._y import g\ndef f():\n    from pkg.b._z import h  # deferred\n",
        "pkg/a/_y.py": "g = 1\n",
        "pkg/b/__init__.py": "",
        "pkg/b/_z.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
        "def h():\n    from pkg.a._x import f  # deferred: a cycle with pkg.a._x\n",
    }
    modules = {}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = list(Path(name).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    edges = _edges(modules)
    assert _crossings(modules, edges) == {("pkg.a._x", "pkg.b._z", "h"), ("pkg.b._z", "pkg.a._x", "f")}
    assert _cycles(modules, edges) == {("pkg.a._x", "pkg.b._z")}


def test_walking_prints_nothing(graph, capsys: pytest.CaptureFixture[str]) -> None:
    modules = _modules()
    edges = _edges(modules)
    _crossings(modules, edges)
    _cycles(modules, edges)
    assert capsys.readouterr() == ("", "")
