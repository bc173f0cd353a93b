"""A fast certified reference tier for float32 and narrower targets.

sigmoid, log_sigmoid and softplus are evaluated in plain float64 with a
*proven* relative error bound, ``EPS = 2**-45``, using only IEEE ``+ - * /``,
``rint`` and exact power-of-two scalings: NumPy's ``exp`` and ``log1p`` are
never trusted. A point is certified when the whole interval
``v * (1 +- EPS)`` rounds to one value of the target format (for float32 that
fails only when ``v`` lies within ``2**-21`` ulp of a rounding boundary, about
one point in a million); the rest are returned uncertified for the
double-double tier (:mod:`stabkit.reference.certified`) and then mpmath.

The bound (``u = 2**-53``; inputs are values of a format with at most 24
significant bits, ``|x| <= 640``, so ``t = -|x|`` and ``k = rint(t/ln2)``
satisfy ``|k| <= 924``):

* ``exp(t)``, Cody-Waite: ``t = k ln2 + r`` with ``ln2 = C1 + C2 + c3``, ``C1``
  of 40 bits. ``k C1`` is exact (50 bits) and so is ``t - k C1`` (``t`` is a
  multiple of ``2**-25`` once ``|t| >= 1/4``, ``k C1`` of ``2**-40``, and the
  difference is below 1). ``RN(k C2)``, the subtraction and ``k |c3| <=
  924 * 2**-95`` give ``r^ = r + d``, ``|d| <= u|r| + 2**-84``, so
  ``exp(d) - 1 <= 2**-54.5``. ``|r| <= ln2/2 + 2**-42 = rho``. exp(r) is
  the degree-12 Taylor polynomial: truncation ``rho**13/13! * e**(2 rho) <=
  2**-51.4`` relative; Horner with rounded coefficients errs by at most
  ``gamma_25 * sum|c_i| |r|**i / |P(r)| <= 25.01u * e**(2 rho) <= 2**-47.35``
  (Higham, Accuracy and Stability, 5.1). Scaling by ``2**k`` is exact (the
  result stays above 2**-1000). In all ``delta_e <= 2**-47.2``.
* sigmoid, ``|x| <= 2**-10``: ``1/2 + t``, ``t = tanh(x/2)/2`` summed to
  ``x**5`` (truncation ``17 x**7/80640 <= 2**-72 |t|``; ``x**2`` is exact and
  Horner errs by ``~2.1u |t|``), as the exact double word ``TwoSum(1/2, t)``.
* sigmoid elsewhere: ``c = e / (1 + e)``, ``e = exp(-|x|)``, the small side:
  ``delta_c <= delta_e + delta_e/2 + 2u <= 2**-46.5`` (``e/(1+e) <= 1/2``
  damps the denominator's share). The large side ``1 - c`` is kept as the
  exact double word ``TwoSum(1, -c)``: its absolute error is that of ``c``,
  and ``c <= 1 - c``, so ``2**-46.5`` relative again.
* softplus: ``max(x, 0) + log1p(e)`` with ``log1p(e) = 2 atanh(s)``,
  ``s = e/(2 + e) <= 1/3``, ``atanh(s) = s Q(s**2)``, ``Q`` to ``w**14``
  (truncation ``(1/9)**15/31 * 9/8 <= 2**-52.3``). Errors: ``e``'s,
  amplified by at most ``1/ln 2`` (``log1p(e) >= e ln 2`` on (0, 1]);
  ``s``'s ``2u`` times atanh's condition number ``<= 1.09``; Horner of ``Q``
  (positive terms) ``gamma_29``; the final product ``u``: in all
  ``<= 1.443 * 2**-47.2 + 33u <= 2**-46.2``. The sum with ``x >= 0`` is an
  exact double word (TwoSum) of two positive terms, so relative errors stay
  relative. log_sigmoid is ``-softplus(-x)``.

``EPS = 2**-45`` leaves a margin of at least 2.3. The interval ends are
formed in float64 as ``v * (1 +- (EPS + 2**-51))``, which covers their own
rounding. Outside ``|x| <= 640`` the asymptotics of :mod:`stabkit.reference.certified`
decide.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from stabkit._accurate import double_double as _dd
from .certified import _EDGE, CERTIFIED, _outer
from stabkit.floats import get_format, round_float64

__all__ = ["CERTIFIED", "EPS", "carrier", "evaluate", "value"]

EPS = 2.0**-45
_WIDE = EPS + 2.0**-51  # covers the rounding of the interval ends themselves

# ln 2 = C1 + C2 + c3: C1 has 40 significant bits, so k * C1 is exact for |k| < 2**13
_C1 = float(Fraction(round(_dd._LN2 * 2**40), 2**40))
_C2 = float(_dd._LN2 - Fraction(_C1))
_INV_LN2 = float(1 / _dd._LN2)
_EXP_COEF = [float(Fraction(1, _f)) for _f in (1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600)]
_TINY = 2.0**-10  # sigmoid: the series around 0 below this
_SIG_C3, _SIG_C5 = -1.0 / 12.0, 1.0 / 120.0
_ATANH_COEF = [1.0 / (2 * j + 1) for j in range(15)]  # Q(w) = sum w**j / (2j + 1), j <= 14


def _exp_neg(t: np.ndarray) -> np.ndarray:
    """exp(t) for t = -|x| >= -640, x in a <= 24-bit format: relative error
    below 2**-47.2 (module docstring)."""
    k = np.rint(t * _INV_LN2)
    # Cody-Waite: t - k C1 is exact, only k C2 and the subtraction round
    r = t - k * _C1
    r -= k * _C2
    p = r * _EXP_COEF[-1]
    for c in reversed(_EXP_COEF[1:-1]):
        p += c
        p *= r
    p += _EXP_COEF[0]
    # times 2**k, built from its exponent bits: exact, the result stays normal
    scale = ((k.astype(np.int64) + 1023) << 52).view(np.float64)
    p *= scale
    return p


def _log1p_unit(e: np.ndarray) -> np.ndarray:
    """log1p(e) for e in (0, 1] as 2 atanh(e / (2 + e)): no NumPy log1p."""
    s = e / (2.0 + e)
    w = s * s
    q = w * _ATANH_COEF[-1]
    for c in reversed(_ATANH_COEF[1:-1]):
        q += c
        q *= w
    q += _ATANH_COEF[0]
    q *= s
    q *= 2.0
    return q


def _sigmoid(x):
    hi, lo = np.empty_like(x), np.zeros_like(x)
    tiny = np.abs(x) <= _TINY
    xb = x[~tiny]
    e = _exp_neg(-np.abs(xb))
    c = e / (1.0 + e)  # sigmoid(-|x|), no cancellation
    # the large side 1 - c as the exact double word TwoSum(1, -c)
    big_h, big_l = _dd.fast_two_sum(np.ones_like(c), -c)
    pos = xb >= 0
    hi[~tiny], lo[~tiny] = np.where(pos, big_h, c), np.where(pos, big_l, 0.0)
    # near 0, 1/2 + t with t = tanh(x/2)/2 = x/4 - x**3/48 + x**5/480 - ...
    # (truncation below 2**-72 |t| for |x| <= 2**-10, Horner ~2u), kept as the
    # exact double word TwoSum(1/2, t): c above would bury t's digits in 1/2
    xs = x[tiny]
    w = xs * xs  # exact: 48 bits
    t = (0.25 * xs) * (1.0 + w * (_SIG_C3 + w * _SIG_C5))
    hi[tiny], lo[tiny] = _dd.fast_two_sum(np.full_like(t, 0.5), t)
    return hi, lo


def _softplus(x):
    # max(x, 0) + log1p(exp(-|x|)): two non-negative terms, summed exactly
    lp = _log1p_unit(_exp_neg(-np.abs(x)))
    h, lo = _dd.two_sum(np.maximum(x, 0.0), lp)
    return h, lo


def value(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) with ``hi + lo`` within ``EPS`` relative of the exact value, for
    float64 ``x`` holding values of a <= 24-bit format with ``|x| <= 640``."""
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "softplus":
        return _softplus(x)
    if name == "log_sigmoid":
        h, lo = _softplus(-x)
        return -h, -lo
    raise ValueError(f"no fast certified form of {name!r}; known: {', '.join(CERTIFIED)}")


