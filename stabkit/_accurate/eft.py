"""Error-free transformations and compensated row sums for the accurate tier,
and the scratch arrays they work in.

All functions take 2-d float64 arrays (one row per softmax) and write into
caller-supplied buffers where they can: the accurate tier calls them block
after block, and a fresh array per operation costs page faults that rival the
arithmetic.
"""

from __future__ import annotations

import threading

import numpy as np

# Rows this short are reduced column by column: NumPy's reductions along a
# short contiguous axis are 2-4x slower than n vector operations across rows.
NARROW = 16


def two_sum_err(a, b, s, out=None, scratch=None):
    """Exact rounding error of ``s = fl(a + b)`` (Knuth's TwoSum: six
    operations, no condition on the magnitudes), into ``out``."""
    bb = np.subtract(s, a, out=scratch)
    t = np.subtract(s, bb, out=out)
    np.subtract(a, t, out=t)
    np.subtract(b, bb, out=bb)
    return np.add(t, bb, out=t)


#: Rows whose shift is this large or larger take TwoSum throughout: Fast2Sum
#: below assumes that nothing overflows, and ``x - m`` may near 2**1024.
_SHIFT_HUGE = 2.0**1020
_EXPONENT = np.int64(0x7FF0000000000000)
_MANTISSA = np.int64(0x000FFFFFFFFFFFFF)


def _fast_floor(ms: np.ndarray) -> np.ndarray:
    """Per row, the least entry ``x`` (inclusive) for which Fast2Sum gives
    the exact error of ``d = fl(x - m)`` (``ms``, the row's shift, m):

    * |m| in [2**(E-1), 2**E): Fast2Sum(-m, x) is exact when x's exponent is
      at most m's (Dekker; Handbook of Floating-Point Arithmetic, Fast2Sum),
      i.e. |x| < 2**E: the floor is -nextbelow(2**E) (x <= m < 2**E above);
    * m = 0 (also the special rows, shifted by 0): ``d = x``, exact: -inf;
    * |m| >= 2**1020: +inf (none), the shift may overflow;
    * a subnormal m: the floor of 2**-1022 (subnormals share m's exponent).
    """
    # nextbelow(2**E) in bits: m's exponent field (2**(E-1)) plus a full
    # mantissa; for a subnormal or zero m, the largest subnormal
    b = (ms.view(np.int64) & _EXPONENT) + _MANTISSA
    floor = np.negative(b.view(np.float64), out=b.view(np.float64))
    floor[ms == 0] = -np.inf
    floor[np.abs(ms) >= _SHIFT_HUGE] = np.inf
    return floor


def shift_err(x: np.ndarray, ms: np.ndarray, nm: np.ndarray, d: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """The exact error ``r = (x - m) - d`` of the shift ``d = fl(x + nm)`` of
    2-d float64 rows, ``nm`` being ``-ms`` (the rows' shifts, a 1-d array)
    spelled out in every entry; into ``out``. ``nm`` is overwritten.

    The same bits as :func:`two_sum_err` ``(x, nm, d)`` in fewer passes: the
    error of a rounded sum is one number, and where Fast2Sum applies (see
    :func:`_fast_floor`) ``fl(x + fl(nm - d))`` is it, in two passes instead
    of TwoSum's five; the entries below the row's floor (far negative
    logits) take TwoSum on their own, or their rows do where they are many.
    Both give +0, never -0, for an exact shift, and NaN at infinite entries
    of the special rows (shifted by 0). Blocks where more than half of the
    rows hold such entries take TwoSum throughout, and so do narrow rows.
    """
    if x.dtype != np.float64 or x.shape[-1] <= NARROW:
        # narrow rows: the check and the mending cost more than they save
        return two_sum_err(x, nm, d, out=out, scratch=scratch)
    floor = _fast_floor(ms)
    # rows with an entry below their floor (NaN compares False: only the
    # special rows hold NaN, and they are shifted by 0, floor -inf)
    low = np.flatnonzero(np.minimum.reduce(x, axis=-1) < floor)
    if 2 * low.size > x.shape[0]:
        return two_sum_err(x, nm, d, out=out, scratch=scratch)
    # Fast2Sum(nm, x): z = fl(d - nm) is exact, the error is x - z; spelled
    # x + fl(nm - d), whose zero is +0 as TwoSum's (x - z gives -0 at x = -0)
    r = np.add(x, np.subtract(nm, d, out=nm), out=out)
    if low.size:
        xl, fl = x[low], floor[low, None]
        # flatnonzero and divmod: a 2-d np.nonzero is ~10x slower
        i, j = np.divmod(np.flatnonzero(xl < fl), x.shape[1])
        if 32 * i.size <= xl.size:
            # a few far entries (a logit of -16 beside a maximum of 15)
            i = low[i]
            r[i, j] = two_sum_err(x[i, j], -ms[i], d[i, j])
        else:
            r[low] = two_sum_err(xl, -ms[low, None], d[low])
    return r


def normalized(hi: np.ndarray, lo) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)`` renormalised by TwoSum so that ``hi = fl(hi + lo)`` and
    ``|lo| <= ulp(hi)/2``, the same value exactly (where ``hi + lo`` is
    finite; elsewhere ``hi + lo`` and 0).

    The compensated sums below leave ``lo`` as large as ~2**-12 of ``hi``;
    a caller that takes ``log1p(hi) + lo/(1 + hi)`` drops ``-lo**2/2``, which
    at that size is thousands of ulps (issue 13). Normalised, the dropped
    term is below ``u**2 hi`` (u = 2**-53) and every first-order formula in
    ``lo`` is exact to ~2**-106."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = hi + lo
        err = two_sum_err(hi, lo, s)
    return s, np.where(np.isfinite(s), err, 0.0)


