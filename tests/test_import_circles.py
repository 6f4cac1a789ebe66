"""The packages ``theory`` and ``verify`` have no import circles, none hidden inside functions.

Every ``import``/``from ... import`` statement counts, at module level and inside functions (a
deferred import only hides a circle), relative imports resolved; ``from pkg import name`` counts as
importing ``pkg.name`` when that is a module, else ``pkg``.  Declarations are data and behaviour is
looked up by type in :mod:`theory.declare.registry`, so the graph is a DAG (Tarjan's strongly connected
components of size > 1 are the circles).  A second test: no module imports another project
module's private (underscore) names.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "verify")


def _modules() -> dict:
    """{dotted module name: path} of every .py file under the packages."""
    mods = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


def _imports(mods: dict):
    """Yield (module, node, [(target module or '', imported name or None), ...]) for every import."""
    for m, p in mods.items():
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield m, node, [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                yield m, node, [(base + "." + a.name if base + "." + a.name in mods else base, a.name)
                                for a in node.names]


def _owner(name: str, mods: dict) -> str:
    """The project module ``name`` lies in ('' for a third-party or standard module)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict:
    mods = _modules()
    graph = {m: set() for m in mods}
    for m, _, targets in _imports(mods):
        for t, _ in targets:
            t = _owner(t, mods)
            if t and t != m:
                graph[m].add(t)
    return graph


def circles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(old)
    return sorted(out)


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_theory_and_verify_have_no_import_circles():
    graph = import_graph()
    assert "theory.declare.gated" in graph and "verify.cli" in graph  # the walk found the packages
    found = circles(graph)
    assert not found, "import circles (imports inside functions count):\n" + "\n".join(
        f"  circle of {len(c)}: " + " -> ".join(c) for c in found)


def test_no_module_imports_another_modules_private_names():
    mods = _modules()
    bad = []
    for m, node, targets in _imports(mods):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        for t, name in targets:
            if t.endswith("." + name) and t in mods:  # ``from pkg import module``: not a name of pkg
                continue
            owner = _owner(t, mods)
            if owner and owner != m and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{m}:{node.lineno}: from {owner} import {name}")
    assert not bad, "private names imported from other project modules:\n  " + "\n  ".join(bad)


def _reach(graph: dict, start: str) -> set:
    """Every project module that ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def _in(room: str, m: str) -> bool:
    return m == room or m.startswith(room + ".")


def test_declarations_reach_no_derivation_rendering_or_api():
    """Declarations are data: ``theory.declare`` and ``theory.cells`` import, directly or through
    others, only each other and ``theory.validate`` (typed checks of a default value)."""
    graph = import_graph()
    allowed = ("theory.declare", "theory.cells", "theory.validate")
    bad = {m: sorted(w for w in _reach(graph, m) if not any(_in(a, w) for a in allowed))
           for m in graph if _in("theory.declare", m) or _in("theory.cells", m)}
    bad = {m: ws for m, ws in bad.items() if ws}
    assert bad == {}


def test_simulators_and_engine_never_reach_theory():
    """The simulation side is written independently of the theory (07 §2): nothing under
    ``verify.simulators`` or ``verify.engine`` imports ``theory``, directly or through others."""
    graph = import_graph()
    starts = [m for m in graph if _in("verify.simulators", m) or _in("verify.engine", m)]
    assert len(starts) >= 10  # the walk found both rooms
    bad = {m: sorted(w for w in _reach(graph, m) if _in("theory", w)) for m in starts}
    assert {m: ws for m, ws in bad.items() if ws} == {}


def test_no_module_binds_names_on_another_module():
    """Public names are bound where they are defined or imported (``theory/__init__`` imports
    ``critical_init``, ``phase_diagram``, ``spectrum``); no module assigns an attribute of another
    project module (``theory.spectrum = ...`` at import time was a hidden side effect and a hidden circle).
    Registration goes through the registries (``api.register_quantity``, ``declare.registry``)."""
    mods = _modules()
    bad = []
    for m, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        project = (*PACKAGES, "derivations")
        imported = {(a.asname or a.name).split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for a in node.names if a.name.split(".")[0] in project}
        imported |= {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and (node.level or (node.module or "").split(".")[0] in project) for a in node.names}
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in imported:
                    bad.append(f"{m}:{node.lineno}: {t.value.id}.{t.attr} = ...")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in imported:
                bad.append(f"{m}:{node.lineno}: setattr({node.args[0].id}, ...)")
    assert bad == []
