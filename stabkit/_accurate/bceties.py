"""The binary cross-entropy from logits rounded to float32, float16 or
bfloat16 where its float64 value sits on, or within a few float64 ulps of, a
midpoint between two neighbours of the format: the one place where rounding
the float64 loss once can go the wrong way.

Identity: with ``t = log1p(exp(-|z|))``, ``softplus(+-z) = max(+-z, 0) + t``,
so the loss ``a softplus(-z) + b softplus(z)`` is
``a max(-z, 0) + b max(z, 0) + (a + b) t``; without options (``a = y``,
``b = 1 - y``) that is ``M + t`` with ``M = max(z, 0) - y z``, and for
targets and logits of a narrow format ``y z`` is exact in float64, so ``M``
is exact as a double-double. ``t > 0`` is transcendental for every finite
``z``, so the exact loss is never itself a midpoint, and the side of the
midpoint ``m`` it lies on is the sign of ``(M - m) + t``: ``M - m`` comes
to 2**-104 of itself (a zero exactly), ``t`` from :mod:`.double_double` to
about 2**-88, so the sign is right whenever ``|(M - m) + t| > 2**-80 t``,
and where ``M = m`` it is ``+``.

For targets in [0, 1] the float64 loss is within a few ulps of the exact
one: NumPy's exp and log1p (an ulp or two each), then ``max(+-z, 0) + t``,
the two products and their sum, all of non-negative terms, stay below 12
float64 ulps (measured: under 1.3 on the 235 of 3.4e9 random float32 pairs
that came within 16 ulps of a midpoint), so a result more than
:data:`WINDOW` ulps from every midpoint of the format rounds correctly.
The test is on the float64 bits (a few integer passes over the block; it
fires on 65 float64 values in 2**29, about 1.2e-7 of the float32 losses,
and on 2**-36 or fewer of the 16-bit ones), and only the elements it flags
take the double-double. The side found, the float64 value becomes the
float64 number next to ``m`` on that side, which then rounds the right way;
where the sign cannot be told (never seen), the float64 value stays as it
is, and so do NaN, infinite and non-positive losses and infinite logits.
``_bce_ties.c`` does the same operations in the same order for the compiled
loops: the same bits.
"""

from __future__ import annotations

import numpy as np

from .double_double import add, exp, log1p, mul, two_prod, two_sum
from .targets64 import smoothed

#: per format: float64 significand bits below the format's last place, and
#: its smallest normal number (below it the midpoints are the odd multiples
#: of half the subnormal spacing)
FORMATS = {"float32": (29, 2.0**-126), "float16": (42, 2.0**-14), "bfloat16": (45, 2.0**-126)}
#: float64 ulps either side of a midpoint that are checked (the float64 loss
#: is off by less than 12, with options less than 20)
WINDOW = 32
#: |sign test| below this times t (or, with options, the loss too): undecided
_T_REL, _M_REL = 2.0**-80, 2.0**-98
#: with options, weights and losses outside [2**-900, 2**900] are left alone:
#: the double-double's low words would go subnormal or overflow
_SAFE_LO, _SAFE_HI = 2.0**-900, 2.0**900


def _hits(v: np.ndarray, shift: int) -> np.ndarray:
    """Whether the float64 values ``v`` lie within WINDOW ulps of a value
    whose last ``shift`` significand bits are ``10...0``."""
    half = 1 << (shift - 1)
    x = v.view(np.uint64) + np.uint64((WINDOW - half) % 2**64)
    np.bitwise_and(x, np.uint64((1 << shift) - 1), out=x)
    return x <= np.uint64(2 * WINDOW)


def near_midpoints(loss: np.ndarray, fmt: str) -> np.ndarray:
    """Indices of the float64 losses within WINDOW ulps of a midpoint of
    ``fmt``; below its smallest normal ``tiny`` the test runs on ``loss +
    tiny`` (the same midpoints, an ulp of ``tiny`` or more wide)."""
    shift, tiny = FORMATS[fmt]
    loss = np.ascontiguousarray(loss, dtype=np.float64)
    hit = _hits(loss, shift)
    low = loss < tiny
    if low.any():
        at = np.flatnonzero(low)
        hit[at] = _hits(loss[at] + tiny, shift)
    return np.flatnonzero(hit)


