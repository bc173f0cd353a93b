"""The trainer's compiled step and Adam update (``_cstep.c``), bound with
ctypes from the one extension (:mod:`stabkit._native.load`).

:mod:`stabkit.nn._native` runs them (and says when a model runs in C); this
module binds the functions, checks that :class:`Plan` mirrors ``plan_t``
field by field, and says which step ``fit`` can run (:func:`status`), so
that :func:`stabkit.kernels` can tell without importing the trainer.
"""

from __future__ import annotations

import ctypes

from . import disabled, load

__all__ = ["MAXL", "ACT", "LOSS", "OK", "NONFINITE_GRADIENT", "NONFINITE_KERNEL", "Plan", "library",
           "layout_mismatch", "status"]  # fmt: skip

MAXL = 16
#: activation and loss codes of _cstep.c
ACT = {"linear": 0, "relu": 1, "sigmoid": 2}
LOSS = {"SparseCategoricalCrossentropy": 0, "CategoricalCrossentropy": 1, "BinaryCrossentropy": 2}
#: step status codes of _cstep.c
OK, NONFINITE_GRADIENT, NONFINITE_KERNEL = 0, 1, 2

_i64 = ctypes.c_int64
_p = ctypes.c_void_p


class Plan(ctypes.Structure):
    """Mirror of ``plan_t`` in _cstep.c (checked by :func:`layout_mismatch`)."""

    _fields_ = [
        ("L", _i64), ("d", _i64), ("kind", _i64), ("size", _i64),
        ("koff", _i64 * MAXL), ("boff", _i64 * MAXL), ("din", _i64 * MAXL), ("dout", _i64 * MAXL), ("act", _i64 * MAXL),
        ("P", _p), ("G", _p), ("ptr", _p), ("col", _p), ("val", _p), ("yint", _p), ("ydense", _p),
        ("Z", _p), ("work", _p), ("Da", _p), ("Db", _p), ("Wt", _p), ("dWt", _p), ("row", _p), ("aux", _p),
    ]  # fmt: skip


_LIB: ctypes.CDLL | None | bool = False  # False: not looked for yet
_WHY = ""  # why _LIB is None


def library() -> ctypes.CDLL | None:
    """The compiled step, or None where the extension was not built, cannot
    be loaded or does not match :class:`Plan` (or with ``STABKIT_NATIVE=0``)."""
    global _LIB, _WHY
    if disabled():
        return None
    if _LIB is False:
        lib = load.library()
        if lib is None:
            _LIB, _WHY = None, load.why()
            return None
        mismatch = layout_mismatch(lib, Plan)
        if mismatch is not None:
            _LIB, _WHY = None, f"the C extension is stale ({mismatch}; rebuild it: pip install -e .)"
            return None
        for name, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
            step = getattr(lib, f"step_{name}")
            step.argtypes, step.restype = [_p, _p, _i64, _i64], ctypes.c_int
            adam_fn = getattr(lib, f"adam_{name}")
            adam_fn.argtypes = [_p, _p, _p, _p, _i64, real, real, real, real]
            adam_fn.restype = None
        _LIB = lib
    return _LIB


def layout_mismatch(lib: ctypes.CDLL, mirror: type[ctypes.Structure]) -> str | None:
    """None if ``mirror`` has ``plan_t``'s fields, by name and in order, each
    at the offset and with the size the C compiler gave it, else the first
    difference. (Comparing ``sizeof`` alone misses two same-size fields
    swapped on one side.)"""
    try:
        names_fn, layout_fn = lib.plan_fields, lib.plan_layout
    except AttributeError:
        return "it has no layout table"
    names_fn.argtypes, names_fn.restype = [], ctypes.c_char_p
    layout_fn.argtypes, layout_fn.restype = [_p, _i64], _i64
    names = names_fn().decode().split()
    table = (_i64 * (2 * len(names) + 1))()
    if layout_fn(table, len(table)) != len(names):
        return "its layout table is malformed"
    ours = [name for name, _ in mirror._fields_]
    if ours != names:
        return f"plan_t has the fields {' '.join(names)}, the mirror {' '.join(ours)}"
    for i, name in enumerate(names):
        c = (table[2 * i], table[2 * i + 1])
        py = (getattr(mirror, name).offset, getattr(mirror, name).size)
        if c != py:
            return f"plan_t.{name} has offset {c[0]} and size {c[1]}, the mirror {py[0]} and {py[1]}"
    if table[-1] != ctypes.sizeof(mirror):
        return f"plan_t has {table[-1]} bytes, the mirror {ctypes.sizeof(mirror)}"
    return None


def status() -> tuple[str, str]:
    """Which training step ``fit`` can run: ``("C", "")`` where the step is
    loaded, else ``("NumPy", why)``. (A model the C step does not handle
    runs the NumPy step all the same: see :func:`stabkit.nn._native.unsupported`.)"""
    if library() is not None:
        return "C", ""
    return "NumPy", "STABKIT_NATIVE=0" if disabled() else _WHY
