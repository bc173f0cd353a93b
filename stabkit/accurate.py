"""The accurate tier: small relative error on the whole domain, in every format.

Tools used (each explained in a comment where it acts):

* float64 working precision for float16, bfloat16 and float32 inputs, then
  one correct rounding to the input format (:func:`stabkit.floats.round_float64`);
* branch identities chosen so that no subtraction cancels
  (``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, binary cross-entropy as
  ``y*softplus(-x) + (1-y)*softplus(x)``);
* log1p of the sum without the maximum term (Blanchard, Higham & Higham,
  "Accurately computing the log-sum-exp and softmax functions", IMA J. Numer.
  Anal. 41, 2021): ``logsumexp(x) = m + log1p(sum_{i != k} exp(x_i - m))``;
* the exact rounding error of the max shift (TwoSum) folded back into ``exp``;
* compensated (TwoSum) summation of the row terms;
* for the logsumexp rows where ``m + log1p(s)`` cancels (a negative maximum
  of about the size of the log term), double-double arithmetic
  (:mod:`stabkit._dd`), and mpmath for the rows whose result is too close to 0
  even for that (float64 log-probability rows, logsumexp ~ 1e-17).

Edge contract, common to the row-wise functions (checked by the tests):

* NaN anywhere in a row makes the whole row's result NaN;
* ``-inf`` entries are masked classes: probability 0, log-probability -inf;
* a row of only ``-inf``: logsumexp -inf, softmax and log-softmax NaN;
* exactly one ``+inf`` in a row: softmax is 1 there and 0 elsewhere,
  log-softmax 0 and -inf, logsumexp +inf (the limit); two or more ``+inf``:
  softmax and log-softmax NaN (the limit depends on how they grow), logsumexp
  +inf;
* an empty row: logsumexp -inf (the log of an empty sum), softmax empty.
"""

from __future__ import annotations

import mpmath
import numpy as np

from . import _dd
from ._common import as_input, check_same_shape, last_axis, restore_axis, sparse_labels, take_label, targets_in, xmul
from .floats import Format, round_float64, round_to_format

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softmax",
    "log_softmax",
    "logsumexp",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
]


def _finish(y64: np.ndarray, fmt: Format) -> np.ndarray:
    """Round a float64 result once to the caller's format."""
    return y64 if fmt.name == "float64" else round_float64(y64, fmt)


def _f64(x, name="x"):
    a, fmt = as_input(x, name)
    return a.astype(np.float64), fmt


# ------------------------------------------------------------ elementwise


def _sigmoid64(x):
    # e = exp(-|x|) is in [0, 1]: it cannot overflow. sigmoid(x) is 1/(1+e) for
    # x >= 0 and e/(1+e) for x < 0; max(e, x >= 0) picks the numerator without
    # a random-mask np.where (e <= 1, so the max is 1 or e). One division, no
    # cancellation: <= 1.7 ulp in float64.
    e = np.abs(x, out=np.empty_like(x))  # an array even for 0-d input
    np.negative(e, out=e)
    np.exp(e, out=e)
    den = np.add(e, 1.0)
    # in place: every fresh 8 MB temporary costs page faults
    return np.divide(np.maximum(e, x >= 0, out=e), den, out=e)


def _softplus64(x):
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): both terms are >= 0, so
    # the sum cannot cancel, and exp only sees non-positive arguments. Unlike a
    # threshold (x past 20), the small term is kept for every x.
    with np.errstate(invalid="ignore"):
        return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``.

    Identity: ``e/(1+e)`` with ``e = exp(-|x|)`` below zero, ``1/(1+e)`` above.
    Edges: ``sigmoid(+-0) = 0.5``, ``sigmoid(inf) = 1``, ``sigmoid(-inf) = 0``,
    NaN propagates; results in the subnormal range are kept, not flushed.
    """
    x, fmt = _f64(x)
    return _finish(_sigmoid64(x), fmt)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``.

    Edges: ``log_sigmoid(inf) = -0.0``, ``log_sigmoid(-inf) = -inf``, NaN
    propagates. For large x the result is ``-exp(-x)``, tiny but nonzero.
    """
    x, fmt = _f64(x)
    return _finish(-_softplus64(-x), fmt)


