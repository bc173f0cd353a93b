"""The accurate tier's weighted logsumexp: ``log|S|`` and ``sign S`` for
``S = sum_i b_i exp(x_i)``, each row rounded once to the input's format.

Weights that are all 0 or 1 are a mask: those rows go through the unweighted
tier with the dropped entries at -inf (the same bits as without weights).
Otherwise, per row of finite terms:

1. Split every weight exactly, ``b_i = f_i 2**k_i`` with ``1 <= |f_i| < 2``,
   so that ``b_i exp(x_i) = f_i exp(z_i)`` with ``z_i = x_i + k_i ln 2``.
   The shift is the entry ``T`` with the largest ``z`` (a float64 estimate;
   any entry would be exact, this one keeps the terms <= 2): ``m = x_T``,
   ``K = k_T``, and ``S = 2**K e**m (f_T + s)`` with
   ``s = sum_{i != T} f_i exp(w_i)``, ``w_i = (x_i - m) + (k_i - K) ln 2``.
   Nothing overflows or underflows on the way, whatever the weights (1e300,
   subnormals), and the leading term ``f_T`` is exact (``w_T = 0``): as in the
   unweighted tier (Blanchard, Higham & Higham 2021), only the rest carries
   error.
2. ``w_i`` is kept as ``a_i + rho_i``, exact up to 2**-75: TwoSum gives
   ``x_i - m`` and ``+ (k_i - K) LN2_1`` (LN2_1 has 32 bits, so that product
   is exact) with their rounding errors, which join ``(k_i - K) LN2_2`` in
   ``rho``. The term is ``f_i exp(a_i) (1 + rho_i)`` (``rho**2 < 2**-80``
   dropped), the product ``f_i exp(a_i)`` split exactly by TwoProduct.
   NumPy's ``exp`` is within 1 ulp (measured below 0.66), so each term is
   off by at most ``GAMMA_FLOAT = 2.5u`` of itself (u = 2**-53). Results in
   float32 and narrower skip the residuals (``GAMMA_NARROW = 2**-38``).
3. ``s`` is a compensated sum (:func:`stabkit._accurate.eft.sum2`: every
   TwoSum error kept, off by about ``n log2(n) 2**-106`` of the sum of
   the magnitudes ``A``, :func:`_coef`; a plain sum, ``n u A``, for
   narrower results), then
   ``S' = f_T + s`` in double-double, and ``m + K ln 2 + log|S'|`` in
   double-double (:mod:`.double_double`: ``log1p(S' - 1)`` for ``S'`` in
   [0.5, 2], where ``S' - 1`` is exact); narrower results try float64 first.
4. Error bound: ``delta = (GAMMA + summation) A / |S'|`` is the relative
   error of the sum, so the log is off by at most ``delta / (1 - delta)``
   (delta <= 1/4), plus ``2**-86 (1 + |m| + |K| + |log S'|)`` for the
   double-double steps (``4u`` for float64 ones). A row is settled by Ziv's
   rounding test (:func:`_decided`): where every number within that bound
   ``E`` of the value rounds alike, the result is the correctly rounded
   float64 (then rounded once to a narrower format; for those the test
   asks that the narrower rounding be decided).

Since 2026-12-08 every step settles a row this way: the compiled pass
(``_native/_lse_weighted.c``, :mod:`.weighted_native`), which comes first
where the extension is built, the float64 pass, the double-double pass and
MPFR, so a row has the same bits whichever settles it (before, a row was
settled when ``E <= 3u |out|``: within 3.5 ulp, its bits those of the step
that settled it). With ``b >= 0`` nothing cancels in the sum (``A <= |S'|``):
``E`` is about ``2.5u`` in the float64 pass, and a float64 result that
lies within about ``5u`` of a rounding boundary goes on (most do for
results below 8); rows where ``m + K ln 2 + log S'`` cancels (a result near
0) go on too. With mixed signs the sum itself may cancel, and ``E`` grows
as ``A / |S'|``. Rows that are not settled are computed again with every
``exp`` as a pair within 2**-77.9 (:func:`_pair_terms`, ``GAMMA_PAIR``:
the compiled pass's exp, in NumPy), then in double-double (``GAMMA_DD``,
then ``E`` ~ ``2**-87 A / |S'|``), and the rest in MPFR (:mod:`.weighted_mp`, which also knows the exactly
zero sums and the exact 0 results), so the result is accurate even when the
sum cancels, down to 2**-8000 of its terms. The double-double pass stops
short of subnormal terms: an absolute ``n 2**-1000`` is added to the sum's
error.

Cost (2026-12-08, medians, float64 (1000, 1000) rows; benchmarks/RESULTS.md):
the compiled pass 8-11 ms with positive or signed weights (before it, the
NumPy steps: 50 ms positive, 805 ms signed). These NumPy steps alone (no
extension): 210-240 ms positive (a float64 result whose rounding the
float64 pass, its terms off by 2.5u, cannot decide goes on to the pair
pass, ``exp_pairs`` at ~0.2 us an entry), 160-210 ms signed; an MPFR row
costs ~30-50 us per entry (weights that undo their exps to a float64
result of ~1e-16, sums cancelling past 2**-90).

Edges (as SciPy's ``logsumexp``): a zero weight drops its entry, even an
infinite or NaN one; a NaN weight, or a NaN ``x`` with a nonzero weight,
makes the row NaN, and so does ``inf * 0`` (an infinite weight at ``x =
-inf``) and infinite terms of both signs; infinite terms of one sign give
``(inf, that sign)``, also where ``exp(x)`` underflows (the term is still
infinite); a row with no nonzero term (empty, all ``-inf``, all zero
weights) gives ``(-inf, 0)``. SciPy 1.17 agrees except in rows where a
zero-weighted entry is inf or NaN and no finite term is left (NaN there),
at an infinite weight times an ``exp`` that underflows (NaN), for an empty
row (sign -1), and where its plain sum cancels (``x = [700, 0, 700]``,
``b = [-1, -1, 1]``: -inf; here ``(0.0, -1)``, exactly).
"""

