"""The accurate binary cross-entropy from logits far out (``|z| > 700``):
its weighted terms formed again so that a large weight never lifts a
subnormal ``softplus(-|z|)``, or a subnormal target's term, into the normal
range (:class:`BinaryTail`, the ``Plan.tail`` hook that
``lossopts.binary_options`` sets); from probabilities, entries whose loss
is subnormal under a sample weight above 1 formed again in MPFR
(:class:`BinaryProbTail`: ``y = p = 5e-324`` under 1e308 was 4e12 ulp off);
and :func:`weighted_exp`, which the categorical losses' tail uses too."""

from __future__ import annotations

import gmpy2
import numpy as np

from . import double_double as dd
from .elementwise import softplus_pair_f64

#: Beyond this |logit| the accurate binary loss redoes its weighted terms
#: (:class:`BinaryTail`): softplus(-700) = 9.9e-305 is still normal (53
#: bits), so below it ``w softplus(-|z|)`` loses nothing to the weight.
TAIL_LOGIT = 700.0
#: Past this |logit| ``e^-|z|`` times any two float64 weights (< 2**2048)
#: is below 2**-1075 (3123 ln 2 = 2164.7): the tiny term is 0.
_TAIL_DEAD = 2200.0
#: An entry (a row, in rowtail) is formed again where its weighted loss is
#: below this fraction of its weight: the unweighted loss may then be
#: subnormal (< 2**-1022; the margin covers the weight's own rounding).
SUBNORMAL_LOSS = 2.0**-1021


def weighted_exp(a: np.ndarray, s: np.ndarray, xh: np.ndarray, xl: np.ndarray) -> np.ndarray:
    """``a s e^(xh + xl)`` for ``xh + xl <= 0`` (finite; a double-double
    exponent, so that a difference of logits keeps its rounding error),
    ``a, s >= 0``, without forming the subnormal ``e^x`` (``e^-745`` keeps one
    bit of 53, which a weight of 1e30 would lift into the normal range).

    ``e^x = 2**k (1 + m)`` with ``m = expm1(r)``, ``r = x - k ln 2``
    (``dd._reduced``: Cody-Waite with a 32-bit ``ln 2`` head, so ``k ln2_hi``
    and its difference with ``x`` are exact; ``m`` in double-double, 2**-90;
    its bound is stated for |k| < 2**11, here |k| <= 3175, which only grows
    the error of the three-piece ``ln 2`` from 2**-150 to ~2**-126).
    The weights go in as ``frexp`` mantissas (in [1/2, 1)) and exponents: their
    product is exact (TwoProduct), times ``1 + m`` in double-double, so
    ``hi + lo`` is one rounding of a value good to 2**-100; one ``ldexp``
    puts the exponents back (inf past float64, one more rounding only where
    the result is subnormal). 0 where a weight is 0 or ``x`` is below
    ``-_TAIL_DEAD``."""
    frac, exp2 = weighted_exp_parts(a, s, xh, xl)
    return np.ldexp(frac, exp2)


def weighted_exp_parts(a: np.ndarray, s: np.ndarray, xh: np.ndarray, xl: np.ndarray):
    """:func:`weighted_exp` as ``(frac, e)``, ``a s e^x = frac 2**e`` with
    ``frac`` one rounding of ``(a s e^x) 2**-e`` (in [1/8, 2), or 0 where
    :func:`weighted_exp` gives 0; ``e`` int64): a caller that adds several such
    terms scales them together and rounds once."""
    ma, ea = np.frexp(a)
    ms, es = np.frexp(s)
    live = xh > -_TAIL_DEAD
    k, mh, ml = dd._reduced(np.where(live, xh, -TAIL_LOGIT - 1.0), np.where(live, xl, 0.0))
    # 1 + m in double-double: m = expm1(r) in [-0.30, 0.42] for |r| <= ln2/2,
    # so nothing cancels
    eh, el = dd.add(np.ones_like(mh), np.zeros_like(mh), mh, ml)
    ph, pl = dd.two_prod(ma, ms)
    qh, ql = dd.mul(ph, pl, eh, el)
    return np.where(live, qh + ql, 0.0), ea.astype(np.int64) + es + k


class BinaryTail:
    """``Plan.tail`` of the accurate binary loss from logits: entries with
    ``|z| > TAIL_LOGIT`` get their weighted loss again from the targets'
    weights ``(a, b)`` (``weights``: lossopts.binary_weights64) and the sample weight ``s``.

    There ``softplus(-|z|) = e^-|z| (1 - e^-|z|/2 ...)``: e^-|z| to 2**-1000
    relative, formed by :func:`weighted_exp` with both weights inside;
    ``softplus(|z|) = |z| + e^-|z|`` is ``|z|`` to 2**-1000 relative too. The
    term of the tiny softplus is ``a``'s for z > 0 and ``b``'s for z < 0.
    Entries nearer 0 whose loss overflowed (a ``pos_weight`` of 1e308) under
    a sample weight below 1 get both terms as :func:`weighted_product`."""

    def __init__(self, y: np.ndarray, z: np.ndarray, ls: float, pos: np.ndarray | None, weights):
        self.y, self.z, self.ls, self.pos, self.weights = y, z, ls, pos, weights

    def __call__(self, loss: np.ndarray, part, sample: np.ndarray | None) -> np.ndarray:
        z = self.z.reshape(-1)[part]
        far = np.abs(z) > TAIL_LOGIT  # NaN: False
        if sample is not None:
            # a pos_weight that took the loss past float64's range before a
            # sample weight below 1 could bring it back: formed again too
            with np.errstate(invalid="ignore"):
                far |= np.isinf(loss) & (sample < 1.0)
        if not far.any():  # the usual case: one pass, nothing else
            return loss
        far &= np.isfinite(z)
        at = np.flatnonzero(far)
        if not at.size:
            return loss
        z = np.asarray(z[at], dtype=np.float64)
        y = np.asarray(self.y.reshape(-1)[part][at], dtype=np.float64)
        a, b = self.weights(y, self.ls, None if self.pos is None else self.pos.reshape(-1)[part][at])
        s = np.ones_like(z) if sample is None else sample[at]
        t = np.abs(z)
        tiny_w, big_w = np.where(z > 0, a, b), np.where(z > 0, b, a)
        out = np.array(loss, dtype=np.float64, copy=True)
        with np.errstate(all="ignore"):
            # softplus(|z|) = |z| + e^-|z| is |z| to 2**-1000 (relative): the
            # big term is the weighted product of |z|, rounded once; the tiny
            # one keeps both weights inside weighted_exp's scaling, so no
            # subnormal step loses bits. NaN weights propagate
            vals = weighted_product(big_w, s, t) + weighted_exp(tiny_w, s, -t, np.zeros_like(t))
            near = np.flatnonzero(t <= TAIL_LOGIT)
            if near.size:
                # nearer (an overflow under a pos_weight): both softplus terms
                # normal, each weighted product rounded once
                sn, sp = softplus_pair_f64(z[near])
                vals[near] = weighted_product(a[near], s[near], sn) + weighted_product(b[near], s[near], sp)
            out[at] = vals
        return out