def _rowreduce(ufunc: np.ufunc, a: np.ndarray) -> np.ndarray:
    """``ufunc.reduce`` along the rows of a 2-d array; short rows column by
    column (np.maximum and np.minimum propagate NaN, like np.max and np.min)."""
    if a.shape[-1] > NARROW:
        return ufunc.reduce(a, axis=-1)
    out = a[:, 0].copy()
    for j in range(1, a.shape[-1]):
        ufunc(out, a[:, j], out=out)
    return out


def rowmax(a: np.ndarray) -> np.ndarray:
    return _rowreduce(np.maximum, a)


def rowmin(a: np.ndarray) -> np.ndarray:
    return _rowreduce(np.minimum, a)


def rowsum(a: np.ndarray) -> np.ndarray:
    return _rowreduce(np.add, a)


def sum2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of a 2-d array as pairs ``hi + lo``, accurate to ~2**-100
    relative for non-negative terms: every addition's rounding error is kept
    (TwoSum) and the errors are added up separately, whose own rounding is
    then negligible. Narrow rows go column by column, wide ones pairwise."""
    if a.shape[-1] <= NARROW:
        # the same column-by-column arithmetic on a transposed copy: a strided
        # column costs a cache line per entry, a contiguous one far less
        return sum2_cols(np.ascontiguousarray(a.T))
    return sum2_from(a, np.zeros(a.shape[:-1]))


def sum2_from(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sum2`'s halving for wide rows, from the terms ``hi`` with the
    errors ``lo`` gathered so far (``lo`` is added to in place)."""
    while hi.shape[-1] > 1:
        # pair the first half with the second: contiguous slices
        h = hi.shape[-1] // 2
        a1, a2 = hi[:, :h], hi[:, h : 2 * h]
        s = a1 + a2
        lo += rowsum(two_sum_err(a1, a2, s))
        hi = s if hi.shape[-1] % 2 == 0 else np.concatenate([s, hi[:, -1:]], axis=-1)
    hi = hi[:, 0]
    return normalized(hi, np.where(np.isfinite(hi), lo, 0.0))


