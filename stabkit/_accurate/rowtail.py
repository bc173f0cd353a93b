"""The accurate categorical and sparse cross-entropies where a row's loss
is subnormal and a weight lifts it (:class:`RowTail`, the ``Plan.tail``
hook that ``lossopts.categorical_options`` and ``sparse_options`` set).

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
where the row's sum ``s`` is below 2**-60 (a gap of some 42 or more) and
the target sits on ``x_k`` alone; the other rows the test flags (soft or
subnormal targets, a class weight below 2**-961 on a smaller gap: 2e15 ulp
off with a target of 5e-324) in MPFR (:func:`_logit_rows_mp`).

The losses from probabilities have the same tail: a row whose target sits
on its largest probability ``p_k`` alone has the loss ``log1p(R / p_k)``
(``R`` the sum of the others), subnormal where ``R`` is (``[0.995, 1e-320]``
under a sample weight of 1e300 came out 5.6e11 ulp off), and so is a term
whose target is subnormal. Those rows are formed again from the exact
rationals of their entries (:func:`_prob_rows`)."""

from __future__ import annotations

import math

import gmpy2
import numpy as np

from . import double_double as dd
from .bcetail import SUBNORMAL_LOSS, weighted_exp_parts
from .targets64 import lost

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
    one); with ``probs``, the same losses from probabilities (``logits``
    then holds them). ``bound`` bounds each row's target weight (the
    largest class weight, or 1)."""

    def __init__(self, logits: np.ndarray, bound: float, targets=None, labels=None, cw=None, probs=False, parts=None,
                 lost=None):
        self.logits, self.bound, self.targets, self.labels, self.cw = logits, bound, targets, labels, cw
        self.probs, self.parts, self.lost = probs, parts, lost

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
            lifted = (w > 1.0) & (loss < SUBNORMAL_LOSS * w)
            if sample is not None:
                lifted |= (sample > 1.0) & (loss < SUBNORMAL_LOSS * sample)
                # a class-weighted loss past float64's range that a sample
                # weight below 1 may bring back (class weight 3, sample
                # weight 0.25 on a loss of 1.8e308: inf for 1.35e308)
                lifted |= np.isinf(loss) & (sample < 1.0)
            if self.labels is not None and self.cw is not None:
                # the sparse loss's class weight below 1 on a loss past the
                # range (class weight 0.5 on [-M, M]: inf for M)
                lifted |= np.isinf(loss) & (w < 1.0)
        every = self._rows_of(part)
        tiny = None
        if self.parts is not None:
            # targets whose float64 values lost bits below 2**-1022 (a tiny
            # class weight or label smoothing): those rows take them exact,
            # where such a term (below 2**-1022 times the row's largest
            # -log p) may reach 2**-60 of the loss
            tiny = np.zeros(every.size, dtype=bool)
            rows = np.flatnonzero(self.lost(every))
            if rows.size:
                loss, rows = self._masked(loss, every, rows, sample)
            if rows.size:
                x = take_rows(self.logits, every[rows])
                with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                    if self.probs:
                        spread = -np.log(np.min(np.where(x > 0, x, np.inf), axis=-1)) + np.log(x.shape[-1])
                    else:
                        live = np.where(x > -np.inf, x, np.inf)
                        spread = np.max(x, axis=-1) - np.min(live, axis=-1) + np.log(x.shape[-1])
                    s_at = 1.0 if sample is None else sample[rows]
                    matters = ~(loss[rows] >= 2.0**-960 * (np.maximum(spread, 0.0) + 1.0) * s_at)
                tiny[rows[matters]] = True
            lifted = lifted | tiny
        at = np.flatnonzero(lifted)
        if not at.size:  # the usual case: one comparison per row, nothing else
            return loss
        rows = every[at]
        x = np.asarray(take_rows(self.logits, rows), dtype=np.float64)
        if self.labels is None:
            t = self.targets(rows)
            if tiny is not None and tiny[at].any():
                # MPFR takes every target of these rows from its exact parts
                t = self.parts(rows)
        else:
            t = np.zeros_like(x)
            t[np.arange(rows.size), self.labels[rows]] = tw[at]  # the label's class weight, or 1
        out = np.array(loss, copy=True)
        s = np.ones(at.size) if sample is None else sample[at]
        if self.probs:
            vals, ok = _prob_rows(x, t, s)
        else:
            vals, ok = _rows(x, t, s) if not isinstance(t, tuple) else (np.zeros(rows.size), np.zeros(rows.size, bool))
            if not ok.all():  # soft or subnormal targets, a sum s above _TINY: MPFR
                left = np.flatnonzero(~ok)
                tl = (t[0][left], t[1][left]) if isinstance(t, tuple) else t[left]
                vals[left], ok[left] = _logit_rows_mp(x[left], tl, s[left])
        out[at[ok]] = vals[ok]
        return out

    def _rows_of(self, part) -> np.ndarray:
        """The flattened row indices of the block ``part`` (a slice without
        forming every row's index first)."""
        total = int(np.prod(self.logits.shape[:-1]))
        return np.arange(*part.indices(total)) if isinstance(part, slice) else np.arange(total)[part]

    def past_range(self, loss: np.ndarray, part, sample: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """For a reduction: the positions in the block where the weighed
        ``loss`` is infinite while its row is finite, and there 2**-1024 of
        the exact weighted loss (MPFR, :func:`_logit_rows_mp` or
        :func:`_prob_rows`), which ``Plan`` sums in place of the inf (two
        samples, [-M, M] and [M, -M] with labels 0 and 1: each loss 2M is
        past the range, their mean M is not; it came out inf). Rows the
        MPFR pass refuses (a NaN, an infinite logit or weight) are left out."""
        loss = np.asarray(loss, dtype=np.float64)
        at = np.flatnonzero(np.isinf(loss))
        if not at.size:
            return at, np.zeros(0)
        rows = self._rows_of(part)[at]
        x = np.asarray(take_rows(self.logits, rows), dtype=np.float64)
        if self.labels is None:
            t = self.parts(rows) if self.parts is not None else self.targets(rows)
        else:
            t = np.zeros_like(x)
            t[np.arange(rows.size), self.labels[rows]] = self._weights(part, loss.size)[at]
        s = np.ones(at.size) if sample is None else sample[at]
        vals, ok = (_prob_rows if self.probs else _logit_rows_mp)(x, t, s, -1024)
        return at[ok], vals[ok]

    def _masked(self, loss: np.ndarray, every: np.ndarray, rows: np.ndarray, sample) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``rows`` (of the block's ``every``) whose lost target sits on
        a masked class (a logit of -inf, a probability of 0): its float64
        value rounded to 0, which counted ``0 log 0 = 0``, yet the exact
        target is positive and the exact loss +inf (``label_smoothing=5e-324``
        over a masked class gave 0.81). Their finite losses become inf (times
        the sample weight, as the plain product: NaN for 0); the other rows
        are handed back."""
        x = take_rows(self.logits, every[rows])
        frac, e = self.parts(every[rows])
        at_zero = (x == 0.0) if self.probs else (x == -np.inf)
        with np.errstate(invalid="ignore"):
            hit = np.any(lost(frac, e) & (frac > 0) & at_zero, axis=-1) & np.isfinite(loss[rows])
        if not hit.any():
            return loss, rows
        loss = np.array(loss, copy=True)
        with np.errstate(invalid="ignore"):
            loss[rows[hit]] = np.inf * (1.0 if sample is None else sample[rows[hit]])
        return loss, rows[~hit]


def take_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The flattened rows ``rows`` of ``a`` (classes last) as a 2-d array,
    a 1-d ``a`` being one row."""
    if a.ndim == 1:
        return a[None][rows]
    return a[rows_of(a, rows)]


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


def _target(t, i: int, j: int):
    """Target ``j`` of row ``i`` as an MPFR number: from a float64 array, or
    exactly from parts ``(frac, e)`` (targets64.parts)."""
    if isinstance(t, tuple):
        return gmpy2.mul_2exp(gmpy2.mpfr(float(t[0][i, j])), int(t[1][i, j]))
    return gmpy2.mpfr(float(t[i, j]))


def _values(t) -> np.ndarray:
    """The targets as float64 (for tests of zero, sign and finiteness)."""
    return t[0] if isinstance(t, tuple) else t


def _logit_rows_mp(x: np.ndarray, t, s: np.ndarray, scale: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``s sum_j t_j ((x_k - x_j) + log1p(sum_{i != k} e^(x_i - x_k)))`` of
    rows of logits ``x`` (float64, classes last, ``k`` the first largest)
    with targets ``t``, whatever they are (soft, subnormal, on several
    classes); and which rows those are (a NaN, an infinite maximum, a
    target on a masked logit: their losses stand).

    Every term is >= 0, so each carries MPFR's 2**-200 (a fresh context:
    thread-safe) into a sum that nothing cancels, rounded once to float64
    (``mpfr_get_d``: subnormals and overflow included). For the rows
    :func:`_rows` does not take: a few, each an exp at 200 bits a class.
    ``scale``: the values times ``2**scale`` before that rounding (a loss
    past float64's range, 2**-1024 of it, for a reduction's sum)."""
    m = x.shape[0]
    vals, ok = np.zeros(m), np.zeros(m, dtype=bool)
    tv = _values(t)
    for i in range(m):
        row, on = x[i], np.flatnonzero(tv[i])
        k = int(np.argmax(row))
        # (argmax finds a NaN first: a NaN row fails the first test)
        if not (np.isfinite(row[k]) and np.isfinite(row[on]).all() and np.isfinite(tv[i]).all()
                and np.isfinite(s[i])):
            continue
        others = [v for j, v in enumerate(row.tolist()) if j != k and v > -np.inf]
        with gmpy2.context(precision=200):
            top = gmpy2.mpfr(float(row[k]))
            L = gmpy2.log1p(gmpy2.fsum([gmpy2.exp(gmpy2.mpfr(v) - top) for v in others]))
            acc = gmpy2.fsum([_target(t, i, j) * ((top - gmpy2.mpfr(float(row[j]))) + L) for j in on])
            vals[i] = float(gmpy2.mul_2exp(acc * gmpy2.mpfr(float(s[i])), scale))
        ok[i] = True
    return vals, ok


def _prob_rows(p: np.ndarray, t, s: np.ndarray, scale: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``s sum_j t_j log(S / p_j)`` of rows of probabilities ``p`` (float64,
    classes last; ``S`` the row's sum) with targets ``t`` and sample weights
    ``s``, to a fraction of an ulp, subnormal targets and weights included;
    and which rows those are (rows holding a NaN or an infinity, or a target
    on a zero probability, keep their losses).

    Every float64 is a rational: ``S`` and each ``u_j = (S - p_j) / p_j``
    are exact (gmpy2's mpq), ``log(S / p_j) = log1p(u_j)`` (nothing cancels
    where ``p_j`` is nearly all of ``S``) and the weighted terms, all >= 0,
    are carried to 2**-200 (MPFR, in a fresh context: thread-safe) and
    rounded once to float64 (``mpfr_get_d``: subnormals and overflow
    included). A handful of rows, each some microseconds a class.
    ``scale`` as for :func:`_logit_rows_mp`."""
    m = p.shape[0]
    vals, ok = np.zeros(m), np.zeros(m, dtype=bool)
    tv = _values(t)
    finite = np.isfinite(p).all(axis=1) & np.isfinite(tv).all(axis=1) & np.isfinite(s)
    # a certain prediction (one nonzero entry) with its targets all on it:
    # the loss is exactly 0 (log 1), the usual row that a weight above 1 and
    # a zero loss send here, settled without the rationals
    certain = finite & (np.count_nonzero(p, axis=1) == 1) & ~((tv != 0) & (p == 0)).any(axis=1)
    ok[certain] = True
    for i in np.flatnonzero(finite & ~certain):
        on = np.flatnonzero(tv[i])
        if (p[i, on] <= 0.0).any():  # an infinite loss, as computed
            continue
        ok[i] = True
        q = [gmpy2.mpq(v) for v in p[i].tolist()]
        total = sum(q, gmpy2.mpq(0))
        us = [(j, (total - q[j]) / q[j]) for j in on]
        us = [(j, u) for j, u in us if u != 0]  # log 1 = 0: the loss of a certain prediction
        if not us:
            continue
        with gmpy2.context(precision=200):
            acc = gmpy2.fsum([_target(t, i, j) * gmpy2.log1p(gmpy2.mpfr(u)) for j, u in us])
            vals[i] = float(gmpy2.mul_2exp(acc * gmpy2.mpfr(float(s[i])), scale))
    return vals, ok
