"""The row-wise core of the accurate tier: the shift analysis of a block of
rows (:class:`Rows`), compensated row sums, and the exact fallbacks for
logsumexp rows that cancel.

Everything here works on 2-d float64 arrays, one row per softmax, and is
called by :mod:`stabkit.accurate` on blocks of rows small enough to stay in
cache. The identities are Blanchard, Higham & Higham, "Accurately computing
the log-sum-exp and softmax functions" (IMA J. Numer. Anal. 41, 2021), with
the shift's rounding error (TwoSum) and the row sum's carried along.
"""

from __future__ import annotations

import mpmath
import numpy as np

from . import _dd
from ._eft import (
    NARROW,
    rowmax,
    rowmin,
    rowsum,
    sum2,
    sum_split,
    sum_split_scaled,
    two_sum_err,
    workspace,
)
from .floats import Format, round_to_format

#: Bounds under which softmax needs no shift (see :func:`softmax_unshifted`):
#: exp(650) * 2**32 terms stays below float64's 1.8e308, and exp(-708) is
#: normal (exp(-745) is the last subnormal).
UNSHIFTED_MAX = 650.0
UNSHIFTED_MIN = -708.0
#: 1000 ln 2 as the nearest float64 and the rest (see ``Rows._tiny_sums``).
with mpmath.workprec(200):
    _C1000 = float(1000 * mpmath.log(2))
    _C1000_LO = float(1000 * mpmath.log(2) - _C1000)


def unshifted_rows(x: np.ndarray, exact: bool) -> np.ndarray:
    """Which rows :func:`softmax_unshifted` may take (decided per row, so a
    row's result never depends on the rows beside it):

    * float64 targets (``exact``): every entry in [-708, 650], so every term
      is a normal float64 and the sum of up to 2**32 of them is finite;
    * narrower targets: a maximum in [-600, 650]. Terms that underflow in
      float64 (entries below -708) then belong to probabilities below
      exp(-108) = 1e-47, which round to 0 in float32 and narrower.

    NaN and ``+inf`` (and ``-inf``, for float64 targets) fail both tests:
    such rows take the shifted path, which handles them.
    """
    with np.errstate(invalid="ignore"):
        if exact:
            return (rowmin(x) >= UNSHIFTED_MIN) & (rowmax(x) <= UNSHIFTED_MAX)
        m = rowmax(x)
        return (m >= -600.0) & (m <= UNSHIFTED_MAX)


def softmax_unshifted(x: np.ndarray, exact: bool, dst: np.ndarray | None, block_rows: int) -> np.ndarray:
    """``exp(x_i) / sum_j exp(x_j)`` for rows that :func:`unshifted_rows`
    accepts, into ``dst`` when given.

    The shift by the row maximum is there to keep ``exp`` from overflowing.
    Where it cannot overflow, ``exp(x_i)`` of the exact input is as accurate as
    ``exp`` of an exactly shifted value, so neither the shift nor its TwoSum
    residual is needed: one exp, one sum (compensated for float64 targets,
    :func:`sum_split`) and one division.
    """
    n_rows, n = x.shape
    E, S1, S2 = (w[:n_rows] for w in workspace(max(n_rows, block_rows), n, 5)[1:4])
    np.exp(x, out=E, dtype=np.float64)  # float32 blocks are converted first
    out = E if dst is None else dst
    if not exact:
        # float64 working precision for a narrower target: the plain sum and
        # one reciprocal are accurate to ~2**-50, far below its half ulp
        return np.multiply(E, (1.0 / rowsum(E))[:, None], out=out)
    # terms up to exp(650): the extraction needs a sigma per row
    hi, lo = sum_split_scaled(E, S1, S2, nonneg=True) if n > NARROW else sum2(E)
    return np.divide(E, (hi + lo)[:, None], out=out)


