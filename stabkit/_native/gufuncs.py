"""The row-wise gufuncs of ``_gufuncs.h``: :func:`make` gives, once per
process and name, a NumPy gufunc whose loop hands NumPy's runs of rows to a
Python callable (the accurate tier's function, given by
:mod:`stabkit.ufuncs`), with loops for float16, float32, float64 and, where
ml_dtypes imports, bfloat16.

The gufuncs need the extension (its module makes them) but none of its
kernels: their values are whatever :mod:`stabkit.accurate` computes, the
compiled row kernels or the NumPy path, which give the same bits. So
``STABKIT_NATIVE=0`` leaves them in place; :func:`why_not` is not None only
where the extension is missing.
"""

from __future__ import annotations

import threading

import numpy as np

from . import load

__all__ = ["make", "why_not"]

_MADE: dict[str, np.ufunc] = {}
_LOCK = threading.Lock()


def why_not() -> str | None:
    """None where :func:`make` works, else why not (the extension is absent)."""
    return None if load.module() is not None else load.why()


def _dtypes() -> list:
    types = [np.float16, np.float32, np.float64]
    try:
        import ml_dtypes
    except ImportError:  # no bfloat16 array can reach the gufunc then
        return types
    return [*types, ml_dtypes.bfloat16]


def make(name: str, signature: str, doc: str, rows) -> np.ufunc:
    """The gufunc ``name`` with ``signature`` ('(n)->()' or '(n)->(n)'),
    whose loop calls ``rows(x, out)`` with ``x`` an ``(m, n)`` view of m
    input rows and ``out`` the view of their results (``(m,)`` or
    ``(m, n)``), to be filled in place. Made on the first call for a name;
    later calls return that gufunc. RuntimeError where the extension is
    absent."""
    with _LOCK:
        uf = _MADE.get(name)
        if uf is None:
            mod = load.module()
            if mod is None:
                raise RuntimeError(load.why())
            uf = _MADE[name] = mod.make_gufunc(name, signature, doc, rows, _dtypes())
    return uf
