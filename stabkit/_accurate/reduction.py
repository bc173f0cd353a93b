"""Weighing and reducing the per-sample losses, for the three tiers.

:class:`Plan` holds one call's sample weights, ignored samples and
reduction; :func:`accurate_sum` is the accurate tier's sum (float64, ~1 ulp).
Reductions (in the loss's format, as a 0-d array):

* ``sum``: ``sum(w l)``;
* ``mean``: ``sum(w l) / sum(w)`` with ``w`` the sample weight times the
  class weight of the sample (PyTorch's ``mean`` with ``weight=``, Keras's
  ``mean_with_sample_weight``); NaN when ``sum(w) = 0`` (0 / 0, as PyTorch);
* ``sum_over_batch_size``: ``sum(w l) / n`` with ``n`` the number of samples
  not ignored (Keras's default); 0 when ``n = 0`` (Keras's ``divide_no_nan``).
"""

from __future__ import annotations

import math

import numpy as np

from stabkit.floats import Format, round_float64

from . import double_double as _dd
from .eft import sum_split_scaled


#: the largest float64
_M = float(np.finfo(np.float64).max)


class Plan:
    """The weights and the reduction of one call, in the loss shape.

    ``sample`` multiplies the losses (plainly, as the frameworks do:
    ``0 * inf`` is NaN); ``keep`` zeroes ignored samples exactly;
    ``class_of`` is each sample's class weight for the ``mean`` divisor."""

    def __init__(self, reduction: str, shape: tuple, sample=None, keep=None, class_of=None):
        self.reduction, self.shape = reduction, shape
        self.sample = None if sample is None else np.ascontiguousarray(sample)
        #: the accurate tier's sample weights: for a mean, scaled by a power
        #: of two (_scaled_for_mean); the others weigh in the loss's format,
        #: as the frameworks do, with the weights as given
        self.sample64 = self.sample
        if reduction == "mean" and (sample is not None or class_of is not None):
            self.sample64 = _scaled_for_mean(self.sample, class_of, shape, keep)
        self.keep, self.class_of = keep, class_of
        self.trivial = reduction == "none" and sample is None and keep is None
        #: optional ``tail(loss, part, sample)`` -> loss: the loss's own redo
        #: of weighted entries whose unweighted value was too small to carry
        #: the bits a large weight lifts (the losses' subnormal tails:
        #: bcetail.BinaryTail, rowtail.RowTail)
        self.tail = None
        #: (flat indices, values 2**-1024 of them) of the weighted losses
        #: that overflowed while loss and weight were finite (apply64, for the
        #: means; appended block by block, from any thread)
        self._over: list[tuple[np.ndarray, np.ndarray]] = []
        #: the reduction this plan's terms serve: its own, or another
        #: plan's (share_notes), which decides the notes and the terms' format
        self.serves = reduction

    def share_notes(self, outer: "Plan") -> None:
        """Serve ``outer``'s reduction: its terms kept as it keeps them and
        the overflowed ones noted into its list; the sparse loss's smoothed
        rows, weighed by the categorical loss's plan and reduced by the
        sparse loss's (a mean of 1.2e308 came out inf, its noted term lost
        with the inner plan)."""
        self.serves, self._over = outer.reduction, outer._over

    def apply64(self, loss: np.ndarray, part=slice(None), exact=None) -> np.ndarray:
        """Sample weights and ignored labels applied to float64 losses of the
        flattened samples ``part`` (the accurate tier, before its rounding).
        ``exact``: each loss again as ``(hi + lo) 2**k`` (``hi`` NaN where
        ``loss`` stands; :mod:`stabkit._accurate.rowrest`), weighed and
        rounded once instead of ``loss``."""
        sample = None
        if self.sample64 is not None:
            sample = np.asarray(self.sample64, dtype=np.float64).reshape(-1)[part]
            unweighted, loss = loss, loss * sample
            if exact is not None:
                loss = _weighed(loss, exact, sample)
            if self.serves != "none":
                self._note_overflow(unweighted, sample, loss, part)
        elif exact is not None:
            loss = _weighed(loss, exact, None)
        if self.tail is not None:
            if sample is not None and np.count_nonzero(np.signbit(sample)):
                # the tails decide on weights above 1 and losses >= 0: a
                # negative weight goes in as its magnitude, on the negated
                # loss (both exact), and the sign comes back after (a weight
                # of -1e300 on a subnormal loss skipped the tail: 2e13 ulp)
                sign = np.where(np.signbit(sample), -1.0, 1.0)
                loss = self.tail(loss * sign, part, np.abs(sample)) * sign
            else:
                loss = self.tail(loss, part, sample)
        if self.serves != "none" and hasattr(self.tail, "past_range"):
            self._note_past_range(loss, part, sample)
        if self.keep is not None:
            loss = np.where(self.keep.reshape(-1)[part], loss, 0.0)
        return loss

    def _note_past_range(self, loss: np.ndarray, part, sample) -> None:
        """Note 2**-1024 of the weighed losses that are infinite while
        their rows are finite (a loss past float64's range, weighed or not:
        a mean of such terms may be finite), as the loss's tail forms them
        (``tail.past_range``); ignored samples are not noted."""
        with np.errstate(invalid="ignore"):
            if not np.isinf(loss).any():
                return
        at, vals = self.tail.past_range(loss, part, sample)
        if self.keep is not None:
            live = self.keep.reshape(-1)[part][at]
            at, vals = at[live], vals[live]
        if at.size:
            self._over.append((self._flat(part, at), vals))

    def _note_overflow(self, loss: np.ndarray, sample: np.ndarray, weighted: np.ndarray, part) -> None:
        """Keep ``loss * sample * 2**-1024`` where the weighted loss
        overflowed from finite factors (a loss of 1e308 under a weight of
        10): a mean of such terms may still be finite. Both factors of a
        product past 2**1024 are at least 1 (each is below 2**1024), so each
        scaled by 2**-512 stays normal and the scaled product rounds once."""
        with np.errstate(invalid="ignore"):
            over = np.isinf(weighted) & np.isfinite(loss) & np.isfinite(sample)
        if self.keep is not None:
            over &= self.keep.reshape(-1)[part]
        at = np.flatnonzero(over)
        if at.size:
            self._over.append((self._flat(part, at), (loss[at] * 2.0**-512) * (sample[at] * 2.0**-512)))

    def _flat(self, part, at: np.ndarray) -> np.ndarray:
        """The flat indices of the entries ``at`` of the block ``part``."""
        return np.arange(int(np.prod(self.shape)))[part][at]

    def kept(self, loss: np.ndarray) -> np.ndarray:
        """``loss`` with the ignored samples set to exactly 0."""
        return loss if self.keep is None else np.where(self.keep, loss, np.zeros((), loss.dtype))

    def weigh(self, loss: np.ndarray) -> np.ndarray:
        """Sample weights and ignored labels applied in ``loss``'s format."""
        if self.sample is not None:
            loss = loss * self.sample.astype(loss.dtype)
        return self.kept(loss)

    def _divisor(self, accurate: bool) -> tuple[np.ndarray, bool]:
        """The weights of ``mean`` (float64), and whether the reduction
        returns 0 for a zero divisor (Keras's ``sum_over_batch_size``)."""
        if self.reduction == "sum_over_batch_size":
            return (np.ones(self.shape) if self.keep is None else self.keep.astype(np.float64)), True
        sample = self.sample64 if accurate else self.sample
        w = np.ones(self.shape) if sample is None else np.asarray(sample, dtype=np.float64)
        if self.class_of is not None:
            w = w * self.class_of
        if self.keep is not None:
            w = np.where(self.keep, w, 0.0)
        return w, False

    def _scaled_total(self, weighted: np.ndarray, total: float) -> tuple[float, int]:
        """For a sum ``total`` of the weighted losses past float64's range:
        the sum 2**-1024 smaller, with the terms that overflowed themselves
        from :meth:`_note_overflow`, and that scale; ``total`` and 0 where a
        term is infinite for another reason. Scaling by a power of two is
        exact for normal terms; one the scaling makes subnormal loses at most
        2**-1075 of a scaled sum above 1 (the unscaled one passed 2**1024),
        so the quotient still rounds once, and the scaling back overflows only
        where the mean itself does."""
        w = np.asarray(weighted, dtype=np.float64).reshape(-1) * 2.0**-1024
        if self._over:
            idx = np.concatenate([i for i, _ in self._over])
            w[idx] = np.concatenate([v for _, v in self._over])
        if not np.isfinite(w).all():
            return total, 0
        return accurate_sum(w), 1024

    def reduce(self, weighted: np.ndarray, fmt: Format, accurate: bool) -> np.ndarray:
        """``weighted`` (the weighed per-sample losses) reduced as asked: a
        0-d array of ``fmt``. The accurate tier sums in float64 accurately
        (:func:`accurate_sum`) and rounds once; the others sum in their format
        (16-bit formats accumulate in float32, as the frameworks do)."""
        if self.reduction == "none":
            return weighted
        with np.errstate(all="ignore"):
            scale = 0
            if accurate:
                total = accurate_sum(weighted)
                if not np.isfinite(total):
                    # finite losses whose sum passes float64's largest value
                    # (two of 0.75 max: their mean is 0.75 max), or terms that
                    # overflowed under their weights (NaN where two of opposite
                    # signs met: 1e308 and -0.7e308 weights): the sum and the
                    # quotient formed 2**-1024 smaller; a sum past the range
                    # comes back inf from the scaling
                    total, scale = self._scaled_total(weighted, total)
            else:
                acc = np.float32 if fmt.width < 32 else fmt.dtype
                total = np.sum(weighted, dtype=acc)
            if self.reduction != "sum":
                w, zero_ok = self._divisor(accurate)
                den = accurate_sum(w) if accurate else np.sum(w, dtype=acc)
                total = 0.0 if zero_ok and den == 0 else np.divide(total, den)
            if scale:
                scaled, total = total, np.ldexp(total, scale)
                # the terms carry up to ~4 ulp each (the losses' bound): a mean
                # whose exact value is the largest float64 M can come out a few
                # ulp above M + ulp/2, so ldexp gives inf; within M (1 + 2**-51),
                # M is as good an answer (inf was found for a mean of M itself)
                if np.isinf(total) and abs(scaled) <= math.ldexp(_M, -scale) * (1.0 + 2.0**-51):
                    total = math.copysign(_M, scaled)
            if accurate:
                return round_float64(np.asarray(total, dtype=np.float64), fmt) if fmt.name != "float64" else np.asarray(total)
            return np.asarray(total).astype(fmt.dtype)


