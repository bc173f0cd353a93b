"""The text of the report's table cells and heatmap labels.

An ulp count is a measure of precision only while some significant digit of
the result is right. Where none is (:func:`stabkit.analysis.stats.classify`:
a flush to 0, a wrong sign, a result too large by a factor), the count also
measures the distance between exponents, and past ``2**p`` ulps (``p`` the
format's precision: every bit wrong) it measures nothing else: dividing by
the ulp of a subnormal result gives 8.5e37 in float32 and overflows to inf
in float64. So a worst case is written as what happened, with its count when
the count is at most ``2**p``; an average or percentile above ``2**p`` is
written ``> 2**p``. report.json keeps every count.
"""

from __future__ import annotations

import math

from stabkit.floats import get_format

__all__ = ["number", "g", "pct", "ceiling", "what", "max_cell", "stat_cell", "compact", "compact_max", "SHORT"]

#: One-glyph marks of the kinds, for the heatmap.
SHORT = {"flush to 0": "\u21920", "wrong sign": "\u00b1", "too large": "\u00d7"}


def number(v) -> float:
    """A JSON number back as a float: None is NaN, "inf"/"-inf" are infinite."""
    return math.nan if v is None else float(v)


def g(v) -> str:
    """Three significant digits; "—" for a missing value, strings as they are."""
    if v is None:
        return "\u2014"
    if isinstance(v, str):
        return v
    return "0" if v == 0 else f"{v:.3g}"


def pct(v) -> str:
    """A share in percent to one decimal, never rounded onto 100.0% or 0.0%
    that it is not (99.97% of the inputs is 99.9%, not 100.0%, beside 8
    failures)."""
    if v is None:
        return "\u2014"
    if 99.95 <= v < 100:
        v = 99.9
    elif 0 < v < 0.05:
        v = 0.1
    return f"{v:.1f}%"


def ceiling(fmt) -> float:
    """``2**p`` ulps: past it no bit of a result is right."""
    return math.ldexp(1.0, get_format(fmt).precision)


def _factor(point: dict) -> float:
    with_exact = abs(number(point["exact"]))
    return math.inf if with_exact == 0 else abs(number(point["value"])) / with_exact


def what(point: dict | None) -> str:
    """"flush to 0", "wrong sign", "too large (×6.3e+30)" or "" for an
    ordinary error (``point``: a worst entry or ``max_point`` of report.json)."""
    kind = (point or {}).get("kind", "")
    if kind != "too large":
        return kind
    f = _factor(point)
    return "too large (exact 0)" if math.isinf(f) else f"too large (\u00d7{f:.3g})" if f < 1e5 else f"too large (\u00d7{f:.2g})"


def ulp_text(v) -> str:
    """An ulp error in three digits, ">0.5" for one just past half an ulp
    (a result that is not the correctly rounded neighbour of an exact value a
    hair past a midpoint, reference.ziv.ABOVE_HALF: three digits would print 0.5)."""
    return ">0.5" if 0.5 < number(v) < 0.5005 else g(v)


def max_cell(v, point: dict | None, fmt) -> str:
    """The worst ulp error of a cell: the count, followed by what happened
    where no digit is right; only what happened past ``2**p`` ulps."""
    kind = what(point)
    if not kind:
        return ulp_text(v)
    x = number(v)
    return f"{g(x)} ({kind})" if x <= ceiling(fmt) else kind


def stat_cell(v, fmt) -> str:
    """An average or percentile of ulp errors; ``> 2**p`` past the ceiling."""
    x = number(v)
    if v is None or math.isnan(x):
        return "\u2014"
    return f"> {g(ceiling(fmt))}" if x > ceiling(fmt) else g(x)


def compact(v: float) -> str:
    """2 significant digits in at most four characters: 0.5, 58, 9e15."""
    if not math.isfinite(v):
        return "inf"
    if v < 100:
        return f"{v:.2g}"
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def compact_max(v: float, point: dict | None, fmt) -> str:
    """The heatmap's form of :func:`max_cell`: "2e6 →0" (flushed to 0),
    "9e15 ±" (wrong sign), "×6e30" (too large, past ``2**p``)."""
    kind = (point or {}).get("kind", "")
    if not kind:
        return compact(v)
    if kind == "too large":
        f = _factor(point)
        mark = "\u00d7" + ("\u221e" if math.isinf(f) else compact(f))
    else:
        mark = SHORT[kind]
    return mark if not v <= ceiling(fmt) else f"{compact(v)} {mark}"
