"""Blocks of whole rows, and the one rounding of a float64 result to the
caller's format: the iteration every accurate-tier function shares."""

from __future__ import annotations

import numpy as np

from stabkit._native import elementwise as _elementwise_kernels, rounding as _rounding
from stabkit.floats import Format, round_float64

from . import threads
from .eft import NARROW
from .inputs import as_input, last_axis, restore_axis

#: Elements per block. Every function works through its input in blocks of
#: whole rows this size or smaller, so that the block, converted to float64,
#: and its temporaries stay in the L2 cache: the same NumPy passes over a
#: (1000, 1000) float64 array then run 2.5x faster than over the whole array,
#: whose fresh 8 MB temporaries come from memory and are page-faulted in
#: (measured: 2**17 elements best, 2**14 and 2**20 both ~2x slower).
BLOCK = 1 << 17
#: Elementwise functions keep more temporaries alive per element: smaller
#: blocks (measured: 2**14-2**16 alike, 2**17 25% slower).
ELEMENTWISE_BLOCK = 1 << 15
#: Narrow rows are reduced column by column (see ``_accurate.rows``), one NumPy call
#: per column and step, so their blocks must be long to pay for the calls.
NARROW_BLOCK_ROWS = 1 << 14


def finish(y64: np.ndarray, fmt: Format) -> np.ndarray:
    """Round a float64 result once to the caller's format."""
    return y64 if fmt.name == "float64" else round_float64(y64, fmt)


def store(dst: np.ndarray, y64: np.ndarray, fmt: Format) -> None:
    """Write a float64 result into ``dst`` (of the caller's format), rounded once."""
    # float16 and bfloat16 go through round_float64, whose compiled kernel
    # writes into dst (NumPy's float16 cast costs ~60 ns a subnormal result;
    # bfloat16's cast rounds twice with ml_dtypes < 0.7, through float32).
    if fmt.name in ("float16", "bfloat16"):
        round_float64(y64, fmt, out=dst)
        return
    # NumPy's float64 -> float32 assignment is one IEEE rounding, so it needs
    # no intermediate array
    with np.errstate(over="ignore"):  # past the format's range: inf, as a rounding should
        dst[...] = y64


def widen(x: np.ndarray, work, fmt: Format) -> np.ndarray:
    """``np.asarray(x, dtype=work)``; a float16 or bfloat16 block widened to
    float64 by the compiled kernel where it runs (the same bits, 2.7x
    (float16) and 4.4x (bfloat16) the astype's speed at 10^6 values)."""
    if work is np.float64 and x.dtype.itemsize == 2:
        y = _rounding.widen(x, fmt.name)
        if y is not None:
            return y
    return np.asarray(x, dtype=work)


def step(n_cols: int, block: int | None = None) -> int:
    """Rows per block (see :func:`blocks`)."""
    rows = max(1, (block or BLOCK) // max(n_cols, 1))
    return max(rows, NARROW_BLOCK_ROWS) if 1 < n_cols <= NARROW else rows


def blocks(n_rows: int, n_cols: int, block: int | None = None):
    """Slices of whole rows holding at most ``block`` (default ``BLOCK``)
    elements, at least one row, or ``NARROW_BLOCK_ROWS`` rows when the rows
    are narrow."""
    rows = step(n_cols, block)
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def rowwise(a: np.ndarray, fmt: Format, axis: int, fn, *, reduce: bool = False, keep32: bool = False,
             into: np.ndarray | None = None, out_fmt: Format | None = None) -> np.ndarray:
    """``fn(rows, block, dst)`` over blocks of rows of ``a`` (classes on
    ``axis``, at least one element), each block converted to float64 (float32
    blocks kept as they are with ``keep32``, for a ``fn`` that converts them
    itself) and its result rounded once to ``fmt``. ``fn`` gives one value per
    row when ``reduce``, else one per element; it may write its result into
    ``dst`` (the block's slice of the output, or None) and return it. The
    result has ``axis`` restored, or removed. ``into`` (the gufuncs of
    stabkit.ufuncs): an output array for 2-d ``a`` with classes last, used
    and returned where it is C-contiguous of ``fmt`` and the result's shape.
    ``out_fmt``: the result's format where it is not ``fmt`` (a loss's
    float64 terms before its reduction)."""
    ofmt = fmt if out_fmt is None else out_fmt
    xl = last_axis(a, axis)
    x2 = xl.reshape(-1, xl.shape[-1])
    shape = x2.shape[:1] if reduce else x2.shape
    if (into is not None and a.ndim == 2 and axis in (-1, 1) and into.shape == shape and into.dtype == ofmt.dtype
            and into.flags.c_contiguous and into.flags.writeable):
        out = into
    else:
        out, into = np.empty(shape, dtype=ofmt.dtype), None
    work = None if keep32 and x2.dtype == np.float32 else np.float64
    # results can be written straight into float64 and float32 outputs (one
    # IEEE rounding); float16 and bfloat16 go through round_float64, whose
    # compiled kernel rounds them faster than NumPy's casts
    direct = ofmt.name in ("float32", "float64")

    def block(blk):
        dst = out[blk]
        y = fn(widen(x2[blk], work, fmt), blk, dst if direct else None)
        if y is not dst:
            store(dst, y, ofmt)

    threads.each(block, blocks(*x2.shape))
    if into is not None:
        return into
    if reduce:
        return out.reshape(xl.shape[:-1])
    return restore_axis(out.reshape(xl.shape), axis, a.ndim)


def elementwise(fn, x, name: str = "x", native: str | None = None) -> np.ndarray:
    """``fn`` (float64 -> float64) over ``x`` block by block, rounded once to
    the input's format; the result has the input's shape (0-d stays 0-d).
    ``native`` names the compiled ufunc that gives the same bits, used where
    it is loaded (:mod:`stabkit._native.elementwise`)."""
    a, fmt = as_input(x, name)
    uf = None if native is None else _elementwise_kernels.ufunc(native, fmt.name)
    if uf is not None:
        out = np.empty(a.shape, dtype=fmt.dtype)
        threads.split_call(uf, a, out=out)
        return out
    flat = a.reshape(-1)
    out = np.empty(flat.shape, dtype=fmt.dtype)
    threads.each(lambda blk: store(out[blk], fn(np.asarray(flat[blk], dtype=np.float64)), fmt),
                 blocks(flat.size, 1, ELEMENTWISE_BLOCK))
    return out.reshape(a.shape)
