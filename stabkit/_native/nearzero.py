"""The exact per-row sums of :func:`stabkit._accurate.near_zero.lse_near_zero`
in C (``near_zero_sums`` in ``_near_zero.h``), bound with ctypes from the one
extension through :mod:`stabkit._native.rows`' loaded library.

The kernel repeats ``near_zero``'s pieces and grid sums operation for
operation, from the table and constants that module passes in, and forms
``math.fsum``'s correctly rounded sums exactly, so its five sums per row are
the NumPy path's bit for bit (tests/test_native_near_zero.py compares them).
"""

from __future__ import annotations

import numpy as np

from .rows import _fits, _ptr, library

#: Columns of one chunk of a long row, as near_zero sums it (near_zero.CHUNK;
#: _near_zero.h's NZ_COLS): the kernel's scratch holds one such chunk.
CHUNK_COLUMNS = 1 << 16


def sums(rows: np.ndarray, top: np.ndarray, table: tuple, consts: np.ndarray, exps: np.ndarray,
         levels: np.ndarray) -> np.ndarray | None:
    """``(S_o, Dh, Dl, left, dropped)`` of every row of ``rows`` (2-d float64,
    finite maximum at column ``top[i]``) as an ``(n_rows, 5)`` array; None
    where the kernel is off (not built, ``STABKIT_NATIVE=0``), the rows do
    not fit, or the kernel declines (a long row's sums outside its fixed
    point: the caller's NumPy form then)."""
    lib = library()
    n_rows, n = rows.shape
    if lib is None or n == 0 or rows.dtype != np.float64:
        return None
    rows = np.ascontiguousarray(rows)
    top = np.ascontiguousarray(top, dtype=np.int64)
    if top.shape != (n_rows,) or (n_rows and not (0 <= top.min() and top.max() < n)):
        raise ValueError("stabkit._native.nearzero: a top column out of range")
    t1, t2, t3 = (np.ascontiguousarray(t, dtype=np.float64) for t in table)
    consts = np.ascontiguousarray(consts, dtype=np.float64)
    exps, levels = (np.ascontiguousarray(a, dtype=np.int64) for a in (exps, levels))
    if not (_fits((4096,), t1, t2, t3) and consts.shape == (20,) and exps.shape == levels.shape == (11,)):
        raise ValueError("stabkit._native.nearzero: the table or constants do not match the kernel")
    out = np.empty((n_rows, 5))
    ws = np.empty(13 * max(min(n, CHUNK_COLUMNS), 2048))  # _near_zero.h's NZ_CHUNK
    if n_rows and lib.near_zero_sums(_ptr(rows), n_rows, n, _ptr(top), _ptr(t1), _ptr(t2), _ptr(t3), _ptr(consts),
                                     _ptr(exps), _ptr(levels), _ptr(ws), _ptr(out)) != 0:
        return None
    return out
