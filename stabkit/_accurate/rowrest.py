"""The float64 categorical and sparse losses from logits again, each row
as a double-double scaled by a power of two (:func:`categorical_rest`,
:func:`sparse_rest`), for the losses a sample weight (or the sparse loss's
class weight) will multiply: ``Plan.apply64(loss, part, exact)`` weighs
that and rounds once, instead of the row kernels' float64 loss.

Why. A row's loss ``sum_i t_i ((L - d_i) - r_i)`` (``d_i + r_i = x_i - m``
exactly, ``L = log1p(s)`` the shifted row's log-sum-exp) is formed by the
kernels with a rounding at each step: ``d_i - L``, ``+ r_i``, the product
with the target, the target itself (smoothed and weighted, rounded once by
:mod:`.targets64`), ``L``'s own addition, and the sum's final rounding. That
leaves up to ~4 u of the loss (u = 2**-53), about 2 ulp where the loss sits
at the bottom of its binade, which the float64 contract (4 ulp) holds. A
sample weight moves the loss inside its binade: one that puts it at the top
doubles that error in ulps, and the weight's product adds half an ulp (4.02
ulp was found, smoothing 0.001-0.3, class weights 1-10, a sample weight
1.4-7.7). A class weight does the same to the sparse loss ``w_y (-log p_y)``.

How. Here every step but ``L`` is carried exactly: the shift ``x_j - m =
d_j + r_j`` and ``(L - d_j) - r_j`` by TwoSums (every part >= 0 but ``r_j``
and the rests: nothing cancels), the target ``w (y (1 - ls) + ls / n)`` as a
double-double (:func:`numpy_rest`), each product by TwoProduct, the
products summed by TwoSum with every error kept. ``L`` is the kernels' own
float64 ``log1p(s)`` (``Rows``' bits), off by up to ~3 u of itself
(``log1p``'s last place, one addition, the ``exp``s in ``s``); it weighs at
most the whole loss, every term being >= 0, so the weighted loss, rounded
once by ``apply64``, stays within ~3.5 ulp wherever the weight puts it
(measured: 2.3 at most in 4,000 draws a regime, from 3.1-3.5 before; 2.7
on a row whose loss is its ``L`` alone).
The sparse loss has one term a row (:func:`sparse_rest`, in NumPy).

Scaling: the class weights by the power of two that puts the largest in
[1/2, 1) (the sparse loss: each row by its own weight's), so that no
product leaves float64's range for weights of 1e-300 or 1e300; ``apply64``
takes every factor as ``frexp`` gives it. Rows whose pair is not a
refinement of a finite, nonzero kernel loss within 2**-40 (NaN rows, a
log-softmax that overflowed: ``_scaled_loss``'s rows, a split that
overflowed), rows the shift flags, and rows below 2**-960 (:func:`_checked`)
keep the kernels' loss and the plain product.

The analysis (``m``, ``L``) is the narrow or wide kernel's, handed on by
the loss's own pass where it ran (``seen``), or :class:`~.rows.Rows`' NumPy
passes, the same bits; the compiled rows (``_ce_rest.h``) are
:func:`numpy_rest`'s, so the weighted loss is the same with or without the
extension. Cost: a weighted call takes 1.2-2.6x the time it took.
"""

from __future__ import annotations

import numpy as np

from stabkit._native import rows as native
from stabkit._native import widerows as native_wide

from . import double_double as dd
from .blocks import step
from .eft import NARROW, rowsum, sum2, two_sum_err
from .narrow import _analysed
from .rows import Rows
from .targets64 import constants as _target_constants


def constants(ls: float, k: int) -> np.ndarray:
    """``(oh, ol, q, ql)``: ``1 - ls = oh + ol`` and ``ls / k = q + ql``
    exactly, the first four of ``targets64.constants`` (``(1, 0, 0, 0)``
    without smoothing)."""
    return _target_constants(ls, k)[:4]


