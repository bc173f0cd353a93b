"""Floating-point formats, correct rounding and error metrics.

Every format is described by one :class:`Format` record: precision, exponent
range and largest value, written out here so that importing stabkit loads
neither ml_dtypes (over half a second) nor mpmath; a test checks every number
against NumPy's or ml_dtypes' ``finfo``. ``Format.dtype`` imports ml_dtypes the
first time a bfloat16 or float8 dtype is needed. The error metrics follow the
conventions of libm testing and of Herbie:

* ulp error ``|y - exact| / ulp(exact)``, where ``exact`` is the
  high-precision value (0.5 means correctly rounded);
* bits of error ``log2(1 + ordinal distance)`` between ``y`` and the correctly
  rounded reference;
* a NaN or an infinity where the exact value is finite is a *failure*,
  reported separately and never averaged.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from ._exact import round_to_format
from ._exact import to_mpf as _exact_mpf
from ._formats import ARITH_FORMATS, FORMATS, Format, format_of, get_format
from ._native import rounding as _rounding

if TYPE_CHECKING:
    import mpmath

__all__ = [
    "Format",
    "FORMATS",
    "ARITH_FORMATS",
    "get_format",
    "format_of",
    "ulp",
    "ordinal",
    "ordinal_distance",
    "bits_of_error",
    "ulp_error",
    "is_failure",
    "round_to_format",
    "round_float64",
    "split_exact",
    "subnormal_tail",
    "enumerate_format",
]


# ---------------------------------------------------------------- ulp


def ulp(x, fmt) -> np.ndarray | float:
    """Spacing of ``fmt`` at magnitude ``|x|``: ``2**(max(e, emin) - p + 1)``
    with ``e = floor(log2 |x|)``.

    ``ulp(0)`` is the smallest subnormal; magnitudes past the largest finite
    value keep the top binade's spacing; ``ulp(inf)`` is inf, ``ulp(nan)`` nan.
    Accepts floats, arrays (read as float64) and mpmath numbers.
    """
    f = get_format(fmt)
    if _is_mpf(x):
        import mpmath

        if not mpmath.isfinite(x):
            return math.inf if mpmath.isinf(x) else math.nan
        e = _mpf_exponent(x) if x != 0 else f.emin
        e = min(max(e, f.emin), f.emax)
        return math.ldexp(1.0, e - f.precision + 1)
    a = np.abs(np.asarray(x, dtype=np.float64))
    _, E = np.frexp(a)
    e = np.clip(np.where(a == 0, f.emin, E.astype(np.int64) - 1), f.emin, f.emax)
    out = np.ldexp(1.0, e - f.precision + 1)
    out = np.where(np.isfinite(a), out, a)  # inf -> inf, nan -> nan
    return out if out.ndim else float(out)


def _is_mpf(x) -> bool:
    """Whether ``x`` is an mpmath number, without importing mpmath: while
    nothing has imported it, nothing can be one."""
    mp = sys.modules.get("mpmath")
    return mp is not None and isinstance(x, mp.mpf)


def _mpf_exponent(x: mpmath.mpf) -> int:
    """floor(log2 |x|) of a finite nonzero mpf, exactly."""
    sign, man, exp, bc = x._mpf_
    return int(exp) + int(bc) - 1


# ---------------------------------------------------------------- ordinals


def ordinal(x, fmt=None) -> np.ndarray:
    """Monotone integer index of each value in its format: consecutive floats
    differ by 1, ``+0`` and ``-0`` both map to 0, ``inf`` is one past the
    largest finite value. NaNs get no meaningful ordinal (mask them first)."""
    f = get_format(fmt) if fmt is not None else format_of(x)
    # (no ascontiguousarray: it turns a 0-d array into shape (1,); a view to
    # an unsigned type of the same width works for any strides)
    a = np.asarray(x).astype(f.dtype)
    # Work on the unsigned bit patterns: float64's sign bit is 2**63, and
    # forming 2**63 - 1 in int64 overflows. The magnitude bits (< 2**63) fit
    # in int64 and are ordered like the magnitudes.
    bits = a.view(f.unsigned_view).astype(np.uint64)
    mag = (bits & np.uint64((1 << (f.width - 1)) - 1)).astype(np.int64)
    return np.where(bits >> np.uint64(f.width - 1) != 0, -mag, mag)


def ordinal_distance(a, b, fmt=None) -> np.ndarray:
    """Number of representable values between ``a`` and ``b`` (0 when equal,
    counting ``+0 == -0``), as unsigned 64-bit integers."""
    f = get_format(fmt) if fmt is not None else format_of(a)
    oa, ob = ordinal(a, f), ordinal(b, f)
    # float64 ordinals span +-(2**63 - 2**52): from -max to +max is almost
    # 2**64 steps, past int64. Subtracting the smaller from the larger modulo
    # 2**64 (uint64 wrap-around) gives the exact distance.
    lo, hi = np.minimum(oa, ob).astype(np.uint64), np.maximum(oa, ob).astype(np.uint64)
    with np.errstate(over="ignore"):
        return np.asarray(hi - lo)


def bits_of_error(y, rounded_reference, fmt=None) -> np.ndarray:
    """Herbie's bits of error, ``log2(1 + ordinal distance)``: 0 for the
    correctly rounded value, up to the format's width for garbage. NaN where
    either side is NaN."""
    f = get_format(fmt) if fmt is not None else format_of(y)
    y = np.asarray(y).astype(f.dtype)
    r = np.asarray(rounded_reference).astype(f.dtype)
    nan = np.isnan(y.astype(np.float64)) | np.isnan(r.astype(np.float64))
    d = ordinal_distance(np.where(nan, 0, y).astype(f.dtype), np.where(nan, 0, r).astype(f.dtype), f)
    out = np.log2(1.0 + d.astype(np.float64))
    return np.where(nan, np.nan, out)


# ---------------------------------------------------------------- ulp error


def split_exact(v: mpmath.mpf) -> tuple[float, float]:
    """Represent a high-precision value as a float64 pair ``hi + lo``:
    ``hi`` is ``v`` correctly rounded to float64 and ``lo`` the rounded
    remainder, enough to measure errors of float64 results to ~2**-100."""
    import mpmath

    hi = round_to_format(v, "float64")
    if not math.isfinite(hi):
        return hi, 0.0
    # v - hi is exact: both are binary numbers within a factor of two
    lo = round_to_format(mpmath.fsub(v, _exact_mpf(hi), exact=True), "float64")
    return hi, lo


def _ulp_of_exact(hi: np.ndarray, lo: np.ndarray, f: Format) -> np.ndarray:
    """ulp in format ``f`` of the exact value ``hi + lo``. Where ``hi`` is a
    power of two and ``lo`` pulls the value below it, the exact value sits in
    the binade below, whose ulp is half as large."""
    u = np.asarray(ulp(hi, f))
    m, _ = np.frexp(np.abs(hi))
    below = (m == 0.5) & (np.sign(lo) == -np.sign(hi)) & (lo != 0)
    # The float64 just below |hi| = 2**e lies in [2**(e-1), 2**e), the exact
    # value's binade. (|hi| * (1 - 2**-60) would not do: 1 - 2**-60 rounds to
    # 1.0 in float64, which left the ulp of the binade above.)
    smaller = np.asarray(ulp(np.nextafter(np.abs(hi), 0.0), f))
    return np.where(below, smaller, u)


#: 2**1074 as two exact factors (2**1074 itself overflows float64): float64's
#: smallest subnormal is 1/_SUB_SCALE
_SUB_SCALE = 2.0**1000
_SUB_SCALE2 = 2.0**74


#: Below this ``hi``, ``lo`` falls below float64's normal range and keeps
#: fewer than 53 bits (none for subnormal ``hi``): see :func:`subnormal_tail`
TAIL_BELOW = 2.0**-969


def subnormal_tail(v: mpmath.mpf, hi: float, lo: float) -> float:
    """What float64 pairs cannot hold of a value whose ``hi`` is below
    ``TAIL_BELOW`` (2**-969), where ``lo`` is rounded to the subnormal grid
    (it is 0 for a subnormal ``hi``): ``(v - hi - lo) * 2**1074``, in units
    of the smallest subnormal, |tail| <= 1/2. 0 for larger or non-finite
    ``hi``."""
    if not math.isfinite(hi) or abs(hi) >= TAIL_BELOW:
        return 0.0
    import mpmath

    rest = mpmath.fsub(mpmath.fsub(v, _exact_mpf(hi), exact=True), _exact_mpf(lo), exact=True)
    return round_to_format(mpmath.ldexp(rest, 1074), "float64")


def ulp_error(y, exact_hi, exact_lo=None, fmt=None, exact_tail=None) -> np.ndarray:
    """``|y - exact| / ulp(exact)`` in the format of ``y`` (or ``fmt``).

    ``exact`` is given as float64 pairs (see :func:`split_exact`), plus, for
    exact values below float64's normal range, the ``exact_tail`` that the
    pair cannot hold (see :func:`subnormal_tail`; without it a float64
    result below 2**-969 is measured against a ``lo`` rounded to the
    subnormal grid, up to 0.5 ulp off).
    Returns ``inf`` where ``y`` is NaN/inf but ``exact`` is finite (a
    failure, see :func:`is_failure`), 0 where both are the same infinity,
    and NaN where ``exact`` is NaN.
    """
    f = get_format(fmt) if fmt is not None else format_of(y)
    y64 = np.asarray(y).astype(np.float64)
    hi = np.asarray(exact_hi, dtype=np.float64)
    lo = np.zeros_like(hi) if exact_lo is None else np.asarray(exact_lo, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        # y - hi is exact when y and hi are within a factor of two (Sterbenz);
        # otherwise the error is large and its last bits do not matter.
        d = (y64 - hi) - lo
        u = _ulp_of_exact(hi, lo, f)
        if exact_tail is None:
            err = np.abs(d) / u
        else:
            # below 2**-1022 the difference is a multiple of 2**-1074, and
            # so is ulp: both scale up exactly, and the tail joins them there
            t = np.asarray(exact_tail, dtype=np.float64)
            small = (t != 0) & (np.abs(d) < 2.0**-1000)
            ds = np.where(small, d, 0.0) * _SUB_SCALE * _SUB_SCALE2
            scaled = np.abs(ds - t) / (u * _SUB_SCALE * _SUB_SCALE2)
            err = np.where(small, scaled, np.abs(d) / u)
    finite_exact = np.isfinite(hi)
    err = np.where(finite_exact & ~np.isfinite(y64), np.inf, err)
    same_inf = np.isinf(hi) & (y64 == hi)
    err = np.where(same_inf, 0.0, err)
    err = np.where(np.isinf(hi) & ~same_inf, np.inf, err)
    err = np.where(np.isnan(hi), np.nan, err)
    return err


def is_failure(y, exact_hi) -> np.ndarray:
    """True where ``y`` is NaN or infinite but the exact value is finite, or
    ``y`` is not the exact infinity."""
    y64 = np.asarray(y).astype(np.float64)
    hi = np.asarray(exact_hi, dtype=np.float64)
    bad_finite = np.isfinite(hi) & ~np.isfinite(y64)
    bad_inf = np.isinf(hi) & (y64 != hi)
    return bad_finite | bad_inf


# ---------------------------------------------------------------- rounding


def round_float64(x, fmt, *, out: np.ndarray | None = None) -> np.ndarray:
    """Round float64 values to ``fmt`` once, ties to even, and return them in
    that format's dtype (or write them into ``out``, an array of that dtype
    and ``x``'s shape, and return it).

    Needed because ml_dtypes before 0.7 converts float64 to bfloat16 through
    float32, rounding twice (1 + 2**-8 + 2**-30 becomes 1.0, not 1 + 2**-7;
    checked with 0.4.1, 0.5.1, 0.5.4 and 0.6.0; 0.7.0 rounds once), and the
    result must not depend on the installed version.
    ``x / ulp`` and ``rint(...) * ulp`` are exact (power-of-two scaling on
    values that stay in float64's normal range), so the only rounding is the
    ``rint``, which rounds half to even.
    float16 and bfloat16 run the compiled kernel of
    :mod:`stabkit._native.rounding` where it is available, bit-identical to
    this NumPy code (NaNs included), which runs otherwise and with
    ``STABKIT_NATIVE=0``.
    """
    f = get_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    if f.name == "float64":
        return _into(out, x.copy())
    if f.name in _rounding.FORMATS:
        y = _rounding.convert(x, f.name, f.dtype, lambda v: _round_numpy(v, f), out)
        if y is not None:
            return y
    return _into(out, _round_numpy(x, f))


def _into(out: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    if out is None:
        return y
    out[...] = y
    return out


def _round_numpy(x: np.ndarray, f: Format) -> np.ndarray:
    """:func:`round_float64`'s NumPy code: the fallback, and the oracle the
    compiled kernel is checked against."""
    if f.name == "float32" or f.name == "float16":
        # NumPy's float64 -> float32/float16 casts round once (IEEE conversion).
        with np.errstate(over="ignore"):
            return x.astype(f.dtype)
    q = np.asarray(ulp(x, f))
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.rint(x / q) * q
        r = np.where(np.isfinite(x), r, x)
        too_big = np.abs(r) > f.max
        r = np.where(too_big, np.copysign(np.inf if f.has_inf else np.nan, x), r)
        return r.astype(f.dtype)


# ---------------------------------------------------------------- enumeration


def enumerate_format(fmt, *, include_nan: bool = False, include_negative_zero: bool = True) -> np.ndarray:
    """Every value of an 8- or 16-bit format, in bit-pattern order, as an
    array of that format's dtype (NaNs left out unless asked for)."""
    f = get_format(fmt)
    if f.width > 16:
        raise ValueError(f"{f.name} has 2**{f.width} values; enumerate only 8- and 16-bit formats")
    bits = np.arange(2**f.width, dtype=np.uint64).astype(f.unsigned_view)
    vals = bits.view(f.dtype)
    keep = np.ones(vals.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        wide = vals.astype(np.float64)
    if not include_nan:
        keep &= ~np.isnan(wide)
    if not include_negative_zero:
        keep &= ~((wide == 0) & np.signbit(wide))
    return vals[keep]
