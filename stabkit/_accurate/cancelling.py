"""Exact fallbacks for the logsumexp rows that cancel: ``m + log1p(s)`` with
a negative maximum about the size of the log term, where float64's error in
the log term is amplified.

Every such row gets its correctly rounded float64 logsumexp (which the
caller rounds to a narrower format, if any): where the extension is built, a
vectorised double-double step in C (``_lse_fast.c``) settles nearly all of
them. The rows it leaves, and every row without the extension, go through
steps that each give the correctly rounded float64 or pass the row on: rows
whose logsumexp is about 0 (log-probabilities) through
:mod:`stabkit._accurate.near_zero`'s exact sums, 80-bit extended precision
where the platform has it, double-double (in C, or
:mod:`stabkit._accurate.double_double`), and MPFR (gmpy2) for what none of
them settles. So a row has the same bits whichever step settles it, with or
without the extension.
"""

from __future__ import annotations

import math

import gmpy2
import numpy as np

from stabkit._native import lserows as _native

from . import double_double as _dd
from . import near_zero as _td
from .eft import rowsum, sum2

#: x86's 80-bit extended format (64-bit significand) where NumPy's longdouble
#: is one; elsewhere (longdouble == double) the extended step is skipped.
EXTENDED = np.finfo(np.longdouble).nmant >= 63
#: Up to this many entries in all, the rows left after the compiled steps go
#: to MPFR directly rather than through the array steps.
MP_DIRECT = 64
#: Rows whose first estimate is below this in magnitude skip the vectorised
#: step: its terms' 2**-77 then spans several ulps of the result, and Ziv's
#: test would turn the row down (it settles results above ~2**-23).
FAST_FLOOR = 2.0**-26


