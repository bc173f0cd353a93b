"""The wide-row kernels (``_wide.h``: rows of more than 16 columns, one call
per block): logsumexp and the sparse cross-entropy (:func:`wide`), the
float64 categorical cross-entropy from logits (:func:`wide_ce`), softmax
(:func:`wide_softmax`) and log-softmax (:func:`wide_log_softmax`), bound
with ctypes from the one extension through :mod:`stabkit._native.rows`'
loaded library.

:mod:`stabkit._accurate.narrow` and :mod:`stabkit._accurate.wide` call them
on blocks of wide rows before they build a
:class:`~stabkit._accurate.rows.Rows`, and hand the rows they leave to it.
The kernels call
NumPy's own float64 ``exp`` and ``log1p`` inner loops, the narrow-row
kernel's (:func:`stabkit._native.narrowrows.narrow_status` says whether
they were found and gave NumPy's bits), so every result is the NumPy
passes' (the tests compare both paths). One call releases the GIL for the
whole block: threads (``workers=``) run side by side.
"""

from __future__ import annotations

import numpy as np

from .narrowrows import _narrow_loops
from .rows import _need, _ptr, library


#: the formats a fast row's results may be rounded to (_wide_fast.h's R_F32, R_F16, R_BF16)
_ROUNDED = {None: 0, "float32": 1, "float16": 2, "bfloat16": 3}


def _library(x: np.ndarray, exact: bool):
    """The loaded library where a kernel takes the block ``x`` (2-d float64,
    or float32 without ``exact``, more than 16 columns, aligned) and NumPy's
    loops were found; None where it is off (the environment is read here)
    or ``x`` does not fit."""
    lib = library()
    if lib is None or x.ndim != 2 or x.dtype not in (np.float64, np.float32) or not x.flags.aligned:
        return None
    if (exact and x.dtype != np.float64) or x.shape[1] <= 16 or _narrow_loops() is None:
        return None
    return lib


def wide(x: np.ndarray, exact: bool, lse: bool = False, cols: np.ndarray | None = None, rounded: str | None = None,
         fast: np.ndarray | None = None):
    """``(m, L, redo, out)`` of the block ``x`` (2-d float64, or float32
    without ``exact``, more than 16 columns, any strides, aligned): the rows'
    maxima and ``L = log1p(s)`` as ``Rows`` forms them, the rows left to the
    NumPy path (int8, nonzero; their other outputs garbage), and with
    ``lse`` the logsumexp ``m + L`` (rows that cancel flagged 2), or with
    ``cols`` (integers in ``[0, n)``, one per row) the log-softmax at those
    columns (rows with ``L = 0`` flagged); ``out`` is None with neither.
    ``rounded`` (a format name): the caller rounds ``out`` once to that
    format and uses nothing else of it (nor ``m`` and ``L``): contiguous
    float32 rows ("float32"), or float64 rows of widened 16-bit values
    ("float16", "bfloat16"), then take the fast pass (``_wide_fast.h``),
    whose ``out`` rounds to the NumPy path's value in that format and whose
    ``L`` is not NumPy's; ``fast`` (int64, one entry), where given,
    receives how many rows it settled (with ``exact``: how many contiguous
    rows of 17 to 64 columns the pass across rows took, ``_wide_exact_cols.h``).
    None where the kernel is off (the environment is read here) or ``x``
    does not fit."""
    lib = _library(x, exact)
    if lib is None:
        return None
    rows, n = x.shape
    if cols is not None:
        cols = np.ascontiguousarray(cols, dtype=np.int64)
        _need(cols.shape == (rows,))
        if rows and not (0 <= cols.min() and cols.max() < n):
            raise ValueError("stabkit._native.widerows: a column out of range")
    m, L, ws, redo = np.empty(rows), np.empty(rows), np.empty(4 * rows), np.empty(rows, np.int8)
    out = np.empty(rows) if (lse or cols is not None) else None
    if not rows:
        return m, L, redo, out
    loops = _narrow_loops()
    flagged = lib.wide_rows(_ptr(x), rows, n, x.strides[0], x.strides[1], int(x.dtype == np.float32), int(exact),
                            *loops, None if cols is None else _ptr(cols), _ptr(m), _ptr(L), _ptr(ws), _ptr(redo),
                            _ptr(out) if lse else None, _ptr(out) if cols is not None else None, _ROUNDED[rounded],
                            None if fast is None else _ptr(fast))
    if flagged < 0:  # no memory for the row buffers: the NumPy path
        return None
    return m, L, redo, out


def wide_ce(x: np.ndarray, y: np.ndarray):
    """``(out, redo)`` of the categorical cross-entropy from logits of the
    float64 block ``x`` (more than 16 columns, any strides, aligned) with the
    float64 labels ``y`` (the same shape; converted to contiguous float64,
    exactly): the row sums of ``y ((d - L) + r)`` as
    ``crossentropy_from_rows`` forms them before its patches, and the rows
    left to the NumPy path (int8, nonzero; their sums 0: NaN or infinite
    maxima, the floors ``Rows`` sums apart, ``L = 0``, a NaN sum). None where
    the kernel is off (the environment is read here) or ``x`` does not fit."""
    lib = _library(x, True)
    if lib is None or y.shape != x.shape:
        return None
    rows, n = x.shape
    y = np.ascontiguousarray(y, dtype=np.float64)
    out, redo = np.empty(rows), np.empty(rows, np.int8)
    if rows and lib.wide_ce(_ptr(x), rows, n, x.strides[0], x.strides[1], *_narrow_loops(), _ptr(y), _ptr(out),
                            _ptr(redo)) < 0:
        return None
    return out, redo


