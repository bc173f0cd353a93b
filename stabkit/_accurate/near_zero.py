"""logsumexp of rows whose result is about 0, in NumPy array operations:
``log(S)`` with ``S = sum_i exp(x_i)`` and ``D = S - 1`` tiny (float64 rows
of log-probabilities, whose logsumexp is ~1e-17..1e-13).

``log1p(D)`` needs D to ~2**-60 of itself, so S to ~2**-110 absolute, past
double-double. Every ``exp(x_i)`` (``x_i <= 0``) is split into eleven
float64 pieces whose sum is ``exp(x_i)`` to within ``2**-122`` of it
(:data:`DELTA`, derived in :func:`_pieces`), and every piece is summed
exactly by extraction on grids scaled per row (:func:`_grid_sums`, Rump,
Ogita & Oishi 2008); the row maximum's term enters as ``exp(m) - 1``.
``math.fsum`` then gives D to ~2**-106 of itself, a short series
``log1p(D)``, and a Ziv test accepts the rows whose error interval is
certified (:func:`lse_near_zero`). About 250 array operations per entry, in
chunks of 2**16 entries: no Python, no MPFR, per entry. Where the compiled
extension runs, the per-row sums come from C instead
(:mod:`stabkit._native.nearzero`, the same bits, some 5x faster).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import gmpy2
import numpy as np

from stabkit._native import nearzero as _native

#: exp(x) = 2**k 2**(j/4096) exp(r): the table has 2**B entries and
#: |r| <= ln2 / 2**(B+1) (2**-13.52).
B = 12
#: Entries below this contribute less than e^-200 = 2**-288.5 each and are
#: dropped (2**-288 each goes into the bound); it also keeps
#: |N| = |x| 2**B / ln2 below 2**20.2 for the argument reduction.
X_LOW = -200.0
#: Entries per chunk: the exact grid sums below need at most 2**16 terms.
CHUNK = 1 << 16
#: Relative error of the eleven pieces of one ``exp(x_i)``: the sum of the
#: bounds in _pieces is 2**-122.6 (measured: 2**-125.3 over 3,000 samples).
DELTA = 2.0**-122
#: Rows are taken only while |D| <= NEAR (log1p's series below, and S <= 2).
NEAR = 2.0**-20

_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp


def _dd(q) -> tuple[float, float]:
    hi = float(q)
    return hi, float(q - Fraction(hi))


def _constants():
    """ln2 / 2**B in four pieces: C1, C2, C3 of 32 significant bits (N Ci is
    exact for |N| < 2**21), C4 the float64 nearest the rest; 2**B / ln2."""
    with gmpy2.context(precision=400):
        c = gmpy2.log(2) / 2**B
        inv = float(1 / c)
        parts = []
        for bits in (32, 32, 32, 53):
            with gmpy2.context(precision=bits):
                p = gmpy2.mpfr(c)  # rounds to `bits` bits
            parts.append(float(p))
            c = c - p  # exact at 400 bits
    return inv, parts


_INV_C, (_C1, _C2, _C3, _C4) = _constants()
_C3H, _C3L = _dd(Fraction(1, 6))
_C4H, _C4L = _dd(Fraction(1, 24))
_C5, _C6, _C7, _C8 = (float(Fraction(1, f)) for f in (120, 720, 5040, 40320))


def _split(a):
    """Veltkamp: a = hi + lo, each of at most 26 significant bits."""
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


_C3S = _split(np.float64(_C3H))
_C4S = _split(np.float64(_C4H))


@functools.lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2**(j/2**B) for j < 2**B as T1 + T2 + T3, each the float64 nearest
    what the previous ones leave (MPFR at 320 bits, once per process: 20-70 ms):
    off by at most 2**-159 relative, |T2| <= ulp(T1)/2 <= 2**-53."""
    t = np.empty((3, 1 << B))
    with gmpy2.context(precision=320):
        for j in range(1 << B):
            v = gmpy2.exp2(gmpy2.mpfr(j) / (1 << B))
            for i in range(3):
                t[i, j] = float(v)  # nearest
                v = v - t[i, j]  # exact at 320 bits
    return t[0], t[1], t[2]


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _tp(a, a_s, b, b_s):
    """Dekker's TwoProduct with both factors split: a b = p + e exactly
    (while the partial products stay normal; below that, an absolute error
    under 2**-1000, nothing at the scale of this module)."""
    (ah, al), (bh, bl) = a_s, b_s
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