def _lse_extended(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m + log1p(s)`` in the 80-bit extended format (NumPy's longdouble
    loops), rounded to float64, and the rows whose rounding Ziv's test
    certifies (correctly rounded).

    Each shifted logit ``x_i - m`` rounds by at most 2**-64 of itself, so its
    exp by ``2**-64 |x_i - m|`` relative; weighted by the terms, that is below
    ``2**-64 (1 + log n)`` of s. ``expl`` and ``log1pl`` add a few 2**-64, so
    L carries a relative error below 8 * 2**-63 for any n < 2**40, and
    ``out = m + L`` (rounded in the format) is within
    ``B = 2**-60 L + 2**-64 |out|`` of the exact value. Ziv: ``out -+ 2B``
    (twice B, those subtractions round too) round to the same float64 (the
    rows that cancel by up to ~8 mostly do).
    """
    x = rows.astype(np.longdouble)
    r = np.arange(x.shape[0])
    top = np.argmax(x, axis=-1)
    m = x[r, top]
    e = np.exp(x - m[:, None])  # -inf entries give 0
    e[r, top] = 0.0
    L = np.log1p(e.sum(axis=-1))
    out = m + L
    two_b = 2 * (np.ldexp(L, -60) + np.ldexp(np.abs(out), -64))
    lo, hi = (out - two_b).astype(np.float64), (out + two_b).astype(np.float64)
    # equal ends of one sign: a zero's sign is decided too (lo == hi alone
    # takes -0.0 == 0.0)
    ok = (lo == hi) & (np.signbit(lo) == np.signbit(hi))
    return out.astype(np.float64), ok


def logsumexp_cancelling(rows: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
    """The correctly rounded float64 logsumexp of rows where ``m +
    log1p(s)`` cancels: first through :func:`stabkit._native.lserows.fast`
    where the extension runs (~4-6 ns an entry); the rows it leaves, and
    all rows without it, through :func:`_settle`. ``guess``: the rows'
    first float64 values, if the caller has them (rows below
    ``FAST_FLOOR``, log-probabilities, then go straight on to the exact
    sums); they only route, never decide a result."""
    out = np.empty(rows.shape[0])
    todo = np.ones(rows.shape[0], dtype=bool)
    # NaN guesses (never expected) try the fast step
    tried = np.flatnonzero(~(np.abs(guess) < FAST_FLOOR)) if guess is not None else np.arange(rows.shape[0])
    got = _native.fast(rows if tried.size == rows.shape[0] else rows[tried])
    if got is not None:
        val, done = got
        out[tried[done]] = val[done]
        todo[tried[done]] = False
    if todo.any():
        idx = np.flatnonzero(todo)
        out[idx] = _settle(rows[idx], None if guess is None else guess[idx])
    return out


def _settle(rows: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
    """The correctly rounded float64 logsumexp of cancelling rows, every step
    keeping a row only where Ziv's test certifies it, so that the order of
    the steps changes no bit.

    Rows whose value (``guess``, else a float64 estimate within ~2**-40,
    |m| and log1p(s) being below ~60; a misrouted row only costs time) is
    within ``NEAR / 2`` of 0, rows of log-probabilities, go to
    :func:`stabkit._td.lse_near_zero`: ~250 NumPy operations per entry (a
    row of 10**6: 0.1-0.3 s, where MPFR took 3-10 s). The rows left take
    the 80-bit step where the platform has it (:func:`_lse_extended`), then
    the compiled double-double step where the extension runs
    (:func:`stabkit._native.lserows.dd`, ~0.3 us an entry). Then a few rows
    left (``MP_DIRECT`` entries) go to MPFR; more, to double-double in
    NumPy (:func:`_lse_dd`), and MPFR for what that cannot settle.
    """
    out = np.empty(rows.shape[0])
    todo = np.ones(rows.shape[0], dtype=bool)
    # the array paths cost ~0.5 ms of NumPy calls whatever the size, MPFR
    # ~2-6 us per entry: a handful of entries go straight to MPFR
    if rows.size > MP_DIRECT:
        route = guess if guess is not None else _estimate(rows)
        near = np.flatnonzero(np.abs(route) <= _td.NEAR / 2)
        if near.size:
            val, ok = _td.lse_near_zero(rows[near])
            out[near[ok]] = val[ok]
            todo[near[ok]] = False
    if EXTENDED and todo.any():
        idx = np.flatnonzero(todo)
        with np.errstate(all="ignore"):
            val, ok = _lse_extended(rows[idx])
        out[idx[ok]] = val[ok]
        todo[idx[ok]] = False
    if todo.any():
        # the compiled double-double step: correctly rounded, or undecided
        idx = np.flatnonzero(todo)
        got = _native.dd(rows[idx])
        if got is not None:
            val, done = got
            out[idx[done]] = val[done]
            todo[idx[done]] = False
    if todo.any():
        left = rows[todo]
        out[todo] = [_logsumexp_mp(row) for row in left] if left.size <= MP_DIRECT else _lse_dd(left)
    return out


def _estimate(rows: np.ndarray) -> np.ndarray:
    """``m + log1p(s)`` in float64, s without one maximum (routing only)."""
    r = np.arange(rows.shape[0])
    top = np.argmax(rows, axis=-1)
    m = rows[r, top]
    with np.errstate(under="ignore"):
        e = np.exp(rows - m[:, None])  # -inf entries give 0
    e[r, top] = 0.0
    return m + np.log1p(e.sum(axis=-1))


def _lse_dd(rows: np.ndarray) -> np.ndarray:
    """``log(sum(exp(x_i)))`` with every exp, the sum and the log carried to
    ~2**-100, an absolute error below ``B = 2**-96 * (S + 1)``. A row is
    settled where Ziv's test shows the float64 rounding of its value to be
    that of the exact result (the value -+ 2B round alike: no rounding
    boundary within B; twice B because those additions round too), else it
    goes on to MPFR (:func:`_logsumexp_mp`): the float64 result is
    correctly rounded, for every target format."""
    with np.errstate(invalid="ignore", over="ignore"):
        # only -inf can be non-finite here (the maximum is finite): exp -> 0
        x = np.where(np.isfinite(rows), rows, -1000.0)
        eh, el = _dd.exp(x, np.zeros_like(x))
        sh, sl = sum2(eh)
        sl = sl + rowsum(el)
        sh, sl = _dd.fast_two_sum(sh, sl)
        yh, yl = _dd.log(sh, sl)
        out, rest = _dd.two_sum(yh, yl)
        e2 = 2.0 * (2.0**-96 * (sh + 1.0))
        ok = (out + (rest + e2) == out) & (out + (rest - e2) == out)
    if not ok.all():
        out[~ok] = [_logsumexp_mp(row) for row in rows[~ok]]
    return out


#: Working precision (bits) at which :func:`_logsumexp_mp` starts; it doubles
#: until the result settles, up to ``MP_CAP``.
MP_START = 192
#: Precision past which a row is not refined further. Its error bound is then
#: below 2**(4 + log2 n - MP_CAP), far below the least subnormal 2**-1074:
#: the result is 0 to within a fraction of that subnormal, and only the sign
#: of that zero can be unknown (the exact value is never 0: by
#: Lindemann-Weierstrass, a sum of exp of distinct floats is 1 only for the
#: row [0, -inf, ...], which does not cancel).
MP_CAP = 1 << 13


def _logsumexp_mp(row: np.ndarray) -> float:
    """log(sum(exp(row))) of one finite-max row, to float64 through MPFR
    (gmpy2), in a fresh context of its own: thread-safe, whatever the caller
    has done to mpmath's or gmpy2's global state.

    At precision p every exp, the exact-then-rounded sum (``fsum``) and the
    log are correctly rounded, so the sum is off by at most ``2**(1-p)``
    relative and the result by at most ``err = 2**(2-p) + 2**-p |val|``
    absolute. Settled by Ziv's test: ``val -+ 2 err`` (formed at precision
    p, within err of the exact ends) round to the same float64, sign of a
    zero included; then no rounding boundary lies within err of ``val``, and
    ``float(val)`` is the correctly rounded result (subnormal, or a zero of
    known sign, too). Else the precision doubles, to ``MP_CAP``. ``val ==
    0`` (the sum rounded to 1) is never settled: its ends have two signs
    (the exact value is not 0, nor a midpoint between floats).
    """
    vals = [float(v) for v in row[row > -np.inf]]
    prec = MP_START
    while True:
        # a fresh context: default flags, no traps, round to nearest
        with gmpy2.context(precision=prec):
            val = gmpy2.log(gmpy2.fsum([gmpy2.exp(v) for v in vals]))
            err = gmpy2.mul_2exp(gmpy2.mpfr(1), 2 - prec) + gmpy2.mul_2exp(abs(val), -prec)
            lo, hi = float(val - 2 * err), float(val + 2 * err)
            if (lo == hi and math.copysign(1.0, lo) == math.copysign(1.0, hi)) or prec >= MP_CAP:
                # mpfr_get_d: one correct rounding, subnormals included
                return float(val)
        prec *= 2

