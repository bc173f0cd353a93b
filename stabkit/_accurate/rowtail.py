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
be 1e-30. Those rows are formed again here with the weights inside the
scaling of each term (:func:`bcetail.weighted_exp_parts`)."""

from __future__ import annotations

import math

import numpy as np

from . import double_double as dd
from .bcetail import weighted_exp_parts

#: A row is looked at again where its weighted loss is below this fraction
#: of its weight bound: the unweighted loss may then be subnormal (< 2**-1022;
#: the margin covers the weight's own rounding).
_SUBNORMAL = 2.0**-1021
#: ``s`` below this: ``log1p(s) = s (1 - s/2 ...)`` is ``s`` to 2**-1000.
_TINY = 2.0**-1000


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
        w = self._weights(part, loss.size)
        if sample is not None:
            with np.errstate(over="ignore"):
                w = w * sample
        # only a weight above 1 lifts a subnormal's rounding error above the
        # result's own last place; NaN losses and weights fail the test (a
        # product of weights past float64 passes it: the loss may still be finite)
        with np.errstate(invalid="ignore", over="ignore"):
            at = np.flatnonzero((w > 1.0) & (loss < _SUBNORMAL * w))
        if not at.size:  # the usual case: one comparison per row, nothing else
            return loss
        rows = np.arange(int(np.prod(self.logits.shape[:-1])))[part][at]
        x = np.asarray(self.logits[rows_of(self.logits, rows)], dtype=np.float64)
        if self.labels is None:
            t = self.targets(rows)
        else:
            t = np.zeros_like(x)
            t[np.arange(rows.size), self.labels[rows]] = (
                1.0 if self.cw is None else np.asarray(self.cw, dtype=np.float64)[self.labels[rows]])
        out = np.array(loss, copy=True)
        s = np.ones(at.size) if sample is None else sample[at]
        for i in range(at.size):
            v = _row(x[i], t[i], s[i])
            if v is not None:
                out[at[i]] = v
        return out


def rows_of(a: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The index of the flattened rows ``rows`` of ``a`` (classes last): a
    view's rows without reshaping (copying) the whole array."""
    return np.unravel_index(rows, a.shape[:-1])


def _row(x: np.ndarray, t: np.ndarray, s: float) -> float | None:
    """``s t_k log1p(sum_{j != k} e^(x_j - x_k))`` of one row whose targets
    ``t`` are 0 but at its first largest logit ``k``, with that sum below
    :data:`_TINY`: each term ``s t_k e^(d_j + r_j)`` (``d + r = x_j - x_k``
    exactly, TwoSum) formed by ``weighted_exp_parts`` (one rounding of a value
    good to 2**-100, and its power of two), then the terms scaled by the
    largest one's power, summed exactly (``math.fsum``) and scaled back. None
    for any other row (its loss stands)."""
    k = int(np.argmax(x))
    top = x[k]
    if not np.isfinite(top) or t[k] <= 0 or np.count_nonzero(t) != 1:
        return None
    rest = np.delete(x, k)
    rest = rest[rest > -np.inf]  # masked classes add nothing
    if not rest.size:
        return None  # a single live class: the loss is an exact 0
    d, r = dd.two_sum(rest, np.full_like(rest, -top))
    if not (d.max() + 1.0 < math.log(_TINY) - math.log(rest.size)):
        return None  # s may reach 2**-1000: the loss is normal, nothing was lost
    frac, e = weighted_exp_parts(np.full_like(d, t[k]), np.full_like(d, s), d, r)
    # the terms scaled together, their sum exact (fsum) and rounded once, then
    # scaled back (a second rounding only where the loss is subnormal, half a
    # unit of 2**-1074 there; terms 2**1074 below the largest are past it)
    top = int(e.max())
    return float(np.ldexp(math.fsum(np.ldexp(frac, np.maximum(e - top, -1074)).tolist()), top))
