"""The row-wise core of the accurate tier: the shift analysis of a block of
rows (:class:`Rows`) and the sums that go with it.

Everything here works on 2-d arrays, one row per softmax, and is called by
:mod:`stabkit.accurate` on blocks of rows small enough to stay in cache. The
identities are Blanchard, Higham & Higham, "Accurately computing the
log-sum-exp and softmax functions" (IMA J. Numer. Anal. 41, 2021), with the
shift's rounding error (TwoSum) and the row sum's carried along. Rows without
the shift are in :mod:`stabkit._accurate.unshifted`, the cancelling logsumexp rows in
:mod:`stabkit._accurate.cancelling`, the shift itself in
:mod:`stabkit._accurate.rowshift`.
"""

from __future__ import annotations

import mpmath
import numpy as np

from .eft import (
    NARROW,
    rowmin,
    rowsum,
    sum2,
    sum2_cols,
    normalized,
    split_sigma,
    sum_split,
    two_sum_err,
    workspace,
)
from .cancelling import logsumexp_cancelling
from .rowshift import shift_block, spelled_out
from .unshifted import below_ties, tie_rows
from stabkit.floats import Format
from stabkit._native import rows as native

#: 1000 ln 2 as the nearest float64 and the rest (see ``Rows._tiny_sums``),
#: from a private mpmath context (the global one belongs to the caller).
_MP = mpmath.MPContext()
_MP.prec = 200
_C1000 = float(1000 * _MP.log(2))
_C1000_LO = float(1000 * _MP.log(2) - _C1000)

