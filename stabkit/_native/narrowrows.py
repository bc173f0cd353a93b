"""The narrow-row kernel (``narrow_rows`` and its output passes in
``_narrow.h``, rows of 16 or fewer columns), bound with ctypes from the one
extension through :mod:`stabkit._native.rows`' loaded library.

:mod:`stabkit._accurate.narrow` calls these on blocks of narrow rows; the
kernel calls NumPy's own float64 ``exp`` and ``log1p`` inner loops
(:mod:`.npyloops`), found once and checked bit for bit, so every result is
the NumPy passes' (the tests compare both paths). :func:`narrow_status`
says whether it runs and why not.
"""

from __future__ import annotations

import numpy as np

from . import npyloops
from .rows import _LOCK, _fits, _load, _need, _ptr, library, status

_LOOPS: tuple | None | bool = False  # False: not looked for yet
_NARROW_WHY = ""


def _narrow_loops() -> tuple | None:
    """The float64 inner loops of np.exp and np.log1p (:mod:`.npyloops`),
    checked bit for bit once; None (with the reason kept) where either is
    not found or differs."""
    global _LOOPS, _NARROW_WHY
    if _LOOPS is False:
        lib = _load()  # before the lock, which _load takes itself
        with _LOCK:
            if _LOOPS is False:
                loops = [npyloops.unary_loop(u) for u in (np.exp, np.log1p)]
                if None in loops:
                    _NARROW_WHY = f"NumPy {np.__version__}'s np.exp / np.log1p inner loops were not found"
                    _LOOPS = None
                elif not all(npyloops.same_bits(lp, u) for lp, u in zip(loops, (np.exp, np.log1p))):
                    _NARROW_WHY = f"NumPy {np.__version__}'s np.exp / np.log1p inner loops, called directly, differ"
                    _LOOPS = None
                else:
                    if lib is not None and npyloops.zero_below(loops[0]):
                        # the kernels may leave such arguments out of exp's calls
                        lib.set_exp_zero(npyloops.EXP_ZERO)
                    _LOOPS = (*loops[0], *loops[1])
    return _LOOPS


def narrow_status() -> str:
    """``"native"`` where narrow float32 and float64 rows (16 columns or
    fewer) run :func:`narrow`, else why they run NumPy's passes."""
    row = status()
    if row != "native":
        return row
    return "native" if _narrow_loops() is not None else _NARROW_WHY


def _takes(x: np.ndarray, exact: bool):
    """The library where the narrow kernels take the block ``x`` (2-d,
    aligned, 1 to 16 columns, float64, or float32 without ``exact``) and run
    (the environment is read here), else None."""
    lib = library()
    if lib is None or x.ndim != 2 or x.dtype not in (np.float64, np.float32) or not x.flags.aligned:
        return None
    if (exact and x.dtype != np.float64) or not 0 < x.shape[1] <= 16 or _narrow_loops() is None:
        return None
    return lib


def narrow(x: np.ndarray, exact: bool, d: np.ndarray, r: np.ndarray, e: np.ndarray):
    """The narrow rows' analysis (``narrow_rows`` in ``_narrow.h``) of a
    block ``x`` (2-d float64, or float32 without ``exact``, any strides,
    aligned): ``d = x - m``, ``r`` (with ``exact``), ``e = exp(d)`` into the
    contiguous float64 arrays given (of ``x``'s size, in the kernel's
    chunks of column-major rows: read them through the functions below), and
    ``(m, L, redo)``: the rows' maxima and ``L = log1p(s)`` as
    :class:`stabkit._accurate.rows.Rows` forms them, and the rows left to the
    NumPy path (int8 1, their other outputs garbage). None where the kernel
    is off (the environment is read here) or ``x`` does not fit."""
    lib = _takes(x, exact)
    if lib is None:
        return None
    _need(_fits(x.shape, d, e) and (not exact or _fits(x.shape, r)))
    rows, n = x.shape
    m, L, ws, redo = np.empty(rows), np.empty(rows), np.empty(5 * rows), np.empty(rows, np.int8)
    if rows:
        lib.narrow_rows(_ptr(x), rows, n, x.strides[0], x.strides[1], int(x.dtype == np.float32), int(exact),
                        *_LOOPS, _ptr(d), _ptr(r) if exact else None, _ptr(e), _ptr(m), _ptr(L), _ptr(ws),
                        _ptr(redo), None)
    return m, L, redo


