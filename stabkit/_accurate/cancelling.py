"""Exact fallbacks for the logsumexp rows that cancel: ``m + log1p(s)`` with
a negative maximum about the size of the log term, where float64's error in
the log term is amplified.

For a float64 result every row is correctly rounded: the compiled
double-double step (``_lse_fast.c``, vectorised) settles nearly all of them
where the extension runs; the rows it leaves, and every row without it, go
through steps that each give the correctly rounded float64 or pass the row
on (80-bit extended precision, rows whose logsumexp is about 0 through
:mod:`stabkit._accurate.near_zero`'s exact sums, double-double in C or
:mod:`stabkit._accurate.double_double`, and MPFR), so a row has the same
bits whichever settles it. For narrower results (rounded from the float64
value afterwards) the extended and near-zero steps accept within their
error bounds, as before.
"""

from __future__ import annotations

import math

import gmpy2
import numpy as np

from stabkit._native import extended as _native_extended
from stabkit.floats import Format

from . import double_double as _dd
from . import near_zero as _td
from .eft import rowsum, sum2

#: x86's 80-bit extended format (64-bit significand) where NumPy's longdouble
#: is one; elsewhere (longdouble == double) the extended step is skipped.
EXTENDED = np.finfo(np.longdouble).nmant >= 63
#: Largest cancellation factor the extended step may absorb: its result has a
#: relative error below ~8 * 2**-63 before ``m + L``, so at this factor the
#: float64 result gets at most 32 * 2**-60 = 2**-55 (0.25 ulp) of it.
EXTENDED_AMP = 32.0
#: Up to this many entries in all, the rows left after the extended step go
#: to MPFR directly rather than through double-double.
MP_DIRECT = 64


