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

from . import double_double as dd, targets64
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


def _frexp(a):
    """``frexp`` of a float64 weight, or of a target given as parts
    ``(frac, e)`` (targets64.parts: ``frac 2**e``, which may lie below
    float64's range): a mantissa in [1/2, 1) and an int64 exponent."""
    if isinstance(a, tuple):
        m, f = np.frexp(a[0])
        return m, f.astype(np.int64) + a[1]
    m, f = np.frexp(a)
    return m, f.astype(np.int64)


def weighted_exp(a, s: np.ndarray, xh: np.ndarray, xl: np.ndarray, scale: int = 0) -> np.ndarray:
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
    ``-_TAIL_DEAD``. ``scale``: the value times ``2**scale``, in the same
    ``ldexp`` (2**-1024 of a loss past float64's range, for a reduction)."""
    frac, exp2 = weighted_exp_parts(a, s, xh, xl)
    return np.ldexp(frac, exp2 + scale)


def weighted_exp_parts(a, s: np.ndarray, xh: np.ndarray, xl: np.ndarray):
    """:func:`weighted_exp` as ``(frac, e)``, ``a s e^x = frac 2**e`` with
    ``frac`` one rounding of ``(a s e^x) 2**-e`` (in [1/8, 2), or 0 where
    :func:`weighted_exp` gives 0; ``e`` int64): a caller that adds several such
    terms scales them together and rounds once."""
    ma, ea = _frexp(a)
    ms, es = np.frexp(s)
    live = xh > -_TAIL_DEAD
    k, mh, ml = dd._reduced(np.where(live, xh, -TAIL_LOGIT - 1.0), np.where(live, xl, 0.0))
    # 1 + m in double-double: m = expm1(r) in [-0.30, 0.42] for |r| <= ln2/2,
    # so nothing cancels
    eh, el = dd.add(np.ones_like(mh), np.zeros_like(mh), mh, ml)
    ph, pl = dd.two_prod(ma, ms)
    qh, ql = dd.mul(ph, pl, eh, el)
    return np.where(live, qh + ql, 0.0), ea + es + k


class BinaryTail:
    """``Plan.tail`` of the accurate binary loss from logits: entries with
    ``|z| > TAIL_LOGIT``, or with a target below float64's normal range
    (:func:`tiny_targets`), get their weighted loss again from the targets'
    parts ``(a, b)`` (``weights``: targets64.binary_parts) and the sample
    weight ``s``.

    There ``softplus(-|z|) = e^-|z| (1 - e^-|z|/2 ...)``: e^-|z| to 2**-1000
    relative, formed by :func:`weighted_exp` with both weights inside;
    ``softplus(|z|) = |z| + e^-|z|`` is ``|z|`` to 2**-1000 relative too. The
    term of the tiny softplus is ``a``'s for z > 0 and ``b``'s for z < 0.
    Entries nearer 0 (a tiny target, or a loss that overflowed under a
    ``pos_weight`` of 1e308 and a sample weight below 1) get both terms as
    :func:`weighted_product`."""

    def __init__(self, y: np.ndarray, z: np.ndarray, ls: float, pos: np.ndarray | None, weights):
        self.y, self.z, self.ls, self.pos, self.weights = y, z, ls, pos, weights
        self.check = may_be_tiny(y, ls, pos)
        self._flat = None

    def _pos(self, part, at=None):
        if self.pos is None:
            return None
        if self._flat is None:
            # once: the flattening of a broadcast pos_weight copies it whole
            self._flat = self.pos.reshape(-1)
        w = self._flat[part]
        return w if at is None else w[at]

    def __call__(self, loss: np.ndarray, part, sample: np.ndarray | None) -> np.ndarray:
        z = self.z.reshape(-1)[part]
        far = np.abs(z) > TAIL_LOGIT  # NaN: False
        if sample is not None:
            # a pos_weight that took the loss past float64's range before a
            # sample weight below 1 could bring it back: formed again too
            with np.errstate(invalid="ignore"):
                far |= np.isinf(loss) & (sample < 1.0)
        if self.check:
            lost, loss = lost_targets(self, loss, part, z, sample, logits=True)
            far[lost] = True
        if not far.any():  # the usual case: one pass, nothing else
            return loss
        far &= np.isfinite(z)
        if sample is not None:
            far &= np.isfinite(sample)  # an infinite or NaN weight: the product as computed
        at = np.flatnonzero(far)
        if not at.size:
            return loss
        out = np.array(loss, dtype=np.float64, copy=True)
        out[at] = self._formed(z, part, at, sample)
        return out

    def past_range(self, loss: np.ndarray, part, sample: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """For a reduction (``Plan``): the positions where the weighed loss
        is infinite at a finite logit and weight, and there 2**-1024 of the
        weighted loss, formed as :meth:`__call__` forms it (a loss past the
        range under a ``pos_weight`` whose mean is finite came out inf)."""
        z = self.z.reshape(-1)[part]
        with np.errstate(invalid="ignore"):
            at = np.isinf(loss) & np.isfinite(z) & (True if sample is None else np.isfinite(sample))
        at = np.flatnonzero(at)
        if not at.size:
            return at, np.zeros(0)
        vals = self._formed(z, part, at, sample, -1024)
        ok = np.isfinite(vals)
        return at[ok], vals[ok]

    def _formed(self, z: np.ndarray, part, at: np.ndarray, sample, scale: int = 0) -> np.ndarray:
        """The weighted losses of the entries ``at`` of the block, times
        ``2**scale``, from the targets' parts (class docstring)."""
        z = np.asarray(z[at], dtype=np.float64)
        y = np.asarray(self.y.reshape(-1)[part][at], dtype=np.float64)
        a, b = self.weights(y, self.ls, self._pos(part, at))
        s = np.ones_like(z) if sample is None else sample[at]
        t = np.abs(z)
        up = z > 0
        tiny_w = (np.where(up, a[0], b[0]), np.where(up, a[1], b[1]))
        big_w = (np.where(up, b[0], a[0]), np.where(up, b[1], a[1]))
        with np.errstate(all="ignore"):
            # softplus(|z|) = |z| + e^-|z| is |z| to 2**-1000 (relative): the
            # big term is the weighted product of |z|, rounded once; the tiny
            # one keeps both weights inside weighted_exp's scaling, so no
            # subnormal step loses bits. NaN weights propagate
            vals = weighted_product(big_w, s, t, scale) + weighted_exp(tiny_w, s, -t, np.zeros_like(t), scale)
            near = np.flatnonzero(t <= TAIL_LOGIT)
            if near.size:
                # nearer: both softplus terms normal, each weighted product
                # (the target's parts, the sample weight) rounded once
                sn, sp = softplus_pair_f64(z[near])
                an, bn = (a[0][near], a[1][near]), (b[0][near], b[1][near])
                vals[near] = weighted_product(an, s[near], sn, scale) + weighted_product(bn, s[near], sp, scale)
            # an infinite or NaN target (pos_weight inf or NaN): both softplus
            # terms are > 0, so the loss is inf (NaN where a target is NaN,
            # pos_weight inf on y = 0 included), times s as the plain product;
            # the scaled parts gave NaN (z = -1000) or 0 (z = max) there
            fa, fb = np.broadcast_to(a[0], z.shape), np.broadcast_to(b[0], z.shape)
            odd = ~(np.isfinite(fa) & np.isfinite(fb))
            if odd.any():
                vals[odd] = np.where(np.isnan(fa[odd]) | np.isnan(fb[odd]), np.nan, np.inf) * s[odd]
        return vals


def lost_targets(tail, loss: np.ndarray, part, x: np.ndarray, sample, logits: bool):
    """The entries of the block ``part`` whose target ``a`` or ``b`` lost
    bits below 2**-1022 (targets64.lost: exact subnormal targets are fine)
    and whose term may reach 2**-60 of the (weighted) loss: a target below
    2**-1022 times ``softplus(-+z) <= |z| + 1`` (``-log p`` or ``-log1p(-p)
    <= 745``) times the sample weight; and ``loss`` with the entries whose
    lost target meets an infinite softplus (a logit of -+inf, a probability
    of 0 or 1) set to inf, the exact loss, where a zero target gave 0."""
    y, pos = tail.y.reshape(-1)[part], tail._pos(part)
    cand = np.flatnonzero(tiny_targets(y, tail.ls, pos))
    if not cand.size:
        return cand, loss
    (fa, ea), (fb, eb) = tail.weights(np.asarray(y[cand], dtype=np.float64), tail.ls,
                                      None if pos is None else pos[cand])
    la, lb = targets64.lost(fa, ea), targets64.lost(fb, eb)
    keep = la | lb
    cand, la, lb = cand[keep], la[keep], lb[keep]
    xc = np.asarray(x[cand], dtype=np.float64)
    s = 1.0 if sample is None else sample[cand]
    with np.errstate(invalid="ignore", over="ignore"):
        big = (np.abs(xc) + 1.0) if logits else 746.0
        matters = ~(loss[cand] >= 2.0**-960 * big * s)
        # a = pos y' weighs softplus(-z) (or -log p), b softplus(z) (-log1p(-p))
        inf = (la & (xc == (-np.inf if logits else 0.0))) | (lb & (xc == (np.inf if logits else 1.0)))
    if inf.any():
        loss = np.array(loss, dtype=np.float64, copy=True)
        with np.errstate(invalid="ignore"):
            loss[cand[inf]] = np.inf * s if np.ndim(s) == 0 else np.inf * s[inf]
    return cand[matters & ~inf], loss


#: A target whose lower bound (see :func:`tiny_targets`) is below this may be
#: below 2**-1022 (the margin covers the bound's own roundings)
_TINY_BOUND = 2.0**-1019


def _distinct(a: np.ndarray) -> np.ndarray:
    """The entries of a broadcast view once each (its axes of stride 0 cut
    to length 1)."""
    return a[tuple(slice(0, 1) if st == 0 else slice(None) for st in a.strides)]


def may_be_tiny(y: np.ndarray, ls: float, pos: np.ndarray | None) -> bool:
    """Whether :func:`tiny_targets` can mark any entry of a call, from the
    smallest positive ``pos_weight`` (its distinct entries) and, where no
    smoothing bounds ``y'`` from below (``y' >= ls / 2``), the smallest
    positive label: one test per call instead of four passes a block."""
    if 0.0 < ls < 2.0 * _TINY_BOUND:
        return True
    if pos is None:
        return False
    w = _distinct(np.asarray(pos))
    with np.errstate(invalid="ignore", divide="ignore"):
        wmin = float(np.min(w)) if w.size else np.inf
        if not wmin > 0:  # zero weights (or NaN): the least positive one (a slower reduction)
            wmin = float(np.min(w, where=w > 0, initial=np.inf))
        if wmin * (ls / 2) >= _TINY_BOUND:
            return False
        if wmin * 0.5 < _TINY_BOUND:
            return True
        # a label in (0, bound / wmin): two comparisons a label (a minimum
        # over the positive labels, np.min(where=), ran 10x slower)
        return bool(np.any((y > 0) & (y < _TINY_BOUND / wmin)))


def tiny_targets(y: np.ndarray, ls: float, pos: np.ndarray | None) -> np.ndarray | bool:
    """Where a target of the binary loss may be below 2**-1022 and inexact
    there (``a = pos y'`` or ``b = 1 - y'``, ``y' = y (1 - ls) + ls / 2``):
    False (no entry) without a ``pos_weight`` and with ``ls`` 0 (``a = y``
    and ``b = 1 - y`` are then exact) or not tiny. ``y'`` is a mean of ``y``
    and 1/2 with weights ``1 - ls`` and ``ls``, so ``y' >= max(min(y, 1/2),
    ls/2)`` and ``1 - y' >= max(min(1 - y, 1/2), ls/2)``, and ``1 - y`` is
    2**-53 at least for ``y < 1``: only ``a`` under a small ``pos_weight``,
    or ``0 < ls < 2**-1018``, can be tiny."""
    tiny_ls = 0.0 < ls < 2.0 * _TINY_BOUND
    if pos is None and not tiny_ls:
        return False
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        low = np.maximum(np.minimum(y, 0.5), ls / 2)
        # a is nonzero where pos > 0 and y' > 0; tiny where its bound is
        cand = (low * (1.0 if pos is None else pos) < _TINY_BOUND) & ((y > 0) | (ls > 0))
        if pos is not None:
            cand &= pos > 0
        if tiny_ls:
            cand |= y == 1.0  # b = ls / 2
    return cand


def weighted_product(a, s: np.ndarray, t: np.ndarray, scale: int = 0) -> np.ndarray:
    """``a s t`` for ``a, s, t >= 0`` rounded once (twice where the result
    is subnormal): the three as ``frexp`` mantissas, whose product is exact
    in double-double (TwoProduct, then ``dd.mul``), and one ``ldexp``. A
    subnormal target ``a`` times ``t`` no longer rounds to a subnormal
    before the weight lifts it (``a = 5e-324``, ``t = 727``: the plain
    products were 5.8e7 ulp off under ``s = 1e308``). NaN propagates; a zero
    ``a`` gives 0 (``xmul``'s ``0 * inf``), ``0 * inf`` weights NaN, as the
    plain products. ``scale`` as for :func:`weighted_exp`."""
    ma, ea = _frexp(a)
    ms, es = np.frexp(s)
    mt, et = np.frexp(t)
    et = et.astype(np.int64) + scale
    with np.errstate(invalid="ignore", over="ignore"):
        ph, pl = dd.two_prod(ma, ms)
        qh, ql = dd.mul(ph, pl, mt, np.zeros_like(mt))
        # NaN lows (an infinite mantissa) add nothing the high part lacks
        q = np.where(np.isfinite(qh), qh + ql, qh)
        out = np.ldexp(q, ea + es + et)
    return np.where(ma == 0, 0.0 * s, out)


class BinaryProbTail:
    """``Plan.tail`` of the accurate binary loss from probabilities: where a
    sample weight above 1 multiplies a loss that was subnormal (a subnormal
    target or probability: only those make ``-(a log p + b log1p(-p))``
    subnormal), or a target is below float64's normal range
    (:func:`tiny_targets`), the weighted loss ``s (a (-log p) + b
    (-log1p(-p)))`` again from the targets' exact parts ``(a, b)``
    (``weights``: targets64.binary_parts), each term >= 0 carried to
    2**-200 in MPFR (a fresh context: thread-safe), rounded once
    (``mpfr_get_d``). Entries with an infinite loss (a target on a
    probability of 0 or 1) or NaN stand."""

    def __init__(self, y: np.ndarray, p: np.ndarray, ls: float, pos: np.ndarray | None, weights):
        self.y, self.p, self.ls, self.pos, self.weights = y, p, ls, pos, weights
        self.check = may_be_tiny(y, ls, pos)
        self._flat = None

    _pos = BinaryTail._pos

    def __call__(self, loss: np.ndarray, part, sample: np.ndarray | None) -> np.ndarray:
        lift = np.zeros(np.shape(loss), dtype=bool)
        if self.check:
            lost, loss = lost_targets(self, loss, part, self.p.reshape(-1)[part], sample, logits=False)
            lift[lost] = True
        if sample is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                # a subnormal loss lifted, or one past float64's range (pos_weight
                # times -log p) that a sample weight below 1 may bring back
                lift = lift | ((sample > 1.0) & (loss < SUBNORMAL_LOSS * sample)) | (np.isinf(loss) & (sample < 1.0))
        at = np.flatnonzero(lift)
        if not at.size:  # the usual case: one comparison per entry
            return loss
        out = np.array(loss, dtype=np.float64, copy=True)
        vals, ok = self._formed(part, at, sample)
        out[at[ok]] = vals[ok]
        return out

    def past_range(self, loss: np.ndarray, part, sample: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`BinaryTail.past_range` from probabilities (a ``pos_weight``
        of 1e307 on ``-log p`` of 740), in MPFR."""
        at = np.flatnonzero(np.isinf(loss))
        if not at.size:
            return at, np.zeros(0)
        vals, ok = self._formed(part, at, sample, -1024)
        ok &= np.isfinite(vals)
        return at[ok], vals[ok]

    def _formed(self, part, at: np.ndarray, sample, scale: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The weighted losses of the entries ``at`` of the block, times
        ``2**scale``, and which were formed (an exact 0, a NaN, an infinite
        loss or weight stand)."""
        p = np.asarray(self.p.reshape(-1)[part][at], dtype=np.float64)
        y = np.asarray(self.y.reshape(-1)[part][at], dtype=np.float64)
        (fa, ea), (fb, eb) = self.weights(y, self.ls, self._pos(part, at))
        fa, ea, fb, eb = (np.broadcast_to(v, p.shape) for v in (fa, ea, fb, eb))
        s = np.ones(p.shape) if sample is None else sample[at]
        vals, ok = np.zeros(at.size), np.zeros(at.size, dtype=bool)
        # an exact 0 (a target on a certain prediction: -log 1), the usual
        # entry a weight above 1 and a zero loss send here, stands as it is
        redo = np.flatnonzero(~(((fa == 0) | (p == 1)) & ((fb == 0) | (p == 0))))
        for i in redo.tolist():
            pi, ai, bi, si = float(p[i]), float(fa[i]), float(fb[i]), float(s[i])
            if not all(np.isfinite([pi, ai, bi, si])) or (ai > 0 and pi == 0) or (bi > 0 and pi == 1):
                continue
            with gmpy2.context(precision=200):
                # each target exactly: its mantissa times 2**e (MPFR's exponent range is wide)
                wa, wb = gmpy2.mul_2exp(gmpy2.mpfr(ai), int(ea[i])), gmpy2.mul_2exp(gmpy2.mpfr(bi), int(eb[i]))
                terms = [wa * -gmpy2.log(gmpy2.mpfr(pi))] if ai > 0 else []
                terms += [wb * -gmpy2.log1p(-gmpy2.mpfr(pi))] if bi > 0 else []
                # + 0.0: a certain prediction's -log 1 is -0, its loss +0
                vals[i] = float(gmpy2.mul_2exp(gmpy2.fsum(terms) * gmpy2.mpfr(si), scale)) + 0.0 if terms else 0.0
            ok[i] = True
        return vals, ok
