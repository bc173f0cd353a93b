"""Issue 7: no pickle anywhere, no evaluation of strings, arrays loaded
with ``allow_pickle=False``: checked on the package's syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stabkit"
SOURCES = sorted(PACKAGE.rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
LOADERS = {"load", "read_array"}  # np.load, np.lib.format.read_array


def _trees():
    return [(p.relative_to(PACKAGE.parent), ast.parse(p.read_text(), str(p))) for p in SOURCES]


def test_sources_found():
    assert len(SOURCES) > 30


@pytest.mark.parametrize("path, tree", _trees(), ids=[str(p.relative_to(PACKAGE.parent)) for p in SOURCES])
def test_no_pickle_no_eval(path, tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad = {a.name.split(".")[0] for a in node.names} & UNSAFE_MODULES
            assert not bad, f"{path}:{node.lineno} imports {bad}"
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in UNSAFE_MODULES, f"{path}:{node.lineno} imports {node.module}"
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                assert f.id not in UNSAFE_CALLS, f"{path}:{node.lineno} calls {f.id}()"
            if isinstance(f, ast.Attribute) and f.attr in LOADERS and _numpy_rooted(f.value):
                kw = {k.arg: k.value for k in node.keywords}
                v = kw.get("allow_pickle")
                assert isinstance(v, ast.Constant) and v.value is False, \
                    f"{path}:{node.lineno} calls {ast.unparse(f)} without allow_pickle=False"
            for k in node.keywords:
                if k.arg == "allow_pickle":
                    assert isinstance(k.value, ast.Constant) and k.value.value is False, f"{path}:{node.lineno} allow_pickle"


def _numpy_rooted(node) -> bool:
    """Whether an attribute chain starts at ``np``/``numpy`` or is NumPy's
    ``format`` module bound to a local name (``fmt = np.lib.format``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in ("np", "numpy", "fmt", "format")


def test_the_readers_are_seen():
    """The check above is not vacuous: the array reader (stabkit._io.read_npz,
    used by the cache, the sweep state and the model weights) is found."""
    calls = 0
    for _, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOADERS \
                    and _numpy_rooted(node.func.value):
                calls += 1
    assert calls >= 1
