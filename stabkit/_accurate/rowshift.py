"""The first step of :class:`stabkit._accurate.rows.Rows`: the shift of a
block of rows by their maxima, ``d = x - m`` (and, for float64 targets, its
exact error ``r``), and the terms ``e = exp(d)``.

Wide rows (more than NARROW columns) whose maxima are all finite take the
compiled passes of :mod:`stabkit._native.rows` where they are built: float64
rows (float64 targets, and the float16 and bfloat16 rows that
:mod:`stabkit.accurate` converts to float64) in ``shift_rows``, float32 rows
in ``shift32_rows``, both the same bits as the NumPy passes below; np.exp
stays NumPy's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stabkit._native import rows as native

from .eft import NARROW, rowmax, shift_err


class Shift(NamedTuple):
    """What the shift leaves: ``top`` (each row's first maximum, for wide
    rows; None for narrow ones), ``m``, ``d``, ``r`` (None without
    ``exact``), ``e``, ``finite`` (the rows whose maximum is finite),
    ``dmin`` (the rows' least ``d`` where the float32 kernel found it, else
    None) and ``native`` (whether the compiled passes ran)."""

    top: np.ndarray | None
    m: np.ndarray
    d: np.ndarray
    r: np.ndarray | None
    e: np.ndarray
    finite: np.ndarray
    dmin: np.ndarray | None
    native: bool


def spelled_out(col: np.ndarray, n: int, scratch: np.ndarray) -> np.ndarray:
    """``col`` (one value per row) repeated across n columns: in ``scratch``
    for wide rows, as a new array for narrow ones. With a fresh 1 MB array
    per block, Rows() measured 2x slower in one arrangement of the frees
    (the allocator giving the heap top back and faulting it in again, it
    seems); a column copied into 10-wide rows is 1.5x slower than np.repeat,
    and those blocks are few."""
    if n > NARROW:
        np.copyto(scratch, col[:, None])
        return scratch
    return np.repeat(col[:, None], n, axis=1)


def shift_block(x: np.ndarray, exact: bool, D, E, R, S1, S2) -> Shift:
    """The shift of the 2-d block ``x`` (float64, or float32 without
    ``exact``) into the workspace arrays ``D`` (d), ``E`` (e), ``R`` (r) with
    the scratch ``S1``, ``S2``; rows whose maximum is not finite are shifted
    by 0, so that nothing raises (the callers patch them)."""
    n_rows, n = x.shape
    top = m = dmin = None
    fused = None
    if n > NARROW and x.dtype == np.float64:
        # the first maximum of each row (all finite), d and r in one compiled
        # pass; without exact (float16 and bfloat16 rows) r is written and
        # never read: d = x + (-m) is the same one IEEE addition either way
        fused = native.shift(x, D, R)
    elif n > NARROW:
        with np.errstate(invalid="ignore"):
            top = np.argmax(x, axis=-1)  # a NaN, where a row has one
            m = x[np.arange(n_rows), top]
        # float32 rows whose maxima are all finite: the shift (and the rows'
        # least d, for log_softmax's ties) in one compiled pass
        if np.isfinite(m).all():
            dmin = native.shift32(x, m.astype(np.float64), D)
    if fused is not None or dmin is not None:
        # a masked entry's r is already 0, as residual_sum would set it
        (top, m) = fused or (top, m)
        with np.errstate(under="ignore"):
            e = np.exp(D, out=E)
        return Shift(top, m, D, R if exact else None, e, np.ones(n_rows, dtype=bool), dmin, True)
    if top is None:
        with np.errstate(invalid="ignore"):
            if n > NARROW:
                top = np.argmax(x, axis=-1)  # a NaN, where a row has one
                m = x[np.arange(n_rows), top]
            else:
                m = rowmax(x)
    return Shift(top, m, *_numpy_shift(x, m, exact, D, E, R, S1, S2), None, False)


def _numpy_shift(x, m, exact, D, E, R, S1, S2):
    """The NumPy passes of the shift: ``d``, ``r``, ``e`` and where the maximum is finite."""
    n = x.shape[1]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        finite = np.isfinite(m)
        ms = np.where(finite, m, np.float64(0.0)).astype(np.float64, copy=False)
        # -m spelled out in every entry: x + (-m) is x - m (IEEE), and a
        # full operand is twice as fast as a broadcast column (used twice)
        nm = spelled_out(-ms, n, S2)
        # float32 rows convert to float64 inside the addition (exactly)
        d = np.add(x, nm, out=D)
        e = np.exp(d, out=E)
        r = None
        if exact:
            # x - m = d + r exactly (TwoSum's error, by Fast2Sum where it
            # applies). Without r, a row offset by 1e4 loses ulp(1e4)/2 =
            # 9e-13 absolute in every shifted logit, which exp turns into
            # ~8000 ulp of relative error.
            r = shift_err(x, ms, nm, d, out=R, scratch=S1)
    return d, r, e, finite

