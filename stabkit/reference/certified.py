"""A fast certified reference tier for the one-argument functions.

sigmoid, log_sigmoid and softplus are evaluated in double-double arithmetic
(:mod:`stabkit._accurate.double_double`), which uses only IEEE additions, multiplications,
divisions and exact scalings (plus a float64 ``log1p`` as the Newton starting
point, whose own error only enters squared). The error bound, from the
double-word bounds of Joldes, Muller & Popescu (ACM TOMS 44, 2017), is below
2**-88 relative for every input with ``|x| <= 640``; this module uses
``EPS = 2**-80``, a margin of 256.

A point is *certified* when the whole interval ``v * (1 +- EPS)`` rounds to
one value of the target format; everything else (about one point in 2**27 for
float64 targets, none in practice for the narrower formats) is returned
uncertified, for the mpmath engine to settle. Outside ``|x| <= 640`` the
asymptotics decide where they can be proven (``sigmoid(x) = 1 - e`` and
``softplus(x) = x + e`` with ``0 < e < 2**-920``, which changes nothing in any
format; results below 2**-920 round to 0 in every format but float64, and
below e**-745.2 in float64 too), and the rest (float64 results in
``(2.5e-324, 1e-278)``) go to mpmath.
"""

from __future__ import annotations

import numpy as np

from stabkit._accurate import double_double as _dd
from stabkit.floats import Format, get_format, round_float64, ulp

__all__ = ["EPS", "CERTIFIED", "evaluate"]

EPS = 2.0**-80
_EDGE = 640.0
CERTIFIED = ("sigmoid", "log_sigmoid", "softplus")


def _sigmoid_dd(x):
    # e = exp(-|x|) in (0, 1]; 1/(1+e) for x >= 0, e/(1+e) below: no cancellation
    e_h, e_l = _dd.exp(-np.abs(x), np.zeros_like(x))
    d_h, d_l = _dd.add(np.ones_like(x), np.zeros_like(x), e_h, e_l)
    pos = x >= 0
    n_h = np.where(pos, 1.0, e_h)
    n_l = np.where(pos, 0.0, e_l)
    return _dd.div(n_h, n_l, d_h, d_l)


def _softplus_dd(x):
    # max(x, 0) + log1p(exp(-|x|)): two non-negative terms
    e_h, e_l = _dd.exp(-np.abs(x), np.zeros_like(x))
    l_h, l_l = _dd.log1p(e_h, e_l)
    return _dd.add(np.maximum(x, 0.0), np.zeros_like(x), l_h, l_l)


def _value(name: str, x: np.ndarray):
    if name == "sigmoid":
        return _sigmoid_dd(x)
    if name == "softplus":
        return _softplus_dd(x)
    h, lo = _softplus_dd(-x)
    return -h, -lo


def _certify_narrow(vh, vl, eps, f: Format):
    """Round v = vh + vl to a format narrower than float64 when the whole
    interval [v - eps, v + eps] rounds to one value. The float64 ends are
    widened by one float64 ulp to cover their own rounding, which is far
    below the target's spacing."""
    a = np.nextafter(vh + (vl - eps), -np.inf)
    b = np.nextafter(vh + (vl + eps), np.inf)
    ra = round_float64(a, f).astype(np.float64)
    rb = round_float64(b, f).astype(np.float64)
    return ra, (ra == rb) | (np.isnan(ra) & np.isnan(rb))


def _certify_float64(vh, vl, eps):
    """Round v = vh + vl (normalised, so vh = RN(v) unless |vl| is exactly half
    an ulp) to float64 when v is more than eps from every float64 midpoint.
    The nearest midpoints are vh +- ulp(vh)/2, or ulp(vh)/4 below a power of
    two when vl pulls v below it."""
    u = np.asarray(ulp(vh, "float64"))
    m, _ = np.frexp(np.abs(vh))
    toward_zero = np.sign(vl) == -np.sign(vh)
    half = np.where((m == 0.5) & toward_zero & (np.abs(vh) > 2.0**-1021), u / 4, u / 2)
    dist = half - np.abs(vl)
    return vh.copy(), dist > eps


def evaluate(name: str, x, fmt) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Certified references of an elementwise function at ``x`` (already in
    ``fmt``): (rounded as float64, hi, lo, certified mask)."""
    f = get_format(fmt)
    x = np.asarray(x).astype(np.float64).ravel()
    n = x.size
    rounded, hi, lo = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    ok = np.zeros(n, bool)
    inner = np.abs(x) <= _EDGE
    with np.errstate(all="ignore"):
        vh, vl = _value(name, x[inner])
        eps = EPS * np.abs(vh)
        if f.name == "float64":
            r, good = _certify_float64(vh, vl, eps)
        else:
            r, good = _certify_narrow(vh, vl, eps, f)
    idx = np.flatnonzero(inner)
    rounded[idx], hi[idx], lo[idx], ok[idx] = r, vh, vl, good
    _outer(name, x, f, rounded, hi, lo, ok)
    return rounded, hi, lo, ok


def _outer(name, x, f: Format, rounded, hi, lo, ok) -> None:
    """|x| > 640 and non-finite x, from the asymptotics."""
    big, small = x > _EDGE, x < -_EDGE  # inf included; NaN in neither
    # e**x < 2**-1075 (half float64's smallest subnormal) for x < -745.14, so
    # results below that round to 0 even in float64
    tiny = x < -745.2
    nan = np.isnan(x)
    rounded[nan], hi[nan], ok[nan] = np.nan, np.nan, True
    # softplus(x) = x + e and sigmoid(x) = 1 - e with 0 < e < 2**-920 for
    # x > 640: both round to x (resp. 1) in every format, since x is already
    # a value of the format and e is far below half its ulp
    if name == "sigmoid":
        rounded[big], hi[big], ok[big] = 1.0, 1.0, True
        # sigmoid(x) < 2**-920 for x < -640: 0 in every format but float64
        zero = small if f.name != "float64" else tiny
        rounded[zero], hi[zero], ok[zero] = 0.0, 0.0, True
        inf = x == -np.inf
        rounded[inf], hi[inf], ok[inf] = 0.0, 0.0, True
    else:
        up, down = (big, small) if name == "softplus" else (small, big)
        s = 1.0 if name == "softplus" else -1.0
        rounded[up], hi[up], ok[up] = x[up], x[up], True
        zero = down if f.name != "float64" else down & (s * x < -745.2)
        rounded[zero], hi[zero], ok[zero] = s * 0.0, s * 0.0, True
        inf = np.isinf(x) & down
        rounded[inf], hi[inf], ok[inf] = s * 0.0, s * 0.0, True