def below_ties(d: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``d - L`` in float64 for rows of a narrower target (d = x - m exact,
    L > 0 the row's log-sum-exp beyond its maximum), one float64 ulp further
    down wherever the subtraction returned ``d`` itself.

    ``x - m`` of two float32 values is often exactly a float32 midpoint, and
    when L is below half a float64 ulp of it (a winner ~37 or more ahead),
    ``d - L`` rounds back to d and the final rounding to float32 breaks the
    tie to even, half the time the wrong way; the exact value lies just below
    d. One ulp down settles the tie and is still far closer than float32 can
    tell apart.
    """
    lp = d - L[:, None]
    tie = (lp == d) & (L[:, None] > 0)
    if tie.any():
        lp[tie] = np.nextafter(d[tie], -np.inf)
    return lp


def _tie_rows(span: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Rows where ``d - L`` can round back to d for some entry: L at most half
    an ulp of the largest |d| (``span``, the maximum minus the minimum; inf
    with masked entries, which then take the careful path too)."""
    with np.errstate(invalid="ignore"):
        return (L > 0) & (L <= span * 2.0**-53)


def log_softmax_unshifted(x: np.ndarray, dst: np.ndarray | None, block_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-softmax for narrower targets (float32 and below) without the
    shift, into ``dst`` (or a new float64 array), and the rows it settles:
    those whose maximum m is in [-600, 650] (see :func:`unshifted_rows`);
    the caller shifts the others.

    With ``E_i = exp(x_i)`` of the exact inputs and k a maximum, the winner's
    share ``s = sum_{i != k} E_i / E_k`` is accurate to ~34u (u = 2**-53: one
    per exp, 32 for NumPy's pairwise sum), so is ``L = log1p(s)``, and the
    winner gets ``-L`` (Blanchard, Higham & Higham's form: accurate at any
    gap). The others get ``x_i - (m + L)``, off by at most
    ``u |m + L| + 34u L``; as ``L + (m - x_i) >= log 2`` for every i (L is at
    least ``log1p(exp(x_i - m))``), that is below ``34u + 1.45u |m + L|``, or
    2**-43 relative for |m| <= 650. A float32 result is then the correctly
    rounded one unless the exact value lies within 2**-19 ulp of a rounding
    boundary. Masked (-inf) entries get -inf and cost nothing.
    """
    n_rows, n = x.shape
    rows = np.arange(n_rows)
    E = workspace(max(n_rows, block_rows), n, 5)[1][:n_rows]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        top = np.argmax(x, axis=-1)
        m = x[rows, top].astype(np.float64)
        ok = (m >= -600.0) & (m <= UNSHIFTED_MAX)
        np.exp(x, out=E, dtype=np.float64)
        winner = E[rows, top]
        E[rows, top] = 0.0
        L = np.log1p(rowsum(E) / winner)
        out = np.subtract(x, (m + L)[:, None], out=np.empty(x.shape) if dst is None else dst, dtype=np.float64)
        tied = _tie_rows(m - rowmin(x), L) & ok
        if tied.any():
            # m + L rounds to m there: x - m, ties settled (see below_ties)
            out[tied] = below_ties(np.subtract(x[tied], m[tied, None], dtype=np.float64), L[tied])
        out[rows, top] = -L
    return out, ok


class Rows:
    """Shift analysis of a 2-d array of rows (n >= 1 columns): float64, or
    float32 for narrower targets (everything after the shift is float64).

    ``m`` is the row maximum and ``d_i = x_i - m``; ``s = sum exp(d_i)`` over
    all entries but one maximum (Blanchard, Higham & Higham: log1p(s) keeps
    its relative accuracy when s is tiny), ``L = log1p(s)``. With ``exact``
    (float64 targets) the shift's rounding error ``r_i`` is kept (TwoSum,
    ``x_i - m = d_i + r_i`` exactly) and ``s`` is compensated; for
    narrower targets float64 working precision already leaves ~2**-40 of
    slack, and both are skipped. Rows whose maximum is not finite are shifted
    by 0 so that nothing raises, and flagged for the callers to patch.
    ``sums`` and ``L`` are computed on first use; ``softmax`` and
    ``log_softmax`` overwrite the terms in place: call one of them, last.
    """

    def __init__(self, x: np.ndarray, exact: bool, block_rows: int | None = None):
        n_rows, n = x.shape
        rows = np.arange(n_rows)
        # d, e, r and two scratch arrays, reused block after block
        D, E, R, S1, S2 = (w[:n_rows] for w in workspace(max(n_rows, block_rows or 0), n, 5))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if n > NARROW:
                top = np.argmax(x, axis=-1)  # a NaN, where a row has one
                m = x[rows, top]
            else:
                m = rowmax(x)
            self.nan = np.isnan(m)
            self.pinf = m == np.inf
            self.ninf = m == -np.inf
            ms = np.where(np.isfinite(m), m, 0.0).astype(np.float64)[:, None]
            # float32 rows convert to float64 inside the subtraction (exactly)
            d = np.subtract(x, ms, out=D)
            e = np.exp(d, out=E)
            r = None
            if exact:
                # TwoSum: x - m = d + r exactly. Without r, a row offset by 1e4
                # loses ulp(1e4)/2 = 9e-13 absolute in every shifted logit,
                # which exp turns into ~8000 ulp of relative error.
                r = two_sum_err(x, -ms, d, out=R, scratch=S1)
        self.x, self.m, self.d, self.r, self.e = x, m, d, r, e
        self.exact, self.top = exact, (top if n > NARROW else None)
        self.special = self.nan | self.pinf | self.ninf
        self._scratch = (S1, S2)
        self._L = self._corr = None

    def residual_sum(self) -> np.ndarray:
        """``sum_i e_i r_i`` per row (float64 targets): what the residuals add
        to the sum, as ``exp(d + r) = exp(d) (1 + r + O(r**2))`` with
        ``|r| <= ulp(d)/2``; one fused pass. Masked entries (``-inf - m``) and
        shifts that overflow (``-1.8e308 - 1.8e308``) leave NaN in r where
        ``exp(d) = 0``: those rows get such residuals set to 0, once."""
        if self._corr is None:
            e, r = self.e, self.r
            with np.errstate(invalid="ignore", over="ignore"):
                corr = np.vecdot(e, r)
                bad = np.isnan(corr)
                if bad.any():
                    rb = r[bad]
                    rb[~np.isfinite(rb)] = 0.0
                    r[bad] = rb
                    corr[bad] = np.vecdot(e[bad], rb)
            self._corr = corr
        return self._corr

    def sums(self) -> tuple[np.ndarray, np.ndarray | float]:
        """``s = s_hi + s_lo``, the sum of the terms without one maximum."""
        s_hi, s_lo = self._sums()
        if self.exact:
            tiny = (s_hi < self.e.shape[1] * 2.0**-1020) & ~self.special
            if tiny.any():
                s_hi, s_lo = s_hi.copy(), np.array(s_lo, dtype=np.float64, copy=True) + np.zeros(len(s_hi))
                s_hi[tiny], s_lo[tiny] = self._tiny_sums(tiny), 0.0
        return s_hi, s_lo

    def _tiny_sums(self, rows: np.ndarray) -> np.ndarray:
        """s for rows where it is below ``n * 2**-1020``: its terms
        ``exp(d_i)`` may then be subnormal, each off by up to half a subnormal
        ulp, which summed reach tens of ulps of the winner's log-probability
        ``-log1p(s) = -s``. Scaled by 2**1000 the terms are normal:
        ``exp(d_i) = 2**-1000 exp(d_i + c) (1 + c_lo)`` with c the float64
        nearest ``1000 ln 2`` and c_lo its error; ``d_i + c`` is exact for
        ``d_i`` in [-1386, -346] (Sterbenz; terms further below are 1e-301 of
        the scale). The scaled terms take their residuals and a compensated
        sum, and ``ldexp`` rounds s into the subnormals once."""
        self.residual_sum()  # residuals of masked entries set to 0
        d, r = self.d[rows], self.r[rows]
        with np.errstate(under="ignore", invalid="ignore"):
            t = np.exp(d + _C1000)
            t += t * r
            t[d == 0] = 0.0  # the maxima: ties would make s >= 1, so only the winner
            hi, lo = sum2(t)
            return np.ldexp(hi + (lo + hi * _C1000_LO), -1000)

    def _sums(self) -> tuple[np.ndarray, np.ndarray | float]:
        e, n_rows, n = self.e, *self.e.shape
        with np.errstate(invalid="ignore", over="ignore"):
            if self.top is not None:
                # Leave one maximum out of s: its term is exactly 1 (d = r = 0),
                # so zero it for the sum and put it back. Other maxima (ties)
                # stay in the sum as exact 1s.
                rows = np.arange(n_rows)
                kept = e[rows, self.top]
                e[rows, self.top] = 0.0
                s_hi, s_lo = sum_split(e, *self._scratch) if self.exact else (rowsum(e), 0.0)
                e[rows, self.top] = kept
                return (s_hi, s_lo + self.residual_sum()) if self.exact else (s_hi, s_lo)
            # Narrow rows, where indexing by row costs more than a pass: sum the
            # terms below the maximum, then add the other maxima, an exact
            # integer count.
            below = self.d < 0
            ties = np.full(n_rows, n - 1.0)
            for j in range(n):
                ties -= below[:, j]
            below = np.multiply(e, below)
            if not self.exact:
                return rowsum(below) + ties, 0.0
            s_hi, s_lo = sum2(below)
            t = s_hi + ties
            return t, s_lo + two_sum_err(s_hi, ties, t) + self.residual_sum()

    @property
    def L(self) -> np.ndarray:
        """``log1p(s)``, the log-sum-exp of the shifted row."""
        if self._L is None:
            s_hi, s_lo = self.sums()
            with np.errstate(invalid="ignore", divide="ignore"):
                # log1p(s_hi + s_lo) = log1p(s_hi) + s_lo / (1 + s_hi) + O(s_lo^2)
                self._L = np.log1p(s_hi) + s_lo / (1.0 + s_hi) if self.exact else np.log1p(s_hi)
        return self._L

    def _patch(self, out: np.ndarray, limit_at_inf: float, limit_elsewhere: float) -> np.ndarray:
        """Apply the edge contract to the flagged rows of a per-element result."""
        if not self.special.any():
            return out
        single = np.zeros_like(self.pinf)
        if self.pinf.any():
            count = np.sum(self.x[self.pinf] == np.inf, axis=-1)
            single[self.pinf] = count == 1
            lim = np.where(self.x == np.inf, limit_at_inf, limit_elsewhere)
            out = np.where(single[:, None], lim, out)
        bad = self.nan | self.ninf | (self.pinf & ~single)
        return np.where(bad[:, None], np.nan, out)

    def softmax(self, dst: np.ndarray | None = None) -> np.ndarray:
        """Probabilities, written into ``dst`` when given (an array of the
        block's shape whose dtype a float64 result may be cast to with one
        rounding); returns ``dst`` itself, or a patched copy."""
        e = self.e
        out = e if dst is None else dst
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if self.exact:
                # every probability needs its own residual: exp(d + r) = e (1 + r)
                self.residual_sum()
                e += np.multiply(e, self.r, out=self._scratch[0])
                # the denominator is 1 + s, the sum of every term: no maximum
                # to leave out, and no small sum to fall back on
                hi, lo = sum_split(e, *self._scratch) if self.top is not None else sum2(e)
                p = np.divide(e, (hi + lo)[:, None], out=out)
            else:
                # float64 working precision for a narrower target: the plain
                # sum of every term, and one reciprocal, are accurate to
                # ~2**-50, far below the target's half ulp
                p = np.multiply(e, (1.0 / rowsum(e))[:, None], out=out)
        return self._patch(p, 1.0, 0.0)

    def log_softmax(self, dst: np.ndarray | None = None) -> np.ndarray:
        """Log-probabilities, into ``dst`` when given (as for :meth:`softmax`;
        with the residuals, float64 only)."""
        L, fixed = self.L, None
        if not self.exact:
            tied = _tie_rows(-rowmin(self.d), L) & ~self.special
            if tied.any():
                fixed = below_ties(self.d[tied], L[tied])
        with np.errstate(invalid="ignore"):
            # x_i - lse = (d_i - L) + r_i: d_i <= 0 and -L <= 0 have the same
            # sign, so nothing cancels; for a maximum d = r = 0 and the result
            # is -log1p(s), accurate even when s is 1e-300.
            lp = np.subtract(self.d, L[:, None], out=self.d if dst is None else dst)
            if self.r is not None:
                lp += self.r
        if fixed is not None:
            lp[tied] = fixed
        return self._patch(lp, 0.0, -np.inf)

    def log_softmax_at(self, cols: np.ndarray) -> np.ndarray:
        """The log-softmax of one entry per row, column ``cols[i]`` of row i
        (what a sparse cross-entropy needs, without the other entries)."""
        rows = np.arange(cols.size)
        with np.errstate(invalid="ignore"):
            if self.exact:
                lp = self.d[rows, cols] - self.L + self.r[rows, cols]
            else:
                lp = below_ties(self.d[rows, cols][:, None], self.L)[:, 0]
        if self.special.any():
            lp = np.where(self.special, self.log_softmax()[rows, cols], lp)
        return lp

    def logsumexp(self, fmt: Format) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.m + self.L
            # m + L cancels only when m < 0 and L ~ -m; the float64 error of L
            # is then amplified by (|m| + L) / |m + L|. Rows amplified past what
            # the target format can absorb are recomputed exactly.
            amp = (np.abs(self.m) + self.L) / np.abs(out)
        limit = 1.25 if fmt.name == "float64" else 2.0**12
        redo = (self.m < 0) & ~self.special & (amp > limit)
        if redo.any():
            out[redo] = logsumexp_cancelling(self.x[redo].astype(np.float64), fmt)
        out = np.where(self.nan, np.nan, out)
        out = np.where(self.pinf, np.inf, out)
        return np.where(self.ninf, -np.inf, out)


#: x86's 80-bit extended format (64-bit significand) where NumPy's longdouble
#: is one; elsewhere (longdouble == double) the extended step is skipped.
EXTENDED = np.finfo(np.longdouble).nmant >= 63
#: Largest cancellation factor the extended step may absorb: its result has a
#: relative error below ~8 * 2**-63 before ``m + L``, so at this factor the
#: float64 result gets at most 32 * 2**-60 = 2**-55 (0.25 ulp) of it.
EXTENDED_AMP = 32.0
#: Up to this many entries in all, the rows left after the extended step go
#: to mpmath directly rather than through double-double.
MP_DIRECT = 64


def _lse_extended(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m + log1p(s)`` in the 80-bit extended format, and which rows it
    settles (cancellation factor at most ``EXTENDED_AMP``).

    Each shifted logit ``x_i - m`` rounds by at most 2**-64 of itself, so its
    exp by ``2**-64 |x_i - m|`` relative; weighted by the terms, that is below
    ``2**-64 (1 + log n)`` of s. ``expl`` and ``log1pl`` add a few 2**-64, so
    L carries a relative error below 8 * 2**-63 for any n < 2**40.
    """
    x = rows.astype(np.longdouble)
    r = np.arange(x.shape[0])
    top = np.argmax(x, axis=-1)
    m = x[r, top]
    e = np.exp(x - m[:, None])  # -inf entries give 0
    e[r, top] = 0.0
    L = np.log1p(e.sum(axis=-1))
    out = m + L
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (np.abs(m) + L) <= EXTENDED_AMP * np.abs(out)
    return out.astype(np.float64), ok


def logsumexp_cancelling(rows: np.ndarray, fmt: Format) -> np.ndarray:
    """logsumexp of rows where ``m + log1p(s)`` cancels, to float64.

    First in 80-bit extended precision where the platform has it
    (:func:`_lse_extended`, cheap), for rows that cancel by a factor of at most
    32. A few rows left (``MP_DIRECT`` entries) go to mpmath; more, to
    double-double: ``log(sum(exp(x_i)))`` with every exp, the sum
    and the log carried to ~2**-100, an absolute error below
    ``2**-96 * (S + 1)``. Rows whose result is so small that this bound is not
    below 2**-(p + 12) of it (log-probability rows in float64, whose logsumexp
    is ~1e-17) go on to mpmath.
    """
    out = np.empty(rows.shape[0])
    todo = np.ones(rows.shape[0], dtype=bool)
    if EXTENDED:
        val, ok = _lse_extended(rows)
        out[ok] = val[ok]
        todo = ~ok
    if todo.any():
        left = rows[todo]
        # double-double costs ~0.6 ms of NumPy calls whatever the size, mpmath
        # ~7 us per entry: a handful of entries go straight to mpmath
        out[todo] = [_logsumexp_mp(row) for row in left] if left.size <= MP_DIRECT else _lse_dd(left, fmt)
    return out


def _lse_dd(rows: np.ndarray, fmt: Format) -> np.ndarray:
    """The double-double step of :func:`logsumexp_cancelling`."""
    with np.errstate(invalid="ignore", over="ignore"):
        # only -inf can be non-finite here (the maximum is finite): exp -> 0
        x = np.where(np.isfinite(rows), rows, -1000.0)
        eh, el = _dd.exp(x, np.zeros_like(x))
        sh, sl = sum2(eh)
        sl = sl + rowsum(el)
        sh, sl = _dd.fast_two_sum(sh, sl)
        yh, yl = _dd.log(sh, sl)
        out = yh + yl
        bound = 2.0**-96 * (sh + 1.0)
    ok = bound <= 2.0 ** -(fmt.precision + 12) * np.abs(out)
    if not ok.all():
        out[~ok] = [_logsumexp_mp(row) for row in rows[~ok]]
    return out


def _logsumexp_mp(row: np.ndarray) -> float:
    """log(sum(exp(row))) of one finite-max row, rounded to float64 from mpmath.

    The sum of positive terms at precision p has relative error below
    ``n * 2**(4-p)``, so ``log`` of it is off by at most ``2**(8 + log2 n - p)``
    absolute; precision doubles until that is below 2**-64 of the result.
    """
    vals = [float(v) for v in row if v != -np.inf]
    slack = 8 + len(vals).bit_length()
    prec = 160
    while True:
        with mpmath.workprec(prec):
            val = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in vals))
            if val == 0 or prec >= 8192 or mpmath.mag(val) - 64 > slack - prec:
                return round_to_format(val, "float64")
        prec *= 2
