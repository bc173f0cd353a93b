"""Rows wider than NARROW through the wide-row kernels (``_wide.h``, bound
in :mod:`stabkit._native.widerows`): one compiled call per block, row by
row, with the bits of :class:`~stabkit._accurate.rows.Rows`' NumPy passes
and of :func:`~stabkit._accurate.unshifted.softmax_unshifted`.

Each function takes a block as :mod:`stabkit.accurate` gives it and the
NumPy path that gives the same result (``rows_path`` builds a ``Rows``;
``numpy_rows`` is the tier's own row function), which takes the rows the
kernel hands back (NaN or infinite maxima, the floors and limits where
``Rows`` works apart, rows that need the shift) and the whole block where
the kernel is off. Every step acts on one row alone, so a row handed back
gets the bits it gets inside a block. :mod:`stabkit._accurate.narrow`
calls :func:`log_softmax_at`, :func:`crossentropy` and :func:`log_softmax`
for its wide rows, :func:`stabkit.accurate.softmax` calls :func:`softmax`.
"""

from __future__ import annotations

import threading

import numpy as np

from stabkit._native import narrowrows
from stabkit._native import widerows as native

from .crossentropy import _finish, crossentropy_from_rows
from .blocks import step
from .eft import KEEP_BYTES, NARROW

__all__ = ["log_softmax_at", "crossentropy", "log_softmax", "softmax"]

_LOCAL = threading.local()


def _buffer(rows: int, n: int) -> np.ndarray:
    """A (rows, n) float64 array kept per thread while the shape stays (up
    to the workspace's ``KEEP_BYTES``; a new one past it)."""
    if rows * n * 8 > KEEP_BYTES:
        return np.empty((rows, n))
    b = getattr(_LOCAL, "probabilities", None)
    if b is None or b.shape != (rows, n):
        b = _LOCAL.probabilities = np.empty((rows, n))
    return b


def keep_analysis(seen: dict | None, m: np.ndarray, L: np.ndarray, redo: np.ndarray) -> None:
    """Hand a kernel's row maxima ``m``, ``L`` and ``redo`` (the rows it left
    to ``Rows``; arrays of this call, which the callers' passes read, never
    write) to a caller that asked (``stabkit._accurate.rowrest`` needs the
    same analysis again)."""
    if seen is not None:
        seen.update(m=m, L=L, redo=redo)


def log_softmax_at(x: np.ndarray, exact: bool, cols: np.ndarray, rows_path, rounded: str | None = None,
                   seen: dict | None = None) -> np.ndarray:
    """``rows_path(x, exact).log_softmax_at(cols)`` of rows wider than
    NARROW: the wide-row kernel, which forms ``Rows.log_softmax_at``'s value
    itself, and ``Rows`` for the rows it leaves (or all of them where it
    does not run). ``rounded``: the format the caller rounds the values to,
    once, using nothing else of them (the kernel's fast pass). ``seen`` (a
    dict) receives the kernel's ``m``, ``L`` and ``redo`` of float64 rows
    (``Rows``' bits; :func:`keep_analysis`)."""
    got = native.wide(x, exact, cols=cols, rounded=rounded)
    if got is None:
        return rows_path(x, exact).log_softmax_at(cols)
    m, L, redo, lp = got
    if exact and rounded is None:
        keep_analysis(seen, m, L, redo)
    redo = redo != 0
    if np.count_nonzero(redo):
        lp[redo] = rows_path(x[redo], exact).log_softmax_at(cols[redo])
    return lp


def crossentropy_rounded(y: np.ndarray, x: np.ndarray, rounded: str, numpy_rows) -> np.ndarray:
    """``numpy_rows(y, x)``, the categorical cross-entropy from logits of a
    block whose losses the caller rounds once to the format ``rounded``
    (float32, or float16 and bfloat16 from widened rows and labels) and
    uses for nothing else: the kernel's fast pass (``wide_ce32``: doubles
    that round to the NumPy path's values) and ``numpy_rows`` for the rows
    it leaves (or all of them where it does not run)."""
    got = native.wide_ce32(x, y, rounded) if x.shape[-1] > NARROW else None
    if got is None:
        return numpy_rows(y, x)
    out, redo = got
    if np.count_nonzero(redo):
        out[redo] = numpy_rows(y[redo], x[redo])
    return out


def crossentropy(y: np.ndarray, x: np.ndarray, scratch, rows_path) -> np.ndarray:
    """``crossentropy_from_rows(y, rows_path(x, True), scratch)`` of float64
    rows wider than NARROW: the wide-row kernel (``wide_ce``: the row sums as
    ``crossentropy_from_rows`` forms them), its
    patches (an infinite sum of finite logits, ``_finish``; its NaN sums are
    handed back, so it needs no terms), and ``Rows`` for the rows it leaves."""
    got = native.wide_ce(x, y)
    if got is None:
        return crossentropy_from_rows(y, rows_path(x, True), scratch)
    out, redo = got
    redo = redo != 0
    loss = _finish(out, y, None, True, x)
    k = np.count_nonzero(redo)
    if k:
        loss[redo] = crossentropy_from_rows(y[redo], rows_path(x[redo], True), [w[:k] for w in scratch])
    return loss


