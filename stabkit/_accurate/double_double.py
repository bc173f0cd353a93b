"""Vectorised double-double arithmetic: just enough for an exact-ish logsumexp.

A double-double ``(hi, lo)`` represents ``hi + lo`` with ``|lo| <= ulp(hi)/2``,
about 106 significant bits. The error-free transformations are Knuth's TwoSum
and Dekker's TwoProduct (with Veltkamp's split, since NumPy has no fused
multiply-add). ``exp`` reduces its argument by ``k ln 2``, scales by 2**-10,
sums a degree-9 Taylor series of ``expm1`` and squares back up with
``expm1(2a) = expm1(a) (2 + expm1(a))``; ``log`` takes one Newton step from
the float64 ``log``. Relative error of both: about 2**-100, for arguments where
the results stay normal (the callers only need ``x <= 0``).
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1


def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fast_two_sum(a, b):
    """TwoSum for |a| >= |b|."""
    s = a + b
    return s, b - (s - a)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def add(ah, al, bh, bl):
    s, e = two_sum(ah, bh)
    t, f = two_sum(al, bl)
    s, e = fast_two_sum(s, e + t)
    return fast_two_sum(s, e + f)


def mul(ah, al, bh, bl):
    p, e = two_prod(ah, bh)
    return fast_two_sum(p, e + (ah * bl + al * bh))


def _dd_const(q: Fraction) -> tuple[float, float]:
    hi = float(q)
    return hi, float(q - Fraction(hi))


# ln 2 in three pieces; the first has 32 significant bits so that k * LN2_1 is
# exact for every |k| < 2**21.
# (from a private mpmath context: the global precision belongs to the caller,
# and another thread may be using it while this module is imported)
_MP = mpmath.MPContext()
_MP.prec = 200
_man, _exp = _MP.log(2).man_exp
_LN2 = Fraction(int(_man)) * Fraction(2) ** int(_exp)
_LN2_1 = float(Fraction(round(_LN2 * 2**32), 2**32))
_LN2_2 = float(_LN2 - Fraction(_LN2_1))
_LN2_3 = float(_LN2 - Fraction(_LN2_1) - Fraction(_LN2_2))
_INV_FACT = [_dd_const(Fraction(1, _fact)) for _fact in (1, 2, 6, 24, 120, 720, 5040, 40320, 362880)]
_SQUARINGS = 10


def _reduced(xh, xl):
    """(k, expm1(r)) with x = k ln2 + r, |r| <= ln2/2, expm1(r) in double-double.

    Error (Joldes, Muller & Popescu 2017 bounds for the double-word steps,
    u = 2**-53): r is exact up to one DW addition (3u^2 relative) and the
    ln2 split (< 2**-150 absolute for |k| < 2**11); the Taylor sum of
    expm1(r / 2**10) to degree 9 (truncation < 2**-125 relative) costs at most
    ~100u^2, and ten doublings expm1(2a) = expm1(a) (2 + expm1(a)) multiply the
    relative error by at most 1.2 each and add ~11u^2: below 1500u^2 = 2**-95.4
    in all. Callers use 2**-90.
    """
    xh = np.asarray(xh, dtype=np.float64)
    xl = np.asarray(xl, dtype=np.float64)
    k = np.rint(xh / _LN2_1)
    # r = x - k ln2, exactly in the first piece, in double-double after
    rh, rl = add(xh, xl, -k * _LN2_1, np.zeros_like(xh))
    ph, pl = two_prod(k, np.full_like(xh, _LN2_2))
    rh, rl = add(rh, rl, -ph, -pl - k * _LN2_3)
    # a = r / 2**10, |a| <= 3.4e-4: Taylor of expm1 to a**9 leaves < 1e-37 * a
    ah, al = np.ldexp(rh, -_SQUARINGS), np.ldexp(rl, -_SQUARINGS)
    ph, pl = np.full_like(xh, _INV_FACT[-1][0]), np.full_like(xh, _INV_FACT[-1][1])
    for ch, cl in reversed(_INV_FACT[:-1]):
        ph, pl = mul(ph, pl, ah, al)
        ph, pl = add(ph, pl, np.full_like(xh, ch), np.full_like(xh, cl))
    eh, el = mul(ph, pl, ah, al)  # expm1(a)
    for _ in range(_SQUARINGS):
        # expm1(2a) = expm1(a) * (2 + expm1(a)): no cancellation for small a
        th, tl = add(eh, el, np.full_like(xh, 2.0), np.zeros_like(xh))
        eh, el = mul(eh, el, th, tl)
    return k.astype(np.int64), eh, el


def exp(xh, xl):
    """exp of a double-double array, relative error below 2**-90 while the
    result stays above ~1e-290 (the low word must not go subnormal);
    arguments below -745.2 give 0. Finite arguments only."""
    k, eh, el = _reduced(xh, xl)
    eh, el = add(np.ones_like(eh), np.zeros_like(eh), eh, el)
    out_h, out_l = np.ldexp(eh, k), np.ldexp(el, k)
    dead = np.asarray(xh) < -745.2
    return np.where(dead, 0.0, out_h), np.where(dead, 0.0, out_l)


def expm1(xh, xl):
    """exp(x) - 1 in double-double for |x| <= 1, relative error below 2**-90:
    for k = 0 it is the reduced expm1 itself (no cancellation); otherwise
    |exp(x) - 1| > 0.29 and the subtraction cannot cancel."""
    k, eh, el = _reduced(xh, xl)
    one = np.ones_like(eh)
    fh, fl = add(one, np.zeros_like(eh), eh, el)
    fh, fl = add(np.ldexp(fh, k), np.ldexp(fl, k), -one, np.zeros_like(eh))
    return np.where(k == 0, eh, fh), np.where(k == 0, el, fl)


def div(ah, al, bh, bl):
    """(a / b) in double-double: q1 = a/b, then one correction from the exact
    remainder a - q1 b; relative error below ~15u^2."""
    q1 = ah / bh
    ph, pl = mul(np.asarray(q1), np.zeros_like(q1), bh, bl)
    rh, rl = add(ah, al, -ph, -pl)
    q2 = rh / bh
    return fast_two_sum(q1, q2)


def log1p(eh, el):
    """log(1 + e) for double-double e in [0, 1]: one Newton step from
    y0 = log1p(e_hi), written so that nothing cancels:
    y = y0 + t, t = (1 + e) exp(-y0) - 1 = e + m + e m with m = expm1(-y0).
    t is O(2**-52 y) and its error is that of m (2**-90 relative, |m| ~ y),
    so y keeps a relative error below ~2**-88 even for e = 1e-300. The
    quadratic Newton term t**2/2 is below 2**-100 y."""
    y0 = np.log1p(eh)
    mh, ml = expm1(-y0, np.zeros_like(y0))
    th, tl = add(eh, el, mh, ml)
    ph, pl = mul(eh, el, mh, ml)
    th, tl = add(th, tl, ph, pl)
    return fast_two_sum(y0, th + tl)


def log(sh, sl):
    """log of a positive double-double array: one Newton step
    y1 = y0 + (s exp(-y0) - 1) from y0 = log(hi), doubling 53 bits to ~106
    (absolute error ~2**-90 (1 + |y|); for s near 1 use :func:`log1p`)."""
    y0 = np.log(sh)
    eh, el = exp(-y0, np.zeros_like(y0))
    th, tl = mul(sh, sl, eh, el)
    th, tl = add(th, tl, -np.ones_like(th), np.zeros_like(th))
    return fast_two_sum(y0, th + tl)
