"""Cross-entropy kernels for the accurate tier: the weighted sum
``-sum_i y_i log p_i`` of a block of rows, its ``0 log 0 = 0`` convention, the
sign of a zero loss, the float64 rows whose log-softmax overflows while
their loss does not; the exact renormalisation of rows of probabilities; the
two terms of the binary loss.

Called by :mod:`stabkit.accurate`'s losses on blocks of rows (classes last).
"""

from __future__ import annotations

import numpy as np

from stabkit._native import rows as native
from stabkit._native import probrows as _probrows

from .eft import NARROW, normalized, rowmax, rowsum, sum2, sum_split_scaled, two_sum_err
from .elementwise import softplus_pair_f64
from .inputs import xmul


def binary_terms(a: np.ndarray, b: np.ndarray, p: np.ndarray, from_logits: bool) -> np.ndarray:
    """``a (-log q) + b (-log(1 - q))`` in float64, ``q = sigmoid(p)`` from
    logits (``-log q = softplus(-p)``), else ``q = p``; ``0 log 0 = 0``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if from_logits:
            # softplus(-p) and softplus(p) computed together: the same bits
            sn, sp = softplus_pair_f64(p)
            return xmul(a, sn) + xmul(b, sp)
        # 0 - (...): both logs are <= 0, so an exact 0 (p = y = 0 or 1) is +0.0
        return 0.0 - (xmul(a, np.log(p)) + xmul(b, np.log1p(-p)))


def renormalised_log_probs(p: np.ndarray, narrower: bool = False) -> np.ndarray:
    """``log(p_i / S)`` for rows of probabilities (``S`` the exact row sum),
    a few ulps from the exact value, in float64 (``narrower``: for a target
    narrower than float64, see the step at the largest entry below).

    The largest entry ``p_k`` gets ``-log1p(R / p_k)`` with ``R`` the
    compensated sum of the other entries: nothing cancels however close
    ``p_k`` is to ``S`` (``[1 - 1e-12, 1e-12]`` gives -1e-12, where
    ``log(p_k) - log(S)`` would keep only its rounding errors). Every other
    entry has ``p_i <= S / 2``, so ``log(S / p_i) >= log 2`` and
    ``log(p_i) - log(S)`` loses at most a couple of ulps (``S`` is near 1:
    the callers checked the row sums). Zero entries give -inf; NaN rows NaN.

    Where ``t = R / p_k`` is below about 2**-52, float64's log1p returns t
    itself, and for ``p_k = 1`` t is the exact sum of a few entries of the
    narrower format, often one of its midpoints (``[1, 2**-60, 3 2**-60]``
    in bfloat16): rounded once more, ``-t`` would break the tie to even,
    while the exact ``-log1p(t) = -(t - t**2/2 + ...)`` lies just above it.
    With ``narrower`` such a value is stepped one float64 ulp towards 0,
    far below the narrower format's resolution elsewhere.
    """
    p = np.asarray(p, dtype=np.float64)
    rows, k, pk, r = _winner_and_rest(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p)
        out -= np.log(pk + r)[:, None]
        out[rows, k] = _winner_log(pk, r, narrower)
    return out


def renormalised_log_prob_at(p: np.ndarray, labels: np.ndarray, narrower: bool = False) -> np.ndarray:
    """``renormalised_log_probs(p, narrower)[rows, labels]`` (the same
    bits), without the log of every entry: the sparse loss keeps one."""
    p = np.asarray(p, dtype=np.float64)
    rows, k, pk, r = _winner_and_rest(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p[rows, labels])
        out -= np.log(pk + r)
        top = labels == k
        out[top] = _winner_log(pk[top], r[top], narrower)
    return out


def _winner_and_rest(p: np.ndarray):
    """``(rows, k, p_k, R)``: each row's largest entry (the first of equal
    ones) and the compensated sum ``R`` of the others (rows of finite
    entries in C, with the same bits)."""
    rows = np.arange(p.shape[0])
    fast = _probrows.winner_rest(p)
    if fast is not None:
        k, pk, r, done = fast
        if not done.all():
            left = np.flatnonzero(~done)
            _, k[left], pk[left], r[left] = _winner_and_rest_np(p[left])
        return rows, k, pk, r
    return _winner_and_rest_np(p)


def _winner_and_rest_np(p: np.ndarray):
    rows = np.arange(p.shape[0])
    k = np.argmax(p, axis=-1)
    pk = p[rows, k]
    others = p.copy()
    others[rows, k] = 0.0
    return rows, k, pk, np.add(*sum2(others))


def _winner_log(pk: np.ndarray, r: np.ndarray, narrower: bool) -> np.ndarray:
    """The largest entry's ``-log1p(R / p_k)`` (module docstring above)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r / pk
        lk = np.log1p(t)
        if narrower:
            # log1p(t) = t - t^2/2 + ... < t for t > 0: where float64 gave t
            # back, the exact value lies below it (a tie of the narrower
            # format at t goes down, not to even)
            lk = np.where((lk == t) & (t > 0), np.nextafter(t, 0.0), lk)
    return -lk


