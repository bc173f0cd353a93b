"""The compiled step of the sparse cross-entropy from probabilities
(:func:`stabkit._accurate.crossentropy.renormalised_log_prob_at`), from the
one extension (its ctypes signature with the row kernel's,
:mod:`stabkit._native.rows`): each row's largest entry and the compensated
sum of the others, ``_winner_rest.h``, with the NumPy path's bits (the same
operations in the same order; the tests compare both)."""

from __future__ import annotations

import numpy as np

from . import rows as _rows

def winner_rest(p: np.ndarray):
    """``(k, p_k, R, done)`` for the rows of ``p`` (2-d float64, more than
    ``NARROW`` columns): where ``done``, the first largest entry, its value
    and ``np.add(*eft.sum2(others))``; rows with NaN or an infinity are left
    (not done) to the NumPy path. None where the extension is off or not
    built."""
    lib = _rows.library()
    if lib is None or p.ndim != 2 or p.shape[1] < 1:
        return None
    p = np.ascontiguousarray(p, dtype=np.float64)
    rows, n = p.shape
    k, pk, r = np.zeros(rows, np.int64), np.zeros(rows), np.zeros(rows)
    done, scratch = np.zeros(rows, np.int8), np.empty(n)
    if rows:
        lib.winner_rest(_rows._ptr(p), rows, n, *(_rows._ptr(a) for a in (k, pk, r, done, scratch)))
    return k, pk, r, done.view(bool)
