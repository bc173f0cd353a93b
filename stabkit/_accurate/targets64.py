"""The accurate losses' smoothed and weighted targets in float64, each one
rounding of its exact value.

Keras's smoothing ``y' = y (1 - ls) + ls / k`` and a class or positive-class
weight ``w`` give the target ``t = w y'``. Formed as written in float64
(``1 - ls``, the product, the sum, ``ls / k``, the weight: five roundings),
``t`` was off by up to ~2.5 ulp before the loss's own roundings joined it,
and a loss with smoothing, weights and a sample weight together came out
4.98 ulp off (past the float64 tier's 4-ulp contract). Here ``t`` is carried
in double-double (about 2**-104) and rounded once.

Two things more make that hold at the ends of the range:

* ``y`` and ``ls`` (both in [0, 1]) are scaled by ``2**SCALE`` first, so a
  subnormal label, or ``ls = 5e-324`` (whose ``ls / 2`` rounds to 0 in
  float64), keeps every bit through the products; the weight goes in as a
  ``frexp`` mantissa and exponent, so nothing overflows either.
* :func:`parts` keeps the rounded mantissa and its exponent apart: where
  ``t`` is below 2**-1022 its float64 value keeps only a subnormal's bits
  (``w = 1e-310``: 3e-311 with ~40 bits), which a large logit or sample
  weight would carry into a normal loss. The tails (:mod:`.bcetail`,
  :mod:`.rowtail`) take such targets from their parts instead.

Every value is exact where the inputs make it so (``ls = 0``: ``t = w y``
rounded once, as the plain product is); NaN and infinite weights give what
the plain products give.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from stabkit._native import targets as _native

from . import double_double as dd

#: y, ls <= 1 scaled by 2**SCALE: a subnormal (>= 2**-1074) becomes >= 2**-474,
#: and products of two scaled values with factors >= 2**-53 stay normal
SCALE = 600


def _smoothed(yh: np.ndarray, yl: np.ndarray, ls: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(y (1 - ls) + ls / k) 2**SCALE`` in double-double for a
    double-double ``y = yh + yl`` in [0, 1] (``yl`` 0, or the exact rest of
    ``1 - y``); every term >= 0 but ``yl`` and the rest of ``1 - ls``, which are
    2**-53 of their partners, so the sums cancel nothing."""
    ys, yls = np.ldexp(yh, SCALE), np.ldexp(yl, SCALE)
    if ls == 0.0:
        return dd.fast_two_sum(ys, yls)
    # y (1 - ls) as TwoProduct of the heads plus the two cross terms (each
    # 2**-53 of it; the product of the two rests, 2**-106, is dropped); ls / k
    # split exactly as _constants splits it, from the scaled ls
    oh, ol = _one_minus(ls)
    ph, pl = dd.two_prod(ys, np.float64(oh))
    pl = pl + (ys * ol + yls * oh)
    q, ql = _divided(float(np.ldexp(ls, SCALE)), k)
    return dd.add(ph, pl, np.full_like(ph, q), np.full_like(ph, ql))


