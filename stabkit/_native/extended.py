"""The 80-bit extended step of the cancelling logsumexp rows in C
(``_extended.c``), the double-double steps of the float64 rows
(:func:`lse_rows_fast`, ``_lse_fast.c``, vectorised, and :func:`lse_rows_dd`
for the rows it leaves), from the one extension (their ctypes signatures
with the row kernel's, :mod:`stabkit._native.rows`).

:func:`lse_extended` gives what the NumPy step (its ``oracle``, which the
caller, stabkit._accurate.cancelling, passes down) gives, bit for bit, or
None where the NumPy step must run: the extension is off or not built, long
double is not x86's 80-bit format, or the C step differed from the oracle
on the check made once, at the first call (rows of 1 to 1000 entries that
cancel, with -inf entries and ties of the maximum: every branch of the
pairwise sum, both answers of the settling test).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import rows as _rows

_LOCK = threading.Lock()
_CHECKED: bool | None = None  # None: not checked yet
#: the NumPy step, registered by stabkit._accurate.cancelling on import, so
#: that status() can make the check before the first cancelling row
_ORACLE = None


def register(oracle) -> None:
    """Keep ``oracle`` (the NumPy step) for :func:`status`."""
    global _ORACLE
    _ORACLE = oracle


def _sample() -> list[np.ndarray]:
    """Rows whose logsumexp is delta (10**-12 to 1, either sign), so that
    the step's cancellation factor L / |delta| runs from ~1 to ~1e13: the
    float64 result shows the extended sum's last bits, and a sum in another
    order shows up. Masked entries and tied maxima included."""
    rng = np.random.default_rng(20261206)
    out = []
    for n in (1, 2, 7, 8, 9, 16, 17, 128, 129, 300, 1000):
        k = 64 if n <= 129 else 8
        y = rng.uniform(-3.0, 0.0, (k, n))
        if n > 1:
            y[::3, -1] = -np.inf  # masked entries (never a whole row: the maximum is finite)
        if n > 2:
            y[1::4, 1] = y[1::4].max(axis=-1)  # a tie of the maximum
        delta = np.exp(rng.uniform(-28.0, 0.0, (k, 1))) * rng.choice([-1.0, 1.0], (k, 1))
        m = y.max(axis=-1, keepdims=True)
        out.append(y - (m + np.log(np.exp(y - m).sum(axis=-1, keepdims=True))) + delta)
    return out


def _check(lib: ctypes.CDLL, oracle) -> bool:
    for x in _sample():
        got = _call(lib, x)
        with np.errstate(all="ignore"):
            want, ok = oracle(x)
        if got is None or not (np.array_equal(got[0].view(np.uint64), want.view(np.uint64))
                               and np.array_equal(got[1], ok)):
            return False
    return True


def _call(lib: ctypes.CDLL, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    rows, n = x.shape
    out, ok = np.empty(rows), np.empty(rows, np.int8)
    if rows and lib.lse_extended(_rows._ptr(x), rows, n, _rows._ptr(out), _rows._ptr(ok)) != 0:
        return None
    return out, ok.view(bool)


def _library(oracle) -> ctypes.CDLL | None:
    global _CHECKED
    lib = _rows.library()
    if lib is None:
        return None
    if _CHECKED is None:
        with _LOCK:
            if _CHECKED is None:
                _CHECKED = _check(lib, oracle)
    return lib if _CHECKED else None


def lse_extended(x: np.ndarray, oracle) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out, ok)`` of the extended step for the rows of ``x`` (2-d
    float64, at least one column), or None where the NumPy step must run.
    ``oracle(x)``: the NumPy step, which the first call checks this one
    against."""
    lib = _library(oracle)
    if lib is None or x.ndim != 2 or x.shape[1] < 1:
        return None
    return _call(lib, np.ascontiguousarray(x, dtype=np.float64))


def lse_rows_dd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out, done)`` of ``lse_rows_dd`` (``_extended.c``) for the rows of
    ``x`` (2-d float64, at least one column): where ``done``, ``out`` is the
    correctly rounded logsumexp of the row (double-double and Ziv's rounding
    test; undecided rows, ``done`` False, hold garbage). None where the
    extension is off or not built."""
    lib = _rows.library()
    if lib is None or x.ndim != 2 or x.shape[1] < 1:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64)
    out, done = np.empty(x.shape[0]), np.zeros(x.shape[0], np.int8)
    if x.shape[0]:
        lib.lse_rows_dd(_rows._ptr(x), x.shape[0], x.shape[1], _rows._ptr(out), _rows._ptr(done))
    return out, done.view(bool)


def lse_rows_fast(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out, done)`` of ``lse_rows_fast`` (``_lse_fast.c``) for the rows of
    ``x`` (2-d float64, at least one column): where ``done``, ``out`` is the
    correctly rounded logsumexp of the row (vectorised double-double, terms
    to 2**-77, and Ziv's rounding test); elsewhere undecided (NaN there). None
    where the extension is off or not built."""
    lib = _rows.library()
    if lib is None or x.ndim != 2 or x.shape[1] < 1:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64)
    out, done = np.full(x.shape[0], np.nan), np.zeros(x.shape[0], np.int8)
    if x.shape[0]:
        lib.lse_rows_fast(_rows._ptr(x), x.shape[0], x.shape[1], _rows._ptr(out), _rows._ptr(done))
    return out, done.view(bool)


def fast_terms(x: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``exp(x - m)`` as the pairs ``hi + lo`` that :func:`lse_rows_fast`
    sums (1-d float64 ``x``; for the tests), or None without the extension."""
    lib = _rows.library()
    if lib is None:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    hi, lo = np.empty_like(x), np.empty_like(x)
    lib.lse_fast_terms(_rows._ptr(x), x.size, float(m), _rows._ptr(hi), _rows._ptr(lo))
    return hi, lo


def status(oracle=None) -> str:
    """``"native"`` where the extended step runs in C, else why not; makes
    the check against ``oracle`` (default: the registered NumPy step) if no
    call has made it yet."""
    if _rows.library() is None:
        return _rows.status()
    oracle = oracle or _ORACLE
    if oracle is None and _CHECKED is None:
        return "checked against the NumPy step on first use (stabkit.accurate is not loaded)"
    if _library(oracle) is not None:
        return "native"
    return "the C step differs from NumPy's longdouble loops, or long double is not the 80-bit format"