def _scaled_for_mean(sample, class_of, shape: tuple, keep=None):
    """The sample weights of a ``mean`` times the power of two ``2**-E``
    that puts the largest weight of a sample, ``sample * class_of``, in
    [1/2, 1) (formed from exponents: the product itself may underflow), or
    as near as keeps every sample weight finite (the samples ``keep``
    leaves out do not count); None for none where the class weights alone
    stay within ``2**+-64``. ``sum(w l) / sum(w)`` is the same real number
    for any common factor, and every product and sum rounds as before
    unless it left float64's normal range, which the scaling prevents: a
    weight of 6e-226 on a loss of 6e-273 gave a product of 0 and a mean of
    0 (7.6e15 ulp), class weights of 1e-179 under sample weights of 1e-279
    a 0 / 0."""
    s = np.broadcast_to(np.ones(()) if sample is None else np.asarray(sample, dtype=np.float64), shape)
    c = np.ones(()) if class_of is None else np.asarray(class_of, dtype=np.float64)
    both = np.broadcast_to((s != 0) & (c != 0), shape)
    if keep is not None:  # an ignored sample's weight counts nowhere
        both = both & keep
    if not both.any() or not (np.isfinite(s).all() and np.isfinite(c).all()):
        return sample
    es = np.frexp(s)[1]
    e = es + np.broadcast_to(np.frexp(c)[1], shape)
    # every sample weight stays finite (E >= its exponent - 1024); one that
    # goes subnormal or 0 has a combined weight below 2**-50 of the largest
    # (its class weight is below 2**1024)
    top = max(int(e[both].max()), int(es[s != 0].max()) - 1024)
    if sample is None and -64 <= top <= 64:
        return None
    return np.ldexp(s, -top)


