"""The logsumexp of rows too long for a block, in memory bounded by chunks.

A block of the accurate tier holds at least one whole row, and
:class:`~stabkit._accurate.rows.Rows` keeps ``d``, ``e`` and ``r`` for all
of it: one row of 10**8 float32 logits took six times the input in float64
temporaries (benchmarks/RESULTS.md). Rows of :data:`LONG` entries or more
go through here instead, :data:`CHUNK` entries at a time, with the bits of
``Rows(row).logsumexp`` (the tests compare both on every row family).

Every sum ``Rows`` forms is ``np.add.reduce`` over the row, which adds
NumPy's pairwise tree: a run longer than 128 terms is split in two, the
first part ``n/2`` rounded down to a multiple of 8, and the halves' sums
are added. :func:`tree_sums` walks the same tree down to nodes of at most
``CHUNK`` terms, forms each node's terms and reduces them with
``np.add.reduce`` (which walks the rest of the tree below the node), and
adds the nodes' sums back up in the tree's order. A node's reduction starts
from +0.0, which changes no sum but a -0.0 one, and the row's does too: the
result is the row's ``np.add.reduce``, bit for bit. That holds where NumPy
reduces a contiguous row in one piece (NumPy 2.4; NumPy 2.0 sums rows past
8192 terms in buffers of 8192): :func:`takes` checks it once, and without it
long rows keep the path through ``Rows``.

The rows this path does not finish, it hands to ``Rows`` whole (the memory
of the old path, for those rows only): a NaN or infinite maximum, a float64
sum below ``Rows.sums``' subnormal floor (a winner some 700 ahead) and a
result that cancels (``m + L`` near 0). A float64 sum below ``sum_split``'s
floor (``n**2 * 2**-39``: a far winner, or spread-out logits) is summed
again as ``eft.sum2`` sums it, with one array of half the row (:func:`_sum2`).
"""

from __future__ import annotations

import threading

import numpy as np

from stabkit.floats import Format

from .blocks import store
from .eft import normalized, split_sigma, sum2_from, two_sum_err
from .rows import CANCEL64, CANCEL_NARROW
from .unshifted import below_ties

__all__ = ["LONG", "CHUNK", "takes", "tree_sums", "analyse_row", "logsumexp_row", "log_softmax_at_row", "logsumexp",
           "log_softmax_at"]

#: Rows at least this long take this path (a row of 2**21 float64 entries
#: is 16 MiB per temporary in ``Rows``).
LONG = 1 << 21
#: Entries per chunk (each chunk's float64 temporaries: 512 KiB apiece).
CHUNK = 1 << 16

_ORDER: bool | None = None
_LOCK = threading.Lock()


def tree_sums(n: int, leaf, chunk: int | None = None) -> tuple:
    """The ``np.add.reduce`` of each of the term arrays that ``leaf(lo, hi)``
    returns (a tuple of 1-d arrays for entries ``lo`` to ``hi`` of a row of
    ``n``), bit for bit, calling ``leaf`` on nodes of NumPy's pairwise tree
    of at most ``chunk`` (default :data:`CHUNK`) entries."""
    # NumPy splits only runs of more than 128 terms (shorter ones go to its
    # eight accumulators whole), so no node below that is cut
    chunk = max(chunk or CHUNK, 128)

    def node(lo: int, count: int) -> list:
        if count <= chunk:
            return [np.add.reduce(t) for t in leaf(lo, lo + count)]
        # NumPy's pairwise_sum: the first half a multiple of 8
        half = count // 2
        half -= half % 8
        return [a + b for a, b in zip(node(lo, half), node(lo + half, count - half))]

    # the reduction's own start, +0.0
    return tuple(0.0 + s for s in node(0, n))


def takes(n: int) -> bool:
    """Whether rows of ``n`` entries take this path: long enough, and this
    NumPy reduces a long row in one pairwise tree (checked once)."""
    return n >= LONG and _same_order()


def _same_order() -> bool:
    global _ORDER
    if _ORDER is None:
        with _LOCK:
            if _ORDER is None:
                rng = np.random.default_rng(20261204)
                n = 3 * 8192 + 77
                a = rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))
                got = tree_sums(n, lambda lo, hi: (a[lo:hi],), 1000)[0]
                _ORDER = bool(got == np.add.reduce(a) and got == np.add.reduce(a[None, :], axis=-1)[0])
    return _ORDER


