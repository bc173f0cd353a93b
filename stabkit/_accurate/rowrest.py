"""What a float64 categorical or sparse loss from logits lacks before a
sample weight multiplies it: the row's loss again as a double-double, less
the float64 loss the row kernels computed (:func:`categorical_rest`,
:func:`sparse_rest`), for ``Plan.apply64(loss, part, rest)``.

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
(measured: 2.3 at most in 4,000 draws a regime, from 3.1-3.5 before).
The sparse loss has one term a row (:func:`sparse_rest`, in NumPy).

The rest is ``(hi - loss) + lo``: ``hi`` and ``loss`` are a few ulps apart,
so the difference is exact (Sterbenz). Rows where either is not finite or
is 0, rows the shift flags (a NaN or infinite maximum), and rows whose
pair is not within 2**-40 of the loss (a log-softmax that overflowed:
``_scaled_loss``'s rows) get 0: their loss stands as the kernels gave it.
The analysis (``m``, ``L``) is the narrow or wide kernel's, handed on by
the loss's own pass where it ran (``seen``), or :class:`~.rows.Rows`' NumPy
passes, the same bits; the compiled rests (``_ce_rest.c``) are
:func:`numpy_rest`'s, so the weighted loss is the same with or without the
extension. Cost: a weighted call takes ~1.5-2.2x the time it took.
"""

from __future__ import annotations

import numpy as np

from stabkit._native import rows as native
from stabkit._native import widerows as native_wide

from . import double_double as dd
from .blocks import step
from .eft import NARROW
from .narrow import _analysed
from .rows import Rows
from .targets64 import _divided, _one_minus


#: partial sums per row (``_ce_rest.c``'s LANES_R)
_LANES = 8


def constants(ls: float, k: int) -> np.ndarray:
    """``(oh, ol, q, ql)``: ``1 - ls = oh + ol`` and ``ls / k = q + ql``
    (``targets64``'s exact splits; ``(1, 0, 0, 0)`` without smoothing)."""
    if not ls:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.array([*_one_minus(ls), *_divided(ls, k)])


