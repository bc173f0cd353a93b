"""The accurate tier's ``logsumexp`` with weights ``b``: the inputs, the
weights that are a mask, and the compiled pass (``_native/_lse_weighted.c``)
before the NumPy steps of :mod:`.weighted` (which say what is computed and
how it is bounded).

The compiled pass gives each row's correctly rounded float64 ``log|S|`` and
sign, or leaves the row, undecided by Ziv's test (a sum that cancels past
~2**-50 of its terms, a result within ~2**-70 of a rounding boundary or near
0, weights and entries so far apart that a term leaves its ``exp``'s domain)
or an edge (NaN, an infinity, no nonzero term). Those rows go through the
NumPy steps a block at a time, which settle every row by the same test, so
each row has the same bits on either path (the tests run both). The pass
reads float32 and float64 rows; 16-bit rows are converted a block at a
time, and 16-bit rows longer than a block skip it (a converted copy would
be as long as the row).
"""

from __future__ import annotations

import numpy as np

from stabkit._native import lserows
from stabkit._native import rows as _native
from stabkit.floats import Format, round_float64

from .inputs import as_input, last_axis
from .weighted import BLOCK, weighted_rows
from .weights import signed_result, weights_in


def rows(x2: np.ndarray, w2: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """``(log|S|, sign S)`` in float64 of 2-d rows (n >= 1) of ``x`` and
    float64 weights: the compiled pass a block of rows at a time, the rows it
    leaves through :func:`.weighted.weighted_rows`."""
    n_rows, n = x2.shape
    if _native.library() is None or (n > BLOCK and x2.dtype not in (np.float32, np.float64)):
        return weighted_rows(x2, w2, fmt)
    out, sign = np.empty(n_rows), np.empty(n_rows)
    step = max(1, BLOCK // n)
    for start in range(0, n_rows, step):
        blk = slice(start, min(start + step, n_rows))
        o, s, status = lserows.weighted(x2[blk], w2[blk])
        left = np.flatnonzero(status != lserows.DONE)
        if left.size:
            # a view where the block is one row: a long row is not copied
            back = (x2[blk], w2[blk]) if o.size == 1 else (x2[blk][left], w2[blk][left])
            o[left], s[left] = weighted_rows(*back, fmt)
        out[blk], sign[blk] = o, s
    return out, sign


def _is_mask(w: np.ndarray) -> bool:
    """Whether every weight is 0 or 1, a chunk at a time (a few temporaries
    of a chunk, not of the input; most weights are decided by the first)."""
    flat = w.reshape(-1) if w.flags.c_contiguous else w.ravel()
    # a short first chunk: weights that are no mask are told at once
    start, step = 0, 1024
    while start < flat.size:
        c = flat[start : start + step]
        if not np.all((c == 0) | (c == 1)):
            return False
        start, step = start + step, 16 * BLOCK
    return True


def logsumexp_weighted(x, axis: int, keepdims: bool, b, return_sign: bool, plain):
    """The accurate tier's ``logsumexp`` with weights: inputs checked and
    broadcast (:func:`.weights.weights_in`, the exact weights), each result
    the correctly rounded float64 rounded once to ``x``'s format. Weights
    that are all 0 or 1 are a mask: ``plain`` (the unweighted logsumexp)
    takes ``x`` with the dropped entries at -inf, and gives the same bits as
    without weights."""
    a, fmt = as_input(x)
    a, w = weights_in(b, a, fmt, exact=True)
    if _is_mask(w):
        # keywords: the same call to a core or to a public wrapper around it
        return plain(np.where(w == 0, np.array(-np.inf, a.dtype), a), axis=axis, keepdims=keepdims, return_sign=return_sign)
    xl, wl = last_axis(a, axis), last_axis(w, axis)
    n, n_rows = xl.shape[-1], int(np.prod(xl.shape[:-1]))
    if n:
        out, sign = rows(xl.reshape(n_rows, n), wl.reshape(n_rows, n), fmt)
    else:
        out, sign = np.full(n_rows, -np.inf), np.zeros(n_rows)
    shape = xl.shape[:-1]
    if fmt.name != "float64":
        out, sign = round_float64(out, fmt), sign.astype(fmt.dtype)
    return signed_result(out.reshape(shape), sign.reshape(shape), axis, keepdims, return_sign)
