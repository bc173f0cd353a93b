"""The accurate tier's weighted logsumexp: ``log|S|`` and ``sign S`` for
``S = sum_i b_i exp(x_i)``, each row rounded once to the input's format.

Method, per row of finite terms:

1. Split every weight exactly, ``b_i = f_i 2**k_i`` with ``1 <= |f_i| < 2``,
   so that ``b_i exp(x_i) = f_i exp(z_i)`` with ``z_i = x_i + k_i ln 2``.
   The shift is the entry ``T`` with the largest ``z`` (a float64 estimate;
   any entry would be exact, this one keeps the terms <= 2): ``m = x_T``,
   ``K = k_T``, and ``S = 2**K e**m (f_T + s)`` with
   ``s = sum_{i != T} f_i exp(w_i)``, ``w_i = (x_i - m) + (k_i - K) ln 2``.
   The leading term ``f_T`` is exact (``w_T = 0``): as in the unweighted
   tier (Blanchard, Higham & Higham 2021), only the rest carries error.
2. ``w_i`` is kept as ``a_i + rho_i``, exactly up to 2**-75: TwoSum gives
   ``x_i - m`` and ``+ (k_i - K) LN2_1`` (LN2_1 has 32 bits, so that product
   is exact) with their rounding errors, which join ``(k_i - K) LN2_2`` in
   ``rho``. The term is ``f_i exp(a_i) (1 + rho_i)`` (``rho**2 < 2**-80``
   dropped), the product ``f_i exp(a_i)`` split exactly by TwoProduct.
   NumPy's ``exp`` is within 1 ulp (measured below 0.66), so each term is
   off by at most ``GAMMA_FLOAT = 4u`` of itself (u = 2**-53).
3. ``s`` is a compensated sum (:func:`stabkit._accurate.eft.sum2`: every
   TwoSum error kept, off by at most ``n**2 2**-104`` of the sum of the
   magnitudes ``A``), then ``S' = f_T + s`` in double-double, and
   ``m + K ln 2 + log|S'|`` in double-double (:mod:`.double_double`:
   ``log1p(S' - 1)`` for ``S'`` in [0.5, 2], where ``S' - 1`` is exact).
4. Error bound: ``delta = (GAMMA A + n**2 2**-104 (A + |f_T|)) / |S'|`` is
   the relative error of the sum, so the log is off by at most
   ``2 delta`` (delta <= 1/4), plus ``2**-86 (1 + |m| + |K| + |log S'|)``
   for the double-double steps. A row is settled when that bound ``E`` is
   at most ``3u |out|`` for a float64 result (3.5 ulp at most after the
   rounding; the unweighted tier's bound is 3.9) and ``2**-(p+4) |out|``
   for a format of p bits (0.57 ulp at most).

With ``b >= 0`` nothing cancels in the sum (``A <= |S'|``): ``E`` is about
``8u`` and every row whose result is not small is settled; rows where
``m + K ln 2 + log S'`` cancels (a result near 0) go on. With mixed signs the
sum itself may cancel, and ``E`` grows as ``A / |S'|``. Rows that are not
settled are computed again with every ``exp`` in double-double
(``GAMMA_DD``, then ``E`` ~ ``2**-87 A / |S'|``), and the rest in MPFR
(:mod:`.weighted_mp`, which also knows the exactly zero sums), so the
result is accurate even when the sum cancels, down to 2**-8000 of its
terms. The double-double pass stops short of subnormal terms: absolute
errors of ``n 2**-1000`` are added to the bound.

Edges (as SciPy's ``logsumexp``): a zero weight drops its entry, even an
infinite or NaN one; a NaN weight, or a NaN ``x`` with a nonzero weight,
makes the row NaN, and so does ``inf * 0`` (an infinite weight at ``x =
-inf``) and infinite terms of both signs; infinite terms of one sign give
``(inf, that sign)``; a row with no nonzero term (empty, all ``-inf``, all
zero weights) gives ``(-inf, 0)``.
"""

from __future__ import annotations

import numpy as np

from stabkit.floats import Format, round_float64

from . import double_double as _dd
from .eft import rowsum, sum2, two_sum_err
from .inputs import as_input, last_axis
from .weighted_mp import weighted_row_mp
from .weights import signed_result, weights_in