def log_softmax(r: np.ndarray, exact: bool, dst: np.ndarray | None, numpy_rows) -> np.ndarray:
    """``numpy_rows(r, dst)``, the tier's log-softmax of a block: the
    wide-row kernel (``Rows.log_softmax`` for float64 targets, the unshifted
    rows of ``log_softmax_unshifted`` for narrower ones), ``numpy_rows`` for
    the rows it hands back, as :func:`softmax`."""
    return _kernel_first(native.wide_log_softmax, r, exact, dst, numpy_rows, one_live_log_softmax)


def softmax(r: np.ndarray, exact: bool, dst: np.ndarray | None, numpy_rows) -> np.ndarray:
    """``numpy_rows(r, dst)``, the tier's softmax of a block (``dst``, the
    block's slice of the output, or None): the wide-row kernel's
    ``softmax_unshifted`` for the rows that need no shift, ``numpy_rows``
    for the others, rounded into ``dst`` once where the kernel wrote it."""
    return _kernel_first(native.wide_softmax, r, exact, dst, numpy_rows)


def one_live(x: np.ndarray) -> np.ndarray:
    """Which rows hold one finite entry and -inf everywhere else (a mask
    that leaves one class). The kernels hand them back (their sum of the
    other terms is 0, as where those underflow), and ``Rows`` takes ~40 us
    for a 1000-wide one; their values are plain: logsumexp the entry (+0.0
    for -0.0), log-softmax +0 there and -inf elsewhere (``Rows``' bits)."""
    with np.errstate(invalid="ignore"):
        return (np.count_nonzero(x != -np.inf, axis=-1) == 1) & np.isfinite(x.max(axis=-1))


def one_live_log_softmax(x: np.ndarray) -> np.ndarray:
    """The log-softmax of rows that :func:`one_live` picks."""
    return np.where(x == -np.inf, -np.inf, 0.0)


def one_live_logsumexp(x: np.ndarray) -> np.ndarray:
    """The logsumexp of rows that :func:`one_live` picks, in float64."""
    return x.max(axis=-1).astype(np.float64) + 0.0


def hand_back(out: np.ndarray, idx: np.ndarray, x: np.ndarray, numpy_rows, single=None) -> None:
    """``out[idx]``, the values of the rows ``x[idx]`` a kernel handed back:
    ``single`` for those :func:`one_live` picks (where given), ``numpy_rows``
    (the rows -> their values) for the others."""
    back = x[idx]
    if single is not None:
        one = one_live(back)
        if one.any():
            out[idx[one]] = single(back[one])
            idx, back = idx[~one], back[~one]
    if idx.size:
        out[idx] = numpy_rows(back)


def _kernel_first(kernel, r: np.ndarray, exact: bool, dst: np.ndarray | None, numpy_rows,
                  single=None) -> np.ndarray:
    """``kernel``'s rows of a block (wide rows; ``numpy_rows`` for narrow
    ones and where the kernel is off), ``numpy_rows`` for those it hands back
    (``single`` for those of them :func:`one_live` picks, where given)."""
    if r.shape[-1] <= NARROW:
        return numpy_rows(r, dst)
    # without a float32/float64 dst (float16, bfloat16): a float64 buffer of
    # this thread, which the caller rounds into its output at once (a fresh
    # array per block costs its page faults; the workspace is numpy_rows')
    buf = None if dst is not None else _buffer(max(r.shape[0], step(r.shape[-1])), r.shape[-1])[: r.shape[0]]
    got = kernel(r, exact, dst, buf)
    if got is None:
        return numpy_rows(r, dst)
    p, redo = got
    if np.count_nonzero(redo):
        hand_back(p, np.flatnonzero(redo), r, lambda back: numpy_rows(back, None), single)
    return p


def narrow_fast32(r: np.ndarray, dst: np.ndarray | None, numpy_rows) -> bool:
    """The softmax of float32 narrow rows (3 to 16 columns) into a float32
    ``dst``: the kernel's fast pass settles most rows straight into it (the
    float32 rounding of the narrow path's values), ``numpy_rows`` the rest.
    False (nothing written) where the fast pass does not run."""
    done = None if dst is None else narrowrows.narrow_softmax32(r, dst)
    if done is None:
        return False
    rest = ~done
    if np.count_nonzero(rest):
        dst[rest] = numpy_rows(r[rest])
    return True