#: Largest ``L / |m + L|`` that ``m + L`` may carry for a float64 target
#: (m < 0). L = fl(log1p(hi) + lo/(1 + hi)) from a normalised pair is off by
#: at most 2u L (log1p, 1 ulp) + u L (the addition) + 2**-60 L (the sum),
#: u = 2**-53; as ulp(out) > u |out|, out = fl(m + L) is off by at most
#: 0.5 + 3.01 L/|out| ulp: 3.51 where m >= 0 (out >= L), and at most
#: 0.5 + 3.01 * 1.125 = 3.89 ulp below this ratio. Rows past it are
#: recomputed by :mod:`stabkit._accurate.cancelling`.
CANCEL64 = 1.125
#: The same for float32 and narrower targets: float64's 3.01 u L, amplified
#: 2**12 times, is 3.01 * 2**-41 |out|, far below their half ulp (2**-25).
CANCEL_NARROW = 2.0**12


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

    With more than NARROW columns and every row's maximum finite, the
    compiled passes of :mod:`stabkit._native.rows` (where built) do the shift
    (:mod:`stabkit._accurate.rowshift`), the sums, the probabilities and the
    log-probabilities (``native`` is then True), with the same bits: float64
    rows (float64 targets; float16 and bfloat16 ones, which arrive converted
    to float64) and float32 rows. np.exp and log1p stay NumPy's, and so do
    the tie fixes. For a float16 ``dst`` the kernels write float64, which
    the caller rounds once, as NumPy's float64 loops writing into ``dst``
    would (float16 has no kernel output of its own).
    """

    def __init__(self, x: np.ndarray, exact: bool, block_rows: int | None = None):
        n_rows, n = x.shape
        # d, e, r and two scratch arrays, reused block after block
        D, E, R, S1, S2 = (w[:n_rows] for w in workspace(max(n_rows, block_rows or 0), n, 5))
        sh = shift_block(x, exact, D, E, R, S1, S2)
        self.x, self.m, self.d, self.r, self.e = x, sh.m, sh.d, sh.r, sh.e
        self.exact, self.top, self._dmin, self.native = exact, sh.top, sh.dmin, sh.native
        self.special = ~sh.finite
        self._scratch = (S1, S2)
        self._L = self._corr = None

    @property
    def nan(self) -> np.ndarray:
        return np.isnan(self.m)

    @property
    def pinf(self) -> np.ndarray:
        return self.m == np.inf

    @property
    def ninf(self) -> np.ndarray:
        return self.m == -np.inf

    def residual_sum(self) -> np.ndarray:
        """``sum_i e_i r_i`` per row (float64 targets): what the residuals add
        to the sum, as ``exp(d + r) = exp(d) (1 + r + O(r**2))`` with
        ``|r| <= ulp(d)/2``; one fused pass. Masked entries (``-inf - m``) and
        shifts that overflow (``-1.8e308 - 1.8e308``) leave NaN in r where
        ``exp(d) = 0``: those rows get such residuals set to 0, once."""
        if self._corr is None:
            e, r = self.e, self.r
            with np.errstate(invalid="ignore", over="ignore"):
                corr = self._dot(e, r)
                bad = np.isnan(corr)
                if np.count_nonzero(bad):
                    rb = r[bad]
                    rb[~np.isfinite(rb)] = 0.0
                    r[bad] = rb
                    corr[bad] = self._dot(e[bad], rb)
            self._corr = corr
        return self._corr

    def _dot(self, e: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``sum_i e_i r_i`` per row. Wide rows: the products, then
        np.add.reduce, whose pairwise order the native kernel repeats bit
        for bit (einsum's order depends on NumPy's version and the CPU); the
        sum is a first-order correction of size ~u s, and any order's error
        (~log2(n) u of it) is far below what it corrects. Narrow rows: from
        +0, column after column, as the narrow kernel (``_narrow.h``) adds
        (einsum's order, used before, changed no result in 12.5 million
        rows). Never vecdot: it goes through a threaded BLAS."""
        if e.shape[1] > NARROW:
            prod = np.multiply(e, r, out=self._scratch[0][: e.shape[0]])
            return np.add.reduce(prod, axis=-1)
        acc, prod = np.zeros(e.shape[0]), np.empty(e.shape[0])
        for j in range(e.shape[1]):
            acc += np.multiply(e[:, j], r[:, j], out=prod)
        return acc

    def sums(self) -> tuple[np.ndarray, np.ndarray | float]:
        """``s = s_hi + s_lo``, the sum of the terms without one maximum."""
        s_hi, s_lo = self._sums()
        if self.exact:
            tiny = (s_hi < self.e.shape[1] * 2.0**-1020) & ~self.special
            if np.count_nonzero(tiny):
                s_hi, s_lo = s_hi.copy(), np.zeros_like(s_hi) + s_lo
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
                if self.native and not self.exact:
                    # the plain sum without the maximum, one compiled pass
                    return native.top_sums(e, self.top), 0.0
                rows = np.arange(n_rows)
                kept = e[rows, self.top]
                e[rows, self.top] = 0.0
                if self.native:
                    # the extraction's sums and sum(e r) in one compiled pass
                    hi, lo, self._corr = native.split_sums(e, self.r, self.top, split_sigma(n))
                    s_hi, s_lo = sum_split(e, *self._scratch, raw=(hi, lo))
                else:
                    s_hi, s_lo = sum_split(e, *self._scratch) if self.exact else (rowsum(e), 0.0)
                e[rows, self.top] = kept
                return (s_hi, s_lo + self.residual_sum()) if self.exact else (s_hi, s_lo)
            # Narrow rows, where indexing by row costs more than a pass: sum the
            # terms below the maximum, then add the other maxima, an exact
            # integer count. Column-major, in scratch: cols[j] is column j.
            cols = self._scratch[0].reshape(n, n_rows)
            np.less(self.d.T, 0.0, out=cols)  # 1.0 below the maximum, else 0.0
            ties = (n - 1.0) - np.add.reduce(cols, axis=0)
            below = np.multiply(e.T, cols, out=cols)
            if not self.exact:
                s = below[0].copy()
                for col in below[1:]:
                    s += col
                return s + ties, 0.0
            s_hi, s_lo = sum2_cols(below)
            t = s_hi + ties
            return t, s_lo + two_sum_err(s_hi, ties, t) + self.residual_sum()

    @property
    def L(self) -> np.ndarray:
        """``log1p(s)``, the log-sum-exp of the shifted row."""
        if self._L is None:
            s_hi, s_lo = self.sums()
            with np.errstate(invalid="ignore", divide="ignore"):
                if self.exact:
                    # log1p(h + l) = log1p(h) + l/(1 + h) - l**2/(2 (1 + h)**2) + ...
                    # The sums and the residuals leave |l| up to 2**-12 h;
                    # normalised, |l| <= u h (u = 2**-53), and the dropped
                    # term is below u**2 h / 2 <= u**2 L (L >= h / (1 + h)).
                    s_hi, s_lo = normalized(s_hi, s_lo)
                    self._L = np.log1p(s_hi) + s_lo / (1.0 + s_hi)
                else:
                    self._L = np.log1p(s_hi)
        return self._L

    def _patch(self, out: np.ndarray, limit_at_inf: float, limit_elsewhere: float) -> np.ndarray:
        """Apply the edge contract to the flagged rows of a per-element result."""
        if not np.count_nonzero(self.special):
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
            # the residuals (a masked entry's r is already 0) and the
            # extraction's sums in one compiled pass, the same bits
            fused = native.softmax_sums(e, self.r, split_sigma(e.shape[1])) if self.native and self.exact else None
            if fused is not None:
                hi, lo = sum_split(e, *self._scratch, raw=fused[:2])
                p = np.divide(e, (hi + lo)[:, None], out=out)
            elif self.exact:
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
                # ~2**-50, far below the target's half ulp (compiled where
                # the shift was, the same bits)
                p = native.scale_rows(e, native.writable(dst)) if self.native else None
                if p is None:
                    p = np.multiply(e, (1.0 / rowsum(e))[:, None], out=out)
        return self._patch(p, 1.0, 0.0)

    def log_softmax(self, dst: np.ndarray | None = None) -> np.ndarray:
        """Log-probabilities, into ``dst`` when given (as for :meth:`softmax`;
        with the residuals, float64 only)."""
        L, fixed = self.L, None
        if not self.exact:
            span = -(rowmin(self.d) if self._dmin is None else self._dmin)
            tied = tie_rows(span, L) & ~self.special
            if tied.any():
                fixed = below_ties(self.d[tied], L[tied])
        with np.errstate(invalid="ignore"):
            # x_i - lse = (d_i - L) + r_i: d_i <= 0 and -L <= 0 have the same
            # sign, so nothing cancels; for a maximum d = r = 0 and the result
            # is -log1p(s), accurate even when s is 1e-300.
            lp = self.d if dst is None else dst
            if self.native and not self.exact:
                lp = native.writable(lp, self.d)
            if not self.native:
                done = False
            elif self.exact:
                done = native.log_softmax(self.d, self.r, L, lp)
            else:
                done = native.sub_rows(self.d, L, lp)
            if not done:
                Lb = spelled_out(L, self.d.shape[1], self._scratch[0])  # faster than a broadcast column
                lp = np.subtract(self.d, Lb, out=lp)
                if self.r is not None:
                    lp += self.r
        if fixed is not None:
            lp[tied] = fixed
        self._signed_zeros(lp)
        return self._patch(lp, 0.0, -np.inf)

    def _signed_zeros(self, lp: np.ndarray) -> None:
        """A log-probability is ``-log1p(s) <= 0``, and exactly 0 only in a
        row whose other entries are all masked; ``s`` below half the least
        subnormal (a winner 745 ahead) rounds it to 0, whose sign must then be
        negative: ``log_softmax([0, -800])[0]`` is ``-3.6e-348``, -0.0."""
        zero = (self.L == 0) & ~self.special
        if np.count_nonzero(zero):
            alive = np.sum(self.x[zero] > -np.inf, axis=-1) > 1
            rows = np.flatnonzero(zero)[alive]
            lp[rows] = np.where(lp[rows] == 0, -0.0, lp[rows])

    def log_softmax_at(self, cols: np.ndarray) -> np.ndarray:
        """The log-softmax of one entry per row, column ``cols[i]`` of row i
        (what a sparse cross-entropy needs, without the other entries)."""
        rows = np.arange(cols.size)
        with np.errstate(invalid="ignore"):
            if self.exact:
                lp = self.d[rows, cols] - self.L + self.r[rows, cols]
            else:
                lp = below_ties(self.d[rows, cols][:, None], self.L)[:, 0]
        self._signed_zeros(lp)
        if np.count_nonzero(self.special):
            lp = np.where(self.special, self.log_softmax()[rows, cols], lp)
        return lp

    def logsumexp(self, fmt: Format) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.m + self.L
            # m + L cancels only when m < 0 and L ~ -m; the float64 error of L
            # is then amplified by L / |m + L| (CANCEL64), or, for narrower
            # targets, by at most (|m| + L) / |m + L| (CANCEL_NARROW). Rows
            # amplified past what the target format can absorb are recomputed
            # exactly. A NaN ratio (0/0: out = L = 0) is no cancellation.
            if fmt.name == "float64":
                amp, limit = self.L / np.abs(out), CANCEL64
            else:
                amp, limit = (np.abs(self.m) + self.L) / np.abs(out), CANCEL_NARROW
        redo = (self.m < 0) & ~self.special & (amp > limit)
        if redo.any():
            out[redo] = logsumexp_cancelling(self.x[redo].astype(np.float64), guess=out[redo])
        out = np.where(self.nan, np.nan, out)
        out = np.where(self.pinf, np.inf, out)
        return np.where(self.ninf, -np.inf, out)
