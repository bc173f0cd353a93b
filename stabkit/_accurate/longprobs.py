"""Softmax and log-softmax of long rows for float32 and narrower targets,
chunk by chunk (the memory bound of :mod:`stabkit._accurate.longrows`).

A row of :data:`~stabkit._accurate.longrows.LONG` entries or more is read
twice, :data:`~stabkit._accurate.longrows.CHUNK` entries at a time: once for
its maximum and its sum (NumPy's pairwise tree, :func:`longrows.tree_sums`),
once to write the result, rounded once into the output. The arithmetic is
the whole-row path's (:func:`stabkit._accurate.unshifted.softmax_unshifted`
and :func:`~stabkit._accurate.unshifted.log_softmax_unshifted` for a maximum
in [-600, 650], ``Rows.softmax`` and ``Rows.log_softmax`` without residuals
elsewhere), so are the bits (the tests compare them). Rows with a NaN or an
infinite maximum, and log-softmax rows whose sum underflows to 0 (a winner
745 ahead, whose zeros ``Rows`` signs), are left to the whole-row path.
"""

from __future__ import annotations

import numpy as np

from stabkit.floats import Format

from . import longrows
from .blocks import store
from .eft import normalized, split_sigma, two_sum_err
from .inputs import last_axis, restore_axis
from .unshifted import UNSHIFTED_MAX, UNSHIFTED_MIN, least_unmasked, tie_rows

__all__ = ["softmax_row", "log_softmax_row", "rowwise"]


def _least_unmasked(x: np.ndarray) -> float:
    """The row's least entry other than -inf (unshifted.unshifted_rows'
    test, which lets masked entries through), chunk by chunk: a mask of the
    whole row would cost a byte an entry."""
    return min(float(least_unmasked(x[lo : lo + longrows.CHUNK][None, :])[0])
               for lo in range(0, x.shape[0], longrows.CHUNK))


def _top(x: np.ndarray):
    """The first maximum's index and value (float64), or None for a NaN or infinite one."""
    with np.errstate(invalid="ignore"):
        top = int(np.argmax(x))  # the first NaN, where there is one
    m = float(x[top])
    return (top, m) if np.isfinite(m) else None


class _Chunks:
    """The row's entries in float64, chunk by chunk, into two buffers: ``d``
    (``x``, or ``x + (-m)`` when shifted: the shift's one IEEE addition) and
    ``e = exp(d)``, with the top entry's ``e`` set to 0 on request."""

    def __init__(self, x: np.ndarray, shift: float | None):
        k = min(x.shape[0], longrows.CHUNK)
        self.x, self.shift = x, shift
        self.D, self.E = np.empty((2, k))

    def d(self, lo: int, hi: int) -> np.ndarray:
        d = self.D[: hi - lo]
        np.copyto(d, self.x[lo:hi])  # float32, float16, bfloat16 entries converted exactly
        if self.shift is not None:
            np.add(d, self.shift, out=d)
        return d

    def e(self, lo: int, hi: int, drop: int = -1) -> np.ndarray:
        e = self.E[: hi - lo]
        with np.errstate(under="ignore"):
            np.exp(self.d(lo, hi), out=e)
        if lo <= drop < hi:
            e[drop - lo] = 0.0
        return e

    def spans(self):
        n = self.x.shape[0]
        for lo in range(0, n, longrows.CHUNK):
            yield lo, min(lo + longrows.CHUNK, n)


def _unshifted(m: float) -> bool:
    # unshifted_rows for narrower targets: a maximum in [-600, 650]
    return -600.0 <= m <= UNSHIFTED_MAX


