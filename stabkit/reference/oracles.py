"""The mpmath oracles: each function in a cancellation-free exact form.

Every oracle evaluates its function exactly at the float inputs
(``mpf(float(x))`` is exact for every format here) in a cancellation-free
form, inside a scoped ``workprec``. It returns, for each output value ``v``, a
*scale* ``c`` such that the error of ``v`` is below ``c * 2**(slack - prec)``:

* each mpmath operation (``exp``, ``log``, ``log1p``, a division) is accurate
  to a couple of ulps at the working precision, and shifted logits are formed
  exactly (``fsub(..., exact=True)``);
* the forms add only terms of one sign, so relative errors stay relative;
  where a form can cancel (logsumexp's ``m + log1p(s)``, losses with labels
  outside [0, 1]) the scale is the sum of the magnitudes, an absolute bound;
* ``slack = 10 + bit_length(n)`` covers the operation count plus a sum of
  ``n`` terms with a wide margin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

from stabkit import _interrupt
from stabkit._exact import exact_mpf

__all__ = ["Oracle", "ORACLES", "oracle_value"]

mpf = mpmath.mpf
INF, NINF, NAN = mpf("inf"), mpf("-inf"), mpf("nan")


def _x(v) -> mpmath.mpf:
    return exact_mpf(float(v))


def _xmul(a, b):
    """a * b with 0 * anything = 0 (cross-entropy's 0 log 0 = 0)."""
    return mpf(0) if a == 0 else a * b


# ------------------------------------------------------------ scalar oracles
# Each returns (values, scales): lists of mpf, one per output element.


def _sigmoid(x):
    if mpmath.isnan(x):
        return [NAN], [0]
    if mpmath.isinf(x):
        return [mpf(1) if x > 0 else mpf(0)], [0]
    v = 1 / (1 + mpmath.exp(-x))
    return [v], [abs(v)]


def _softplus(x):
    if mpmath.isnan(x):
        return [NAN], [0]
    if mpmath.isinf(x):
        return [INF if x > 0 else mpf(0)], [0]
    v = mpmath.log1p(mpmath.exp(x))
    return [v], [abs(v)]


def _log_sigmoid(x):
    (v,), (c,) = _softplus(-x)
    return [-v], [c]


class _Row:
    """Exact shift analysis of one row: m, winner k, d_i = x_i - m (exact),
    s = sum_{i != k} exp(d_i), L = log1p(s); or a special kind."""

    def __init__(self, row):
        self.row = row
        self.n = len(row)
        self.kind = "finite"
        # lists, not generators that any()/all() leave suspended: a Ctrl-C
        # landing in such a generator's close is "ignored" by Python, with a
        # message on stderr (the interrupt guard still raises it after)
        if any([mpmath.isnan(v) for v in row]):
            self.kind = "nan"
            return
        n_pinf = sum(1 for v in row if v == INF)
        if n_pinf:
            self.kind = "pinf1" if n_pinf == 1 else "pinf2"
            return
        if self.n == 0 or all([v == NINF for v in row]):
            self.kind = "ninf"
            return
        self.m = max(row)
        self.k = row.index(self.m)
        self.d = [NINF if v == NINF else mpmath.fsub(v, self.m, exact=True) for v in row]
        terms = [mpmath.exp(di) for i, di in enumerate(self.d) if i != self.k and di != NINF]
        self.s = mpmath.fsum(terms)
        self.L = mpmath.log1p(self.s)

    def log_softmax(self):
        if self.kind == "nan" or self.kind == "ninf" or self.kind == "pinf2":
            return [NAN] * self.n, [0] * self.n
        if self.kind == "pinf1":
            return [mpf(0) if v == INF else NINF for v in self.row], [0] * self.n
        # d_i is exact and the subtraction is exact, so the only error is L's:
        # the bound scales with |L|, not |d_i - L|. A relative bound would not
        # settle d_i - L when d_i is a midpoint of the target format and L is
        # 1e-2000 (a winner thousands of units ahead).
        vals, scales = [], []
        for di in self.d:
            v, c = _exact_minus(di, self.L)
            vals.append(v)
            scales.append(c)
        return vals, scales


def _exact_minus(d, L):
    """(d - L, error scale) with the subtraction exact; d is exact, L >= 0 carries
    the only error. An L below every rounding boundary near d (d has at most
    ~2100 significant bits, being a difference of two float64s) is replaced by
    a stand-in 2**(mag(d) - 2300): d - L and d - stand-in round alike in every
    format, and the exact subtraction stays small."""
    if d == NINF:
        return NINF, 0
    if L != 0 and d != 0:
        floor = mpmath.mag(d) - 2300
        if mpmath.mag(L) < floor:
            L = mpmath.ldexp(mpf(1), floor)
    return mpmath.fsub(d, L, exact=True), abs(L)


def _softmax(row):
    r = _Row(row)
    if r.kind == "nan" or r.kind == "ninf" or r.kind == "pinf2":
        return [NAN] * r.n, [0] * r.n
    if r.kind == "pinf1":
        return [mpf(1) if v == INF else mpf(0) for v in row], [0] * r.n
    vals = [mpmath.exp(di) / (1 + r.s) for di in r.d]
    return vals, [abs(v) for v in vals]


def _log_softmax(row):
    return _Row(row).log_softmax()


def _logsumexp(row):
    r = _Row(row)
    special = {"nan": NAN, "ninf": NINF, "pinf1": INF, "pinf2": INF}
    if r.kind in special:
        return [special[r.kind]], [0]
    # m + L may cancel (m < 0): the bound is absolute, scaled by |m| + L
    return [r.m + r.L], [abs(r.m) + r.L]


def _bce(y, x, from_logits):
    if mpmath.isnan(y) or mpmath.isnan(x):
        return [NAN], [0]
    if from_logits and mpmath.isfinite(x):
        return _bce_logits(y, x)
    if from_logits:
        a = _softplus(-x)[0][0]
        b = _softplus(x)[0][0]
        t1, t2 = _xmul(y, a), _xmul(1 - y, b)
    else:
        if x < 0 or x > 1:
            return [NAN], [0]
        t1 = -_xmul(y, mpmath.log(x) if x > 0 else NINF)
        t2 = -_xmul(1 - y, mpmath.log1p(-x) if x < 1 else NINF)
    v = t1 + t2
    if mpmath.isnan(v) or mpmath.isinf(v):
        return [v], [0]
    return [v], [abs(t1) + abs(t2)]


def _bce_logits(y, x):
    """``y softplus(-x) + (1 - y) softplus(x) = M + t`` for a finite logit:
    ``M = y max(-x, 0) + (1 - y) max(x, 0)`` formed exactly (float inputs:
    one of the two products is 0, the other has at most ~1130 significant
    bits) and ``t = log1p(exp(-|x|)) > 0``, which carries the only error.
    Where ``M`` is a midpoint of the format and ``t`` lies below its last
    place (``|x| ~ 1e27``: ``t = e^-1e27``) the sum of the two softplus
    terms never settles, at any precision; here a ``t`` below
    ``2**(mag(M) - 2300)``, under every rounding boundary near ``M``, is
    replaced by that power of two, which rounds alike (as
    :func:`_exact_minus` does for the log-softmax)."""
    t = mpmath.log1p(mpmath.exp(-abs(x)))
    neg, pos = (-x, mpf(0)) if x < 0 else (mpf(0), x)
    one_minus_y = mpmath.fsub(1, y, exact=True)
    M = mpmath.fadd(mpmath.fmul(y, neg, exact=True), mpmath.fmul(one_minus_y, pos, exact=True), exact=True)
    if M != 0 and t != 0 and mpmath.mag(t) < mpmath.mag(M) - 2300:
        t = mpmath.ldexp(mpf(1), mpmath.mag(M) - 2300)
    return [mpmath.fadd(M, t, exact=True)], [t]


def _renormalised(row):
    """``log(p_i / S)`` for a row of probabilities, ``S`` its exact sum, as
    ``-log1p(R_i / p_i)`` with ``R_i = S - p_i`` exact (the sum of the other
    entries: >= 0, no cancellation); NaN for a NaN or negative entry."""
    if any([mpmath.isnan(p) or p < 0 for p in row]):  # a list: see _Row
        return [NAN] * len(row)
    total = mpf(0)
    for p in row:
        total = mpmath.fadd(total, p, exact=True)
    return [-mpmath.log1p(mpmath.fsub(total, p, exact=True) / p) if p > 0 else NINF for p in row]


def _sparse(label, row, from_logits):
    if from_logits:
        vals, scales = _Row(row).log_softmax()
        return [-vals[label]], [scales[label]]
    # probabilities: the loss of the renormalised row, as every tier computes it
    v = -_renormalised(row)[label]
    return [v], [abs(v) if mpmath.isfinite(v) else 0]


def _categorical(yrow, row, from_logits):
    logp = _Row(row).log_softmax()[0] if from_logits else _renormalised(row)
    terms = [-_xmul(y, lp) for y, lp in zip(yrow, logp)]
    v = mpmath.fsum(terms) if terms else mpf(0)
    if mpmath.isnan(v) or mpmath.isinf(v):
        return [v], [0]
    return [v], [mpmath.fsum(abs(t) for t in terms)]


@dataclass(frozen=True)
class Oracle:
    """How to evaluate one function: its scalar form and its argument shape."""

    kind: str  # elementwise | rowwise | rowwise_scalar | binary_loss | sparse_loss | categorical_loss
    fn: Callable


ORACLES: dict[str, Oracle] = {
    "sigmoid": Oracle("elementwise", _sigmoid),
    "log_sigmoid": Oracle("elementwise", _log_sigmoid),
    "softplus": Oracle("elementwise", _softplus),
    "softmax": Oracle("rowwise", _softmax),
    "log_softmax": Oracle("rowwise", _log_softmax),
    "logsumexp": Oracle("rowwise_scalar", _logsumexp),
    "binary_crossentropy": Oracle("binary_loss", _bce),
    "sparse_categorical_crossentropy": Oracle("sparse_loss", _sparse),
    "categorical_crossentropy": Oracle("categorical_loss", _categorical),
}


@_interrupt.guarded
def oracle_value(name: str, *args, prec: int = 200, from_logits: bool = False) -> list:
    """The oracle's raw mpmath values at ``prec`` bits (for tests and pinned
    regression values), from Python floats or lists of floats."""
    oracle = ORACLES[name]
    conv = [([_x(v) for v in a] if isinstance(a, (list, tuple, np.ndarray)) else (a if isinstance(a, int) and oracle.kind == "sparse_loss" else _x(a))) for a in args]
    if oracle.kind.endswith("loss"):
        conv.append(from_logits)
    with mpmath.workprec(prec):
        vals, _ = oracle.fn(*conv)
    return vals
