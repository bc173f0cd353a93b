"""float64 sigmoid within 0.54 ulp: a table of sigmoid in double-double.

A plain float64 ``n / (1 + e)``, ``e = exp(-|x|)``, rounds three times
(``exp``, ``1 + e``, the division) and reaches 2.56 ulp (at
``x = -4.849598815584976``). Here, for ``|x| <= 40``, ``x = x0 + r`` with
``x0`` on a grid of step 2**-7 and ``|r| <= 2**-8``, and

    sigmoid(x0 + r) = s0 / (1 + (1 - s0) eps) = s0 - s0 g / (1 + g),

with ``s0 = sigmoid(x0)`` from a table in double-double (``sh + sl``),
``eps = expm1(-r)`` and ``g = (1 - s0) eps`` (from ``exp(-x) =
exp(-x0) (1 + eps)`` and ``exp(-x0) = (1 - s0) / s0``; ``1 - s0`` is taken
as ``1 - sh``, exact for ``sh >= 1/2``, which moves ``c`` by at most
``|eps sl| <= 2**-62 s0``). The correction
``c = s0 g / (1 + g)`` is below ``2**-7.99 s0``, so its float64 roundings
cost little, and the result ``sh + (sl - c)`` is rounded once.

Error bound (``u = 2**-53``, plain IEEE operations, NumPy has no fused
multiply-add): ``x0 = RN(x + M) - M`` with ``M = 1.5 * 2**45`` rounds ``x``
to the grid, and ``x0 - x`` is exact. ``expm1`` is stabkit's own series
(:func:`_expm1_small`, within ``1.02u``; not NumPy's, whose bits vary with
the platform's libm), below the ``2u`` that the analysis allows. ``1 - sh`` is exact or within ``u (1 - s0)``;
``g``, ``s0 g``, ``1 + g`` and the division round once each, and ``sh``
stands for ``s0`` (``u``): ``c`` carries at most ``8u`` relative, i.e.
``8u 2**-7.99 s0 <= 2**-58 s0``; dropping ``sl`` from ``1 - s0`` costs
``2**-62 s0``; ``sl - c`` rounds by ``u |c| <= 2**-61 s0``; the table is
good to ``2**-88`` (:mod:`stabkit._accurate.double_double`). Before the last rounding the
relative error is below ``1.2 * 2**-58``, at most ``0.038`` ulp, so the
result is within ``0.54`` ulp.

Beyond the table (``x < -40``) ``sigmoid(x) = e - e**2 + ...`` with
``e = exp(x) < 2**-57.7``, and ``e`` comes from a double-double exp
(:func:`_exp_parts`), scaled so that subnormal results are rounded once
(:func:`_tail`); ``x > 40`` gives 1 (``sigmoid(40) = 1 - 4.2e-18``).
"""

from __future__ import annotations

import functools
import threading
from fractions import Fraction

import numpy as np

from . import double_double as _dd

__all__ = ["sigmoid64"]

_STEP = 2.0**-7  # table spacing; |r| <= 2**-8
_XT = 40.0  # table range [-40, 40]
_I = int(_XT / _STEP)
_ROWS = 2 * _I + 1
# x + _M rounds x to a multiple of 2**-7 (the ulp of _M) while |x| < 2**44,
# and the low bits of its representation count the grid points
_M = 1.5 * 2.0**45
_JBIAS = int(np.float64(_M).view(np.int64)) - _I


@functools.cache
def _table() -> tuple[np.ndarray, np.ndarray]:
    """sigmoid(i 2**-7), |i| <= 5120, as the double-double ``(sh, sl)``,
    from :mod:`stabkit._accurate.double_double` (relative error below 2**-88; e/(1+e) below
    zero, 1/(1+e) above: nothing cancels)."""
    x0 = np.arange(-_I, _I + 1) * _STEP
    zero = np.zeros_like(x0)
    eh, el = _dd.exp(-np.abs(x0), zero)
    dh, dl = _dd.add(np.ones_like(x0), zero, eh, el)
    pos = x0 >= 0
    sh, sl = _dd.div(np.where(pos, 1.0, eh), np.where(pos, 0.0, el), dh, dl)
    return np.ascontiguousarray(sh), np.ascontiguousarray(sl)