def crossentropy_rows(y: np.ndarray, logp: np.ndarray, exact: bool, scratch, logits: np.ndarray | None = None) -> np.ndarray:
    """``-sum_i y_i logp_i`` per row (``logp`` is overwritten).

    ``exact`` (float64 targets): the products and a compensated sum
    (extraction, or TwoSum on narrow rows, 2**-60 of the terms' magnitudes).
    Narrower targets: one fused float64 pass (einsum's own loop: vecdot goes
    through a threaded BLAS, ~12 ms a row of 16,384 on a busy machine),
    2**-40 at worst. Zero labels count 0 even where ``logp`` is -inf. With
    ``logits`` (float64 rows, from logits), rows whose log-softmax overflowed
    to -inf at a finite logit are recomputed scaled (:func:`_scaled_loss`).
    A zero loss is +0.0: for labels >= 0 the exact loss is >= 0.
    """
    if not exact:
        out = np.einsum("ij,ij->i", y, logp)
        terms = logp
    else:
        terms = np.multiply(y, logp, out=logp)
        S1, S2 = scratch
        hi, lo = sum_split_scaled(terms, S1, S2) if terms.shape[-1] > NARROW else sum2(terms)
        out = hi + lo
    return _finish(out, y, terms, exact, logits)


def crossentropy_from_rows(y: np.ndarray, rows, scratch) -> np.ndarray:
    """:func:`crossentropy_rows` of float64 rows from logits, given their
    shift analysis ``rows`` (a :class:`~stabkit._accurate.rows.Rows`, exact):
    the same bits. Where ``rows`` ran the native kernel, the log-softmax,
    the products and the extraction of :func:`eft.sum_split_scaled` are one
    compiled pass (``hi`` exact, the rests in NumPy's pairwise order), the
    terms written into the first scratch array. A block with a row whose
    ``L`` is 0 (a log-probability of exactly 0, whose zero's sign
    ``Rows.log_softmax`` sets) keeps the NumPy passes."""
    if rows.native and not np.count_nonzero(rows.L == 0):
        t = scratch[0]
        fused = native.crossentropy_sums(rows.d, rows.r, rows.L, y, t)
        if fused is not None:
            hi, lo, ok = fused
            # as sum_split_scaled: normalised pairs; a plain sum and 0 where
            # the scale n max|t| is not finite
            s_hi, s_lo = normalized(hi, lo)
            s_hi[~ok], s_lo[~ok] = hi[~ok], 0.0
            return _finish(s_hi + s_lo, y, t, True, rows.x)
    return crossentropy_rows(y, rows.log_softmax(), True, scratch, rows.x)


