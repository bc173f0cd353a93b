"""Exact fallbacks for the logsumexp rows that cancel: ``m + log1p(s)`` with
a negative maximum about the size of the log term, where float64's error in
the log term is amplified. In turn: 80-bit extended precision, mpmath for a
few rows, double-double (:mod:`stabkit._dd`), and mpmath for the rows that
even double-double cannot settle.
"""

from __future__ import annotations

import mpmath
import numpy as np

from . import _dd
from ._eft import rowsum, sum2
from .floats import Format, round_to_format

#: x86's 80-bit extended format (64-bit significand) where NumPy's longdouble
#: is one; elsewhere (longdouble == double) the extended step is skipped.
EXTENDED = np.finfo(np.longdouble).nmant >= 63
#: Largest cancellation factor the extended step may absorb: its result has a
#: relative error below ~8 * 2**-63 before ``m + L``, so at this factor the
#: float64 result gets at most 32 * 2**-60 = 2**-55 (0.25 ulp) of it.
EXTENDED_AMP = 32.0
#: Up to this many entries in all, the rows left after the extended step go
#: to mpmath directly rather than through double-double.
MP_DIRECT = 64


def _lse_extended(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m + log1p(s)`` in the 80-bit extended format, and which rows it
    settles (cancellation factor at most ``EXTENDED_AMP``).

    Each shifted logit ``x_i - m`` rounds by at most 2**-64 of itself, so its
    exp by ``2**-64 |x_i - m|`` relative; weighted by the terms, that is below
    ``2**-64 (1 + log n)`` of s. ``expl`` and ``log1pl`` add a few 2**-64, so
    L carries a relative error below 8 * 2**-63 for any n < 2**40.
    """
    x = rows.astype(np.longdouble)
    r = np.arange(x.shape[0])
    top = np.argmax(x, axis=-1)
    m = x[r, top]
    e = np.exp(x - m[:, None])  # -inf entries give 0
    e[r, top] = 0.0
    L = np.log1p(e.sum(axis=-1))
    out = m + L
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (np.abs(m) + L) <= EXTENDED_AMP * np.abs(out)
    return out.astype(np.float64), ok


def logsumexp_cancelling(rows: np.ndarray, fmt: Format) -> np.ndarray:
    """logsumexp of rows where ``m + log1p(s)`` cancels, to float64.

    First in 80-bit extended precision where the platform has it
    (:func:`_lse_extended`, cheap), for rows that cancel by a factor of at most
    32. A few rows left (``MP_DIRECT`` entries) go to mpmath; more, to
    double-double: ``log(sum(exp(x_i)))`` with every exp, the sum
    and the log carried to ~2**-100, an absolute error below
    ``2**-96 * (S + 1)``. Rows whose result is so small that this bound is not
    below 2**-(p + 12) of it (log-probability rows in float64, whose logsumexp
    is ~1e-17) go on to mpmath.
    """
    out = np.empty(rows.shape[0])
    todo = np.ones(rows.shape[0], dtype=bool)
    if EXTENDED:
        val, ok = _lse_extended(rows)
        out[ok] = val[ok]
        todo = ~ok
    if todo.any():
        left = rows[todo]
        # double-double costs ~0.6 ms of NumPy calls whatever the size, mpmath
        # ~7 us per entry: a handful of entries go straight to mpmath
        out[todo] = [_logsumexp_mp(row) for row in left] if left.size <= MP_DIRECT else _lse_dd(left, fmt)
    return out


def _lse_dd(rows: np.ndarray, fmt: Format) -> np.ndarray:
    """The double-double step of :func:`logsumexp_cancelling`."""
    with np.errstate(invalid="ignore", over="ignore"):
        # only -inf can be non-finite here (the maximum is finite): exp -> 0
        x = np.where(np.isfinite(rows), rows, -1000.0)
        eh, el = _dd.exp(x, np.zeros_like(x))
        sh, sl = sum2(eh)
        sl = sl + rowsum(el)
        sh, sl = _dd.fast_two_sum(sh, sl)
        yh, yl = _dd.log(sh, sl)
        out = yh + yl
        bound = 2.0**-96 * (sh + 1.0)
    ok = bound <= 2.0 ** -(fmt.precision + 12) * np.abs(out)
    if not ok.all():
        out[~ok] = [_logsumexp_mp(row) for row in rows[~ok]]
    return out


def _logsumexp_mp(row: np.ndarray) -> float:
    """log(sum(exp(row))) of one finite-max row, rounded to float64 from mpmath.

    The sum of positive terms at precision p has relative error below
    ``n * 2**(4-p)``, so ``log`` of it is off by at most ``2**(8 + log2 n - p)``
    absolute; precision doubles until that is below 2**-64 of the result.
    """
    vals = [float(v) for v in row if v != -np.inf]
    slack = 8 + len(vals).bit_length()
    prec = 160
    while True:
        with mpmath.workprec(prec):
            val = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in vals))
            if val == 0 or prec >= 8192 or mpmath.mag(val) - 64 > slack - prec:
                return round_to_format(val, "float64")
        prec *= 2
