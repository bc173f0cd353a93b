"""The table of floating-point formats behind :mod:`stabkit.floats`: one
:class:`Format` record per format (precision, exponent range, largest
value), written out so that importing stabkit loads neither ml_dtypes nor
mpmath. Import these names from :mod:`stabkit.floats`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Format", "FORMATS", "ARITH_FORMATS", "get_format", "format_of"]


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: ``precision`` significand bits
    (implicit bit included), normal exponents ``emin..emax``."""

    name: str
    precision: int
    emin: int
    emax: int
    max: float
    smallest_normal: float
    smallest_subnormal: float
    width: int
    has_inf: bool

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (ml_dtypes' for bfloat16 and float8, imported here)."""
        dt = _DTYPES.get(self.name)
        if dt is None:
            import ml_dtypes

            dt = _DTYPES[self.name] = np.dtype(getattr(ml_dtypes, self.name))
        return dt

    @property
    def unsigned_view(self) -> np.dtype:
        return np.dtype(f"u{self.width // 8}")

    def __repr__(self) -> str:
        return f"Format({self.name}: p={self.precision}, emin={self.emin}, emax={self.emax})"


#: dtypes resolved so far; ml_dtypes' are added by ``Format.dtype`` on first use
_DTYPES: dict[str, np.dtype] = {n: np.dtype(n) for n in ("float16", "float32", "float64")}


def _make(name: str, precision: int, emin: int, emax: int, width: int, has_inf: bool = True) -> Format:
    """A format from its layout. The largest value has an all-ones significand,
    but without inf (float8_e4m3fn) that pattern is NaN: one ulp lower."""
    top = (1 << precision) - (1 if has_inf else 2)
    return Format(name, precision, emin, emax, max=math.ldexp(top, emax - precision + 1),
                  smallest_normal=math.ldexp(1.0, emin), smallest_subnormal=math.ldexp(1.0, emin - precision + 1),
                  width=width, has_inf=has_inf)


FORMATS: dict[str, Format] = {
    "float16": _make("float16", 11, -14, 15, 16),
    "bfloat16": _make("bfloat16", 8, -126, 127, 16),
    "float32": _make("float32", 24, -126, 127, 32),
    "float64": _make("float64", 53, -1022, 1023, 64),
    "float8_e4m3fn": _make("float8_e4m3fn", 4, -6, 8, 8, has_inf=False),
    "float8_e5m2": _make("float8_e5m2", 3, -14, 15, 8),
}

#: The formats the function library computes in (inputs and outputs).
ARITH_FORMATS = ("float16", "bfloat16", "float32", "float64")


def get_format(fmt: str | Format | np.dtype | type) -> Format:
    """Look up a format by name, dtype or Format; ValueError names unknown ones."""
    if isinstance(fmt, Format):
        return fmt
    if isinstance(fmt, str):
        if fmt in FORMATS:
            return FORMATS[fmt]
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    dt = np.dtype(fmt)
    f = FORMATS.get(dt.name)
    if f is not None and f.dtype == dt:  # by name first: no ml_dtypes for NumPy's dtypes
        return f
    for f in FORMATS.values():
        if f.dtype == dt:
            return f
    raise ValueError(f"unsupported dtype {dt}; known: {', '.join(FORMATS)}")


def format_of(x) -> Format:
    """The format of an array's dtype."""
    return get_format(np.asarray(x).dtype)