U = 2.0**-53
#: Relative error bound of one term of the float64 pass (see step 2).
GAMMA_FLOAT = 4 * U
#: The same for the double-double pass (``_dd.exp``: 2**-90, the rest ~2**-93).
GAMMA_DD = 2.0**-88
#: Elements per block of rows (the float64 pass keeps ~10 temporaries).
BLOCK = 1 << 16


def _float_terms(x, f, j, m, live):
    """``(p, lo)``: the terms ``f_i exp(w_i)`` as ``p + lo``, step 2."""
    nm = -m[:, None]
    d = x + nm
    r = two_sum_err(x, nm, d)  # x - m = d + r exactly
    c = j * _dd._LN2_1  # exact: j < 2**11, LN2_1 has 32 bits
    a = d + c
    rho = (r + two_sum_err(d, c, a)) + j * _dd._LN2_2
    # entries out of the sum (b = 0, x = -inf) and shifts that overflow
    # (x - m = -inf: the term is 0) must not leave NaN residuals
    ok = live & np.isfinite(a) & np.isfinite(rho)
    e = np.exp(np.where(ok, a, -np.inf))
    p, q = _dd.two_prod(np.where(ok, f, 0.0), e)
    # exp(a + rho) = exp(a) (1 + rho + rho**2/2 ...): first order suffices
    return p, np.where(ok, q + p * rho, 0.0)


def _dd_terms(x, f, j, m, live):
    """``(p, lo)`` with ``w_i`` and ``exp(w_i)`` in double-double."""
    nm = -m[:, None]
    d = x + nm
    r = two_sum_err(x, nm, d)
    c2, c2_lo = _dd.two_prod(j, np.full_like(j, _dd._LN2_2))
    wh, wl = _dd.add(d, r, j * _dd._LN2_1, np.zeros_like(j))
    wh, wl = _dd.add(wh, wl, c2, c2_lo + j * _dd._LN2_3)
    ok = live & np.isfinite(wh) & np.isfinite(wl)
    # _dd.exp takes finite arguments only; below -745.2 it gives 0
    eh, el = _dd.exp(np.where(ok, wh, -1000.0), np.where(ok, wl, 0.0))
    fo = np.where(ok, f, 0.0)
    p, q = _dd.two_prod(fo, eh)
    return p, q + fo * el


def _log_abs(sh, sl):
    """``log|S|`` of a normalised double-double ``S != 0`` (rows with
    ``S = 0`` get junk, which their infinite bound discards)."""
    sign = np.where(sh < 0, -1.0, 1.0)
    ah, al = np.abs(sh), sign * sl
    near = (ah >= 0.5) & (ah <= 2.0)
    # Sterbenz: |S| - 1 is exact for |S| in [0.5, 2]; log1p keeps the
    # relative accuracy of a log near 0 that log(|S|) would lose
    gh, gl = _dd.two_sum(np.where(near, ah - 1.0, 0.0), np.where(near, al, 0.0))
    lh1, ll1 = _dd.log1p(gh, gl)
    safe = np.where(near | (ah == 0), 1.0, ah)
    lh2, ll2 = _dd.log(safe, np.where(near | (ah == 0), 0.0, al))
    return np.where(near, lh1, lh2), np.where(near, ll1, ll2)


def _finish(p, lo, top, f_top, m, K, gamma, tol):
    """Step 3 and 4: ``(out, sign, settled)`` per row."""
    n_rows, n = p.shape
    rows = np.arange(n_rows)
    p[rows, top] = 0.0  # the leading term, exact, is added back below
    lo[rows, top] = 0.0
    sh, sl = sum2(p)
    sl = sl + rowsum(lo)
    mag = rowsum(np.abs(p)) * (1 + n * 2.0**-52)
    Sh, Sl = _dd.two_sum(f_top, sh)
    Sh, Sl = _dd.fast_two_sum(Sh, Sl + sl)
    lh, ll = _log_abs(Sh, Sl)
    Kf = K.astype(np.float64)
    k2, k2_lo = _dd.two_prod(Kf, np.full_like(Kf, _dd._LN2_2))
    rh, rl = _dd.add(m, np.zeros_like(m), Kf * _dd._LN2_1, np.zeros_like(m))
    rh, rl = _dd.add(rh, rl, k2, k2_lo + Kf * _dd._LN2_3)
    rh, rl = _dd.add(rh, rl, lh, ll)
    out = rh + rl
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (gamma * mag + n * n * 2.0**-104 * (mag + np.abs(f_top)) + n * 2.0**-1000) / np.abs(Sh)
        bound = 2 * delta + 2.0**-86 * (1 + np.abs(m) + np.abs(Kf) + np.abs(lh))
        settled = (delta <= 0.25) & (bound <= tol * np.abs(out))
    return out, np.where(Sh < 0, -1.0, 1.0), settled


