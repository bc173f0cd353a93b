"""The validators of the public functions' scalar options: one message
per kind of mistake, naming the option."""

from __future__ import annotations

import numpy as np

__all__ = ["real", "positive", "flag"]


def real(v, name: str) -> float:
    """A real number option as a float: TypeError for strings, bools and
    arrays of more than one value, ValueError for NaN."""
    if type(v) is float and v == v:  # the common call: a float, not NaN
        return v
    if isinstance(v, (str, bytes, bool, np.bool_)) or np.ndim(v) != 0:
        raise TypeError(f"{name} must be a number, got {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be a number, got {v!r}") from None
    if np.isnan(f):
        raise ValueError(f"{name} must be a number, got NaN")
    return f


def positive(v, name: str) -> float:
    v = real(v, name)
    if not (v > 0 and np.isfinite(v)):
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return v


def flag(v, name: str) -> bool:
    """A bool option (True/False, NumPy's bools, 0 or 1); TypeError otherwise."""
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, int) and v in (0, 1)):
        return bool(v)
    raise TypeError(f"{name} must be True or False, got {v!r}")