from __future__ import annotations

import numpy as np

from stabkit.floats import Format, round_float64

from . import double_double as _dd
from .eft import NARROW, rowsum, sum2
from .weighted_mp import weighted_row_mp
from .weighted_terms import _dd_terms, _float_terms, _pair_terms, _shift, _Shift

U = 2.0**-53
_LN2 = float(np.log(2.0))
#: Relative error bound of one term of the float64 pass for a float64
#: result (step 2): NumPy's exp within 1 ulp (2u), the rest below u**2.
GAMMA_FLOAT = 2.5 * U
#: The same for narrower results, which skip the residuals: ``rho`` is
#: dropped (``|rho| <= 2**-40``; w's three roundings, |w| < 2**12).
GAMMA_NARROW = 2.0**-38
#: The same for the pair pass (:func:`.exp_pairs.exp_pairs`, 2**-77.9; the
#: product with ``f`` and ``2**j``, 2**-104).
GAMMA_PAIR = 2.0**-77
#: The same for the double-double pass (``_dd.exp``: 2**-90, the rest ~2**-93).
GAMMA_DD = 2.0**-88
#: Elements per block of rows (the float64 pass keeps ~10 temporaries).
BLOCK = 1 << 16


def _sums(p, lo, sh: _Shift):
    """``S' = f_T + s`` as a normalised double-double, and the magnitude
    ``A`` of the terms other than the leading one (step 3)."""
    rows = np.arange(p.shape[0])
    f_top = sh.f[rows, sh.top]
    p[rows, sh.top] = 0.0  # the leading term, exact, is added back below
    mag = rowsum(np.abs(p)) * (1 + p.shape[1] * 2.0**-52)
    if lo is None:
        Sh, Sl = _dd.two_sum(f_top, rowsum(p))
        return Sh, Sl, mag
    lo[rows, sh.top] = 0.0
    sh_, sl = sum2(p)
    Sh, Sl = _dd.two_sum(f_top, sh_)
    Sh, Sl = _dd.fast_two_sum(Sh, Sl + (sl + rowsum(lo)))
    return Sh, Sl, mag