#: Pieces of exp(x) and the binary exponent of a power of two bounding each
#: (2**k 2**(j/4096) <= 1 + 2**-13 < 2 for x <= 0; the others from the
#: magnitudes in _pieces), and how many extraction grids each gets.
_PIECES = (("A", 1, 3), ("P1h", -12, 3), ("P1l", -65, 2), ("P2h", -27, 3), ("P2l", -80, 1),
           ("P3h", -41, 2), ("P3l", -94, 1), ("B", -53, 2), ("Q1h", -66, 2), ("Q1l", -119, 0),
           ("small", -72, 1))  # fmt: skip


def _pieces(x: np.ndarray) -> list[np.ndarray]:
    """Eleven arrays whose sum is ``exp(x)`` within ``DELTA exp(x)``, for
    ``X_LOW <= x <= 0`` (other entries give zeros), in the order of _PIECES.

    Argument reduction (Cody & Waite): N = rint(x 2**B / ln2), k = N >> B,
    j = N mod 2**B, r = x - N ln2/2**B, |r| <= 2**-13.52 = rho. ``x - N C1``
    is exact: N C1 is, and for N != 0, |x| > 2**-14, so x and N C1 are
    multiples of 2**-66 and their difference, below rho + 2**20.2 * 2**-45 <
    2**-13, has at most 53 bits. Two TwoSums take off N C2 and N C3 (exact
    products), so
    ``r = rh + rl_hi + rl_lo`` with rl_hi <= 2**-66 and an error below
    2**-139 (N C4 rounded, the part of ln2/2**B past C4, 2**21 * 2**-162).

    exp(rh) = 1 + u by Horner, ``u = rh + rh**2 h2``, ``h2 = 1/2 + rh h3``,
    ``h3 = 1/6 + rh h4``, ``h4 = 1/24 + rh h5``, ``h5`` to degree 8 (the rest,
    rho**9/9! < 2**-140). Coefficient h_m multiplies rh**m, so it needs an
    absolute error below ~2**-126 / rho**m: h5 in float64 (2**-58.9 of
    error, times rho**5: 2**-126.5), h4 as 1/24 + a float (2**-72.4, times
    rho**4: 2**-126.5), h3 and h2 carry their products by rh exactly
    (TwoProduct) down to 2**-85.8 and 2**-98.5 (2**-126.4, 2**-125.5). The
    roundings left in exp(r): wl (3 of 2**-127), u rl (2**-129.5), sm (2
    of 2**-126.8), rl**2/2 (2**-132.8), the truncation and the reduction
    (2**-139): 6.5 * 2**-126 of exp(r). The products by T1 and T2 that
    exceed 2**-70 are TwoProducts; the rest, in ``small``, rounds by 3 *
    2**-125.8 of T1, and T2 sm (dropped) is below 2**-126.8: with the table's
    2**-159, under 10.5 * 2**-126 = 2**-122.6 of exp(x) in all.
    """
    T1, T2, T3 = _table()
    live = x >= X_LOW  # False for -inf
    xs = np.where(live, x, 0.0)
    N = np.rint(xs * _INV_C)
    Ni = N.astype(np.int64)
    # 2**k built from its bits: k >= -290, a normal number; 0 for dead entries
    pow2 = ((Ni >> B) + 1023 << 52).view(np.float64) * live
    j = Ni & ((1 << B) - 1)
    A, Bs, Cs = T1.take(j) * pow2, T2.take(j) * pow2, T3.take(j) * pow2
    r1 = xs - N * _C1
    s, e = _two_sum(r1, -(N * _C2))
    rh, e2 = _two_sum(s, -(N * _C3))
    rl_hi, f2 = _two_sum(e, e2)
    rl_lo = f2 - N * _C4

    rs = _split(rh)
    h5 = _C5 + rh * (_C6 + rh * (_C7 + rh * _C8))
    t = _C4L + rh * h5  # h4 = C4H + t, t <= 2**-20.3
    q1, q2 = _tp(rh, rs, _C4H, _C4S)  # rh C4H, q1 <= 2**-18.1
    v3 = (_C3L + q2) + rh * t  # h3 = C3H + q1 + v3, v3 <= 2**-33.8
    p1, p2 = _tp(rh, rs, _C3H, _C3S)  # p1 <= 2**-16.1
    o1, o2 = _tp(rh, rs, q1, _split(q1))  # o1 <= 2**-31.6
    # h2 = 1/2 + m1 + m2: |o1| ~ rh**2/24 < |p1| ~ rh/6, so FastTwoSum
    m1 = p1 + o1
    m2 = (o1 - (m1 - p1)) + ((p2 + o2) + rh * v3)  # m2 <= 2**-47, rounded 3 * 2**-100.1
    sh, sl = _tp(rh, rs, rh, rs)  # rh**2 exactly, sh <= 2**-27
    shs = _split(sh)
    a1, a2 = _tp(sh, shs, m1, _split(m1))  # a1 <= 2**-43.1
    wl = (a2 + 0.5 * sl) + (sh * m2 + sl * m1)  # <= 2**-74, rounded 2**-127
    # exp(rh) = 1 + rh + sh/2 + a1 + wl; times exp(rl) = 1 + rl, where u rl
    # (<= 2**-79.5) needs u and rl to 2**-45 only (rl_lo, N C4, is ~2**-94)
    W1, W2 = _two_sum(a1, rl_hi)
    u_rl = ((rh + 0.5 * sh) + a1) * (rl_hi + rl_lo)
    sm = (W2 + wl) + (rl_lo + u_rl)  # <= 2**-73.8
    # exp(x) / 2**k = (T1 + T2 + T3)(1 + rh + sh/2 + W1 + sm)
    As = _split(A)
    P1h, P1l = _tp(A, As, rh, rs)
    P2h, P2l = _tp(A, As, 0.5 * sh, (0.5 * shs[0], 0.5 * shs[1]))
    P3h, P3l = _tp(A, As, W1, _split(W1))
    Q1h, Q1l = _tp(Bs, _split(Bs), rh, rs)
    small = A * sm + (Bs * (0.5 * sh + W1) + Cs * (1.0 + rh))  # <= 2**-72.8
    return [A, P1h, P1l, P2h, P2l, P3h, P3l, Bs, Q1h, Q1l, small]