def weighted_product(a: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``a s t`` for ``a, s, t >= 0`` rounded once (twice where the result
    is subnormal): the three as ``frexp`` mantissas, whose product is exact
    in double-double (TwoProduct, then ``dd.mul``), and one ``ldexp``. A
    subnormal target ``a`` times ``t`` no longer rounds to a subnormal
    before the weight lifts it (``a = 5e-324``, ``t = 727``: the plain
    products were 5.8e7 ulp off under ``s = 1e308``). NaN propagates; a zero
    ``a`` gives 0 (``xmul``'s ``0 * inf``), ``0 * inf`` weights NaN, as the
    plain products."""
    ma, ea = np.frexp(a)
    ms, es = np.frexp(s)
    mt, et = np.frexp(t)
    with np.errstate(invalid="ignore", over="ignore"):
        ph, pl = dd.two_prod(ma, ms)
        qh, ql = dd.mul(ph, pl, mt, np.zeros_like(mt))
        # NaN lows (an infinite mantissa) add nothing the high part lacks
        q = np.where(np.isfinite(qh), qh + ql, qh)
        out = np.ldexp(q, ea.astype(np.int64) + es + et)
    return np.where(a == 0, 0.0 * s, out)


class BinaryProbTail:
    """``Plan.tail`` of the accurate binary loss from probabilities: where a
    sample weight above 1 multiplies a loss that was subnormal (a subnormal
    target or probability: only those make ``-(a log p + b log1p(-p))``
    subnormal), the weighted loss ``s (a (-log p) + b (-log1p(-p)))`` again
    from the same float64 weights ``(a, b)`` (``weights``:
    lossopts.binary_weights64), each term >= 0 carried to 2**-200 in MPFR (a
    fresh context: thread-safe), rounded once (``mpfr_get_d``). Entries with
    an infinite loss (a target on a probability of 0 or 1) or NaN stand."""

    def __init__(self, y: np.ndarray, p: np.ndarray, ls: float, pos: np.ndarray | None, weights):
        self.y, self.p, self.ls, self.pos, self.weights = y, p, ls, pos, weights

    def __call__(self, loss: np.ndarray, part, sample: np.ndarray | None) -> np.ndarray:
        if sample is None:
            return loss
        with np.errstate(invalid="ignore", over="ignore"):
            # a subnormal loss lifted, or one past float64's range (pos_weight
            # times -log p) that a sample weight below 1 may bring back
            at = np.flatnonzero(((sample > 1.0) & (loss < SUBNORMAL_LOSS * sample)) | (np.isinf(loss) & (sample < 1.0)))
        if not at.size:  # the usual case: one comparison per entry
            return loss
        p = np.asarray(self.p.reshape(-1)[part][at], dtype=np.float64)
        y = np.asarray(self.y.reshape(-1)[part][at], dtype=np.float64)
        a, b = self.weights(y, self.ls, None if self.pos is None else self.pos.reshape(-1)[part][at])
        a, b = np.broadcast_to(a, p.shape), np.broadcast_to(b, p.shape)
        out = np.array(loss, dtype=np.float64, copy=True)
        # an exact 0 (a target on a certain prediction: -log 1), the usual
        # entry a weight above 1 and a zero loss send here, stands as it is
        redo = np.flatnonzero(~(((a == 0) | (p == 1)) & ((b == 0) | (p == 0))))
        at, p, a, b = at[redo], p[redo], a[redo], b[redo]
        for i, (pi, ai, bi, si) in enumerate(zip(p.tolist(), a.tolist(), b.tolist(), sample[at].tolist())):
            if not all(np.isfinite([pi, ai, bi, si])) or (ai > 0 and pi == 0) or (bi > 0 and pi == 1):
                continue
            with gmpy2.context(precision=200):
                terms = [gmpy2.mpfr(ai) * -gmpy2.log(gmpy2.mpfr(pi))] if ai > 0 else []
                terms += [gmpy2.mpfr(bi) * -gmpy2.log1p(-gmpy2.mpfr(pi))] if bi > 0 else []
                # + 0.0: a certain prediction's -log 1 is -0, its loss +0
                out[at[i]] = float(gmpy2.fsum(terms) * gmpy2.mpfr(si)) + 0.0 if terms else 0.0
        return out
