"""The accurate tier's one-argument kernels in float64: sigmoid, softplus and
log_sigmoid = -softplus(-x), each with its series near zero (see
:mod:`stabkit.accurate`, which blocks, rounds and checks around them)."""

from __future__ import annotations

import mpmath
import numpy as np

from .eft import two_sum_err
from .sigmoid64 import sigmoid64

__all__ = ["sigmoid_f64", "softplus_f64", "softplus_pair_f64", "log_sigmoid_f64"]


def sigmoid_f64(x, narrower: bool = False):
    if not narrower:
        # float64 results: a double-double table of sigmoid and one rounding,
        # within 0.54 ulp (the three roundings below reach 2.56 ulp)
        return sigmoid64(x)
    # For a narrower target (rounded once more): e = exp(-|x|) is in [0, 1]:
    # it cannot overflow. sigmoid(x) is 1/(1+e) for x >= 0 and e/(1+e) for
    # x < 0; max(e, x >= 0) picks the numerator without a random-mask
    # np.where (e <= 1, so the max is 1 or e). One division, no cancellation:
    # within 2.6 float64 ulps, far below the narrower format's half ulp.
    e = np.abs(x)
    small = e < 2.0**-10
    np.negative(e, out=e)
    np.exp(e, out=e)
    den = np.add(e, 1.0)
    y = np.divide(np.maximum(e, x >= 0, out=e), den, out=e)
    if small.any():
        y[small] = _sigmoid_near_zero(x[small], narrower)
    return y


def _sigmoid_near_zero(x, narrower: bool):
    """sigmoid(x) = 1/2 + x/4 - x**3/48 + O(x**5) for |x| < 2**-10.

    For a float32 (or narrower) x, ``1/2 + x/4`` is exact in float64 and can
    be exactly a float32 midpoint (x an odd multiple of 2**-24: 81 float32
    inputs); then only the tiny ``-x**3/48``, always toward 1/2, decides the
    rounding, and float64 loses it once it is below half an ulp of 1/2. The
    series keeps it where it can, and where it cannot (the sum rounds back to
    ``1/2 + x/4``) the result is nudged one float64 ulp toward 1/2 for a
    narrower target, so that its rounding goes the right way. The x**5 term
    is below 2**-59, 1/64 ulp of 1/2.
    """
    cube = x * x * x / 48.0
    # one rounding at the end: x/4 - x**3/48 is accurate to 2**-65
    y = 0.5 + (x / 4.0 - cube)
    if narrower:
        mid = 0.5 + x / 4.0
        lost = (y == mid) & (cube != 0)
        y[lost] = np.nextafter(mid[lost], 0.5)
    return y


def _log_term(x):
    """``t = log1p(exp(-|x|))`` and where ``|x| < 2**-10`` (the series' range)."""
    t = np.abs(x)
    small = t < 2.0**-10
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    return t, small


def softplus_f64(x, to32: bool = False):
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): both terms are >= 0, so
    # the sum cannot cancel, and exp only sees non-positive arguments. Unlike a
    # threshold (x past 20), the small term is kept for every x.
    t, small = _log_term(x)
    with np.errstate(invalid="ignore"):
        y = np.add(np.maximum(x, 0.0), t, out=t)
    if small.any():
        y[small] = _softplus_near_zero(x[small], to32)
    return y


def softplus_pair_f64(x):
    """``(softplus(-x), softplus(x))``, the bits of two calls of
    :func:`softplus_f64`: ``|-x| = |x|``, so both share ``log1p(exp(-|x|))``
    (the costly part) and differ only in ``max(-+x, 0)`` and the series."""
    t, small = _log_term(x)
    neg = np.negative(x)
    with np.errstate(invalid="ignore"):
        yn = np.add(np.maximum(neg, 0.0), t)
        yp = np.add(np.maximum(x, 0.0), t, out=t)
    if small.any():
        yn[small] = _softplus_near_zero(neg[small], False)
        yp[small] = _softplus_near_zero(x[small], False)
    return yn, yp


# ln 2 from a private mpmath context: the global one belongs to the caller
_MP = mpmath.MPContext()
_MP.prec = 200
_LN2_HI = float(_MP.log(2))
_LN2_LO = float(_MP.log(2) - _LN2_HI)


def _softplus_near_zero(x, to32: bool):
    """softplus(x) = ln 2 + x/2 + x**2/8 - x**4/192 + x**6/2880 - ... for
    |x| < 2**-10, in double-double: ``ln 2 + x/2`` and the ``x**2/8`` term go
    through TwoSum, the rest (below 2**-47) is added to the low word; the x**8
    term is below 2**-85. For a float32 target the double-double is rounded
    once: where its high word is exactly a float32 midpoint, it moves one
    float64 ulp the way its low word points (one float32 input of
    log_sigmoid, x = -4.4680992e-04, lies 8e-11 ulp from a midpoint: float64
    alone rounded it the wrong way)."""
    x2 = x * x  # exact for float32 inputs; otherwise off by 2**-53 of x**2/8
    s1 = _LN2_HI + x / 2.0
    e1 = two_sum_err(_LN2_HI, x / 2.0, s1)
    s2 = s1 + x2 / 8.0
    e2 = two_sum_err(s1, x2 / 8.0, s2)
    hi = s2
    lo = (_LN2_LO + e1 + e2) - x2 * x2 / 192.0 + x2 * x2 * x2 / 2880.0
    y = hi + lo
    if to32:
        a = y.astype(np.float32)
        a64 = a.astype(np.float64)
        other = np.nextafter(a, np.where(y > a64, np.float32(np.inf), np.float32(-np.inf))).astype(np.float64)
        lo = lo - (y - hi)  # what is left beyond y
        tie = (y == (a64 + other) / 2) & (lo != 0)
        y[tie] = np.nextafter(y[tie], np.where(lo[tie] > 0, np.inf, -np.inf))
    return y


def log_sigmoid_f64(x, to32: bool = False):
    t = softplus_f64(np.negative(x), to32)
    return np.negative(t, out=t)
