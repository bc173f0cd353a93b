"""The layout of docs/architecture.md, checked from the syntax trees of every
stabkit module: no import circle, no import running back up a layer, no
``_private`` name imported from outside its package, no module over 400 lines.

Layers, bottom to top (a module may import its own layer and those below)::

    floats (with _exact, _formats, _io, _interrupt, _lazy, _machine, _native)  <  _accurate, _api  <  naive, stable, accurate, registry, ufuncs
    <  reference  <  analysis  <  report  <  slides  <  cli

``nn`` stands beside reference..report: it imports only the function library
(naive/stable/accurate, their ``_accurate`` machinery) and floats, and only
slides and cli import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stabkit"
MAX_LINES = 400

LAYERS = {
    "floats": 0, "_exact": 0, "_formats": 0, "_io": 0, "_interrupt": 0, "_lazy": 0, "_machine": 0,
    "_native": 0, "_accurate": 1, "_api": 1,
    "naive": 2, "stable": 2, "accurate": 2, "registry": 2, "ufuncs": 2,
    "reference": 3, "analysis": 4, "report": 5, "slides": 6, "cli": 7, "__main__": 7,
}
NN_RANK = 3  # beside reference..report
NN_MAY_IMPORT = 2  # the function library and floats
NN_IMPORTERS = ("slides", "cli")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("stabkit", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str, top_level_only: bool) -> list[tuple[str, str | None]]:
    """(target module, imported name or None) for every stabkit import of
    ``module``; a name that is itself a module becomes the target."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if _is_package(module) else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level, also inside if/try blocks, never inside a def
        todo, nodes = list(nodes), []
        while todo:
            node = todo.pop()
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try)):
                todo += node.body + node.orelse + getattr(node, "handlers", []) + getattr(node, "finalbody", [])
            elif isinstance(node, ast.ExceptHandler):
                todo += node.body
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.split(".")[0] == "stabkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "stabkit":
                continue
            for a in node.names:
                sub = f"{source}.{a.name}"
                out.append((sub, None) if sub in MODULES else (source, a.name))
    return out


def _layer(module: str) -> tuple[str, int]:
    """(top-level part, rank) of a stabkit module."""
    part = module.split(".")[1] if "." in module else "stabkit"
    if part == "stabkit":  # the package itself: the public face (its names load lazily)
        return part, 2
    if part == "nn":
        return part, NN_RANK
    return part, LAYERS[part]


def test_every_module_has_a_layer():
    unknown = {m for m in MODULES if "." in m and m.split(".")[1] not in LAYERS and m.split(".")[1] != "nn"}
    assert not unknown, f"put these in a layer (LAYERS above, docs/architecture.md): {sorted(unknown)}"


def test_no_import_cycles():
    graph = {m: sorted({t for t, _ in _imports(m, top_level_only=True) if t in MODULES and t != m}) for m in MODULES}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_runs_up_a_layer():
    bad = []
    for m in MODULES:
        part, rank = _layer(m)
        for target, _ in _imports(m, top_level_only=False):
            tpart, trank = _layer(target)
            if tpart == part:
                continue
            if part == "nn":
                ok = trank <= NN_MAY_IMPORT
            elif tpart == "nn":
                ok = part in NN_IMPORTERS
            else:
                ok = trank <= rank
            if not ok:
                bad.append(f"{m} ({part}) imports {target} ({tpart})")
    assert not bad, "imports that run up a layer:\n" + "\n".join(bad)


def test_no_private_name_imported_from_outside_its_package():
    # a component `_x` of an imported path belongs to the package that holds it;
    # only modules inside that package may import it (stabkit._accurate belongs
    # to stabkit: the JAX `_src` pattern; stabkit.nn._native belongs to stabkit.nn)
    bad = []
    for m in MODULES:
        package = m if _is_package(m) else m.rpartition(".")[0]
        for target, name in _imports(m, top_level_only=False):
            parts = target.split(".") + ([name] if name else [])
            for i, p in enumerate(parts):
                if i == 0 or not p.startswith("_") or p.startswith("__"):
                    continue
                owner = ".".join(parts[:i])
                if owner in MODULES and not _is_package(owner):
                    owner = owner.rpartition(".")[0]
                if not (package == owner or package.startswith(owner + ".")):
                    bad.append(f"{m} imports {'.'.join(parts)} (private to {owner})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_400_lines(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[module].relative_to(PACKAGE.parent)}: {n} lines; split it along a seam"


def test_each_layer_is_one_folder():
    # above the public face, each layer is a package (a folder), not a prefix
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == sorted(["__init__.py", "__main__.py", "_exact.py", "_formats.py", "_interrupt.py", "_io.py", "_lazy.py", "_machine.py", "floats.py", "naive.py",
                           "stable.py", "accurate.py", "registry.py", "ufuncs.py"]), flat