def categorical_rest(x: np.ndarray, loss: np.ndarray, y: np.ndarray, ls: float, cw, seen: dict | None = None) -> np.ndarray:
    """``exact - loss`` per row, to ~2**-100 of the loss but for ``L``'s
    own error (module docstring), for float64 logits ``x`` (2-d, classes
    last), their float64 losses ``loss``, the raw targets ``y``, the label
    smoothing ``ls`` and class weights ``cw`` (None: 1); 0 where the loss
    stands as it is. The compiled pass (``_ce_rest.c``) where built, else
    :func:`numpy_rest`: the same bits. ``seen``: the narrow kernel's
    analysis of ``x``, where the loss's pass ran it (``narrow._keep``)."""
    m, L, special = _analysis(x, seen)
    x = np.ascontiguousarray(x, dtype=np.float64)
    m = np.ascontiguousarray(m, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    w = None if cw is None else np.ascontiguousarray(np.broadcast_to(cw, x.shape[-1:]), dtype=np.float64)
    loss = np.ascontiguousarray(loss, dtype=np.float64)
    c = constants(ls, x.shape[-1])
    rest = native.ce_rest(x, m, L, y, w, c, loss)
    if rest is None:
        rest = numpy_rest(x, m, L, y, w, c, loss)
    return _kept(rest, loss, special)


def numpy_rest(x, m, L, y, w, c, loss) -> np.ndarray:
    """The rests in NumPy, column after column (the order ``_ce_rest.c``
    repeats), for rows ``x`` with maxima ``m``, with ``c = (oh, ol, q, ql)``
    (:func:`constants`).

    The shift ``x_j - m = d_j + r_j`` exactly (TwoSum; ``Rows``' ``d`` and
    ``r`` on every row the rest is kept for).
    The target ``t = w (y oh + q + (y ol + ql))``: ``y oh`` by TwoProduct,
    ``+ q`` by TwoSum, the small terms (2**-53 of it) added to the rest,
    then the weight by TwoProduct again: ``th + tl`` within ~2**-100 (a
    target below 2**-960 loses that: the tails, ``rowtail``, form such rows
    again). ``-log p_j = (L - d_j) - r_j`` by two TwoSums (``L >= 0`` and
    ``-d_j >= 0`` have one sign; ``r_j``, the shift's rest, is half an ulp
    of ``d_j`` at most); its product with ``th`` by TwoProduct, the cross
    terms (2**-53 of it) added to its rest, the product of the two rests
    (2**-106) dropped; the products summed by TwoSum into ``_LANES`` partial
    sums (column j into sum ``j % _LANES``: the kernel's vector lanes), every
    error kept beside them, and the partial sums added in order. A zero target counts 0 (``0 log 0 = 0``, at a masked class too)."""
    oh, ol, q, ql = (float(v) for v in c)
    rows = x.shape[0]
    s, acc = np.zeros((_LANES, rows)), np.zeros((_LANES, rows))
    neg = -m
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(x.shape[1]):
            k = j % _LANES
            d, r = dd.two_sum(x[:, j], neg)
            yj = y[:, j]
            ph, pe = dd.two_prod(yj, np.float64(oh))
            th, te = dd.two_sum(ph, np.float64(q))
            tl = te + (pe + (yj * ol + ql))
            if w is not None:
                th, we = dd.two_prod(th, w[j])
                tl = we + tl * w[j]
            a, ea = dd.two_sum(L, -d)
            b, eb = dd.two_sum(a, -r)
            p, pe = dd.two_prod(th, b)
            lo = pe + (th * (ea + eb) + tl * b)
            zero = th == 0.0
            p, lo = np.where(zero, 0.0, p), np.where(zero, 0.0, lo)
            s[k], e = dd.two_sum(s[k], p)
            acc[k] = acc[k] + (e + lo)
        tot, lo = np.zeros(rows), np.zeros(rows)
        for k in range(_LANES):
            tot, e = dd.two_sum(tot, s[k])
            lo = lo + (e + acc[k])
        return (tot - loss) + lo


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


def sparse_rest(x: np.ndarray, loss: np.ndarray, labels: np.ndarray, cwy, seen: dict | None = None) -> np.ndarray:
    """:func:`categorical_rest` of the sparse loss ``w_y ((L - d_y) - r_y)``
    (``cwy`` each row's class weight, or None for 1; no smoothing: with it
    the loss is the categorical one): one term a row, the same steps
    (TwoSums, TwoProduct) on the label's column alone, in NumPy on either
    path."""
    m, L, special = _analysis(x, seen)
    rows = np.arange(x.shape[0])
    w = np.ones(x.shape[0]) if cwy is None else np.asarray(cwy, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d, r = dd.two_sum(x[rows, labels], -m)
        a, ea = dd.two_sum(L, -d)
        b, eb = dd.two_sum(a, -r)
        p, pe = dd.two_prod(w, b)
        rest = (p - loss) + (pe + w * (ea + eb))
    return _kept(rest, np.asarray(loss, dtype=np.float64), special)


def _kept(rest: np.ndarray, loss: np.ndarray, special: np.ndarray) -> np.ndarray:
    """``rest`` where it is a correction of a few ulps of a finite, nonzero
    loss; 0 elsewhere."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(rest) & np.isfinite(loss) & (loss != 0) & ~special
        ok &= np.abs(rest) <= 2.0**-40 * np.abs(loss)
    return np.where(ok, rest, 0.0)


def categorical(o, x: np.ndarray, loss: np.ndarray, y: np.ndarray, seen: dict | None) -> np.ndarray | None:
    """The rest of a block's categorical losses where a sample weight will
    multiply them (``o`` the call's ``lossopts.Options``, ``y`` the block's
    raw targets), for float64 losses from logits (``seen`` a dict, maybe
    holding the narrow kernel's analysis); else (``seen`` None) None."""
    if seen is None or o.plan.sample is None:
        return None
    return categorical_rest(x, loss, y, o.ls, o.cw, seen)


def sparse(o, x: np.ndarray | None, loss: np.ndarray, labels: np.ndarray, cwy, blk, logits, seen: dict):
    """The same for the sparse loss from logits (``logits`` their format,
    None from probabilities; float64 only; ``x`` the block, None for rows of
    millions, whose chunks are not kept), where a class weight lifts the
    loss too (``cwy`` every label's class weight, or None; ``blk`` the
    block's slice of them); None where no rest is needed."""
    if x is None or logits is None or logits.name != "float64" or (o.plan.sample is None and cwy is None):
        return None
    return sparse_rest(x, loss, labels, None if cwy is None else cwy[blk], seen)