def _lse_extended(rows: np.ndarray, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``m + log1p(s)`` in the 80-bit extended format, and which rows it
    settles: with ``exact``, those whose float64 rounding Ziv's test
    certifies (correctly rounded); else those that cancel by a factor of at
    most ``EXTENDED_AMP`` (within 0.75 ulp).

    Each shifted logit ``x_i - m`` rounds by at most 2**-64 of itself, so its
    exp by ``2**-64 |x_i - m|`` relative; weighted by the terms, that is below
    ``2**-64 (1 + log n)`` of s. ``expl`` and ``log1pl`` add a few 2**-64, so
    L carries a relative error below 8 * 2**-63 for any n < 2**40, and
    ``out = m + L`` (rounded in the format) is within
    ``B = 2**-60 L + 2**-64 |out|`` of the exact value. Ziv: ``out -+ 2B``
    (twice B, those subtractions round too) round to the same float64.
    """
    x = rows.astype(np.longdouble)
    r = np.arange(x.shape[0])
    top = np.argmax(x, axis=-1)
    m = x[r, top]
    e = np.exp(x - m[:, None])  # -inf entries give 0
    e[r, top] = 0.0
    L = np.log1p(e.sum(axis=-1))
    out = m + L
    if exact:
        two_b = 2 * (np.ldexp(L, -60) + np.ldexp(np.abs(out), -64))
        lo, hi = (out - two_b).astype(np.float64), (out + two_b).astype(np.float64)
        # equal ends of one sign: a zero's sign is decided too (lo == hi
        # alone takes -0.0 == 0.0)
        ok = (lo == hi) & (np.signbit(lo) == np.signbit(hi))
        return out.astype(np.float64), ok
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (np.abs(m) + L) <= EXTENDED_AMP * np.abs(out)
    return out.astype(np.float64), ok


#: Rows whose first estimate is below this in magnitude skip the vectorised
#: step: its terms' 2**-77 then spans several ulps of the result, and Ziv's
#: test would turn the row down (it settles results above ~2**-23).
FAST_FLOOR = 2.0**-26


def logsumexp_cancelling(rows: np.ndarray, fmt: Format, guess: np.ndarray | None = None) -> np.ndarray:
    """logsumexp of rows where ``m + log1p(s)`` cancels, to float64:
    correctly rounded where ``fmt`` is float64 (first through
    :func:`stabkit._native.extended.lse_rows_fast` where the extension
    runs: ~4-6 ns an entry; the rows it leaves, and all rows without it,
    through :func:`_settle`), else :func:`_settle`'s value for ``fmt``.
    ``guess``: the rows' first float64 values, if the caller has them (rows
    of log-probabilities, below ``FAST_FLOOR``, then go straight on to the
    exact sums); they only route, never decide a result."""
    out = np.empty(rows.shape[0])
    exact = fmt.name == "float64"
    todo = np.ones(rows.shape[0], dtype=bool)
    if exact:
        # NaN guesses (never expected) try the fast step
        tried = np.flatnonzero(~(np.abs(guess) < FAST_FLOOR)) if guess is not None else np.arange(rows.shape[0])
        got = _native_extended.lse_rows_fast(rows if tried.size == rows.shape[0] else rows[tried])
        if got is not None:
            val, done = got
            out[tried[done]] = val[done]
            todo[tried[done]] = False
    if todo.any():
        idx = np.flatnonzero(todo)
        out[idx] = _settle(rows[idx], fmt, exact, None if guess is None else guess[idx])
    return out


def _settle(rows: np.ndarray, fmt: Format, exact: bool, guess: np.ndarray | None = None) -> np.ndarray:
    """logsumexp of cancelling rows, to float64, every step correctly
    rounded where ``exact`` (a float64 result).

    Where the platform has 80-bit extended precision, every row first takes
    that step (:func:`_extended`: C, or NumPy's longdouble loops; cheap),
    which settles the rows that cancel by a factor of at most 32. Rows whose
    value ``m + log1p(s)`` (the extended step's, else a float64 estimate
    within ~2**-40, |m| and log1p(s) being below ~60; a misrouted row only
    costs time) is within ``NEAR / 2`` of 0, rows of log-probabilities, go
    to :func:`stabkit._td.lse_near_zero`, whose result replaces the
    extended step's: ~250 NumPy operations per entry (a row of 10**6:
    0.1-0.3 s, where MPFR took 3-10 s). With ``exact`` both steps accept
    only what Ziv's test certifies, and the order is free: the rows are
    routed by ``guess`` (else the float64 estimate), and the extended step
    (NumPy's: the C twin gives only the float64 value, not the 80-bit one
    the test needs) takes only the rows the exact sums leave. The rows left take the compiled
    double-double step where the extension runs
    (:func:`stabkit._native.extended.lse_rows_dd`, ~0.3 us an entry). Then
    a few rows left (``MP_DIRECT`` entries) go to MPFR; more, to
    double-double in NumPy (:func:`_lse_dd`), and MPFR for what that cannot
    settle. Each of these last steps gives the correctly rounded float64
    (Ziv's rounding test) or passes the row on, so a row has the same bits
    whichever of them settles it, with or without the extension (the
    extended and near-zero steps run the same way with or without it).
    """
    out = np.empty(rows.shape[0])
    todo = np.ones(rows.shape[0], dtype=bool)
    ext = _extended(rows) if EXTENDED and not exact else None
    # the array paths cost ~0.5 ms of NumPy calls whatever the size, MPFR
    # ~2-6 us per entry: a handful of entries go straight to MPFR
    if rows.size > MP_DIRECT:
        # routed by the extended step's value where there is one (within
        # ~2**-58 of the exact value; the float64 estimate is within ~2**-40)
        route = ext[0] if ext is not None else guess if guess is not None else _estimate(rows)
        near = np.flatnonzero(np.abs(route) <= _td.NEAR / 2)
        if near.size:
            val, ok = _td.lse_near_zero(rows[near], fmt)
            out[near[ok]] = val[ok]
            todo[near[ok]] = False
    if exact and EXTENDED and todo.any():
        idx = np.flatnonzero(todo)
        val, ok = _lse_extended(rows[idx], exact=True)
        out[idx[ok]] = val[ok]
        todo[idx[ok]] = False
    if ext is not None:
        val, ok = ext
        ok &= todo
        out[ok] = val[ok]
        todo &= ~ok
    if todo.any():
        # the compiled double-double step: correctly rounded, or undecided
        idx = np.flatnonzero(todo)
        got = _native_extended.lse_rows_dd(rows[idx])
        if got is not None:
            val, done = got
            out[idx[done]] = val[done]
            todo[idx[done]] = False
    if todo.any():
        left = rows[todo]
        out[todo] = [_logsumexp_mp(row) for row in left] if left.size <= MP_DIRECT else _lse_dd(left)
    return out


def _extended(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_lse_extended`'s values, from its C twin where that runs
    (:mod:`stabkit._native.extended`: the same bits, checked against this
    NumPy step), else from the NumPy step."""
    got = _native_extended.lse_extended(rows, _lse_extended)
    return got if got is not None else _lse_extended(rows)


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


_native_extended.register(_lse_extended)  # kernels() reports the C step's check