def smoothed(yh: np.ndarray, yl: np.ndarray, ls: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``y (1 - ls) + ls / k`` in double-double (:func:`_smoothed` scaled
    back: exact for results of 2**-900 or more, whose low words stay normal)."""
    h, lo = _smoothed(np.asarray(yh, dtype=np.float64), np.asarray(yl, dtype=np.float64), ls, k)
    return np.ldexp(h, -SCALE), np.ldexp(lo, -SCALE)


def _one_minus(ls: float) -> tuple[float, float]:
    """``1 - ls = oh + ol`` exactly (TwoSum; ``1 - oh`` is exact)."""
    oh = 1.0 - ls
    return oh, (1.0 - oh) - ls


def _divided(ls: float, k: int) -> tuple[float, float]:
    """``ls / k = q + ql``: ``q k`` is exact as TwoProduct, ``ls - q k``
    exactly (Sterbenz: ``q k`` is within an ulp of ``ls``), so ``(ls - q k) /
    k`` is the rest to 2**-53 of itself."""
    q = ls / k
    qh, qe = dd.two_prod(np.float64(q), np.float64(k))
    return q, float(((ls - qh) - qe) / k)


def parts(yh, yl, ls: float, k: int, w) -> tuple[np.ndarray, np.ndarray]:
    """The target ``w (y (1 - ls) + ls / k)`` as ``(frac, e)``: ``frac`` one
    rounding of ``t 2**-e`` (0 where ``t`` is 0; NaN and inf as ``w``'s
    plain product gives them), ``e`` int64. ``w`` None means 1."""
    th, tl = _smoothed(np.asarray(yh, dtype=np.float64), np.asarray(yl, dtype=np.float64), ls, k)
    e = np.full(th.shape, -SCALE, dtype=np.int64)
    if w is not None:
        w = np.asarray(w, dtype=np.float64)
        wm, we = np.frexp(w)
        with np.errstate(invalid="ignore", over="ignore"):
            # the weight's mantissa (in [1/2, 1)) times the double-double:
            # one product good to 2**-104; its exponent joins e
            mh, ml = dd.mul(th, tl, wm, np.zeros_like(wm))
            odd = ~np.isfinite(w)
            if odd.any():
                # an infinite or NaN weight: the plain product's inf or NaN
                mh, ml = np.where(odd, w * th, mh), np.where(odd, 0.0, ml)
        th, tl = mh, ml
        e = e + we
    with np.errstate(invalid="ignore"):
        frac = np.where(np.isfinite(th), th + tl, th)
    return frac, e


def value(frac: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The float64 target of :func:`parts` (one more rounding only where
    it is subnormal)."""
    return np.ldexp(frac, e)


def lost(frac: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Where the float64 target of :func:`parts` (:func:`value`) lost bits
    to the subnormal range, or rounded to 0 from a nonzero value: the
    targets that a tail must take from their parts. (An exact subnormal,
    ``y 1`` or a one-hot row's tiny weight, is not among them.)"""
    with np.errstate(invalid="ignore", over="ignore"):
        v = value(frac, e)
        # v 2**-e gives frac back exactly unless the ldexp rounded
        return (frac != 0) & np.isfinite(frac) & (np.ldexp(v, -e) != frac)


def categorical_lost(y: np.ndarray, ls: float, cw) -> np.ndarray:
    """:func:`lost` of the categorical targets of rows ``y`` (classes last),
    read from :func:`categorical_targets64` first: only targets below
    2**-1021 that are not exactly 0 can have lost bits, and only those
    take :func:`parts`."""
    y = np.asarray(y, dtype=np.float64)
    t = categorical_targets64(y, ls, cw)
    with np.errstate(invalid="ignore"):
        cand = (np.abs(t) < 2.0**-1021) & ((y != 0) | (ls != 0.0))
        if cw is not None:
            cand &= np.asarray(cw, dtype=np.float64) != 0
    out = np.zeros(y.shape, dtype=bool)
    at = np.nonzero(cand)
    if at[0].size:
        w = None if cw is None else np.broadcast_to(cw, y.shape)[at]
        out[at] = lost(*parts(y[at], np.zeros(at[0].size), ls, y.shape[-1], w))
    return out


_S = 134217729.0  # 2**27 + 1: Veltkamp's split
#: Results below this (or not finite from finite inputs) are formed again
#: by :func:`parts`, whose scaling keeps every bit there
_LOW = 2.0**-900
#: Elements per pass of the NumPy code: its two dozen passes stay in cache,
#: and every temporary stays below NumPy's 256 KiB threshold for reusing
#: temporaries in place, whose check (a backtrace of the C stack) cost
#: ~200 us per expression here on blocks of 32768 float64
_CHUNK = 8192
_MAX = float(np.finfo(np.float64).max)
#: b = 1 - y' below this is formed again from 1 - y exact
_B_LOW = 2.0**-40


def _split(a):
    c = _S * a
    h = c - (c - a)
    return h, a - h


def constants(ls: float, k: int) -> np.ndarray:
    """See :func:`_constants` (a copy: the caller may hold it)."""
    return np.array(_constants(float(ls), int(k)))


@functools.lru_cache(maxsize=64)
def _constants(ls: float, k: int) -> tuple:
    """``[oh, ol, q, ql, OH, OL, ls]``: ``1 - ls = oh + ol``
    (:func:`_one_minus`) and ``ls / k = q + ql`` (:func:`_divided`) exactly,
    ``oh``'s Veltkamp halves, and ``ls``."""
    oh, ol = _one_minus(ls)
    q, ql = _divided(ls, k)
    OH, OL = _split(np.float64(oh))
    return (oh, ol, q, ql, float(OH), float(OL), ls)


def numpy(y: np.ndarray, c: np.ndarray, w, binary: bool):
    """``(t, b, redo_t, redo_b)``: the targets ``w y'`` and, with ``binary``,
    ``b = 1 - y'`` (else None), each rounded once, and where the caller must
    form them again by :func:`parts` (see :func:`_fast`). The oracle of
    ``_targets.c``, which repeats these operations in this order."""
    oh, ol, q, ql, OH, OL, ls = (float(v) for v in c)
    with np.errstate(invalid="ignore", over="ignore"):
        # y' = sh + sl: y oh by TwoProduct (oh split once), + q by TwoSum,
        # then the rests (e, y ol, ql, the TwoSum's), each 2**-53 of its
        # partner: 2**-104 of y', every term >= 0 but the rests
        p = y * oh
        yh, yl = _split(y)
        e = ((yh * OH - p) + yh * OL + yl * OH) + yl * OL
        sh = p + q
        bb = sh - p
        sl = ((p - (sh - bb)) + (q - bb)) + (e + (y * ol + ql))
        # y' is exactly 0 (sh and sl too) for a zero label without smoothing
        plain = (y == 0) & (ls == 0.0)
        if w is None:
            t = sh + sl
        else:
            # (sh + sl) w: TwoProduct of sh and w, plus sl w
            m = sh * w
            th, tl = _split(sh)
            wh, wl = _split(w)
            t = m + ((((th * wh - m) + th * wl + tl * wh) + tl * wl) + sl * w)
            # a zero, infinite or NaN weight, or y' = 0: the plain product
            # y' w (0, inf or NaN as NumPy's product gives them; the split
            # of an infinite weight, or of one above 2**996, is NaN)
            plain |= (w == 0) | ~(np.abs(w) <= _MAX)
            t = np.where(plain, m, t)
        # y' or the target below 2**-900: a subnormal label's product, or
        # the target's, lost bits; an overflow from a finite weight (or its
        # split's): formed again by parts. NaN labels stand
        redo = ((np.abs(t) < _LOW) | (sh < _LOW) | ~(np.abs(t) <= _MAX)) & ~plain & (np.abs(y) <= _MAX)
        if not binary:
            return t, None, redo, None
        # b = 1 - y': 1 - sh with its rest (TwoSum), then the rest of y' off
        # it; good to 2**-104 of 1, so b below _B_LOW (y' near 1) is formed
        # again from 1 - y exact
        bh = 1.0 - sh
        bb = bh - 1.0
        b = bh + (((1.0 - (bh - bb)) - (sh + bb)) - sl)
        # (b is exactly 0 for a label of 1 without smoothing)
        return t, b, redo, (np.abs(b) < _B_LOW) & ~((y == 1.0) & (ls == 0.0))


def _fast(y: np.ndarray, ls: float, k: int, w, binary: bool, ncols: int):
    """``(t, b)`` of :func:`numpy` (``_targets.c`` where it runs; the NumPy
    code in chunks of :data:`_CHUNK` elsewhere), the marked entries formed
    again by :func:`parts`; without its scaling, a fifth of its passes.
    ``y`` float64, C-contiguous; ``w``: None, ``ncols`` weights repeating
    along rows, or one per element. For ``0 < ls < 2**-900`` (``ls / k`` may
    round to 0) every entry takes :func:`parts`."""
    flat = y.reshape(-1)
    wf = None if w is None else np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
    if 0.0 < ls < _LOW:
        ww = None if w is None else np.broadcast_to(w, y.shape)
        t = value(*parts(y, np.zeros_like(y), ls, k, ww))
        return t, (value(*binary_parts(y, ls, None)[1]) if binary else None)
    c = constants(ls, k)
    got = _native.smooth(flat, c, wf, ncols, binary, sys.modules[__name__])
    if got is None:
        got = _numpy_chunks(flat, c, wf, ncols, binary)
    t, b, redo_t, redo_b = got
    at = np.flatnonzero(redo_t) if redo_t is not None else ()
    if len(at):
        ww = None if wf is None else (wf[at] if wf.size == flat.size else wf[at % ncols])
        t[at] = value(*parts(flat[at], np.zeros(at.size), ls, k, ww))
    at = np.flatnonzero(redo_b) if binary and redo_b is not None else ()
    if len(at):
        b[at] = value(*binary_parts(flat[at], ls, None)[1])
    return t.reshape(y.shape), None if b is None else b.reshape(y.shape)


def _numpy_chunks(y: np.ndarray, c: np.ndarray, w, ncols: int, binary: bool):
    """:func:`numpy` over 1-d ``y`` in chunks of whole rows."""
    n = y.size
    t, redo_t = np.empty(n), np.empty(n, bool)
    b, redo_b = (np.empty(n), np.empty(n, bool)) if binary else (None, None)
    step = max(ncols, _CHUNK // ncols * ncols) if w is not None and w.size != n else _CHUNK
    for i in range(0, n, step):
        part = slice(i, i + step)
        wp = None if w is None else (w[part] if w.size == n else np.tile(w, min(step, n - i) // ncols))
        out = numpy(y[part], c, wp, binary)
        t[part], redo_t[part] = out[0], out[2]
        if binary:
            b[part], redo_b[part] = out[1], out[3]
    return t, b, redo_t, redo_b


def binary_weights64(y: np.ndarray, ls: float, pos) -> tuple[np.ndarray, np.ndarray]:
    """The float64 weights ``(a, b)`` of the accurate binary loss, each
    rounded once (:func:`_fast`; see :func:`binary_parts`)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    if ls == 0.0 and pos is None:
        return y, 1.0 - y  # 1 - y rounds once (exact for y >= 1/2)
    return _fast(y, ls, 2, pos, True, y.size)


def binary_parts(y: np.ndarray, ls: float, pos):
    """The binary loss's weights as parts: ``a = pos y'`` and ``b = 1 - y'``
    with ``y' = y (1 - ls) + ls / 2``; ``b`` as ``(1 - y)(1 - ls) + ls / 2``,
    with ``1 - y`` exact (TwoSum), so nothing cancels for ``y'`` near 1."""
    y = np.asarray(y, dtype=np.float64)
    uh = 1.0 - y
    ul = (1.0 - uh) - y
    return parts(y, np.zeros_like(y), ls, 2, pos), parts(uh, ul, ls, 2, None)


def categorical_parts(y: np.ndarray, ls: float, cw) -> tuple[np.ndarray, np.ndarray]:
    """Targets (classes last) smoothed over ``n`` classes and class-weighted,
    as parts."""
    y = np.asarray(y, dtype=np.float64)
    return parts(y, np.zeros_like(y), ls, y.shape[-1], cw)


def categorical_tiny(y: np.ndarray, ls: float, cw) -> bool:
    """Whether a target of the categorical loss over ``n`` classes may be
    below 2**-1022 and inexact there: ``y' = y (1 - ls) + ls / n`` is a mean
    of ``y`` and ``1/n``, so ``y' >= max(min(y, 1/n), ls/n)``, and ``t = w y'``.
    Without class weights ``t = y'`` is exact for ``ls = 0`` and at least
    ``ls / n`` otherwise; with them, the smallest positive weight times the
    smallest positive ``y'`` bound decides (one pass over ``y``)."""
    n = y.shape[-1]
    if 0.0 < ls < n * 2.0**-1018:  # (ls / n itself may round to 0)
        return True
    if cw is None or y.size == 0:
        return False
    w = np.asarray(cw, dtype=np.float64)
    w = w[w > 0]
    if not w.size:
        return False
    wmin = float(w.min())
    if wmin * (ls / n) >= 2.0**-1018:
        return False  # y' >= ls / n: no need to read y
    if wmin / n < 2.0**-1018:
        return True
    # a label in (0, bound / wmin) (NaN labels: no bound needed)
    with np.errstate(invalid="ignore"):
        return bool(np.any((y > 0) & (y < 2.0**-1018 / wmin)))


def categorical_targets64(y: np.ndarray, ls: float, cw) -> np.ndarray:
    """Float64 targets (classes last) smoothed and class-weighted, each
    rounded once (:func:`_fast`): the weights scale the targets, so every
    term of the loss stays >= 0."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    if not ls:
        return y if cw is None else y * cw  # one rounding already
    n = y.shape[-1] if y.ndim else 1
    return _fast(y, ls, n, cw, False, n)[0]


_native.register(sys.modules[__name__])
