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
with mpmath.workprec(200):
    _man, _exp = mpmath.log(2).man_exp
_LN2 = Fraction(int(_man)) * Fraction(2) ** int(_exp)
_LN2_1 = float(Fraction(round(_LN2 * 2**32), 2**32))
_LN2_2 = float(_LN2 - Fraction(_LN2_1))
_LN2_3 = float(_LN2 - Fraction(_LN2_1) - Fraction(_LN2_2))
_INV_FACT = [_dd_const(Fraction(1, _fact)) for _fact in (1, 2, 6, 24, 120, 720, 5040, 40320, 362880)]
_SQUARINGS = 10


def exp(xh, xl):
    """exp of a double-double array (results below ~1e-300 lose accuracy;
    arguments below -745 give 0)."""
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
    eh, el = add(np.ones_like(xh), np.zeros_like(xh), eh, el)
    ki = k.astype(np.int64)
    out_h, out_l = np.ldexp(eh, ki), np.ldexp(el, ki)
    dead = xh < -745.2
    return np.where(dead, 0.0, out_h), np.where(dead, 0.0, out_l)


def log(sh, sl):
    """log of a positive double-double array: one Newton step
    y1 = y0 + (s exp(-y0) - 1) from y0 = log(hi), doubling 53 bits to ~106."""
    y0 = np.log(sh)
    eh, el = exp(-y0, np.zeros_like(y0))
    th, tl = mul(sh, sl, eh, el)
    th, tl = add(th, tl, -np.ones_like(th), np.zeros_like(th))
    return fast_two_sum(y0, th + tl)
