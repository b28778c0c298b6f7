"""The package's import graph: no cycles, and layers only import downwards (DESIGN.md).

Every ``import`` counts, also the ones inside functions (a lazy import is still a dependency);
left out are ``if TYPE_CHECKING:`` blocks (they never run; a separate check keeps them free of new
cycles) and a module's own parent packages (Python initialises those first, whatever the module imports).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "sr_compress"
LOWER = {"runtime", "models", "data", "metrics"}
HIGHER = {"export", "compress", "evaluate", "serve", "pipeline", "cli"}
# Known downward-rule breaks, each with its way out. Shrink this; never grow it.
LAYER_ALLOWLIST: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, name: str, is_pkg: bool, known: set[str], typing: bool = False) -> set[str]:
    """What ``name`` imports; ``typing`` also counts ``if TYPE_CHECKING:`` blocks."""
    out: set[str] = set()
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing:
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = ".".join(base[: len(base) - node.level + 1] + [node.module] if node.module else
                              base[: len(base) - node.level + 1]) if node.level else (node.module or "")
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
        stack.extend(ast.iter_child_nodes(node))
    # a module's own parent packages are initialised before it anyway: not a dependency
    return {m for m in out if m in known and m != name and not name.startswith(m + ".")}


@functools.cache
def import_graph(typing: bool = False) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(ast.parse(p.read_text()), m, p.name == "__init__.py", known, typing)
            for m, p in mods.items()}


# Known cycles through ``if TYPE_CHECKING:`` imports, each with its way out. Shrink this; never grow it.
TYPE_CYCLE_ALLOWLIST: list[list[str]] = []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


def test_no_new_cycles_through_type_checking_imports() -> None:
    """A cycle that only type checkers see is still two modules that cannot be read apart."""
    assert [c for c in _cycles(import_graph(typing=True)) if c not in TYPE_CYCLE_ALLOWLIST] == []


def test_lower_layers_never_import_higher_ones() -> None:
    bad = sorted((m, t) for m, targets in import_graph().items() for t in targets
                 if _layer(m) in LOWER and _layer(t) in HIGHER and (m, t) not in LAYER_ALLOWLIST)
    assert bad == [], "a lower layer imports a higher one: " + ", ".join(f"{m} -> {t}" for m, t in bad)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# private names imported from another module; each is a contract to make public. Shrink only.
PRIVATE_ALLOWLIST: set[tuple[str, str]] = set()


def test_no_private_names_imported_across_modules() -> None:
    bad = set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                bad |= {(_module_name(path), a.name) for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")}
    assert bad - PRIVATE_ALLOWLIST == set()