def wide_ce32(x: np.ndarray, y: np.ndarray, rounded: str = "float32", fast: np.ndarray | None = None):
    """``(out, redo)`` of the categorical cross-entropy from logits of the
    block ``x`` (more than 16 columns, contiguous rows, aligned) with the
    labels ``y`` (the same shape and dtype, each in [0, 1]), for a caller
    that rounds each loss once to the format ``rounded`` and uses nothing
    else of it (``_wide_ce32.h``): float32 both, or float64 both holding
    widened float16 or bfloat16 values. Per row a float64 that rounds to
    the NumPy path's loss in that format, and the rows left to the NumPy
    path (bool; their values garbage). ``fast`` as for
    :func:`wide_log_softmax`. None where the kernel is off or ``x`` does
    not fit."""
    lib = _library(x, False)
    f32 = x.dtype == np.float32
    if (lib is None or x.strides[1] != x.itemsize or y.shape != x.shape or y.dtype != x.dtype
            or (f32 and rounded != "float32") or (not f32 and rounded not in ("float16", "bfloat16"))):
        return None
    rows, n = x.shape
    y = np.ascontiguousarray(y)
    out, redo = np.empty(rows), np.empty(rows, np.int8)
    if rows and lib.wide_ce32(_ptr(x), rows, n, x.strides[0], int(f32), _ptr(y), _ROUNDED[rounded],
                              *_narrow_loops()[2:4], _ptr(out), _ptr(redo), None if fast is None else _ptr(fast)) < 0:
        return None
    return out, redo != 0


def _output(x: np.ndarray, dst: np.ndarray | None, buf: np.ndarray | None) -> np.ndarray:
    """Where a kernel writes a block's rows: ``dst`` where it is contiguous
    float32 or float64 of ``x``'s shape, else ``buf`` where it is contiguous
    float64 of that shape, else a new float64 array."""
    for a, dtypes in ((dst, (np.float32, np.float64)), (buf, (np.float64,))):
        if a is not None and a.shape == x.shape and a.flags.c_contiguous and a.dtype in dtypes:
            return a
    return np.empty(x.shape)


def wide_log_softmax(x: np.ndarray, exact: bool, dst: np.ndarray | None, buf: np.ndarray | None = None,
                     fast: np.ndarray | None = None):
    """``(lp, redo)``: the log-softmax of the block ``x`` (2-d float64, or
    float32 without ``exact``, more than 16 columns, any strides, aligned)
    as ``Rows.log_softmax`` (``exact``) or ``log_softmax_unshifted`` (else)
    forms it, into ``dst``, ``buf`` or a new array as :func:`wide_softmax`
    says, and the rows left to the NumPy path (bool; their values garbage).
    Into a float32 output, rows take the fast pass where it settles every
    value (``_wide_fast.h``); ``fast`` (int64, one entry), where given,
    receives how many did (with ``exact``: how many contiguous rows of 17
    to 64 columns the pass across rows took, ``_wide_exact_cols.h``). None
    where the kernel is off (the environment is read here) or ``x`` does
    not fit."""
    return _per_entry("wide_log_softmax", 4, x, exact, dst, buf, fast)


def wide_softmax(x: np.ndarray, exact: bool, dst: np.ndarray | None, buf: np.ndarray | None = None,
                 fast: np.ndarray | None = None):
    """``(p, redo)``: ``softmax_unshifted`` of the block ``x`` (2-d float64,
    or float32 without ``exact``, more than 16 columns, any strides,
    aligned) into ``dst`` where it is contiguous float32 or float64 of
    ``x``'s shape (else into ``buf``, contiguous float64 of that shape, or
    a new float64 array, which the caller rounds once),
    and the rows that need the shift or hold a NaN (bool; their values
    garbage). ``fast`` as for :func:`wide_log_softmax`. None where the
    kernel is off (the environment is read here) or ``x`` does not fit."""
    return _per_entry("wide_softmax", 2, x, exact, dst, buf, fast)


def _per_entry(kernel: str, loops: int, x: np.ndarray, exact: bool, dst, buf, fast):
    """Run ``kernel`` (one value per entry; the first ``loops`` of NumPy's
    exp and log1p loop pointers) on ``x`` into :func:`_output`'s array:
    ``(out, redo)``, or None where it does not run; the count of fast rows
    into ``fast`` where given."""
    lib = _library(x, exact)
    if lib is None:
        return None
    rows, n = x.shape
    out = _output(x, dst, buf)
    if exact and out.dtype != np.float64:
        return None
    redo = np.empty(rows, np.int8)
    o32, o64 = (_ptr(out), None) if out.dtype == np.float32 else (None, _ptr(out))
    if rows and getattr(lib, kernel)(_ptr(x), rows, n, x.strides[0], x.strides[1], int(x.dtype == np.float32),
                                     int(exact), *_narrow_loops()[:loops], o32, o64, _ptr(redo),
                                     None if fast is None else _ptr(fast)) < 0:
        return None
    return out, redo != 0
