"""Inputs spread over a format's values: ordinals (every float equally
likely, as Herbie samples), neighbours of thresholds and named edge cases."""

from __future__ import annotations

import math

import numpy as np

from stabkit.floats import Format, get_format, ordinal, round_float64

__all__ = ["from_ordinal", "ordinal_uniform", "edge_cases", "neighbours", "unique_sorted"]


def from_ordinal(o, fmt) -> np.ndarray:
    """Inverse of :func:`stabkit.floats.ordinal` (0 maps to +0)."""
    f = get_format(fmt)
    o = np.asarray(o, dtype=np.int64)
    sign = np.uint64(1) << np.uint64(f.width - 1)
    bits = np.abs(o).astype(np.uint64) | np.where(o < 0, sign, np.uint64(0))
    return bits.astype(f.unsigned_view).view(f.dtype)


def ordinal_uniform(fmt, n: int, rng: np.random.Generator, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``n`` finite values of ``fmt`` in ``[lo, hi]``, every float equally likely."""
    f = get_format(fmt)
    lo = -f.max if lo is None else max(lo, -f.max)
    hi = f.max if hi is None else min(hi, f.max)
    a, b = (int(ordinal(np.array([v]).astype(f.dtype), f)[0]) for v in (lo, hi))
    if a > b or n <= 0:
        return np.zeros(0, f.dtype)
    return from_ordinal(rng.integers(a, b, size=n, endpoint=True, dtype=np.int64), f)


def neighbours(v: float, f: Format) -> list[float]:
    o = int(ordinal(np.array([v]).astype(f.dtype), f)[0])
    return [float(x) for x in from_ordinal(np.array([o - 1, o, o + 1]), f).astype(np.float64)]


def edge_cases(fmt, thresholds=()) -> np.ndarray:
    """Named edge cases of ``fmt``: +-0, +-1, +-smallest subnormal and normal,
    +-max, +-inf, the overflow and underflow points of ``exp`` in the format,
    and each threshold with its two neighbours."""
    f = get_format(fmt)
    vals = [0.0, -0.0, 1.0, -1.0, f.smallest_subnormal, f.smallest_normal, f.max]
    vals += [math.log(f.max), math.log(f.smallest_subnormal), math.log(f.smallest_normal)]
    vals += [v for t in thresholds if math.isfinite(t) and abs(t) <= f.max for v in neighbours(t, f)]
    vals += [-v for v in vals]
    if f.has_inf:
        vals += [math.inf, -math.inf]
    with np.errstate(over="ignore"):
        return round_float64(np.array(vals), f)


def unique_sorted(x: np.ndarray, f: Format) -> np.ndarray:
    """Distinct values by bit pattern (keeps -0 beside +0), sorted by value."""
    bits = np.unique(np.ascontiguousarray(x.astype(f.dtype)).view(f.unsigned_view))
    v = bits.view(f.dtype)
    return v[np.argsort(v.astype(np.float64), kind="stable")]