def _finite_rows(x, b, fmt: Format):
    """``(out, sign)`` of rows whose terms are all finite (b finite, x
    finite or -inf), at least one nonzero."""
    live = (b != 0) & (x > -np.inf)
    fr, ex = np.frexp(b)
    f, k = 2.0 * fr, ex - 1  # b = f 2**k, 1 <= |f| < 2: exact
    # z = x + k ln 2 estimated: picks the largest term, up to ~1e-13
    z = np.where(live, x + k * _dd._LN2_1, -np.inf)
    top = np.argmax(z, axis=-1)
    rows = np.arange(x.shape[0])
    m, K, f_top = x[rows, top], k[rows, top], f[rows, top]
    j = (k - K[:, None]).astype(np.float64)
    tol = 3 * U if fmt.name == "float64" else 2.0 ** -(fmt.precision + 4)
    out, sign, ok = _finish(*_float_terms(x, f, j, m, live), top, f_top, m, K, GAMMA_FLOAT, tol)
    redo = np.flatnonzero(~ok)
    if redo.size:
        sub = (x[redo], f[redo], j[redo], m[redo], live[redo])
        o2, s2, ok2 = _finish(*_dd_terms(*sub), top[redo], f_top[redo], m[redo], K[redo], GAMMA_DD, tol)
        out[redo], sign[redo] = o2, s2
        for i in redo[~ok2]:
            keep = live[i]
            out[i], sign[i] = weighted_row_mp(x[i][keep], b[i][keep])
    return out, sign


def weighted_rows(x: np.ndarray, b: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """``(log|S|, sign S)`` in float64 for 2-d float64 rows (n >= 1) of
    ``x`` and ``b``; the edges of the module docstring first."""
    live = b != 0  # NaN weights are live
    inf_term = live & ((x == np.inf) | (np.isinf(b) & (x > -np.inf)))
    pos = (inf_term & (b > 0)).any(axis=-1)
    neg = (inf_term & (b < 0)).any(axis=-1)
    nan = (live & (np.isnan(x) | np.isnan(b) | (np.isinf(b) & (x == -np.inf)))).any(axis=-1) | (pos & neg)
    empty = ~(live & (x > -np.inf)).any(axis=-1)
    out = np.where(nan, np.nan, np.where(pos | neg, np.inf, -np.inf))
    sign = np.where(nan, np.nan, np.where(neg, -1.0, np.where(pos, 1.0, 0.0)))
    fin = np.flatnonzero(~(nan | pos | neg | empty))
    if fin.size:
        out[fin], sign[fin] = _finite_rows(x[fin], b[fin], fmt)
    return out, sign


def logsumexp_weighted(x, axis: int, keepdims: bool, b, return_sign: bool):
    """The accurate tier's ``logsumexp`` with weights: inputs checked and
    broadcast (:func:`.weights.weights_in`, the exact weights), rows in
    blocks, each result rounded once to ``x``'s format."""
    a, fmt = as_input(x)
    a, w = weights_in(b, a, fmt, exact=True)
    xl, wl = last_axis(a, axis), last_axis(w, axis)
    n, n_rows = xl.shape[-1], int(np.prod(xl.shape[:-1]))
    x2, w2 = xl.reshape(n_rows, n), wl.reshape(n_rows, n)
    out, sign = np.full(x2.shape[0], -np.inf), np.zeros(x2.shape[0])
    if n:
        step = max(1, BLOCK // n)
        for start in range(0, x2.shape[0], step):
            blk = slice(start, start + step)
            out[blk], sign[blk] = weighted_rows(np.asarray(x2[blk], dtype=np.float64), w2[blk], fmt)
    shape = xl.shape[:-1]
    if fmt.name != "float64":
        out, sign = round_float64(out, fmt), sign.astype(fmt.dtype)
    return signed_result(out.reshape(shape), sign.reshape(shape), axis, keepdims, return_sign)