def softmax_row(x: np.ndarray, out: np.ndarray, fmt: Format) -> bool:
    """``out = softmax(x)`` (1-d; ``out`` of ``fmt``): ``e * (1 / sum(e))``,
    ``e = exp(x)`` unshifted or ``exp(x - m)`` shifted, the sum over every
    entry. False (nothing written) where the whole-row path must run."""
    if fmt.name == "float64":
        return _exact_softmax_row(x, out, fmt)
    got = _top(x)
    if got is None:
        return False
    _, m = got
    chunks = _Chunks(x, None if _unshifted(m) else -m)
    s = longrows.tree_sums(x.shape[0], lambda lo, hi: (chunks.e(lo, hi),))[0]
    rs = 1.0 / np.array([s])
    for lo, hi in chunks.spans():
        store(out[lo:hi], np.multiply(chunks.e(lo, hi), rs, out=chunks.E[: hi - lo]), fmt)
    return True


def log_softmax_row(x: np.ndarray, out: np.ndarray, fmt: Format) -> bool:
    """``out = log_softmax(x)`` (1-d; ``out`` of ``fmt``). Unshifted:
    ``L = log1p(s / exp(m))`` (s without the top entry), ``x - (m + L)``,
    the top entry ``-L``; shifted: ``L = log1p(s)``, ``d - L``. Where ``L``
    is small against the row's span (``tie_rows``), ``below_ties`` settles the
    entries that round back to d, as both paths do. False (nothing written)
    where the whole-row path must run. float64 targets: ``(d - L) + r``,
    ``L`` as :func:`longrows.analyse_row` forms it, ``r`` the shift's exact
    error (:func:`_exact_log_softmax_row`)."""
    if fmt.name == "float64":
        return _exact_log_softmax_row(x, out, fmt)
    got = _top(x)
    if got is None:
        return False
    top, m = got
    mn = float(np.min(x))
    unshifted = _unshifted(m)
    chunks = _Chunks(x, None if unshifted else -m)
    s = np.array([longrows.tree_sums(x.shape[0], lambda lo, hi: (chunks.e(lo, hi, drop=top),))[0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.log1p(s / np.exp(np.array([m]))) if unshifted else np.log1p(s)
    if L[0] == 0 and not unshifted:
        return False  # Rows gives the zeros their sign
    # tie_rows: the span is m - min(x) = -min(d), the shift being monotone
    span = m - mn if unshifted else -(mn + (-m))
    tied = bool(tie_rows(np.array([span]), L)[0])
    c = m + L
    for lo, hi in chunks.spans():
        if unshifted and not tied:
            lp = np.subtract(chunks.d(lo, hi), c, out=chunks.E[: hi - lo])
        else:
            # d = x - m (unshifted: the tie fix's own subtraction), then d - L
            d = chunks.d(lo, hi)
            if unshifted:
                np.subtract(d, m, out=d)
            lp = np.subtract(d, L, out=chunks.E[: hi - lo])
            if tied:
                tie = (lp == d) & (d < 0)  # below_ties
                lp[tie] = np.nextafter(d[tie], -np.inf)
        if lo <= top < hi:
            lp[top - lo] = -L[0]
        store(out[lo:hi], lp, fmt)
    return True


def _exact_softmax_row(x: np.ndarray, out: np.ndarray, fmt: Format) -> bool:
    """Softmax of one long float64 row, as ``softmax_unshifted`` (every
    entry in [-708, 650] or -inf: ``e = exp(x)``, the extraction's sums with sigma
    a power of two above ``2 n max(e)``, ``sum_split_scaled``) or
    ``Rows.softmax`` (``e = exp(d) + exp(d) r``, d and r the exact shift,
    sigma above 2n, ``sum_split`` with its floor, below which
    :func:`longrows._sum2` sums again as ``eft.sum2``) forms it: ``e / (hi + lo)``."""
    got = _top(x)
    if got is None:
        return False
    _, m = got
    unshifted = _least_unmasked(x) >= UNSHIFTED_MIN and m <= UNSHIFTED_MAX
    n = x.shape[0]
    chunks = _Chunks(x, None if unshifted else -m)
    k = chunks.D.shape[0]
    X, R, T, Q, A, B, C, P = np.empty((8, k))  # terms' scratch: X, R, T (and chunks')
    NM = np.full(k, -m)

    def terms(lo: int, hi: int, e: np.ndarray) -> np.ndarray:
        if unshifted:
            return np.copyto(e, chunks.e(lo, hi)) or e
        xc = X[: hi - lo]
        np.copyto(xc, x[lo:hi])
        d = chunks.d(lo, hi)
        with np.errstate(under="ignore"):
            np.exp(d, out=e)
        r = two_sum_err(xc, NM[: hi - lo], d, out=R[: hi - lo], scratch=T[: hi - lo])
        r[~np.isfinite(r)] = 0.0  # masked entries (e = 0): as Rows.residual_sum and the kernel
        # exp(d + r) = e (1 + r): e + e r
        return np.add(e, np.multiply(e, r, out=r), out=e)

    if unshifted:
        top_e = max(float(np.max(terms(lo, hi, Q[: hi - lo]))) for lo, hi in chunks.spans())
        scale = top_e * n
        if not np.isfinite(scale):
            return False
        sigma = float(np.ldexp(1.0, np.frexp(scale)[1] + 1))
    else:
        sigma = split_sigma(n)

    def leaf(lo: int, hi: int) -> tuple:
        e = terms(lo, hi, Q[: hi - lo])
        q = np.subtract(np.add(e, sigma, out=A[: hi - lo]), sigma, out=A[: hi - lo])
        return q, np.subtract(e, q, out=B[: hi - lo])

    sums = longrows.tree_sums(n, leaf)
    hi, lo = normalized(np.array([sums[0]]), np.array([sums[1]]))
    if not unshifted and hi[0] + lo[0] < float(n) ** 2 * 2.0**-39:
        hi, lo = longrows._sum2(n, terms, (Q, A, B, C, P))
    den = hi + lo
    for a, b in chunks.spans():
        e = terms(a, b, Q[: b - a])
        store(out[a:b], np.divide(e, den, out=e), fmt)
    return True


def _exact_log_softmax_row(x: np.ndarray, out: np.ndarray, fmt: Format) -> bool:
    """``Rows.log_softmax`` of one long float64 row: ``(d - L) + r`` with
    ``d = x + (-m)`` and ``r`` its exact error (TwoSum; NaN at a masked
    entry, set to 0 as the kernel and ``Rows.residual_sum`` set it)."""
    got = longrows.analyse_row(x, fmt)
    if got is None or got[1][0] == 0:
        return False  # Rows gives the zeros their sign
    m, L = got
    chunks = _Chunks(x, -m)
    R, T = np.empty((2, chunks.D.shape[0]))
    NM = np.full(chunks.D.shape[0], -m)
    for lo, hi in chunks.spans():
        k = hi - lo
        xc = chunks.E[:k]
        np.copyto(xc, x[lo:hi])
        d = chunks.d(lo, hi)
        r = two_sum_err(xc, NM[:k], d, out=R[:k], scratch=T[:k])
        r[~np.isfinite(r)] = 0.0
        lp = np.subtract(d, L, out=d)
        store(out[lo:hi], np.add(lp, r, out=lp), fmt)
    return True


def rowwise(a: np.ndarray, axis: int, fmt: Format, row_fn, rows_path) -> np.ndarray:
    """``row_fn`` (:func:`softmax_row` or :func:`log_softmax_row`) on every
    row of ``a`` along ``axis`` (any strides, no copy), into a new array of
    ``fmt``; ``rows_path(block)`` (a 1-row block converted as the tier
    converts its blocks) gives the float64 result of the rows it leaves."""
    xl = last_axis(a, axis)
    out = np.empty(xl.shape, dtype=fmt.dtype)
    work = None if xl.dtype == np.float32 else np.float64
    for idx in np.ndindex(xl.shape[:-1]):
        if not row_fn(xl[idx], out[idx], fmt):
            store(out[idx], np.asarray(rows_path(np.asarray(xl[idx][None, :], dtype=work)))[0], fmt)
    return restore_axis(out, axis, a.ndim)
