"""PyTorch's ``softplus(x, beta)`` = ``softplus(beta * x) / beta``, accurately."""

from __future__ import annotations

import numpy as np

from . import double_double as dd
from .double_double import two_prod
from .elementwise import softplus_f64

#: Above this ``t = beta*x`` the result is ``x + softplus(-t)/beta``.
_T_POS = 4.0
#: Above this ``t`` the result is x itself: softplus(-t)/t < e^-750.
_T_X = 750.0
#: Below this ``t`` the result is ``exp(t)/beta`` (softplus(t) = e^t - e^2t/2
#: + ..., and e^-40/2 = 2**-58.7 relative is left out).
_T_NEG = -40.0
#: Below this ``t`` the result is 0: ``e^t/beta < e^t 2**1074 < 2**-1090``,
#: under half the least subnormal for every beta >= 2**-1074.
_T_ZERO = -1500.0


def _exact_product(x: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """``beta*x = t_hi + t_lo`` exactly (TwoProduct), for every finite x and
    beta > 0 whose product is finite and not far below the normal range.

    Veltkamp's split multiplies an operand by 2**27 + 1 and overflows past
    ~2**996, so x and beta are first rescaled to ``x 2**-k`` and ``beta 2**k``
    with k = (e_x - e_beta) // 2 (e = the binary exponent): exact powers of
    two, the product is unchanged and both factors end up within a factor 2
    of sqrt|beta*x| <= 2**513. A scaled factor may fall below 2**-1022 (and
    lose bits) only when |beta*x| < 2**-2000, where t_lo is irrelevant
    (softplus(t) = ln2 + t/2 there). An overflowing product gives t_hi = +-inf
    and t_lo = 0.
    """
    _, ex = np.frexp(x)
    _, eb = np.frexp(beta)
    k = (ex - int(eb)) // 2
    xs = np.ldexp(x, -k)
    bs = np.ldexp(np.float64(beta), k)
    with np.errstate(over="ignore", invalid="ignore"):
        t, t_lo = two_prod(xs, bs)
    t_lo = np.where(np.isfinite(t), t_lo, 0.0)
    return t, t_lo


def _scaled_round(hi: np.ndarray, lo: np.ndarray, s) -> np.ndarray:
    """``(hi + lo) 2**s`` rounded once, for a normalised pair (hi is hi + lo
    rounded to nearest) of normal numbers.

    ``ldexp(hi, s)`` is exact while the result is normal, and then hi is
    already the nearest double. Into the subnormal range it rounds hi a second
    time, and a hi that sits halfway between two subnormals after its own
    rounding would round to even, not to the side lo is on (0.75 ulp). So the
    residual ``d = (hi - ldexp(y, -s)) + lo`` is taken (the difference is exact:
    ldexp(y, -s) is y scaled exactly and within one subnormal step of hi),
    and y moves by one subnormal step when ``|d|`` is past half of it."""
    with np.errstate(over="ignore", under="ignore"):
        y = np.ldexp(hi, s)
        d = (hi - np.ldexp(y, -s)) + lo
        half = np.ldexp(1.0, -1075 - np.asarray(s))
    step = np.where((np.abs(y) < 2.0**-1022) & (np.abs(d) > half), np.copysign(5e-324, d), 0.0)
    return y + step


def softplus_beta_f64(x: np.ndarray, beta: float) -> np.ndarray:
    """``log(1 + exp(beta*x)) / beta`` in float64, for every finite
    ``beta > 0`` and every x (inf -> inf, -inf -> 0, NaN -> NaN).

    ``t = beta*x`` is kept as an exact pair ``t_hi + t_lo``
    (:func:`_exact_product`, which rescales x and beta by powers of two so
    that TwoProduct cannot overflow), and three regimes follow:

    * ``t > 4``: ``softplus(t)/beta = x + softplus(-t)/beta``. x is exact and
      the second term is below 0.5% of it (softplus(-4)/4), so one rounding
      dominates (about 0.51 ulp); it never overflows unless the exact result
      does, even where ``beta*x`` itself overflows. Past ``t = 750`` the
      second term is below e^-750 of x and the result is x.
    * ``-40 <= t <= 4``: softplus amplifies a relative error of its argument
      by ``t*sigmoid(t)/softplus(t)`` (about ``|t|`` for negative t), so the
      whole ``softplus(t) = max(t, 0) + log1p(exp(-|t|))`` is taken in
      double-double from ``t_hi + t_lo`` (no term cancels; ~2**-88
      relative), divided by beta's mantissa and scaled by its power of two
      with one rounding (:func:`_scaled_round`): about 0.5 ulp.
    * ``t < -40``: ``softplus(t)/beta = e^t/beta (1 - e^t/2 + ...)`` and the
      factor in brackets is 1 to 2**-58.7. ``e^t = 2**j e^r`` (Cody-Waite,
      r in double-double, :func:`double_double._reduced`) and
      ``beta = m 2**e`` with m in [0.5, 1): ``(1 + expm1(r))/m`` is a
      double-double in [0.35, 2.9], so nothing is subnormal before the last
      step, ``ldexp(., j - e)`` (exact, or one rounding into the subnormal
      range: :func:`_scaled_round`). Within ~0.55 ulp; below t = -1500 the
      result is 0.

    Contract: <= 2 ulp (float64) for every x and every positive finite
    beta, subnormal results counted in subnormal ulps; measured against
    mpmath: <= 0.51 ulp over beta in {1e-300, 1e-20, 1e-3, 0.1, 1, 10, 1e20,
    1e300, max} and |x| log-spaced over the whole float64 range. The narrow
    formats round this float64 once more.
    """
    x = np.asarray(x, dtype=np.float64)
    beta = float(beta)
    t, t_lo = _exact_product(x, beta)
    y = np.empty_like(x)

    m, e = np.frexp(beta)
    mid = ~((t > _T_POS) | (t < _T_NEG))
    mid &= np.isfinite(t)
    y[np.isnan(t)] = np.nan
    if mid.any():
        th, tl = t[mid], t_lo[mid]
        up = th > 0
        # softplus(t) = max(t, 0) + log1p(exp(-|t|)), all in double-double:
        # exp(-|t|) is in [e^-40, 1] (normal), log1p of it and the sum with
        # t >= 0 do not cancel, so the pair is good to ~2**-88 relative
        ah, al = np.where(up, -th, th), np.where(up, -tl, tl)
        eh, el = dd.exp(ah, al)
        sh, sl = dd.log1p(eh, el)
        ph, pl = dd.add(sh, sl, np.where(up, th, 0.0), np.where(up, tl, 0.0))
        sh, sl = np.where(up, ph, sh), np.where(up, pl, sl)
        # divide by beta's mantissa m in [0.5, 1) only (the quotient stays
        # normal) and apply 2**-e last: one rounding, also into subnormals
        qh, ql = dd.div(sh, sl, np.full_like(sh, m), np.zeros_like(sh))
        y[mid] = _scaled_round(qh, ql, -int(e))

    pos = t > _T_POS
    # past t = 750, softplus(-t)/t < e^-750 is far below half an ulp of x
    y[t > _T_X] = x[t > _T_X]
    pos &= t <= _T_X
    if pos.any():
        # softplus(t) = t + softplus(-t), and t/beta is x exactly; the small
        # term needs no t_lo: its relative error ~|t| 2**-53 is scaled by
        # softplus(-t)/t < 2**-57 relative to x. With beta = m 2**e the sum
        # is formed as x 2**e + softplus(-t)/m (x 2**e = t/m in (4, 1500]:
        # exact and normal) and scaled by 2**-e last, so that a small term
        # in the subnormal range is not rounded on its own before the sum
        sh, sl = dd.two_sum(np.ldexp(x[pos], int(e)), softplus_f64(-t[pos]) / m)
        y[pos] = _scaled_round(sh, sl, -int(e))

    neg = (t < _T_NEG) & (t >= _T_ZERO)
    y[t < _T_ZERO] = 0.0
    if neg.any():
        # t = j ln2 + r with |j| <= 2165 here: j*ln2 is exact in its first two
        # pieces (32-bit head, TwoProduct), the third errs by ~2**-180
        j, eh, el = dd._reduced(t[neg], t_lo[neg])
        # e^r = 1 + expm1(r) in [0.7, 1.42]: a normal double-double
        fh, fl = dd.add(np.ones_like(eh), np.zeros_like(eh), eh, el)
        # e^t/beta = (e^r/m) 2**(j - e): divide by the mantissa only, so the
        # quotient (in [0.35, 2.9]) is normal; the power of two comes last,
        # and ldexp rounds once if the result is subnormal
        qh, ql = dd.div(fh, fl, np.full_like(fh, m), np.zeros_like(fh))
        y[neg] = _scaled_round(qh, ql, j - int(e))
    return y