#: Bound on the float64 sums of what the grids leave, per entry: the m <=
#: 2**16 leftovers of a piece, each below its last grid g (or its bound for
#: a piece without grids), summed in any order are off by at most
#: (m - 1) 2**-53 m g <= 2**-37 m g. Times 2**s (see _row_sums).
_LEFT_PER_ENTRY = sum(2.0**-37 * 2.0 ** (e - 36 * lv) for _, e, lv in _PIECES)


def _grid_sums(v: np.ndarray, exp2: int, levels: int, scale: np.ndarray, out: list) -> None:
    """Row sums of one piece (|v| <= 2**exp2 * scale, a power of two per row,
    at most 2**16 columns), exact but for the last: with sigma = 2**17 M and
    g = 2**-53 sigma = 2**-36 M (M the row's bound), q = (v + sigma) - sigma
    is v rounded to a multiple of g, exactly, and v - q is exact with
    |v - q| <= g (Rump, Ogita & Oishi, "Accurate floating-point summation
    part I", 2008, Lemma 3.3). The row sum of the q's is a multiple of g
    below 2**16 (M + g) < 2**53 g: exact in any order. The next grid takes
    M = g. ``v`` is overwritten."""
    q = np.empty_like(v)
    for _ in range(levels):
        sigma = scale * 2.0 ** (exp2 + 17)
        np.add(v, sigma, out=q)
        np.subtract(q, sigma, out=q)
        out.append(q.sum(axis=-1))
        np.subtract(v, q, out=v)
        exp2 -= 36
    out.append(v.sum(axis=-1))