def softplus(x):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``.

    Edges: ``softplus(inf) = inf``, ``softplus(-inf) = 0``, NaN propagates.
    No threshold: ``softplus(30) = 30 + 9.4e-14`` in float64.
    """
    x, fmt = _f64(x)
    return _finish(_softplus64(x), fmt)


# ------------------------------------------------------------ row-wise core


def _two_sum_err(a, b, s, out=None):
    """Exact rounding error of ``s = fl(a + b)`` (Knuth's TwoSum), into
    ``out`` when given (one temporary instead of four: fresh 8 MB arrays cost
    page faults that rival the arithmetic)."""
    bb = np.subtract(s, a)
    t = np.subtract(s, bb, out=out)
    np.subtract(a, t, out=t)
    np.subtract(b, bb, out=bb)
    return np.add(t, bb, out=t)


# Rows this short are reduced column by column: NumPy's reductions along a
# short contiguous axis are 2-4x slower than n vector operations across rows.
_NARROW = 16


def _rowmax(a: np.ndarray) -> np.ndarray:
    if a.shape[-1] > _NARROW:
        return np.max(a, axis=-1)
    m = a[:, 0].copy()
    for j in range(1, a.shape[-1]):
        # np.maximum propagates NaN, like np.max
        np.maximum(m, a[:, j], out=m)
    return m


def _rowsum(a: np.ndarray) -> np.ndarray:
    if a.shape[-1] > _NARROW:
        return np.sum(a, axis=-1)
    s = a[:, 0].copy()
    for j in range(1, a.shape[-1]):
        s += a[:, j]
    return s


def _sum2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of a 2-d array as pairs ``hi + lo``, accurate to ~2**-100
    relative for non-negative terms: every addition's rounding error is kept
    (TwoSum) and the errors are added up separately, whose own rounding is
    then negligible. Narrow rows go column by column, wide ones pairwise."""
    if a.shape[-1] <= _NARROW:
        hi, lo = a[:, 0].copy(), np.zeros(a.shape[0])
        for j in range(1, a.shape[-1]):
            col = a[:, j]
            s = hi + col
            lo += _two_sum_err(hi, col, s)
            hi = s
    else:
        hi, lo = a, np.zeros(a.shape[:-1])
        while hi.shape[-1] > 1:
            # pair the first half with the second: contiguous slices
            h = hi.shape[-1] // 2
            a1, a2 = hi[:, :h], hi[:, h:2 * h]
            s = a1 + a2
            lo += _rowsum(_two_sum_err(a1, a2, s))
            hi = s if hi.shape[-1] % 2 == 0 else np.concatenate([s, hi[:, -1:]], axis=-1)
        hi = hi[:, 0]
    return hi, np.where(np.isfinite(hi), lo, 0.0)


class _Rows:
    """Shift analysis of a 2-d float64 array of rows (n >= 1 columns).

    ``m`` is the row maximum and ``d_i = x_i - m``; ``s = sum exp(d_i)`` over
    all entries but one maximum (Blanchard, Higham & Higham: log1p(s) keeps
    its relative accuracy when s is tiny), ``L = log1p(s)``. With ``exact``
    (float64 targets) the shift's rounding error ``r_i`` is kept (TwoSum,
    ``x_i - m = d_i + r_i`` exactly) and ``s`` is summed with TwoSum; for
    narrower targets float64 working precision already leaves ~2**-40 of
    slack, and both are skipped. Rows whose maximum is not finite are shifted
    by 0 so that nothing raises, and flagged for the callers to patch.
    """

    def __init__(self, x: np.ndarray, exact: bool):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            m = _rowmax(x)
            self.nan = np.isnan(m)
            self.pinf = m == np.inf
            self.ninf = m == -np.inf
            ms = np.where(np.isfinite(m), m, 0.0)[:, None]
            d = x - ms
            e = np.exp(d)
            below = np.empty_like(e)  # scratch, then the terms of s
            r = None
            if exact:
                # TwoSum: x - m = d + r exactly. Without r, a row offset by 1e4
                # loses ulp(1e4)/2 = 9e-13 absolute in every shifted logit,
                # which exp turns into ~8000 ulp of relative error.
                r = _two_sum_err(x, -ms, d)
                # -inf - m, and a shift that overflows (x = -1.8e308 with
                # m = 1.8e308: d = -inf, exp(d) = 0), leave NaN in r
                if not np.isfinite(r).all():
                    r[~np.isfinite(r)] = 0.0
                # exp(d + r) = exp(d) * (1 + r + O(r^2)), |r| <= ulp(d)/2 ~ 1e-13
                e += np.multiply(e, r, out=below)
            # Leave one maximum (d = 0, exp = 1) out of the sum without finding
            # it: sum the entries below the maximum, then add the other ties,
            # an exact integer count.
            ties = np.count_nonzero(d == 0, axis=-1) - 1.0
            np.multiply(e, d < 0, out=below)
            if exact:
                s_hi, s_lo = _sum2(below)
                t = s_hi + ties
                s_lo = s_lo + _two_sum_err(s_hi, ties, t)
                s_hi = t
                # log1p(s_hi + s_lo) = log1p(s_hi) + s_lo / (1 + s_hi) + O(s_lo^2)
                L = np.log1p(s_hi) + s_lo / (1.0 + s_hi)
            else:
                s_hi = _rowsum(below) + ties
                s_lo = 0.0
                L = np.log1p(s_hi)
        self.x, self.m, self.d, self.r, self.e = x, m, d, r, e
        self.s_hi, self.s_lo, self.L = s_hi, s_lo, L
        self.special = self.nan | self.pinf | self.ninf

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

    def softmax(self) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            denom = (1.0 + self.s_hi) + self.s_lo
            p = self.e / denom[:, None]
        return self._patch(p, 1.0, 0.0)

    def log_softmax(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            # x_i - lse = (d_i - L) + r_i: d_i <= 0 and -L <= 0 have the same
            # sign, so nothing cancels; for a maximum d = r = 0 and the result
            # is -log1p(s), accurate even when s is 1e-300.
            lp = self.d - self.L[:, None]
            if self.r is not None:
                lp += self.r
        return self._patch(lp, 0.0, -np.inf)

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
            out[redo] = _logsumexp_cancelling(self.x[redo], fmt)
        out = np.where(self.nan, np.nan, out)
        out = np.where(self.pinf, np.inf, out)
        return np.where(self.ninf, -np.inf, out)


def _logsumexp_cancelling(rows: np.ndarray, fmt: Format) -> np.ndarray:
    """logsumexp of rows where ``m + log1p(s)`` cancels, to float64.

    First in double-double: ``log(sum(exp(x_i)))`` with every exp, the sum and
    the log carried to ~2**-100, an absolute error below
    ``2**-96 * (S + 1)``. Rows whose result is so small that this bound is not
    below 2**-(p + 12) of it (log-probability rows in float64, whose logsumexp
    is ~1e-17) go on to mpmath.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        # only -inf can be non-finite here (the maximum is finite): exp -> 0
        x = np.where(np.isfinite(rows), rows, -1000.0)
        eh, el = _dd.exp(x, np.zeros_like(x))
        sh, sl = _sum2(eh)
        sl = sl + _rowsum(el)
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


def _rows(xl: np.ndarray, fmt: Format) -> _Rows:
    """The shift analysis of the rows of ``xl`` (classes last) as a 2-d array;
    float64 targets get the exact residuals and compensated sums."""
    return _Rows(xl.reshape(-1, xl.shape[-1]), fmt.name == "float64")


def _rows_of(x, axis):
    x64, fmt = _f64(x)
    xl = last_axis(x64, axis)
    return x64, xl, fmt


def softmax(x, axis=-1):
    """``exp(x_i - m) / (1 + s)`` with ``s`` the sum without the maximum term.

    The shift residual is folded into ``exp`` and ``s`` is summed with TwoSum,
    so every probability, down to subnormals, has a small relative error.
    Edges: see the module docstring (masking, all ``-inf``, ``+inf``, NaN).
    """
    x64, xl, fmt = _rows_of(x, axis)
    if xl.size == 0:
        return _finish(np.zeros(x64.shape), fmt)
    p = _rows(xl, fmt).softmax().reshape(xl.shape)
    return _finish(restore_axis(p, axis, x64.ndim), fmt)


def log_softmax(x, axis=-1):
    """``x_i - logsumexp(x) = (d_i - log1p(s)) + r_i``, with ``d_i + r_i = x_i - m``
    exactly. The winning class gets ``-log1p(s)``: not 0 at a gap of 40, but
    ``-4.2e-18``. Edges: see the module docstring."""
    x64, xl, fmt = _rows_of(x, axis)
    if xl.size == 0:
        return _finish(np.zeros(x64.shape), fmt)
    lp = _rows(xl, fmt).log_softmax().reshape(xl.shape)
    return _finish(restore_axis(lp, axis, x64.ndim), fmt)


def logsumexp(x, axis=-1, keepdims=False):
    """``log(sum(exp(x))) = m + log1p(s)`` (Blanchard, Higham & Higham 2021).

    Rows where ``m + log1p(s)`` cancels (a negative maximum; the logsumexp of
    log-probabilities, which is about 0) are evaluated in double-double, and in
    mpmath where even that is not enough, so the result keeps a small relative
    error there too. Edges: an empty row gives -inf; see the module
    docstring for NaN, ``-inf`` and ``+inf``.
    """
    x64, xl, fmt = _rows_of(x, axis)
    if xl.shape[-1] == 0:
        out = np.full(xl.shape[:-1], -np.inf)
    elif xl.size == 0:
        out = np.zeros(xl.shape[:-1])
    else:
        out = _rows(xl, fmt).logsumexp(fmt).reshape(xl.shape[:-1])
    if keepdims:
        out = np.expand_dims(out, axis)
    return _finish(np.asarray(out, dtype=np.float64), fmt)


# ------------------------------------------------------------ losses


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Elementwise binary cross-entropy; ``y_true`` is first rounded to the
    format of ``y_pred``.

    From logits: ``y * softplus(-x) + (1 - y) * softplus(x)``. For labels in
    [0, 1] both terms are >= 0, so nothing cancels: at (x = -40, y = 0) the
    loss is 4.2e-18, not 0. From probabilities:
    ``-(y log p + (1 - y) log1p(-p))``, exact for tiny ``p`` where ``log(1 - p)``
    rounds to 0. A zero weight makes its term 0 even where the log is
    infinite (``0 log 0 = 0``). Edges: p = 0 with y > 0 gives inf; NaN
    propagates; shapes must match (ValueError).
    """
    p, fmt = _f64(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    y = targets_in(y_raw, fmt).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if from_logits:
            loss = xmul(y, _softplus64(-p)) + xmul(1.0 - y, _softplus64(p))
        else:
            loss = -(xmul(y, np.log(p)) + xmul(1.0 - y, np.log1p(-p)))
    return _finish(loss, fmt)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-row ``-log p[y]``.

    From logits: ``-log_softmax(z)[y] = (log1p(s) - d_y) - r_y``, a sum of
    non-negative terms (the loss of a confidently correct sample at a gap of 20
    is 2.1e-9, not 0). From probabilities: ``-log(p[y])`` with ``p`` taken as
    given (no rescaling, no clipping). Labels must be integers in
    ``[0, n_classes)`` of the logits' shape without the class axis
    (ValueError naming the label otherwise).
    """
    p, fmt = _f64(y_pred, "y_pred")
    pl = last_axis(p, axis)
    y = sparse_labels(y_true, pl)
    if pl.size == 0:
        return _finish(np.zeros(pl.shape[:-1]), fmt)
    if from_logits:
        logp = _rows(pl, fmt).log_softmax().reshape(pl.shape)
        loss = -take_label(logp, y)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = -np.log(take_label(pl, y))
    return _finish(loss, fmt)


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-row ``-sum_i y_i log p_i`` with soft or one-hot labels (rounded to
    the format of ``y_pred``).

    From logits, ``log p`` is the accurate log-softmax; from probabilities,
    ``log p`` as given. Zero labels contribute 0 even at masked (``-inf``)
    logits. For non-negative labels every term is >= 0; the row sum is
    compensated (TwoSum). Shapes must match (ValueError).
    """
    p, fmt = _f64(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    y = targets_in(y_raw, fmt).astype(np.float64)
    pl, yl = last_axis(p, axis), last_axis(y, axis)
    if pl.shape[-1] == 0 or pl.size == 0:
        return _finish(np.zeros(pl.shape[:-1]), fmt)
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            logp = _rows(pl, fmt).log_softmax().reshape(pl.shape)
        else:
            logp = np.log(pl)
        terms = -xmul(yl, logp)
        hi, lo = _sum2(terms.reshape(-1, terms.shape[-1]))
    return _finish((hi + lo).reshape(pl.shape[:-1]), fmt)