def _midpoint(v: np.ndarray, fmt: str) -> np.ndarray:
    """The midpoint of ``fmt`` within WINDOW float64 ulps of each ``v``."""
    shift, tiny = FORMATS[fmt]
    low = v < tiny
    w = np.where(low, v + tiny, v)
    bits = (w.view(np.uint64) & ~np.uint64((1 << shift) - 1)) | np.uint64(1 << (shift - 1))
    m = bits.view(np.float64)
    return np.where(low, m - tiny, m)  # exact: m is in [tiny, 2 tiny)


def _log_term(z: np.ndarray):
    """``t = log1p(exp(-|z|))`` in double-double (|z| past 746 gives 0)."""
    x = np.minimum(np.abs(z), 746.0)
    eh, el = exp(-x, np.zeros_like(x))
    return log1p(eh, el)


def _decide(dh: np.ndarray, Dh: np.ndarray, err: np.ndarray) -> np.ndarray:
    """+1 (the exact loss lies above the midpoint), -1 (below) or 0
    (undecided): from the main term's distance ``d`` to the midpoint (its
    high word ``dh``) and the whole distance ``D = d + t`` (``Dh``) known to
    within ``err``; ``d = 0`` exactly gives +1, the side of ``t > 0``."""
    return np.where(dh == 0, 1, np.where(Dh > err, 1, np.where(Dh < -err, -1, 0)))


def settle_plain(loss: np.ndarray, y: np.ndarray, z: np.ndarray, fmt: str) -> np.ndarray:
    """``loss`` (float64: ``y softplus(-z) + (1 - y) softplus(z)`` of
    targets ``y`` and logits ``z`` of ``fmt``, widened) with its elements
    near a midpoint of ``fmt`` moved to the float64 neighbour of that
    midpoint on the exact loss's side, so that one rounding to ``fmt``
    gives the correctly rounded loss. NaN, infinite and non-positive losses
    (targets outside [0, 1], which only the ufunc takes unchecked) and
    infinite logits are left as they are. In place where ``loss`` is
    writable."""
    at = near_midpoints(loss, fmt)
    if not at.size:
        return loss
    with np.errstate(all="ignore"):  # NaN and infinite elements are dropped at the end
        return _plain_at(loss, at, np.asarray(y, dtype=np.float64)[at], np.asarray(z, dtype=np.float64)[at], fmt)


def _plain_at(loss, at, yy, zz, fmt):
    l = loss[at]
    zero = np.zeros_like(l)
    m = _midpoint(l, fmt)
    # M = max(z, 0) - y z, exactly: y z is exact in float64 for these formats
    ph, pl = two_prod(yy, zz)
    mh, ml = add(np.maximum(zz, 0.0), zero, -ph, -pl)
    dh, dl = add(mh, ml, -m, zero)
    # a main term on the midpoint itself (targets of few bits, integer
    # logits: most of these) is settled without the exp and log: t > 0
    side = np.ones(l.shape, dtype=np.int64)
    rest = np.flatnonzero(dh != 0)
    if rest.size:
        th, tl = _log_term(zz[rest])
        Dh, _ = add(dh[rest], dl[rest], th, tl)
        side[rest] = _decide(dh[rest], Dh, _T_REL * th)
    return _apply(loss, at, l, m, side, (l > 0) & np.isfinite(l) & np.isfinite(zz))


def _safe(v: np.ndarray) -> np.ndarray:
    v = np.abs(v)
    return (v == 0) | ((v >= _SAFE_LO) & (v <= _SAFE_HI))


