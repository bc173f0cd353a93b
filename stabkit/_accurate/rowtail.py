"""The accurate categorical and sparse cross-entropies from logits where a
row's loss is subnormal and a weight lifts it (:class:`RowTail`, the
``Plan.tail`` hook that ``lossopts.categorical_options`` and
``sparse_options`` set).

A row whose target sits on its largest logit ``x_k`` alone, with every other
logit more than ~708 below it, has the loss ``log1p(s)``, ``s = sum_{j != k}
e^(x_j - x_k)``, below 2**-1022: the loss rounds to a subnormal and keeps
only the bits above 2**-1074. A sample or class weight of 1e30 multiplies
that rounding error by 1e30 along with the value (4e-22 came out 0.4%
off), and one past the gap's end turns an exact 0 into a result that should
be 1e-30. A class weight below 1 can make a normal loss subnormal in the
same way before a sample weight lifts it (class weight 1e-20, sample weight
1e20, a gap of 690: 5.3e11 ulp). Those rows are formed again here with the
weights inside the scaling of each term (:func:`bcetail.weighted_exp_parts`),
where the row's sum ``s`` is below 2**-60 (a gap of some 42 or more)."""

from __future__ import annotations

import math

import numpy as np

from . import double_double as dd
from .bcetail import weighted_exp_parts

#: A row is looked at again where its weighted loss is below this fraction
#: of its weight bound: the unweighted loss may then be subnormal (< 2**-1022;
#: the margin covers the weight's own rounding).
_SUBNORMAL = 2.0**-1021
#: ``s`` below this: ``log1p(s) = s (1 - s/2 ...)`` is ``s`` to 2**-61
#: relative, 1/256 of an ulp. (A row whose unweighted loss is subnormal has
#: ``s`` below 2**-1021; one that a class weight below 1 made subnormal may
#: have a larger ``s``.)
_TINY = 2.0**-60


class RowTail:
    """``Plan.tail`` of the accurate categorical loss from logits (classes
    last in ``logits``; ``targets(rows)``: the float64 targets of those
    flattened rows, smoothed and class-weighted as the loss weighs them) or
    of the sparse one (``labels``, flattened, with ``cw`` the class weights
    or None; no smoothing: the sparse loss with smoothing is the categorical
    one). ``bound`` bounds each row's target weight (the largest class
    weight, or 1)."""

    def __init__(self, logits: np.ndarray, bound: float, targets=None, labels=None, cw=None):
        self.logits, self.bound, self.targets, self.labels, self.cw = logits, bound, targets, labels, cw

    def _weights(self, part, n: int) -> np.ndarray:
        """Each row's target weight bound in ``part``."""
        if self.labels is not None and self.cw is not None:
            return np.asarray(self.cw, dtype=np.float64)[self.labels[part]]
        return np.full(n, float(self.bound))

    def __call__(self, loss: np.ndarray, part, sample: np.ndarray | None) -> np.ndarray:
        loss = np.asarray(loss, dtype=np.float64)
        tw = self._weights(part, loss.size)
        w = tw
        if sample is not None:
            with np.errstate(over="ignore"):
                w = tw * sample
        # only a weight above 1 lifts a subnormal's rounding error above the
        # result's own last place: the unweighted loss subnormal and the two
        # weights above 1 together, or the class-weighted loss subnormal (a
        # class weight below 1) and the sample weight above 1; NaN losses and
        # weights fail the test (a product of weights past float64 passes it:
        # the loss may still be finite)
        with np.errstate(invalid="ignore", over="ignore"):
            lifted = (w > 1.0) & (loss < _SUBNORMAL * w)
            if sample is not None:
                lifted |= (sample > 1.0) & (loss < _SUBNORMAL * sample)
            at = np.flatnonzero(lifted)
        if not at.size:  # the usual case: one comparison per row, nothing else
            return loss
        rows = np.arange(int(np.prod(self.logits.shape[:-1])))[part][at]
        x = np.asarray(self.logits[rows_of(self.logits, rows)], dtype=np.float64)
        if self.labels is None:
            t = self.targets(rows)
        else:
            t = np.zeros_like(x)
            t[np.arange(rows.size), self.labels[rows]] = tw[at]  # the label's class weight, or 1
        out = np.array(loss, copy=True)
        s = np.ones(at.size) if sample is None else sample[at]
        vals, ok = _rows(x, t, s)
        out[at[ok]] = vals[ok]
        return out


def rows_of(a: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The index of the flattened rows ``rows`` of ``a`` (classes last): a
    view's rows without reshaping (copying) the whole array."""
    return np.unravel_index(rows, a.shape[:-1])


def _rows(x: np.ndarray, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s t_k log1p(sum_{j != k} e^(x_j - x_k))`` of the rows of ``x``
    (float64, classes last) whose targets ``t`` are 0 but at their first
    largest logit ``k``, with that sum below :data:`_TINY`; and which rows
    those are (the others' values are garbage: their losses stand).

    Each term ``s t_k e^(d_j + r_j)`` (``d + r = x_j - x_k`` exactly, TwoSum)
    comes from ``weighted_exp_parts`` as one rounding of a value good to
    2**-100 and its power of two; a row's terms are scaled by its largest
    power, summed exactly (``math.fsum``) and scaled back: a second rounding
    only where the loss is subnormal (half a unit of 2**-1074 there; terms
    2**1074 below the largest are past it). log1p(s) is s to 2**-61."""
    m, n = x.shape
    r = np.arange(m)
    k = np.argmax(x, axis=1)
    top, tk = x[r, k], t[r, k]
    live = (x > -np.inf) & (np.arange(n) != k[:, None])  # masked classes add nothing
    with np.errstate(invalid="ignore", over="ignore"):
        d, e = dd.two_sum(x, np.broadcast_to(-top[:, None], x.shape))
        # the other entries as finite stand-ins far below any term (weighted_exp_parts gives them 0)
        d, e = np.where(live, d, -3000.0), np.where(live, e, 0.0)
        count = np.count_nonzero(live, axis=1)
        # every term below _TINY / n: the sum is, and nothing else was lost
        small = d.max(axis=1) + 1.0 < np.log(_TINY) - np.log(np.maximum(count, 1))
        ok = np.isfinite(top) & (tk > 0) & (np.count_nonzero(t, axis=1) == 1) & (count > 0) & small
        frac, ex = weighted_exp_parts(np.broadcast_to(tk[:, None], x.shape), np.broadcast_to(s[:, None], x.shape), d, e)
    frac = np.where(live, frac, 0.0)
    big = np.where(live, ex, np.iinfo(np.int64).min).max(axis=1)
    vals = np.zeros(m)
    for i in np.flatnonzero(ok):
        scaled = np.ldexp(frac[i], np.maximum(ex[i] - big[i], -1074))
        vals[i] = np.ldexp(math.fsum(scaled.tolist()), int(big[i]))
    return vals, ok
