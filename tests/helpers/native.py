"""An install without the compiled extension, in this process: the tests of
the NumPy fallbacks (the accurate tier's and the trainer's) use it."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys

import pytest

from stabkit._native import load, rounding, rows, step, targets


def without_extension(monkeypatch, how: str = "not built") -> None:
    """Until ``monkeypatch`` undoes it, ``stabkit._native._kernels`` is absent
    (``how="not built"``: no file to import) or its import fails (``"not
    loadable"``), and every loader looks for it again."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    if how == "not built":
        monkeypatch.setitem(sys.modules, load.NAME, None)  # importlib's find_spec then finds nothing
    else:
        assert how == "not loadable", how

        def broken():  # the import of a file that is no shared library (here a .py file)
            loader = importlib.machinery.ExtensionFileLoader(load.NAME, load.__file__)
            return importlib.util.module_from_spec(importlib.util.spec_from_loader(load.NAME, loader))

        monkeypatch.setattr(load, "_import", broken)
    monkeypatch.setattr(load, "_STATE", None)  # not looked for yet
    forget(monkeypatch)


def forget(monkeypatch) -> None:
    """The row and step bindings look for the library again; their reasons
    come back with ``monkeypatch`` too (a NumPy whose summation order the
    row kernel does not repeat leaves the kernel off with a reason that must
    survive the test)."""
    for mod in (rows, step, rounding, targets):
        monkeypatch.setattr(mod, "_WHY", mod._WHY)
        monkeypatch.setattr(mod, "_LIB", False)


def each_path(fn, *args, **kw):
    """fn's result with the compiled kernels, then with ``STABKIT_NATIVE=0``."""
    mp = pytest.MonkeyPatch()
    try:
        mp.delenv("STABKIT_NATIVE", raising=False)
        fast = fn(*args, **kw)
        mp.setenv("STABKIT_NATIVE", "0")
        slow = fn(*args, **kw)
    finally:
        mp.undo()
    return fast, slow


#: the wide-row kernels' bindings (stabkit._native.widerows)
WIDE_KERNELS = ("wide", "wide_ce", "wide_ce32", "wide_softmax", "wide_log_softmax")


def wide_kernels_off(monkeypatch) -> None:
    """Until ``monkeypatch`` undoes it, the accurate tier skips the wide-row
    kernels (each binding answers None, as where they do not run): the row
    passes' tests run those passes, tests/test_native_wide.py the kernels."""
    from stabkit._native import widerows

    for name in WIDE_KERNELS:
        monkeypatch.setattr(widerows, name, lambda *a, **k: None)
