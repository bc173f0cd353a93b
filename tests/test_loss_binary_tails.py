"""The binary cross-entropy where a sample weight lifts a subnormal term:
from logits past 700 with a subnormal target (``weighted_product`` in
stabkit/_accurate/bcetail.py), and from probabilities whose loss is
subnormal (``BinaryProbTail``: a subnormal target or probability). Both
sides of the subnormal range, weights from 1e-300 to 1e308, exact zeros,
infinite losses, reductions and threads. References: mpmath at 300 bits."""

from __future__ import annotations

import time

import mpmath
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate

_MP = mpmath.MPContext()
_MP.prec = 300


def from_logits(y, z, s=1.0):
    """``s (y softplus(-z) + (1 - y) softplus(z))``, exactly."""
    y, z, s = (_MP.mpf(float(v)) for v in (y, z, s))
    return s * (y * _MP.log1p(_MP.exp(-z)) + (1 - y) * _MP.log1p(_MP.exp(z)))


def from_probs(y, p, s=1.0):
    """``-s (y log p + (1 - y) log1p(-p))`` (``0 log 0 = 0``), exactly."""
    y, p, s = (_MP.mpf(float(v)) for v in (y, p, s))
    a = y * _MP.log(p) if y else 0
    b = (1 - y) * _MP.log1p(-p) if y != 1 else 0
    return -s * (a + b)


def test_the_reproducers():
    """A subnormal target on a logit of -726.6 and on a probability of
    5e-324, under a sample weight of 1e308: 5.8e7 and 4.3e12 ulp before."""
    z = float.fromhex("-0x1.6b4e58e1a1eb9p+9")
    got = accurate.binary_crossentropy(np.array([5e-324]), np.array([z]), True, sample_weight=np.array([1e308]))[0]
    assert ulps(got, from_logits(5e-324, z, 1e308)) <= 1
    got = accurate.binary_crossentropy(np.array([5e-324]), np.array([5e-324]), sample_weight=np.array([1e308]))[0]
    assert ulps(got, from_probs(5e-324, 5e-324, 1e308)) <= 1
    assert ulps(3.680789061517287e-13, from_probs(5e-324, 5e-324, 1e308)) > 1e12  # before, for the record


@pytest.mark.parametrize("s", [1e-300, 0.5, 1.0, 2.0, 1e20, 1e308])
def test_subnormal_targets_from_logits(s):
    """Targets from 5e-324 up past 2**-1000 on logits of both signs past the
    tail's 700 (and one below it), each term kept to an ulp."""
    rng = np.random.default_rng(int(np.log10(s)) + 400)
    y = np.ldexp(rng.integers(1, 2**20, 40).astype(float), rng.integers(-1094, -1000, 40))
    z = rng.choice([-1.0, 1.0], 40) * rng.uniform(690.0, 760.0, 40)
    sw = np.full(40, s)
    got = accurate.binary_crossentropy(y, z, True, sample_weight=sw)
    for i in range(40):  # past float64's range: inf
        assert ulps(got[i], from_logits(y[i], z[i], s)) <= 1, (y[i], z[i], s)


@pytest.mark.parametrize("s", [1e-300, 0.5, 1.0, 2.0, 1e20, 1e308])
def test_subnormal_losses_from_probabilities(s):
    """A subnormal loss needs both terms tiny: a subnormal target on a
    subnormal or tiny probability (``y (-log p)`` and ``(1 - y) p``, both
    near 2**-1074 to 2**-1000: both sides of the subnormal range); beside
    them subnormal targets on probabilities across (0, 1), whose loss is
    normal."""
    rng = np.random.default_rng(int(np.log10(s)) + 500)

    def tiny(k, top):
        return np.ldexp(rng.integers(1, 2**20, k).astype(float), rng.integers(-1094, top, k))

    y = np.concatenate([tiny(40, -1040), tiny(20, -1000)])
    p = np.concatenate([tiny(40, -1020), rng.uniform(0.0, 1.0, 20)])
    sw = np.full(60, s)
    got = accurate.binary_crossentropy(y, p, sample_weight=sw)
    assert sum(from_probs(y[i], p[i]) < 2.0**-1022 for i in range(60)) >= 20  # the tail is reached
    for i in range(60):
        # an ulp in the tail (an unweighted loss below 2**-1022, a weight
        # above 1); elsewhere the loss's own two logs, sum and product
        tail = s > 1 and from_probs(y[i], p[i]) < 2.0**-1022
        assert ulps(got[i], from_probs(y[i], p[i], s)) <= (1 if tail else 2), (y[i], p[i], s)


def test_exact_zeros_infinities_and_nan_stand():
    """Certain predictions give +0.0 under any weight, fast (10^6 entries);
    a target on a probability of 0 stays inf, NaN stays NaN."""
    n = 10**6
    for y, p in ((np.zeros(n), np.zeros(n)), (np.ones(n), np.ones(n))):
        t0 = time.perf_counter()
        got = accurate.binary_crossentropy(y, p, sample_weight=np.full(n, 3.0))
        assert time.perf_counter() - t0 < 5.0  # an MPFR call per entry would take minutes
        assert not got.any() and not np.signbit(got).any()
    got = accurate.binary_crossentropy(np.array([1e-310, 1.0, np.nan]), np.array([0.0, 1e-320, 0.5]),
                                       sample_weight=np.full(3, 1e300))
    assert got[0] == np.inf and np.isnan(got[2])
    assert ulps(got[1], from_probs(1.0, 1e-320, 1e300)) <= 1