def narrow_lse(x: np.ndarray, exact: bool):
    """The logsumexp ``m + L`` of each row of a block ``x`` (as
    :func:`narrow` takes it) and ``redo``: the rows left to the NumPy path
    (int8: 1, garbage in ``out``; 2, a logsumexp that cancels, for
    :mod:`stabkit._accurate.cancelling`). ``d``, ``r`` and ``e`` stay in one
    chunk's scratch, which the kernel reuses chunk after chunk. None where
    the kernel is off or ``x`` does not fit."""
    lib = _takes(x, exact)
    if lib is None:
        return None
    rows, n = x.shape
    out, redo = np.empty(rows), np.empty(rows, np.int8)
    if rows:
        # one chunk's d, r and e (narrow_chunk() rows of n), then m, L and ws
        span = min(rows, lib.narrow_chunk()) * n
        scratch = np.empty(3 * span + 7 * rows)
        d, r, e = (_ptr(scratch[k * span:]) for k in range(3))
        m, L, ws = (_ptr(scratch[3 * span + k * rows:]) for k in (0, 1, 2))
        lib.narrow_rows(_ptr(x), rows, n, x.strides[0], x.strides[1], int(x.dtype == np.float32), int(exact),
                        *_LOOPS, d, r if exact else None, e, m, L, ws, _ptr(redo), _ptr(out))
    return redo, out


def narrow_softmax(x: np.ndarray, exact: bool, out: np.ndarray | None = None):
    """``softmax_unshifted`` of a block ``x`` of narrow rows
    (``narrow_softmax`` in ``_narrow_softmax.h``; 2-d float64, or float32
    without ``exact``, any strides, aligned): ``(out, redo)``, the rows'
    probabilities in float64 (row-major, into ``out`` where given: a
    C-contiguous float64 array of ``x``'s shape) and, as booleans, the rows
    left to the NumPy path (garbage in ``out``). None where the kernel is off
    (the environment is read here) or ``x`` does not fit."""
    lib = _takes(x, exact)
    if lib is None:
        return None
    rows, n = x.shape
    if out is None:
        out = np.empty((rows, n))
    _need(_fits(x.shape, out))
    redo = np.empty(rows, np.int8)
    if rows:
        lib.narrow_softmax(_ptr(x), rows, n, x.strides[0], x.strides[1], int(x.dtype == np.float32), int(exact),
                           *_LOOPS[:2], _ptr(out), _ptr(redo))
    return out, redo.view(bool)