def sum2_cols(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sum2` of narrow rows given column-major: ``cols[j]`` is column
    j of the rows (a contiguous 2-d array, at most NARROW rows of it). The
    same operations in the same order: ``hi`` accumulates the columns left to
    right, ``lo`` their TwoSum errors; into buffers allocated once."""
    hi, lo = cols[0].copy(), np.zeros(cols.shape[1])
    s, t, u = np.empty_like(hi), np.empty_like(hi), np.empty_like(hi)
    for col in cols[1:]:
        np.add(hi, col, out=s)
        lo += two_sum_err(hi, col, s, out=t, scratch=u)
        hi, s = s, hi
    return normalized(hi, np.where(np.isfinite(hi), lo, 0.0))


def _extract_sums(t, sigma, q, rest):
    """Row sums of ``q = fl(t + sigma) - sigma`` (the terms' high parts, on
    the grid of ``sigma``'s ulp, so they add exactly) and of the remainders
    ``t - q`` (exact): :func:`sum_split`'s extraction, in the scratch ``q``.
    A column of sigmas (one per row) that are all equal is used as the one
    number it is; otherwise it is spelled out in the scratch ``rest`` first
    (a full operand adds twice as fast as a broadcast column)."""
    if isinstance(sigma, np.ndarray):
        if sigma.size and not np.count_nonzero(sigma != sigma.flat[0]):
            sigma = float(sigma.flat[0])
        else:
            np.copyto(rest, sigma)
            sigma = rest
    np.add(t, sigma, out=q)
    np.subtract(q, sigma, out=q)
    hi = np.add.reduce(q, axis=-1)
    # the remainders overwrite q once it is summed: one buffer fewer to stream
    # through the cache (~10 us of ~115 per 2**17 terms)
    lo = np.add.reduce(np.subtract(t, q, out=q), axis=-1)
    # sum(q) is exact, but sum(rest) can be ~2**-12 of it: normalise the pair
    return normalized(hi, lo)


def split_sigma(n: int) -> float:
    """:func:`sum_split`'s sigma for rows of n terms in [0, 1]: a power of two above 2n."""
    return float(2.0 ** (n.bit_length() + 1))


def sum_split(e: np.ndarray, q: np.ndarray, rest: np.ndarray, raw=None) -> tuple[np.ndarray, np.ndarray]:
    """Row sums ``hi + lo`` of terms in [0, 1] (n > NARROW columns), accurate
    to 2**-60 relative, in five passes, as a normalised pair
    (``|lo| <= ulp(hi)/2``); ``q`` and ``rest`` are scratch of ``e``'s shape.

    Rump, Ogita & Oishi's extraction ("Accurate floating-point summation
    part I", SIAM J. Sci. Comput. 31, 2008): with sigma a power of two above
    2n, ``q = (e + sigma) - sigma`` is ``e`` rounded to a multiple of
    ``ulp(sigma)``, exactly, and ``e - q`` is exact too. Every partial sum of
    the q's is a multiple of ``ulp(sigma)`` below sigma, so ``sum(q)`` is exact
    in any order. The n rests are below ``ulp(sigma)/2 = sigma * 2**-53 <=
    4n * 2**-53`` each, and NumPy's pairwise sum is off by at most 32 u times
    the sum of the magnitudes (u = 2**-53; (log2(n) + 19) u for its blocks of
    128): below ``128 n**2 * 2**-106``, which is 2**-60 of any total above
    ``n**2 * 2**-39``. Rows below that (every term tiny) are summed again with
    :func:`sum2`. Both sides of that cut-off are 2**-60 accurate, so it only
    decides cost; a row just above it has ``lo`` up to ``n ulp(sigma)/2``,
    2**-12 of ``hi``, which :func:`normalized` folds back. ``raw``: the two
    row sums of the extraction, already formed (by the native row kernel,
    :mod:`stabkit._native.rows`, in NumPy's order), not yet normalised.
    """
    n = e.shape[-1]
    hi, lo = _extract_sums(e, split_sigma(n), q, rest) if raw is None else normalized(*raw)
    small = (hi + lo) < float(n) ** 2 * 2.0**-39  # False for NaN rows: the caller patches those
    if np.count_nonzero(small):
        hi[small], lo[small] = sum2(e[small])
    return hi, lo


def sum_split_scaled(t: np.ndarray, q: np.ndarray, rest: np.ndarray, nonneg: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Row sums ``hi + lo`` of any terms, accurate to 2**-60 of the sum of
    their magnitudes for rows of up to 7e5 terms: :func:`sum_split` with a
    sigma per row, a power of two above ``2 n M`` (M the largest magnitude
    in the row), so the bound ``128 n**2 M 2**-106`` holds without a floor.
    Rows with a non-finite term (or ``n M`` past the float64 range) get a
    plain sum: inf or NaN, as they should. ``nonneg`` promises terms >= 0
    (M is then the row maximum: one reduction fewer)."""
    n = t.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        scale = (rowmax(t) if nonneg else np.maximum(rowmax(t), -rowmin(t))) * n
        ok = np.isfinite(scale)
        sigma = np.ldexp(1.0, np.frexp(np.where(ok, scale, 0.0))[1] + 1)[:, None]
        hi, lo = _extract_sums(t, sigma, q, rest)
        if not ok.all():
            hi[~ok], lo[~ok] = rowsum(t[~ok]), 0.0
    return hi, lo


class _Local(threading.local):
    buffers: dict


_LOCAL = _Local()


#: Workspaces larger than this (bytes) are not kept between calls: a single
#: row of 10**7 classes needs 400 MB of scratch, which should not outlive it.
KEEP_BYTES = 1 << 26


def workspace(rows: int, n: int, count: int) -> list[np.ndarray]:
    """``count`` float64 scratch arrays of shape (rows, n), kept per thread
    and reused from call to call while the shape stays the same (a block of
    the accurate tier is ~1 MB; fresh ones cost page faults every call), up
    to ``KEEP_BYTES`` in all."""
    key = (rows, n, count)
    if rows * n * count * 8 > KEEP_BYTES:
        return [np.empty((rows, n)) for _ in range(count)]
    cache = getattr(_LOCAL, "buffers", None)
    if cache is None or key not in cache:
        # one shape at a time: a new shape replaces the old buffers
        _LOCAL.buffers = cache = {key: [np.empty((rows, n)) for _ in range(count)]}
    return cache[key]
