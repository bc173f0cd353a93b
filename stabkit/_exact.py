"""Exact conversions between doubles and mpmath numbers, and the correct
rounding of an mpmath number to a format (re-exported by :mod:`stabkit.floats`).

mpmath is imported on first use, so that importing stabkit stays light.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._formats import get_format

if TYPE_CHECKING:
    import mpmath

__all__ = ["round_to_format", "to_mpf", "exact_mpf"]


def round_to_format(v, fmt) -> float:
    """Round an mpmath number (or anything ``mpf`` accepts exactly) to the
    nearest value of ``fmt``, ties to even, in one step.

    Works on the exact integer significand, so there is no double rounding:
    subnormals are rounded on the subnormal grid, values below half the
    smallest subnormal go to zero (exactly half goes to zero, the even
    neighbour), and values at or above ``max + ulp/2`` overflow to inf (NaN in
    formats without inf). Returns a Python float holding the format's value
    exactly (every format here fits in float64).
    """
    import mpmath

    f = get_format(fmt)
    x = to_mpf(v)
    if x == 0 and isinstance(v, (float, np.floating)):
        return math.copysign(0.0, float(v))  # mpf has no -0: keep a float's sign
    if mpmath.isnan(x):
        return math.nan
    if mpmath.isinf(x):
        return (math.inf if x > 0 else -math.inf) if f.has_inf else math.nan
    sign, man, exp, bc = x._mpf_
    bc = int(bc)
    if man == 0:
        return -0.0 if sign else 0.0
    man, exp = int(man), int(exp)
    e = exp + bc - 1  # floor(log2 |x|)
    if e > f.emax:  # |x| >= 2**(emax+1) > max + ulp/2: overflows
        return (-1 if sign else 1) * (math.inf if f.has_inf else math.nan)
    q = max(e, f.emin) - f.precision + 1  # exponent of the ulp at |x|
    if q - exp > bc:  # |x| < half the quantum: rounds to zero (no huge shifts)
        return -0.0 if sign else 0.0
    if exp >= q:
        n = man << (exp - q)
    else:
        shift = q - exp
        n = man >> shift
        rem = man & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        # round half to even on the exact remainder
        if rem > half or (rem == half and n & 1):
            n += 1
    if n == 0:
        return -0.0 if sign else 0.0
    # n * 2**q < 2**(bits(n) + q): at most 2**1024 - 2**971 when bits + q <=
    # 1024, finite in float64. Past that (float64's max + ulp/2 rounds n up to
    # 2**53 at q = 971) ldexp would raise OverflowError instead of giving inf.
    mag = math.ldexp(n, q) if n.bit_length() + q <= 1024 else math.inf
    if mag > f.max:
        mag = math.inf if f.has_inf else math.nan
    return -mag if sign else mag


def to_mpf(v) -> mpmath.mpf:
    """``v`` as an mpf without rounding. ``mpf(v)`` rounds to the global
    precision (a caller's ``mp.dps = 5`` would round 0.1 to 17 bits), so
    floats and integers are converted through mpmath's exact constructors."""
    import mpmath

    if isinstance(v, mpmath.mpf):
        return v
    if hasattr(v, "_mpf_"):  # an mpf of another context (mpmath.MPContext()): its exact value, not mpf(v)'s rounding
        return mpmath.mp.make_mpf(v._mpf_)
    if isinstance(v, (int, np.integer)):
        return mpmath.mp.make_mpf(mpmath.libmp.from_int(int(v)))
    if isinstance(v, (float, np.generic)):
        return exact_mpf(float(v))
    return mpmath.mpf(v)


_MP = None


def exact_mpf(x: float) -> mpmath.mpf:
    """The double ``x`` as an mpf, exactly (-0.0 becomes 0; NaN and
    infinities map to mpmath's)."""
    global _MP
    if _MP is None:  # mpmath is imported on first use: `import stabkit` stays light
        import mpmath
        from mpmath.libmp import from_man_exp

        _MP = mpmath.mp, from_man_exp
    mp, from_man_exp = _MP
    if x != x:
        return mp.nan
    if math.isinf(x):
        return mp.inf if x > 0 else mp.ninf
    # mpf(float) rounds to the *global* precision (a caller's mp.dps = 5 would
    # round every input to 17 bits), so build it from frexp's mantissa, an
    # integer once scaled by 2**53. Not mpmath's own from_float, which does
    # the same inside a bare `except:`: a Ctrl-C landing there is swallowed
    # and the finite input comes back as NaN.
    m, e = math.frexp(x)
    return mp.make_mpf(from_man_exp(int(m * (1 << 53)), e - 53, 53))