def _log_abs(sh, sl):
    """``log|S|`` of a normalised double-double ``S != 0`` (rows with
    ``S = 0`` get junk, which their infinite bound discards)."""
    sign = np.where(sh < 0, -1.0, 1.0)
    ah, al = np.abs(sh), sign * sl
    lh, ll = np.zeros_like(ah), np.zeros_like(ah)
    near = (ah >= 0.5) & (ah <= 2.0)
    if near.any():
        # Sterbenz: |S| - 1 is exact for |S| in [0.5, 2]; log1p keeps the
        # relative accuracy of a log near 0 that log(|S|) would lose
        lh[near], ll[near] = _dd.log1p(*_dd.two_sum(ah[near] - 1.0, al[near]))
    far = ~near & (ah > 0)
    if far.any():
        lh[far], ll[far] = _dd.log(ah[far], al[far])
    return lh, ll


def _coef(n: int, gamma: float, compensated: bool) -> float:
    """The sum's error as a fraction of ``A``: the terms' (``gamma``) and the
    summation's. Compensated (:func:`.eft.sum2`, u = 2**-53): each TwoSum
    error is at most u of its sum, and the sums of one halving (or of the
    columns, up to ``NARROW`` terms) add up to at most ``A``, so the errors
    total ``L u A`` with ``L = ceil(log2 n)`` halvings (``n u A`` column by
    column); adding them up rounds by ``n u`` of that (any order) and
    ``L u`` more into ``lo``: ``(n + L) L u**2`` (``n**2 u**2`` column by
    column). The terms' low parts (below ``2**-51`` of each term) add
    ``n 2**-104``, the last additions ``2**-101``. Plain (narrower
    results): ``n u``. Rows longer than ``BLOCK`` are summed a chunk of
    ``BLOCK`` at a time (:mod:`.weighted_long`): that bound for a chunk, and
    each of the chunks' double-double additions off by at most ``2**-104``
    of the magnitudes added so far (``2**-103`` taken)."""
    if n > BLOCK:
        return _coef(BLOCK, gamma, compensated) + (n // BLOCK + 1) * 2.0**-103
    if not compensated:
        return gamma + n * U
    levels = max(1, (n - 1).bit_length())
    pairs = n * n if n <= NARROW else (n + levels) * levels
    return gamma + pairs * 2.0**-106 + n * 2.0**-104 + 2.0**-101


def _finish(Sh, Sl, mag, m, K, n: int, coef: float, fmt: Format, quick: bool = False, dropped: float = 2.0**-1000):
    """Step 3's log and step 4's bound: ``(out, sign, settled)`` per row, from
    ``S' = Sh + Sl``, ``A = mag``, the shift ``m, K``, the row length and
    :func:`_coef`. ``quick`` takes the log and the sums in float64, which is
    enough for narrower results (off by at most ``4u`` of each part).
    ``dropped``: the absolute error of each term a pass leaves out."""
    Kf = K.astype(np.float64)
    if quick:
        lh = np.log(np.abs(Sh))
        rh, rl = (m + Kf * _LN2) + lh, np.zeros_like(m)
        slop = 4 * U
    else:
        lh, ll = _log_abs(Sh, Sl)
        k2, k2_lo = _dd.two_prod(Kf, np.full_like(Kf, _dd._LN2_2))
        rh, rl = _dd.add(m, np.zeros_like(m), Kf * _dd._LN2_1, np.zeros_like(m))
        rh, rl = _dd.add(rh, rl, k2, k2_lo + Kf * _dd._LN2_3)
        rh, rl = _dd.add(rh, rl, lh, ll)
        slop = 2.0**-86
    with np.errstate(divide="ignore", invalid="ignore"):
        # the sum's error relative to S': the terms' and the summation's (the
        # leading term f_T is exact and added exactly), subnormal terms'
        delta = (coef * mag + n * dropped) / np.abs(Sh)
        # |log(1 + e)| <= delta / (1 - delta) for |e| <= delta
        bound = delta / (1 - delta) + slop * (1 + np.abs(m) + np.abs(Kf) + np.abs(lh))
        settled = (delta <= 0.25) & _decided(rh, rl, bound, fmt)
    return rh + rl, np.where(Sh < 0, -1.0, 1.0), settled


def _decided(hi, lo, bound, fmt: Format) -> np.ndarray:
    """Ziv's rounding test (step 4): whether every number within ``bound`` of
    ``hi + lo`` (a normalised pair, or ``lo = 0``) rounds alike, so that the
    exact value, which lies there, rounds to ``fmt`` as ``hi + lo`` does:
    for float64, ``hi + (lo -+ 2 bound)`` both ``hi`` (twice the bound: those
    additions round too, and ``bound`` is at least ``2**-86`` of the value);
    for a narrower format, ``v -+ (2 bound + 2**-52 |v|)`` (room for their
    float64 roundings) round to it alike, sign of zero included. Either way
    the result is the correctly rounded float64 rounded once more to
    ``fmt``, the same bits as any other step that decides (``_lse_weighted.c``,
    MPFR)."""
    with np.errstate(invalid="ignore", over="ignore"):
        e = 2 * bound
        if fmt.name == "float64":
            return (hi + (lo + e) == hi) & (hi + (lo - e) == hi)
        v = hi + lo
        e = e + 2.0**-52 * np.abs(v)
        a, b = round_float64(v - e, fmt), round_float64(v + e, fmt)
        return (a == b) & (np.signbit(a) == np.signbit(b))


def _edges(x, b):
    """``(out, sign, fin)`` of a block: the edge rows' results (module
    docstring), and ``fin``, the rows of finite terms, at least one nonzero,
    left for the arithmetic (their out and sign are placeholders)."""
    live = b != 0  # NaN weights are live
    if np.isfinite(x).all() and np.isfinite(b).all():
        fin = live.any(axis=-1)
        return np.full(x.shape[0], -np.inf), np.zeros(x.shape[0]), fin
    inf_term = live & ((x == np.inf) | (np.isinf(b) & (x > -np.inf)))
    pos = (inf_term & (b > 0)).any(axis=-1)
    neg = (inf_term & (b < 0)).any(axis=-1)
    nan = (live & (np.isnan(x) | np.isnan(b) | (np.isinf(b) & (x == -np.inf)))).any(axis=-1) | (pos & neg)
    empty = ~(live & (x > -np.inf)).any(axis=-1)
    out = np.where(nan, np.nan, np.where(pos | neg, np.inf, -np.inf))
    sign = np.where(nan, np.nan, np.where(neg, -1.0, np.where(pos, 1.0, 0.0)))
    return out, sign, ~(nan | pos | neg | empty)


def _blocks(n_rows: int, n: int):
    step = max(1, BLOCK // max(n, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _redo(x2, w2, rows: np.ndarray, fmt: Format, out: np.ndarray, sign: np.ndarray) -> None:
    """The rows the float64 pass did not settle: the terms in pairs to
    2**-77, then in double-double, then MPFR."""
    n = x2.shape[1]
    if n > BLOCK:
        from .weighted_long import redo_long  # (lazily: that module builds on this one)

        return redo_long(x2, w2, rows, fmt, out, sign)
    for blk in _blocks(rows.size, n):
        idx = rows[blk]
        x, b = np.asarray(x2[idx], dtype=np.float64), w2[idx]
        sh = _shift(x, b)
        p, lo, fine = _pair_terms(x, sh)
        Sh, Sl, mag = _sums(p, lo, sh)
        o, s, ok = _finish(Sh, Sl, mag, sh.m, sh.K, n, _coef(n, GAMMA_PAIR, True), fmt, dropped=2.0**-287)
        ok &= fine
        out[idx[ok]], sign[idx[ok]] = o[ok], s[ok]
        left = np.flatnonzero(~ok)
        if left.size:
            _redo_dd(x[left], b[left], idx[left], fmt, out, sign)


def _redo_dd(x, b, idx: np.ndarray, fmt: Format, out: np.ndarray, sign: np.ndarray) -> None:
    """Rows in double-double (``exp`` to 2**-90), then MPFR."""
    sh = _shift(x, b)
    Sh, Sl, mag = _sums(*_dd_terms(x, sh), sh)
    n = x.shape[1]
    o, s, ok = _finish(Sh, Sl, mag, sh.m, sh.K, n, _coef(n, GAMMA_DD, True), fmt)
    out[idx], sign[idx] = o, s
    for i in np.flatnonzero(~ok):
        keep = sh.live[i]
        out[idx[i]], sign[idx[i]] = weighted_row_mp(x[i][keep], b[i][keep])


def _first_pass(x2, w2, exact: bool):
    """``(out, sign, fin, Sh, Sl, mag, m, K)`` of rows of at most ``BLOCK``
    entries, a block of rows at a time: the edge rows' results, and for the
    rows ``fin`` left to the arithmetic, the float64 pass's ``S'``, ``A``
    and shift (steps 1-3)."""
    n_rows, n = x2.shape
    out, sign = np.full(n_rows, -np.inf), np.zeros(n_rows)
    fin = np.zeros(n_rows, dtype=bool)
    Sh, Sl, mag, m, K = (np.zeros(n_rows) for _ in range(5))
    for blk in _blocks(n_rows, n):
        x, b = np.asarray(x2[blk], dtype=np.float64), w2[blk]
        out[blk], sign[blk], fb = _edges(x, b)
        fin[blk] = fb
        rows = np.arange(blk.start, blk.stop)[fb]
        if rows.size:
            if not fb.all():
                x, b = x[fb], b[fb]
            sh = _shift(x, b)
            Sh[rows], Sl[rows], mag[rows] = _sums(*_float_terms(x, sh, exact), sh)
            m[rows], K[rows] = sh.m, sh.K
    return out, sign, fin, Sh, Sl, mag, m, K


def weighted_rows(x2: np.ndarray, w2: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """``(log|S|, sign S)`` in float64 for 2-d rows (n >= 1) of ``x`` and
    float64 weights ``b``: the edges, the float64 pass block by block, one
    vectorised log for all the rows, and the fallbacks."""
    n_rows, n = x2.shape
    exact = fmt.name == "float64"
    if n > BLOCK:
        from .weighted_long import first_pass_long  # (lazily: that module builds on this one)

        out, sign, fin, Sh, Sl, mag, m, K = first_pass_long(x2, w2, exact)
    else:
        out, sign, fin, Sh, Sl, mag, m, K = _first_pass(x2, w2, exact)
    rows = np.flatnonzero(fin)
    coef = _coef(n, GAMMA_FLOAT, True) if exact else _coef(n, GAMMA_NARROW, False)
    ok = np.zeros(rows.size, dtype=bool)
    # narrower results: a float64 log first, double-double where it is not enough
    for quick in (True, False) if not exact else (False,):
        todo = np.flatnonzero(~ok)
        if todo.size:
            r = rows[todo]
            o, s, ok[todo] = _finish(Sh[r], Sl[r], mag[r], m[r], K[r], n, coef, fmt, quick)
            out[r], sign[r] = o, s
    if not ok.all():
        _redo(x2, w2, rows[~ok], fmt, out, sign)
    return out, sign