def categorical_rest(x: np.ndarray, loss: np.ndarray, y: np.ndarray, ls: float, cw, seen: dict | None = None):
    """Each row's loss again, ``(hi + lo) 2**k`` (``k`` an int), to ~2**-100
    of itself but for ``L``'s own error (module docstring), for float64
    logits ``x`` (2-d, classes last), the raw targets ``y``, the label
    smoothing ``ls`` and class weights ``cw`` (None: 1), scaled by a power
    of two so that the largest finite weight of a class with a target in
    the block lies in [1/2, 1) (weights of
    1e-300 or 1e300 leave no product out of range; weights spanning more
    than 2**1000 are not taken); ``hi`` NaN where the
    kernels' float64 ``loss`` stands as it is (:func:`_checked`). The
    compiled pass (``_ce_rest.h``) where built, else :func:`numpy_rest`: the
    same bits. ``seen``: the kernels' analysis of ``x``, where the loss's own
    pass ran it (``wide.keep_analysis``)."""
    m, L, special = _analysis(x, seen)
    x = np.ascontiguousarray(x, dtype=np.float64)
    m = np.ascontiguousarray(m, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    k, w = 0, None
    if cw is not None:
        w = np.asarray(np.broadcast_to(cw, x.shape[-1:]), dtype=np.float64)
        # the classes that weigh in: every one with smoothing, else those with
        # a nonzero target in the block (a weight of 1e300 on a class no row
        # targets would scale the others into the subnormals)
        used = np.ones(w.shape, dtype=bool) if ls else np.any(y != 0, axis=0)
        finite = np.abs(w[np.isfinite(w) & used])
        k = int(np.frexp(finite.max())[1]) if finite.size and finite.max() > 0 else 0
        w = np.ascontiguousarray(np.ldexp(w, -k))
        if np.count_nonzero(used & (w != 0) & (np.abs(w) < 2.0**-1000)):
            # weights spanning more than 2**1000: the small ones, scaled, lose
            # bits (cw = [1e-10, 1, 1e300] under a logit of -1e25: 71 ulp);
            # the kernels' losses stand
            return np.full(x.shape[0], np.nan), np.zeros(x.shape[0]), 0
    c = constants(ls, x.shape[-1])
    got = native.ce_rest(x, m, L, y, w, c)
    hi, lo = got if got is not None else numpy_rest(x, m, L, y, w, c)
    return _checked(hi, lo, k, loss, special)


def numpy_rest(x, m, L, y, w, c) -> tuple[np.ndarray, np.ndarray]:
    """Each row's loss as ``(hi, lo)`` in NumPy (the operations
    ``_ce_rest.h`` repeats, in its order), for rows ``x`` with maxima ``m``
    and log-sum-exps ``L``, with ``c = (oh, ol, q, ql)`` (:func:`constants`).

    The shift ``x_j - m = d_j + r_j`` exactly (TwoSum; ``Rows``' ``d`` and
    ``r`` on every row the result is kept for). The target ``t = w (y oh +
    q + (y ol + ql))``: ``y oh`` by TwoProduct, ``+ q`` by TwoSum, the small
    terms (2**-53 of it) added to the rest, then the weight by TwoProduct
    again: ``th + tl`` within ~2**-100. ``-log p_j = (L - d_j) - r_j`` by two
    TwoSums (``L >= 0`` and ``-d_j >= 0`` have one sign; ``r_j``, the shift's
    rest, is half an ulp of ``d_j`` at most); its product with ``th`` by
    TwoProduct, the cross terms (2**-53 of it) added to its rest, the
    product of the two rests (2**-106) dropped. The products' row sums by
    :func:`~.eft.sum2` (every TwoSum error kept), the rests' by
    :func:`~.eft.rowsum`. A zero target counts 0 (``0 log 0 = 0``, at a
    masked class too)."""
    oh, ol, q, ql = (float(v) for v in c)
    with np.errstate(invalid="ignore", over="ignore"):
        neg = -m[:, None]
        d = x + neg
        r = two_sum_err(x, neg, d)
        ph, pe = dd.two_prod(y, np.float64(oh))
        th = ph + q
        tl = two_sum_err(ph, np.float64(q), th) + (pe + (y * ol + ql))
        if w is not None:
            wh, we = dd.two_prod(th, w)
            tl = we + tl * w
            th = wh
        Lc = L[:, None]
        a = Lc + -d
        ea = two_sum_err(Lc, -d, a)
        b = a + -r
        eb = two_sum_err(a, -r, b)
        p, pq = dd.two_prod(th, b)
        lo = pq + (th * (ea + eb) + tl * b)
        zero = th == 0.0
        p[zero], lo[zero] = 0.0, 0.0
        hi, hlo = sum2(p)
        return hi, hlo + rowsum(lo)


def _analysis(x: np.ndarray, seen: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(m, L, special)`` of float64 rows, ``Rows``' bits: the narrow or
    wide kernel's (``seen``, handed on by the loss's own pass, or run here)
    where it runs, ``Rows`` for the rows it leaves and where it does not."""
    if seen:
        m, L, redo = seen["m"], seen["L"], seen["redo"]
    else:
        # (d, r, e, m, L, redo) of the narrow kernel, (m, L, redo, m + L) of the wide one
        got = _analysed(x, True) if x.shape[1] <= NARROW else native_wide.wide(x, True, lse=True)
        if got is None:
            rows = Rows(x, True, block_rows=step(x.shape[-1]))
            return rows.m, rows.L, rows.special
        m, L, redo = got[3:] if x.shape[1] <= NARROW else got[:3]
    m, L = m.copy(), L.copy()
    special = np.zeros(x.shape[0], dtype=bool)
    again = np.flatnonzero(redo)
    if again.size:
        rows = Rows(x[again], True, block_rows=step(x.shape[-1]))
        m[again], L[again], special[again] = rows.m, rows.L, rows.special
    return m, L, special


def sparse_rest(x: np.ndarray, loss: np.ndarray, labels: np.ndarray, cwy, seen: dict | None = None):
    """:func:`categorical_rest` of the sparse loss ``w_y ((L - d_y) - r_y)``
    (``cwy`` each row's class weight, or None for 1; no smoothing: with it
    the loss is the categorical one): one term a row, the same steps
    (TwoSums, TwoProduct) on the label's column alone, in NumPy on either
    path, each row scaled by its own weight's power of two."""
    m, L, special = _analysis(x, seen)
    rows = np.arange(x.shape[0])
    w = np.ones(x.shape[0]) if cwy is None else np.asarray(cwy, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        w, k = np.frexp(w)
        xl, neg = x[rows, labels], -m
        d = xl + neg
        r = two_sum_err(xl, neg, d)
        a = L + -d
        ea = two_sum_err(L, -d, a)
        b = a + -r
        eb = two_sum_err(a, -r, b)
        p, pe = dd.two_prod(w, b)
        return _checked(p, pe + w * (ea + eb), k, loss, special)


def _checked(hi: np.ndarray, lo: np.ndarray, k, loss: np.ndarray, special: np.ndarray):
    """``(hi, lo, k)`` with ``hi`` NaN where the pair is not a refinement of
    a finite, nonzero float64 ``loss`` within 2**-40 of it (a NaN row, a
    log-softmax that overflowed: ``_scaled_loss``'s rows, a product whose
    split overflowed) or the shift flagged the row, and where ``hi`` is
    below 2**-960: the terms' TwoProduct rests are then near or below
    2**-1022, where they lose bits (half an ulp of a loss of 2.4e-308: 2.25
    ulp came out where the kernels' loss was within 2); those losses stand
    (the subnormal ones and their weights are ``rowtail``'s)."""
    loss = np.asarray(loss, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        scaled = np.ldexp(loss, -np.asarray(k, dtype=np.int32))
        ok = np.isfinite(hi) & np.isfinite(lo) & np.isfinite(loss) & (loss != 0) & ~special
        ok &= (np.abs((hi - scaled) + lo) <= 2.0**-40 * np.abs(hi)) & (np.abs(hi) >= 2.0**-960)
    return np.where(ok, hi, np.nan), np.where(ok, lo, 0.0), k


def categorical(o, x: np.ndarray, loss: np.ndarray, y: np.ndarray, seen: dict | None):
    """:func:`categorical_rest` of a block's losses where a sample weight will
    multiply them (``o`` the call's ``lossopts.Options``, ``y`` the block's
    raw targets), for float64 losses from logits (``seen`` a dict, maybe
    holding the kernels' analysis); else (``seen`` None) None."""
    if seen is None or o.plan.sample64 is None:
        return None
    return categorical_rest(x, loss, y, o.ls, o.cw, seen)


def sparse(o, x: np.ndarray | None, loss: np.ndarray, labels: np.ndarray, cwy, seen: dict | None):
    """:func:`sparse_rest`, the same for the sparse loss (``seen`` as for
    :func:`categorical`; ``x`` the block, None for rows of millions, whose
    chunks are not kept), where a class weight lifts the loss too (``cwy``
    the block's class weights of the labels, or None); None where no rest
    is needed."""
    if x is None or seen is None or (o.plan.sample64 is None and cwy is None):
        return None
    return sparse_rest(x, loss, labels, cwy, seen)