def _finish(out: np.ndarray, y: np.ndarray, terms: np.ndarray, exact: bool, logits: np.ndarray | None) -> np.ndarray:
    """The row sums ``out`` of the terms ``y_i logp_i`` patched (zero labels at
    masked classes, losses whose log-softmax overflowed) and negated."""
    redo = np.isnan(out)
    if np.count_nonzero(redo):
        # 0 * log 0 = 0: a zero label counts 0, even at a masked class
        # (NaN logits still poison their row through the other labels)
        t = np.where(np.asarray(y[redo]) == 0, 0.0, terms[redo] if exact else y[redo] * terms[redo])
        out[redo] = np.add(*sum2(t)) if exact else rowsum(t)
    if logits is not None:
        # only infinite losses are checked (a pass over the block otherwise)
        big = np.isinf(out)
        if np.count_nonzero(big):
            # finite logits where the labels are not 0, and no +inf anywhere:
            # a row with a +inf logit has the log-softmax of the edge contract
            # (0 there, -inf elsewhere), whose loss is +inf for a label off it
            # (it came out NaN from the scaled pass, where the sparse loss
            # gave +inf)
            lb = logits[big]
            big[big] = np.all(np.isfinite(lb) | (y[big] == 0), axis=-1) & ~np.any(lb == np.inf, axis=-1)
        if np.count_nonzero(big):
            out[big] = _scaled_loss(logits[big], y[big])
    # negated once per row; 0 - (+-0) is +0
    return 0.0 - out


#: the largest float64 (see _scaled_loss)
_M = float(np.finfo(np.float64).max)


def _scaled_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_i y_i logp_i`` of float64 rows where ``x_i - m`` overflows
    (``[1.8e308, -1.8e308, 0]``: log-softmax -inf, loss 1.8e308), from
    ``logp_i = (x_i - m) - L`` with every term scaled by ``c = 2**-K``,
    ``K = bit_length(n) + 4`` plus the exponent of the largest target above 1.

    Scaled, ``|x_i c - m c| <= 3.6e308 c`` and ``n`` such terms stay below
    ``2.3e307``, so the extraction's sigma (at most 4 n M) is finite; the
    scaling is exact except for entries below ``2**(K - 1074)``, whose error
    (< 2**-1074 each) is nothing beside a loss past 1e300. Each term is off by
    at most 3u (the shift, its residual ``r`` added back, the weight), all
    have one sign for labels >= 0, the sum is 2**-60 accurate: 3.5 ulp at
    most. Scaled back with ``ldexp``: inf where the loss itself overflows.
    ``L = log1p(s)`` comes from a TwoSum-compensated float64 sum (terms that
    overflow to ``exp(-inf) = 0`` are 0 indeed): its few-ulp error weighs
    ``L sum(y)``, nothing beside the term of a label at an overflowed shift
    (at least ``y_i * 1.8e308``, the reason the row is here).
    """
    n = x.shape[-1]
    # targets above 1 (class weights: 4 on a shift of -2M) scale the terms
    # too: K grows by their largest exponent, so that n terms of y_i |d_i|
    # stay below M / 8 (sigma finite); a loss past M then comes back inf,
    # not NaN (17 classes under a class weight of 4 gave NaN)
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(np.where(np.isfinite(y), y, 0.0)), initial=1.0))
    k = n.bit_length() + 4 + max(0, int(np.frexp(top)[1]))
    xs = np.ldexp(x, -k)
    ms = -rowmax(xs)[:, None]
    d = xs + ms
    r = two_sum_err(xs, ms, d)
    e = np.exp(x + np.ldexp(ms, k))  # -inf where the shift overflows: 0
    e[np.arange(x.shape[0]), np.argmax(x, axis=-1)] = 0.0
    L = np.log1p(np.add(*sum2(e)))
    t = y * ((d - np.ldexp(L, -k)[:, None]) + r)
    t[y == 0] = 0.0
    hi, lo = sum_split_scaled(t, np.empty_like(t), np.empty_like(t)) if n > NARROW else sum2(t)
    s = hi + lo
    out = np.ldexp(s, k)
    # The sum is good to 3.5 ulp for its targets, and smoothed targets
    # (y (1 - ls) + ls/n) are rounded, 2**-53 each, one sign for all terms:
    # a loss whose exact value is the largest float64 M can come out up to
    # ~4 ulp above M (15 classes [M, -M, 0, ...], ls = 0.1: M (1 + 0.66
    # 2**-53), past M + ulp/2, so ldexp gives inf). Within that bound,
    # M(1 + 2**-51) (4 ulp of M), M is as good an answer as the sum and
    # stays finite; beyond it the loss overflows indeed (inf).
    # (compared scaled: M (1 + 2**-51) itself overflows)
    edge = np.isinf(out) & (np.abs(s) <= np.ldexp(_M, -k) * (1.0 + 2.0**-51))
    out[edge] = np.copysign(_M, s[edge])
    return out