def narrow_softmax32(x: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """The float32 narrow rows' fast pass (``narrow_softmax32`` in
    ``_narrow_softmax.h``) of a block ``x`` (2-d float32, 3 to 16 contiguous
    columns, any row stride, aligned) straight into ``out`` (float32,
    C-contiguous, ``x``'s shape): the rows it settles get the float32
    rounding of :func:`narrow_softmax`'s values, bit for bit, and are True
    in the mask returned; the others are garbage, for the caller's narrow
    path. None where the kernel is off or ``x`` or ``out`` does not fit."""
    lib = _takes(x, False)
    if lib is None or x.dtype != np.float32 or x.strides[1] != 4 or not 3 <= x.shape[1] <= 16:
        return None
    if out.dtype != np.float32 or out.shape != x.shape or not out.flags.c_contiguous:
        return None
    done = np.zeros(x.shape[0], np.int8)
    if x.shape[0]:
        lib.narrow_softmax32(_ptr(x), x.shape[0], x.shape[1], x.strides[0], _ptr(out), _ptr(done))
    return done.view(bool)


def narrow_lse32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The float32 narrow rows' fast pass of the logsumexp
    (``narrow_lse32`` in ``_narrow_fast32.h``) of a block ``x`` (2-d
    float32, 3 to 16 contiguous columns, any row stride, aligned), for a
    caller that rounds the values once to float32 and uses nothing else of
    them: ``(out, done)``, float64 values whose float32 rounding is that of
    :func:`narrow`'s ``m + L`` on the rows ``done`` (bool) marks, garbage on
    the others. None where the kernel is off or ``x`` does not fit."""
    lib = _takes(x, False)
    if lib is None or x.dtype != np.float32 or x.strides[1] != 4 or not 3 <= x.shape[1] <= 16:
        return None
    rows = x.shape[0]
    out, ws, done = np.empty(rows), np.empty(2 * rows), np.zeros(rows, np.int8)
    if rows:
        lib.narrow_lse32(_ptr(x), rows, x.shape[1], x.strides[0], *_LOOPS[2:], _ptr(out), _ptr(ws), _ptr(done))
    return out, done.view(bool)


def narrow_log_softmax32(x: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """The float32 narrow rows' fast pass of the log-softmax
    (``narrow_log_softmax32`` in ``_narrow_fast32.h``) of a block ``x`` (as
    :func:`narrow_lse32` takes it) straight into ``out`` (float32,
    C-contiguous, ``x``'s shape): the rows the mask returned marks get the
    float32 rounding of :func:`narrow_log_softmax`'s values, bit for bit;
    the others are garbage. None where the kernel is off or ``x`` or
    ``out`` does not fit."""
    lib = _takes(x, False)
    if lib is None or x.dtype != np.float32 or x.strides[1] != 4 or not 3 <= x.shape[1] <= 16:
        return None
    if out.dtype != np.float32 or out.shape != x.shape or not out.flags.c_contiguous:
        return None
    rows = x.shape[0]
    ws, done = np.empty(3 * rows), np.zeros(rows, np.int8)
    if rows:
        lib.narrow_log_softmax32(_ptr(x), rows, x.shape[1], x.strides[0], *_LOOPS[2:], _ptr(out), _ptr(ws),
                                 _ptr(done))
    return done.view(bool)


def narrow_log_softmax(d: np.ndarray, r: np.ndarray | None, L: np.ndarray, out: np.ndarray) -> None:
    """After :func:`narrow`: ``out = (d - L[:, None]) + r`` (exact), or with
    ``r`` None (a narrower target) ``unshifted.below_ties(d, L)``, which the
    NumPy path applies to its ``tie_rows`` and which changes no other entry;
    ``out`` contiguous float64 (row-major)."""
    _need(_fits(d.shape, d, out) and (r is None or _fits(d.shape, r)) and _fits(d.shape[:1], L))
    _load().narrow_log_softmax(_ptr(d), None if r is None else _ptr(r), _ptr(L), d.shape[0], d.shape[1], _ptr(out))


def narrow_log_softmax_at(d: np.ndarray, r: np.ndarray, L: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """After :func:`narrow` (exact): ``(d - L) + r`` at column ``cols[i]`` of
    each row i (``cols`` integers in ``[0, n)``)."""
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    _need(_fits(d.shape, d, r) and _fits(d.shape[:1], L) and cols.shape == d.shape[:1])
    if cols.size and not (0 <= cols.min() and cols.max() < d.shape[1]):
        raise ValueError("stabkit._native.rows: a column out of range")
    out = np.empty(d.shape[0])
    _load().narrow_log_softmax_at(_ptr(d), _ptr(r), _ptr(L), _ptr(cols), d.shape[0], d.shape[1], _ptr(out))
    return out


def narrow_ce(d: np.ndarray, r: np.ndarray, L: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """After :func:`narrow` (exact): the terms ``t = y * ((d - L) + r)``
    (into ``t``, row-major) and their row sums as ``np.add(*eft.sum2(t))``
    forms them (``y`` converted to contiguous float64 first, exactly)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    _need(_fits(d.shape, d, r, y, t) and _fits(d.shape[:1], L))
    out, ws = np.empty(d.shape[0]), np.empty(d.shape[0])
    if d.shape[0]:
        _load().narrow_ce(_ptr(d), _ptr(r), _ptr(L), _ptr(y), d.shape[0], d.shape[1], _ptr(t), _ptr(out), _ptr(ws))
    return out