def analyse_row(x: np.ndarray, fmt: Format) -> tuple[float, np.ndarray] | None:
    """``(m, L)`` of one long row ``x`` (1-d: float64, or float32 for a
    narrower target, any stride) as ``Rows(x[None])`` forms them (``L`` a
    1-element float64 array), or None where ``Rows`` must take the row (see
    the module docstring).

    ``Rows``' arithmetic, chunk by chunk: the first maximum ``m`` at ``top``;
    ``d = x + (-m)`` in float64 and ``e = exp(d)``; for float64 targets the
    shift's exact error ``r`` (TwoSum; a masked entry's, NaN, set to 0 as
    ``Rows.residual_sum`` sets it), the extraction ``q = (e + sigma) - sigma``
    of the terms without the top one, and the sums of ``q``, ``e - q`` and
    ``e r``; for narrower targets the plain sum of those terms. Then ``L``
    exactly as ``Rows`` forms it from those sums."""
    n = x.shape[0]
    exact = fmt.name == "float64"
    with np.errstate(invalid="ignore"):
        top = int(np.argmax(x))  # the first NaN, where there is one
    m = float(x[top])
    if not np.isfinite(m):
        return None
    sigma, nm = split_sigma(n), -m
    # one set of chunk buffers for the row: fresh arrays of this size are
    # mapped and faulted in at every chunk (measured 4x slower in all)
    X, D, E, R, Q, T = np.empty((6, min(n, CHUNK)))
    NM = np.full(min(n, CHUNK), nm)

    def terms(lo: int, hi: int, e: np.ndarray) -> np.ndarray:
        """e = exp(x + (-m)) of entries lo to hi into e, the top one 0; x and d left in X, D."""
        xc, d = X[: hi - lo], D[: hi - lo]
        np.copyto(xc, x[lo:hi])  # float32 (or float16, bfloat16) entries converted exactly
        # x + (-m): the shift's one IEEE addition
        np.add(xc, nm, out=d)
        with np.errstate(under="ignore"):
            np.exp(d, out=e)
        if lo <= top < hi:
            e[top - lo] = 0.0  # one maximum left out of s (its d = r = 0)
        return e

    def leaf(lo: int, hi: int) -> tuple:
        k = hi - lo
        xc, d, e = X[:k], D[:k], terms(lo, hi, E[:k])
        with np.errstate(invalid="ignore", over="ignore"):
            if not exact:
                return (e,)
            r = two_sum_err(xc, NM[:k], d, out=R[:k], scratch=T[:k])
            q = np.subtract(np.add(e, sigma, out=Q[:k]), sigma, out=Q[:k])
            rest = np.subtract(e, q, out=T[:k])
            prod = np.multiply(e, r, out=X[:k])
            if np.isnan(np.add.reduce(prod)):
                # a masked entry's r is NaN (-inf - m), its e 0: Rows.residual_sum
                # sets such residuals to 0, and so does the kernel
                r[~np.isfinite(r)] = 0.0
                np.multiply(e, r, out=prod)
            return q, rest, prod

    sums = tree_sums(n, leaf)
    one = np.ones(1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if exact:
            hi, lo = normalized(one * sums[0], one * sums[1])
            if hi[0] + lo[0] < float(n) ** 2 * 2.0**-39:
                # below sum_split's floor Rows sums the terms again with sum2
                hi, lo = _sum2(n, terms, (X, D, R, Q, T))
            if hi[0] < n * 2.0**-1020:
                return None  # Rows.sums' subnormal floor: Rows recomputes those
            s_hi, s_lo = normalized(hi, lo + sums[2])
            L = np.log1p(s_hi) + s_lo / (1.0 + s_hi)
        else:
            L = np.log1p(one * sums[0])
    return m, L


def logsumexp_row(x: np.ndarray, fmt: Format) -> float | None:
    """``Rows(x[None]).logsumexp(fmt)[0]`` of one long row in float64:
    ``m + L`` (:func:`analyse_row`), or None where ``Rows`` must take the
    row, or where ``m + L`` cancels past what ``Rows`` lets through (it
    evaluates those exactly)."""
    got = analyse_row(x, fmt)
    if got is None:
        return None
    m, L = got
    with np.errstate(invalid="ignore", divide="ignore"):
        out = m + L
        amp, limit = (L / np.abs(out), CANCEL64) if fmt.name == "float64" else ((np.abs(m) + L) / np.abs(out), CANCEL_NARROW)
    if m < 0 and amp[0] > limit:
        return None
    return float(out[0])


def log_softmax_at_row(x: np.ndarray, fmt: Format, col: int) -> float | None:
    """``Rows(x[None]).log_softmax_at([col])[0]``: ``(d - L) + r`` at ``col``
    (float64 targets; ``d + r = x[col] - m`` exactly), or ``below_ties`` of
    ``d - L`` (narrower ones); None where ``Rows`` must take the row, and
    where ``L = 0`` (``Rows`` signs the zeros there)."""
    got = analyse_row(x, fmt)
    if got is None or got[1][0] == 0:
        return None
    m, L = got
    xc = np.array([float(x[col])])
    d = xc + (-m)
    if fmt.name == "float64":
        r = two_sum_err(xc, np.array([-m]), d)
        # a masked entry's r (NaN): 0, as the kernel and Rows.residual_sum set it
        return float(((d - L) + np.where(np.isfinite(r), r, 0.0))[0])
    return float(below_ties(d[:, None], L)[0, 0])


def logsumexp(xl: np.ndarray, fmt: Format, rows_path) -> np.ndarray:
    """The logsumexp of every row of ``xl`` (the classes on the last axis,
    any strides, no copy), rounded once to ``fmt``: :func:`logsumexp_row`,
    and ``rows_path(block)`` (a 1-row block converted as the tier converts
    its blocks: float32 kept, the rest float64) for the rows it leaves."""
    out64 = np.empty(xl.shape[:-1])
    work = None if xl.dtype == np.float32 else np.float64
    for idx in np.ndindex(xl.shape[:-1]):
        row = xl[idx]
        got = logsumexp_row(row, fmt)
        out64[idx] = got if got is not None else rows_path(np.asarray(row[None, :], dtype=work))[0]
    out = np.empty(out64.shape, dtype=fmt.dtype)
    store(out, out64, fmt)
    return out


def log_softmax_at(xl: np.ndarray, fmt: Format, cols: np.ndarray, rows_path) -> np.ndarray:
    """The log-softmax of entry ``cols[i]`` of row i of ``xl`` (rows in C
    order, any strides, no copy) in float64: :func:`log_softmax_at_row`, and
    ``rows_path(block, cols)`` (a 1-row block converted as the tier converts
    its blocks) for the rows it leaves."""
    out = np.empty(xl.shape[:-1])
    work = None if xl.dtype == np.float32 else np.float64
    for i, idx in enumerate(np.ndindex(xl.shape[:-1])):
        row, col = xl[idx], int(cols[i])
        got = log_softmax_at_row(row, fmt, col)
        out[idx] = got if got is not None else rows_path(np.asarray(row[None, :], dtype=work), cols[i:i + 1])[0]
    return out.reshape(-1)


def _sum2(n: int, terms, scratch) -> tuple[np.ndarray, np.ndarray]:
    """``eft.sum2`` of the row's terms (``terms(lo, hi, out)`` writes those
    of entries lo to hi into ``out``), bit for bit, with one array of n/2
    float64 (half a float64 copy of the row) instead of sum2's copies:
    sum2 adds the first half to the second, entry by entry, keeping each
    addition's error (TwoSum) and the row sum of the errors, and halves again.
    The first halving reads the terms chunk by chunk; the next ones work in
    place in that array (an entry i below the half is written once both of
    its addends are read) while it is longer than a chunk, and the last
    ones are ``eft.sum2_from``'s. Each row sum of errors is ``np.add.reduce``
    (their rows are wider than 16), formed by :func:`tree_sums`."""
    X, D, A, B, C = scratch
    lo_sum = np.zeros(1)
    h = n // 2
    S = np.empty(h + n % 2)

    def first(lo: int, hi: int) -> tuple:
        k = hi - lo
        a2 = terms(lo + h, hi + h, B[:k])
        a1 = terms(lo, hi, A[:k])
        s = np.add(a1, a2, out=S[lo:hi])
        return (two_sum_err(a1, a2, s, out=C[:k], scratch=D[:k]),)

    lo_sum += tree_sums(h, first)[0]
    if n % 2:
        S[h] = terms(n - 1, n, A[:1])[0]
    size = S.shape[0]
    while size > CHUNK:
        h = size // 2

        def halve(lo: int, hi: int, h=h) -> tuple:
            k = hi - lo
            a1, a2 = S[lo:hi], S[lo + h: hi + h]
            s = np.add(a1, a2, out=A[:k])
            err = two_sum_err(a1, a2, s, out=C[:k], scratch=D[:k])
            S[lo:hi] = s  # a1 is read; a2 lies above h, untouched in this pass
            return (err,)

        lo_sum += tree_sums(h, halve)[0]
        if size % 2:
            S[h] = S[size - 1]
        size = h + size % 2
    return sum2_from(S[None, :size], lo_sum)