# 1/k! for the series of expm1 below (each rounded once, as C rounds them)
_F3, _F4, _F5, _F6 = 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0


def _expm1_small(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``expm1(t)`` in place for ``|t| <= 2**-8`` (``p``: scratch), within
    ``1.02 u`` relative, the same bits on every platform.

    ``t + t**2 (1/2 + t (1/6 + t (1/24 + t (1/120 + t/720))))``: the dropped
    tail ``t**7/5040 (1 + |t|)`` is below ``2**-60.3 |t|``; the bracket's
    roundings (``6u`` of ``|t**2/2| <= 2**-9 |t|``) below ``2**-6.4 u |t|``;
    and ``|t| <= |expm1(t)| (1 + 2**-9)``, so with the last addition's
    rounding the result is within ``1.02 u`` of ``expm1(t)``. NaN stays NaN;
    larger ``|t|`` (only beside inputs beyond the table, replaced later) give
    finite values that nothing reads.
    """
    np.multiply(t, _F6, out=p)
    p += _F5
    p *= t
    p += _F4
    p *= t
    p += _F3
    p *= t
    p += 0.5
    p *= t
    p *= t
    t += p
    return t


_LOCAL = threading.local()


def _scratch(n: int) -> list[np.ndarray]:
    """Four float64 and one int64 scratch arrays of length ``n``, kept per
    thread while ``n`` stays the same (fresh ones cost page faults: 15%)."""
    ws = getattr(_LOCAL, "ws", None)
    if ws is None or ws[0].size != n:
        _LOCAL.ws = ws = [np.empty(n) for _ in range(4)] + [np.empty(n, np.int64)]
    return ws


def sigmoid64(x: np.ndarray) -> np.ndarray:
    """sigmoid of a float64 array within 0.54 ulp (module docstring).
    NaN propagates; +-inf give 1 and 0; +-0 gives 0.5; subnormal results
    are kept."""
    t, g, sh, sl, j = _scratch(x.size)
    np.add(x, _M, out=t)
    np.subtract(t.view(np.int64), _JBIAS, out=j)
    # -r = x0 - x, exact: x0 = (x + M) - M is x's nearest grid point
    t -= _M
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, replaced below
        t -= x
    eps = _expm1_small(t, g)  # exp(-r) - 1, |eps| < 2**-7.99
    # outside the table (and NaN: its bits land far outside too)
    far = j.view(np.uint64) >= _ROWS
    th, tl = _table()
    th.take(j, mode="clip", out=sh)
    tl.take(j, mode="clip", out=sl)
    # g = (1 - s0) eps with 1 - s0 taken as 1 - sh (exact for sh >= 1/2):
    # the dropped sl moves c by |eps sl| <= 2**-62 s0
    np.subtract(1.0, sh, out=g)
    g *= eps
    # c = s0 g / (1 + g) < 2**-7.99 s0, then y = sh + (sl - c), one rounding
    c = np.multiply(sh, g, out=t)
    g += 1.0
    c /= g
    np.subtract(sl, c, out=c)
    y = np.add(sh, c)
    if far.any():
        xf = x[far]
        yf = np.ones_like(xf)
        low = ~(xf > 0)  # x < -40, and NaN
        yf[low] = _tail(xf[low])
        y[far] = yf
    return y


# ------------------------------------------------------------ the tail

_L = 10
_N = 1 << _L
# ln2/1024 = C1 + C2 + (|c3| < 2**-96): C1 has 32 significant bits, so
# k * C1 is exact for every |k| < 2**21 (|x| <= 1400)
_C1 = float(Fraction(round(_dd._LN2 / _N * 2**42), 2**42))
_C2 = float(_dd._LN2 / _N - Fraction(_C1))
_INV = float(_N / _dd._LN2)


@functools.cache
def _pow2_table() -> np.ndarray:
    """2**(j/1024), j < 1024, as complex128 ``Th + 1j*Tl`` (normalised,
    relative error below 2**-88)."""
    xh = np.array([float(Fraction(j, _N) * _dd._LN2) for j in range(_N)])
    xl = np.array([float(Fraction(j, _N) * _dd._LN2 - Fraction(xh[j])) for j in range(_N)])
    th, tl = _dd.exp(xh, xl)
    return th + 1j * tl


def _exp_parts(a: np.ndarray):
    """``exp(a) = 2**m (Th + l)`` for ``-1400 <= a <= 0`` (Tang's method):
    (Th, l, m) with the relative error of ``Th + l`` below 2**-61.9.

    ``a = k ln2/1024 + r``, ``k = 1024 m + j``, ``|r| <= ln2/2048 < 2**-11.52``;
    ``2**(j/1024) = Th + Tl`` from a table; ``exp(r) = 1 + p``,
    ``p = r + r**2 (1/2 + r (1/6 + r/24))``; ``l = RN(RN(Th p) + Tl)``.
    Errors: ``k C1`` and ``a - k C1`` are exact (Sterbenz), ``RN(k C2)`` and
    the dropped ``k c3`` err by ``2**-75.9`` each, ``r``'s rounding by
    ``u |r| <= 2**-64.5``; the series' tail ``r**5/120 (1 + |r|) <= 2**-64.5``,
    Horner ``<= 2**-75.5``, the addition of ``r`` ``2**-64.5``; ``l``'s two
    roundings and the dropped ``Tl p``: ``3 * 2**-64.5``. In all
    ``2**-61.9``.
    """
    kf = np.multiply(a, _INV)
    np.rint(kf, out=kf)
    # r = (a - k C1) - k C2: the first subtraction is exact
    r = a - kf * _C1
    r -= kf * _C2
    with np.errstate(invalid="ignore"):  # NaN: any index, NaN result
        k = kf.astype(np.int64)
    m = np.right_shift(k, _L)  # floor(k / 1024)
    T = _pow2_table().take(np.bitwise_and(k, _N - 1), mode="clip")
    th, tl = T.real, T.imag
    p = r * (1.0 / 24.0) + 1.0 / 6.0
    p = p * r + 0.5
    p = p * (r * r) + r
    return th, th * p + tl, m


def _tail(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) for x <= -40 (and NaN): ``e - e**2`` with ``e = exp(x)
    = 2**m (Th + l)``, ``e < 2**-57.7`` (``e**3`` is dropped).

    ``2**m`` may underflow, so results are scaled by ``2**(m + 128)``
    (exact, normal: ``m >= -1140`` once ``x >= -790``; below, the result is
    0 anyway) and then by ``2**-128``. A normal result is
    ``RN(Th + l') 2**m``, one rounding. A subnormal one is
    ``hs + RN(rem 2**m)``: ``hs`` is ``Th 2**m`` rounded to the subnormal
    grid and ``rem = (Th - hs 2**-m) + l'`` its exact remainder (Sterbenz)
    plus ``l'``; both terms lie on the grid, so their sum is exact and the
    remainder's is the only rounding.
    """
    th, lw, m = _exp_parts(np.maximum(x, -790.0))
    up = np.ldexp(1.0, (m + 128).astype(np.int32))
    down = 2.0**-128
    with np.errstate(under="ignore"):
        # l' = l - Th e: the e**2 term, 2**-57.7 of e at most
        lw -= th * ((th * up) * down)
        y = (th + lw) * up * down
        hs = th * up * down
        rem = (th - hs / down / up) + lw
        sub = (rem * up) * down + hs
    return np.where(np.abs(y) < 2.0**-1022, sub, y)