def settle_weighted(loss, y, z, fmt: str, ls: float, pos, s) -> np.ndarray:
    """:func:`settle_plain` of the loss with options: ``s (a softplus(-z) +
    b softplus(z))`` with ``a = pos y'``, ``b = 1 - y'``, ``y' = y (1 - ls)
    + ls/2`` (``pos``, ``s``: callables giving the positive-class and sample
    weights at given indices, or None). The weights are formed exactly
    where they can be (no smoothing, weights of up to 24 significant bits:
    then ``M - m`` is exact, as without options) and to about 2**-104
    otherwise, where a loss nearer its midpoint than 2**-98 of itself
    stays as it is; so do elements with a weight or loss outside
    ``[2**-900, 2**900]``."""
    at = near_midpoints(loss, fmt)
    if not at.size:
        return loss
    with np.errstate(all="ignore"):
        return _weighted_at(loss, at, np.asarray(y, dtype=np.float64)[at], np.asarray(z, dtype=np.float64)[at],
                            fmt, ls, None if pos is None else pos(at), None if s is None else s(at))


def _weighted_at(loss, at, yy, zz, fmt, ls, pw, sw):
    l = loss[at]
    zero, one = np.zeros_like(l), np.ones_like(l)
    m = _midpoint(l, fmt)
    yh, yl = smoothed(yy, zero, ls, 2)  # y' = y (1 - ls) + ls/2
    bh, bl = smoothed(*two_sum(one, -yy), ls, 2)  # 1 - y' = (1 - y)(1 - ls) + ls/2
    ah, al = (yh, yl) if pw is None else mul(yh, yl, pw, zero)
    mh, ml = add(*mul(ah, al, np.maximum(-zz, 0.0), zero), *mul(bh, bl, np.maximum(zz, 0.0), zero))
    th, tl = add(ah, al, bh, bl)
    th, tl = mul(th, tl, *_log_term(zz))
    ok = (l > 0) & np.isfinite(l) & np.isfinite(zz) & _safe(ah) & _safe(bh) & _safe(mh) & _safe(l)
    if sw is not None:
        mh, ml = mul(mh, ml, sw, zero)
        th, tl = mul(th, tl, sw, zero)
        ok &= _safe(sw) & _safe(mh)
    dh, dl = add(mh, ml, -m, zero)
    Dh, _ = add(dh, dl, th, tl)
    side = _decide(dh, Dh, _M_REL * np.abs(mh) + _T_REL * th)
    return _apply(loss, at, l, m, side, ok)


def _apply(loss, at, l, m, side, ok) -> np.ndarray:
    # The float64 loss lies within WINDOW ulps of the midpoint m, where its
    # one rounding to the narrow format cannot be trusted: on m itself it
    # goes to the even neighbour whatever side the exact loss is on, and a
    # few ulps off m its own error may have crossed m. The float64 number
    # next to m on the exact loss's side lies strictly between m and that
    # side's neighbour (the narrow spacing is 2**29 float64 ulps or more),
    # so the store's single rounding then gives the correctly rounded loss.
    new = np.nextafter(m, np.where(side > 0, np.inf, -np.inf))
    if not loss.flags.writeable:
        loss = loss.copy()
    loss[at] = np.where(ok & (side != 0), new, l)
    return loss


def _at(w: np.ndarray, part: slice):
    """The entries of ``w`` (shaped as the loss) at indices of the block ``part``."""
    return lambda at: np.asarray(w[np.unravel_index(part.start + at, w.shape)], dtype=np.float64)


def settle(loss: np.ndarray, y: np.ndarray, z: np.ndarray, fmt, o, part: slice, logits: bool) -> np.ndarray:
    """The float64 binary loss of the block ``part`` as the accurate tier
    stores it: its options' sample weights applied (``o.plan.apply64``),
    then, from logits in a narrow format, :func:`settle_plain` or
    :func:`settle_weighted` (``o``: lossopts.Options)."""
    if not o.plain:
        loss = o.plan.apply64(loss, part)
    if not logits or fmt.name not in FORMATS:
        return loss
    sample = None if o.plain else o.plan.sample64
    if o.plain or (o.ls == 0.0 and o.pos is None and sample is None):
        return settle_plain(loss, y, z, fmt.name)
    return settle_weighted(loss, y, z, fmt.name, o.ls, None if o.pos is None else _at(o.pos, part),
                           None if sample is None else _at(sample, part))