def _row_sums(rows: np.ndarray, top: np.ndarray) -> tuple[list[list[float]], np.ndarray, np.ndarray]:
    """Per row, floats whose exact sum is ``sum(exp(x))`` over all entries
    but ``top`` to within DELTA of it plus ``left``, the bound on the
    leftovers; and how many finite entries were dropped (below X_LOW). The
    grids of a chunk's row scale with 2**s, the power of two at or below its
    largest 2**k: the bounds in _PIECES hold for 2**k <= 1, and every piece
    scales with 2**k, so a row of small terms keeps a bound relative to its
    largest."""
    n_rows, n = rows.shape
    rb, cb = max(1, CHUNK // n), min(n, CHUNK)
    vals: list[list[float]] = []
    left, dropped = np.zeros(n_rows), np.zeros(n_rows)
    for r0 in range(0, n_rows, rb):
        parts: list[np.ndarray] = []
        for c0 in range(0, n, cb):
            x = rows[r0 : r0 + rb, c0 : c0 + cb]
            mine = np.flatnonzero((top[r0 : r0 + rb] >= c0) & (top[r0 : r0 + rb] < c0 + cb))
            if mine.size:
                x = x.copy()
                x[mine, top[r0 + mine] - c0] = -np.inf
            dropped[r0 : r0 + rb] += np.count_nonzero((x < X_LOW) & (x > -np.inf), axis=-1)
            with np.errstate(under="ignore", over="ignore", invalid="ignore"):
                pieces = _pieces(x)
                # A = T1 2**k with T1 in [1, 2): max A < 2**e gives 2**k <= 2**(e-1)
                scale = np.ldexp(1.0, np.frexp(pieces[0].max(axis=-1))[1] - 1)
                left[r0 : r0 + rb] += x.shape[1] * _LEFT_PER_ENTRY * scale
                for v, (_, e, lv) in zip(pieces, _PIECES):
                    _grid_sums(v, e, lv, scale[:, None], parts)
        vals.extend(np.stack(parts, axis=-1).tolist())
    return vals, left, dropped


def _top_terms(m: np.ndarray) -> list[list[float]]:
    """Per row, floats whose exact sum is ``exp(m) - 1``: the pieces of
    exp(m), and -1 (their error: :func:`_top_error`)."""
    with np.errstate(under="ignore"):
        pieces = _pieces(m[:, None])
    terms = np.stack([p[:, 0] for p in pieces] + [-np.ones_like(m)], axis=-1)
    return terms.tolist()


def _top_error(m: np.ndarray) -> np.ndarray:
    """A bound on the error of :func:`_top_terms`: DELTA exp(m) <= DELTA; for
    |m| <= 2**-14, where N = 0 (no table, no reduction, exact products by
    T1 = 1), every error item of _pieces scales with rh**3 at least, so
    ``DELTA (|m| / rho)**3``: a winner at -1e-10 keeps exp(m) - 1 to ~2**-180."""
    return DELTA * np.minimum(1.0, (np.abs(m) * 2.0**14) ** 3)


@functools.lru_cache(maxsize=1)
def _kernel_args() -> tuple:
    """The table, constants and piece layout the C kernel
    (:mod:`stabkit._native.nearzero`) takes, in its order."""
    consts = np.array([_INV_C, _C1, _C2, _C3, _C4, _C3H, _C3L, _C4H, _C4L, _C5, _C6, _C7, _C8, *_C3S, *_C4S,
                       _SPLITTER, X_LOW, _LEFT_PER_ENTRY])
    exps = np.array([e for _, e, _ in _PIECES])
    levels = np.array([lv for _, _, lv in _PIECES])
    return _table(), consts, exps, levels


def _sums(rows: np.ndarray, top: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row, ``(S_o, Dh, Dl, left, dropped)``: ``S_o`` the sum of the
    others' exp (:func:`_row_sums`' floats by ``math.fsum``), ``Dh + Dl``
    that sum plus exp(m) - 1 (``Dh`` its fsum, ``Dl`` the fsum of what is
    left), ``left`` and ``dropped`` as :func:`_row_sums` gives them. Through
    the C kernel where it runs (the same bits), else in NumPy and Python."""
    # the kernel chunks long rows as _row_sums does: CHUNK is its chunk too
    got = _native.sums(rows, top, *_kernel_args()) if CHUNK == _native.CHUNK_COLUMNS else None
    if got is not None:
        return tuple(got.T)
    vals, left, dropped = _row_sums(rows, top)
    tops = _top_terms(m)
    S_o = np.array([math.fsum(v) for v in vals])
    Dh = np.array([math.fsum(v + t) for v, t in zip(vals, tops)])
    Dl = np.array([math.fsum(v + t + [-d]) for v, t, d in zip(vals, tops, Dh.tolist())])
    return S_o, Dh, Dl, left, dropped


def lse_near_zero(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(sum(exp(x)))`` of rows of finite-max, non-positive float64
    entries, and which rows it certifies.

    With m the row maximum, ``D = S - 1 = (exp(m) - 1) + sum_others exp(x_i)``
    is known as floats (_top_terms, _row_sums) whose exact sum is within
    ``eps_S = DELTA S_o + left + err_top + 2**-288 per dropped entry`` of it
    (S_o the sum of the others and ``left`` relative to their largest: a
    confident winner, m ~ -1e-10, keeps a bound relative to D).
    ``math.fsum`` gives D as ``Dh + Dl`` to 2**-106 |D|. For |D| <= NEAR = 2**-20,
    ``log1p(D) = D - D**2/2 + ... + D**5/5`` leaves D**6/6 < 2**-102 |D|,
    and its float64 evaluation (a correction below 2**-21 |D|) 2**-72 |D|:
    the result ``yh + yl`` (TwoSum) is within ``eps = eps_S (1 + 2**-19)
    + 2**-70 |y|``. Accepted when ``y - eps`` and ``y + eps`` round to the
    same float64 (Ziv: then correctly rounded, so that the steps around this
    one give the same bits; a narrower target rounds that float64). For a
    row of log-probabilities (S = 1 + D, D ~ 1e-16) eps ~ 2**-122, ~2**-69
    |y|: Ziv's test fails on about ``4 eps / ulp(y)`` of the rows, 2**-15 of
    them at |y| ~ 2**-56, more below (those go on to double-double or MPFR).
    """
    n_rows, n = rows.shape
    # the largest term apart: where m ~ 0, exp(m) - 1 keeps a relative bound
    top = np.argmax(rows, axis=-1)
    m = rows[np.arange(n_rows), top]
    S_o, Dh, Dl, left, dropped = _sums(rows, top, m)
    err_top = _top_error(m)
    with np.errstate(over="ignore", invalid="ignore"):
        near = (np.abs(Dh) <= NEAR) & (m <= 0)
        # log1p(D) = D + c, c = Dl - D**2/2 + D**3/3 - D**4/4 + D**5/5
        c = Dl + Dh * Dh * (-0.5 + Dh * (1.0 / 3 + Dh * (-0.25 + Dh * 0.2)))
        yh = Dh + c
        yl = c - (yh - Dh)  # FastTwoSum: |c| < |Dh|
        # dropped entries: e**-200 < 2**-288 each
        eps_s = DELTA * np.abs(S_o) * (1.0 + 2.0**-50) + left * (1.0 + DELTA) + err_top + dropped * 2.0**-288
        eps = (eps_s + 2.0**-105 * np.abs(Dh)) * (1.0 + 2.0**-19) + 2.0**-70 * np.abs(yh)
        out = yh + yl
        # Ziv: fl(yl -+ 2 e) lies outside yl -+ e once e >= 2 u |yl|
        # (|yl| <= 2**-53 |yh|), so the two sums below bracket the rounding
        # of every value within eps of y (rounding is monotone)
        e2 = 2.0 * (eps + 2.0**-104 * np.abs(yh))
        ok = (yh + (yl - e2)) == (yh + (yl + e2))
    return out, near & ok & np.isfinite(out)