def carrier(name: str, x, hi, lo) -> np.ndarray:
    """The magnitude of the part of ``hi + lo`` that carries the error (the
    rest is exact): sigmoid's ``t`` near 0, else ``min(s, 1 - s)``;
    softplus's ``log1p(exp(-|x|))`` (``max(x, 0)`` is exact). The error is
    below ``EPS`` times it, a much smaller figure where the value is, say,
    ``1/2 + 1e-30``: it tells whether the exact value could be a value of
    the format."""
    x = np.asarray(x, dtype=np.float64)
    if name == "sigmoid":
        return np.where(np.abs(x) <= _TINY, np.abs((hi - 0.5) + lo), np.minimum(hi, (1.0 - hi) - lo))
    z, h, lw = (x, hi, lo) if name == "softplus" else (-x, -hi, -lo)
    return np.abs(np.where(z >= 0, (h - np.maximum(z, 0.0)) + lw, h))


def evaluate(name: str, x, fmt) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Certified references at ``x`` (values of ``fmt``, at most 24 significant
    bits): (rounded as float64, hi, lo, certified mask), as
    :func:`stabkit.reference.certified.evaluate` returns them."""
    f = get_format(fmt)
    if f.precision > 24:
        raise ValueError(f"the float64 fast tier is for formats of at most 24 bits, not {f.name}")
    if name not in CERTIFIED:
        raise ValueError(f"no fast certified form of {name!r}; known: {', '.join(CERTIFIED)}")
    # the proof needs values of a <= 24-bit format: round once (a no-op on them)
    with np.errstate(all="ignore"):
        x = round_float64(np.asarray(x, dtype=np.float64), f).astype(np.float64).ravel()
    n = x.size
    rounded, hi, lo = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    ok = np.zeros(n, bool)
    inner = np.abs(x) <= _EDGE
    all_inner = bool(inner.all())
    xi = x if all_inner else x[inner]
    with np.errstate(all="ignore"):
        vh, vl = value(name, xi)
        v = vh + vl
        # both ends of v * (1 +- EPS), widened by their own rounding
        ra = round_float64(v * (1.0 - _WIDE), f).astype(np.float64)
        rb = round_float64(v * (1.0 + _WIDE), f).astype(np.float64)
    good = ra == rb
    if all_inner:
        return ra, vh, vl, good
    idx = np.flatnonzero(inner)
    rounded[idx], hi[idx], lo[idx], ok[idx] = ra, vh, vl, good
    _outer(name, x, f, rounded, hi, lo, ok)
    return rounded, hi, lo, ok
