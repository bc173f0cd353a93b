"""The compiled steps of the cancelling logsumexp rows
(stabkit._accurate.cancelling), from the one extension (their ctypes
signatures with the row kernel's, :mod:`stabkit._native.rows`):
:func:`fast`, the vectorised double-double step (``_lse_fast.c``), and
:func:`dd`, the one-entry-at-a-time double-double step for the rows it
leaves (``_lse_dd.c``). Both give correctly rounded float64 results or
leave a row undecided (Ziv's rounding test), so neither needs a check
against the NumPy steps: any step that settles a row gives it the same bits.
:func:`weighted` does the same for the weighted logsumexp
(``_lse_weighted.c``, :mod:`stabkit._accurate.weighted_native`).
"""

from __future__ import annotations

import numpy as np

from . import rows as _rows


def _run(symbol: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    lib = _rows.library()
    if lib is None or x.ndim != 2 or x.shape[1] < 1:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64)
    out, done = np.full(x.shape[0], np.nan), np.zeros(x.shape[0], np.int8)
    if x.shape[0]:
        getattr(lib, symbol)(_rows._ptr(x), x.shape[0], x.shape[1], _rows._ptr(out), _rows._ptr(done))
    return out, done.view(bool)


def fast(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out, done)`` of ``lse_rows_fast`` for the rows of ``x`` (2-d
    float64, at least one column): where ``done``, ``out`` is the correctly
    rounded logsumexp of the row (terms to 2**-77, Ziv's test); elsewhere
    undecided (NaN there). None where the extension is off or not built."""
    return _run("lse_rows_fast", x)


def dd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(out, done)`` of ``lse_rows_dd`` (exp and log to ~2**-91), as
    :func:`fast`."""
    return _run("lse_rows_dd", x)


def fast_terms(x: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``exp(x - m)`` as the pairs ``hi + lo`` that :func:`fast` sums (1-d
    float64 ``x``; for the tests), or None without the extension."""
    lib = _rows.library()
    if lib is None:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    hi, lo = np.empty_like(x), np.empty_like(x)
    lib.lse_fast_terms(_rows._ptr(x), x.size, float(m), _rows._ptr(hi), _rows._ptr(lo))
    return hi, lo


#: lse_weighted_rows' outcomes: settled, undecided, an edge row (NaN, inf, no term)
UNDECIDED, DONE, EDGE = 0, 1, 2


def weighted(x: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(out, sign, status)`` of ``lse_weighted_rows`` for rows of ``x``
    (float32 or float64; other formats are converted) and float64 weights
    ``b`` (2-d, one shape, at least one column): where ``status == DONE``,
    the correctly rounded float64 ``log|S|`` and the sign of ``S = sum b
    exp(x)``; elsewhere NaN, undecided or an edge row. None where the
    extension is off or not built."""
    lib = _rows.library()
    if lib is None or x.ndim != 2 or x.shape[1] < 1 or b.shape != x.shape:
        return None
    x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    out, sign, status = np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan), np.zeros(x.shape[0], np.int8)
    if x.shape[0]:
        lib.lse_weighted_rows(_rows._ptr(x), int(x.dtype == np.float32), _rows._ptr(b), x.shape[0], x.shape[1],
                              *(_rows._ptr(a) for a in (out, sign, status)))
    return out, sign, status
