"""Bit-for-bit comparison of results (the front-door tests, issue 15)."""

from __future__ import annotations

import ml_dtypes
import numpy as np


def is_float(dt: np.dtype) -> bool:
    """One of the float formats (bfloat16's kind is "V", not "f")."""
    return dt.kind == "f" or dt == np.dtype(ml_dtypes.bfloat16)


def same_bits(got, want) -> None:
    """Bit for bit: shape, dtype and every bit (NaN, -0.0 included)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    assert np.array_equal(_bits(got), _bits(want)), (got, want)


def _bits(y: np.ndarray) -> np.ndarray:
    return y.view(f"u{y.dtype.itemsize}") if y.dtype.itemsize > 1 else y