def test_reductions_and_threads():
    """Tail entries mixed into ordinary ones: the sum against the exact one,
    the same bits on two threads, the ordinary entries as without the tail."""
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, n).astype(float)
    p = rng.uniform(0.01, 0.99, n)
    at = np.arange(0, n, 13)
    y[at], p[at] = (np.ldexp(rng.integers(1, 1000, (2, at.size)).astype(float), -1074))
    sw = np.where(np.isin(np.arange(n), at), 1e300, 1.0)
    got = accurate.binary_crossentropy(y, p, sample_weight=sw)
    exact = [from_probs(y[i], p[i], sw[i]) for i in range(n)]
    assert max(ulps(got[i], exact[i]) for i in range(n)) <= 1
    keep = sw == 1.0
    assert np.array_equal(got[keep], accurate.binary_crossentropy(y, p)[keep])
    total = accurate.binary_crossentropy(y, p, sample_weight=sw, reduction="sum")
    assert ulps(total, _MP.fsum(exact)) <= 2
    assert np.array_equal(accurate.binary_crossentropy(y, p, sample_weight=sw, workers=2), got)


def test_weights_that_overflow_before_they_combine():
    """A pos_weight times a large softplus (or -log p) passed float64's
    range before a sample weight below 1 brought it back: inf for a finite
    loss (a logit of -1.8e308 with pos_weight 3 and sample weight 0.25 is
    1.35e308). Far and near logits, and probabilities; a loss that is
    infinite after the weights too stays inf."""
    M = float(np.finfo(np.float64).max)
    y = np.array([1.0, 1.0, 0.5, 1.0, 0.0])
    z = np.array([-M, -10.0, 3.0, -800.0, 1e300])
    pos = np.array([3.0, 1e308, 1e308, 1e308, 2.0])
    sw = np.array([0.25, 1e-5, 1e-3, 1e-10, 0.5])
    # one output column per entry: pos_weight broadcasts over the last axis
    got = accurate.binary_crossentropy(y[:, None], z[:, None], True, pos_weight=pos[:, None],
                                       sample_weight=sw[:, None])[:, 0]

    def exact(i):
        yi, zi, wi, si = (_MP.mpf(float(v)) for v in (y[i], z[i], pos[i], sw[i]))
        sp = (lambda v: _MP.log1p(_MP.exp(v)) if v < 0 else v + _MP.log1p(_MP.exp(-v)))
        return si * (wi * yi * sp(-zi) + (1 - yi) * sp(zi))

    for i in range(5):
        assert ulps(got[i], exact(i)) <= 1, i
    assert np.isfinite(got[:4]).all() and got[4] == 5e299  # 0.5 * 1e300 exactly
    p = np.array([1e-10, 0.5])
    got = accurate.binary_crossentropy(np.array([1.0, 1.0]), p, pos_weight=1e308, sample_weight=np.array([1e-5, 1e300]))
    assert ulps(got[0], -_MP.mpf(1e303) * _MP.log(_MP.mpf(1e-10))) <= 1
    assert got[1] == np.inf  # 6.9e607: past float64 after the weights too


@pytest.mark.parametrize("loss_fn", ["binary", "sparse"])
def test_a_mean_of_weighted_terms_that_overflow(loss_fn):
    """Losses of 1e308 under sample weights of 10: each weighted term is past
    float64's range, their mean (divided by the weights' sum) is not; it was
    inf. The sum, and a mean that is itself past the range, stay inf;
    ignored samples' terms do not count."""
    z = np.array([-1e308, -1e308, -1.0])
    sw = np.array([10.0, 10.0, 1e300])
    if loss_fn == "binary":
        def call(**kw):
            return accurate.binary_crossentropy(np.ones(3), z, True, sample_weight=sw, **kw)
        losses = [from_logits(1.0, v) for v in z]
    else:
        x = np.stack([np.zeros(3), z], axis=1)
        labels = np.array([1, 1, -100])

        def call(**kw):
            return accurate.sparse_categorical_crossentropy(labels, x, True, sample_weight=sw, ignore_index=-100, **kw)
        losses = [from_logits(1.0, v) for v in z[:2]] + [_MP.mpf(0)]  # -log sigmoid(z): the same loss here
    weighted = [_MP.mpf(float(w)) * v for w, v in zip(sw, losses)]
    kept = 3 if loss_fn == "binary" else 2
    den = _MP.fsum(_MP.mpf(float(w)) for w in sw[:kept])
    assert ulps(call(reduction="mean"), _MP.fsum(weighted) / den) <= 2
    assert call(reduction="sum") == np.inf
    assert ulps(call(reduction="sum_over_batch_size"), _MP.fsum(weighted) / kept) == 0.0  # 1e309 / 2: inf