def accurate_sum(values) -> float:
    """The float64 sum of ``values`` to ~1 ulp: ``math.fsum`` (exact, one
    rounding) of short arrays; longer ones in rows of 1024 compensated by
    extraction (2**-60 of the magnitudes, :func:`sum_split_scaled`), whose
    ``hi + lo`` pairs ``math.fsum`` then adds exactly. Infinite or NaN terms
    give NumPy's plain sum (inf, -inf or NaN, as the exact sum)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(v).all():
        return float(np.sum(v))
    try:
        if v.size <= 4096:
            return math.fsum(v.tolist())
        width = 1024
        rows = np.zeros(-(-v.size // width) * width)
        rows[: v.size] = v
        rows = rows.reshape(-1, width)
        hi, lo = sum_split_scaled(rows, np.empty_like(rows), np.empty_like(rows))
        return math.fsum(hi.tolist() + lo.tolist())
    except OverflowError:  # fsum's partial sums overflow: so does the sum
        return float(np.sum(v))


def _weighed(plain: np.ndarray, exact, sample: np.ndarray | None) -> np.ndarray:
    """``(hi + lo) 2**k sample`` rounded once (``exact = (hi, lo, k)``),
    where ``hi`` is not NaN; ``plain`` elsewhere, and where the weight is
    0 or not finite. Every factor goes in as a
    mantissa in [1/2, 1) and a power of two (``frexp``): TwoProduct of two
    mantissas is exact, whatever the magnitudes (weights of 1e-300 or
    1e300, losses past 1e300), and the one rounding is the final ``ldexp``'s
    (a subnormal result rounds twice, within one unit of 2**-1074)."""
    hi, lo, k = exact
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        hm, he = np.frexp(hi)
        lm = np.ldexp(lo, -he)
        if sample is None:
            v, e = hm + lm, he + k
        else:
            sm, se = np.frexp(sample)
            p, pe = _dd.two_prod(hm, sm)
            v, e = p + (pe + lm * sm), he + se + k
        out = np.ldexp(v, np.asarray(e, dtype=np.int32))
    # a zero weight: the plain product keeps its sign (-0.0 for a weight of -0.0)
    use = ~np.isnan(hi) if sample is None else ~np.isnan(hi) & np.isfinite(sample) & (sample != 0)
    return np.where(use, out, plain)
