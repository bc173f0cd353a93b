"""The one native build, loaded (stabkit/_native/load.py): the extension
``stabkit._native._kernels`` is imported once and its file opened with
ctypes; the ufuncs, the row passes and the trainer's step all come from that
one library, share its "not built" / "cannot be loaded" reason, and obey
``STABKIT_NATIVE=0``; :func:`stabkit.kernels` reports every path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.native import forget, without_extension

import stabkit
from stabkit._native import elementwise, load, rows, status, step

#: the row kernel's reason where NumPy's summation order is not the one it repeats
_ORDER = (f"NumPy {np.__version__} sums a row in another order than the kernel's replica of its "
          "pairwise summation: the NumPy passes run, so that results keep NumPy's bits")

needs_ext = pytest.mark.skipif(load.module() is None, reason="the C extension is not built")


@needs_ext
def test_one_library_holds_the_ufuncs_the_row_passes_and_the_step(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    mod, lib = load.module(), load.library()
    assert mod.__name__ == load.NAME and load.why() == ""
    assert Path(lib._name).resolve() == Path(mod.__file__).resolve()  # ctypes opened the imported file
    # the row passes, unless this NumPy sums rows in another order than the
    # kernel repeats (NumPy 2.0: rows past 8192 terms in buffers)
    assert rows.library() is lib or rows.status() == _ORDER
    assert step.library() is lib
    assert elementwise.extension() is mod and isinstance(mod.sigmoid, np.ufunc)
    for name in ("row_sums", "shift_rows", "log_softmax32_rows", "step_f32", "adam_f64", "plan_layout"):
        assert getattr(lib, name) is not None
    # the three parts compute through it
    x = np.linspace(-5, 5, 7, dtype=np.float32)
    assert elementwise.ufunc("sigmoid", "float32") is mod.sigmoid
    np.testing.assert_array_equal(mod.sigmoid(x), stabkit.sigmoid(x))
    assert step.status() == ("C", "") and rows.status() in ("native", _ORDER)


@pytest.mark.parametrize("how", ["not built", "not loadable"])
def test_a_missing_build_turns_every_part_to_numpy_with_one_reason(how, monkeypatch):
    without_extension(monkeypatch, how)
    why = load.why()
    assert why.startswith(f"the C extension {load.NAME} ")
    assert ("not built" in why and "C compiler" in why) if how == "not built" else "cannot be loaded" in why
    assert load.module() is None and load.library() is None
    assert rows.library() is None and rows.status() == why
    assert step.library() is None and step.status() == ("NumPy", why)
    assert elementwise.extension() is None and elementwise.why_not("sigmoid", "float16") == why
    table = stabkit.kernels()
    assert table["trainer_step"] == table["softmax/float64"] == table["sigmoid/float32"] == why
    assert "native" not in table.values()


@needs_ext
def test_a_library_without_a_bound_symbol_is_stale(monkeypatch):
    """An extension built from older sources (a function the binding needs
    is missing): that part runs NumPy and says "stale"; the others are not
    touched."""

    class Older:
        def __getattr__(self, name):
            raise AttributeError(f"undefined symbol: {name}")

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(load, "_STATE", (load.module(), Older(), ""))
    forget(monkeypatch)
    assert rows.status().startswith(f"the C extension {load.NAME} is stale (undefined symbol: ")
    assert step.status() == ("NumPy", "the C extension is stale (it has no layout table; rebuild it: pip install -e .)")
    assert elementwise.why_not("sigmoid", "float32") is None  # the ufuncs are the module's


def test_stabkit_native_0_turns_every_compiled_path_off(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    on = stabkit.kernels()
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    off = stabkit.kernels()
    assert on.keys() == off.keys()
    # every function and format has a kernel: whatever else kept one off here
    # (this NumPy's summation order, a load-time check), the switch comes first
    assert set(off.values()) == {"STABKIT_NATIVE=0"}
    if load.module() is not None:  # what the one build compiles
        assert on["trainer_step"] == on["softplus/bfloat16"] == "native"
        assert on["softmax/float64"] in ("native", _ORDER)


def test_kernels_is_the_status_table_and_the_trainer_step(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = stabkit.kernels()
    assert {k: v for k, v in table.items() if k != "trainer_step"} == status.kernels()
    which, why = step.status()
    assert table["trainer_step"] == ("native" if which == "C" else why)
    from stabkit.nn import native_status

    assert native_status() == step.status()  # the trainer's own name says the same


def test_kernels_is_public_and_loaded_on_first_use():
    code = ("import sys, stabkit\n"
            "assert 'kernels' in stabkit.__all__ and 'kernels' in dir(stabkit)\n"
            "assert 'stabkit._native.paths' not in sys.modules and 'stabkit._native' not in sys.modules\n"
            "from stabkit import kernels\n"
            "assert kernels is stabkit.kernels and 'stabkit._native.paths' in sys.modules\n"
            "assert 'stabkit.nn' not in sys.modules  # the trainer's step is told without the trainer\n"
            "table = kernels()\n"
            "assert not any('not imported yet' in v for v in table.values()), table\n"
            "print(type(table).__name__)")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "dict"


def test_the_extension_is_looked_for_once_per_process(monkeypatch):
    """The extension is looked for once: the parts (and every call) share
    that one look."""
    calls = []
    monkeypatch.setattr(load, "_STATE", None)
    real = load._open
    monkeypatch.setattr(load, "_open", lambda: calls.append(1) or real())
    monkeypatch.setattr(rows, "_LIB", False)
    monkeypatch.setattr(step, "_LIB", False)
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    stabkit.kernels()
    stabkit.kernels()
    load.module(), load.library(), load.why()
    assert calls == [1]


@needs_ext
def test_the_address_function_is_the_extensions_and_agrees_with_ctypes():
    addr = load.address_function()
    assert addr is load.module().data_address
    a = np.arange(24.0).reshape(4, 6)
    for v in (a, a[1:], a[:, 2:], a.T, np.empty(0), np.zeros(3, np.float32)[1:], a[::-1]):
        assert addr(v) == v.ctypes.data == load.ctypes_address(v)
    with pytest.raises(TypeError, match="^data_address: a numpy.ndarray is needed, not list$"):
        addr([1.0])
    # the row passes and the 16-bit rounding call through it once their library is open
    if rows.library() is not None:
        assert rows._ptr(a[1:]) == a[1:].ctypes.data and rows._ADDRESS is addr


def test_without_the_extension_addresses_come_from_ctypes(monkeypatch):
    monkeypatch.setattr(load, "module", lambda: None)
    addr = load.address_function()
    a = np.arange(5.0)
    assert addr is load.ctypes_address and addr(a[2:]) == a[2:].ctypes.data
