"""The categorical and sparse cross-entropies from probabilities where a
row's loss is subnormal (a target on its largest probability, the others
summing to a subnormal; or a subnormal target, or a class weight below 1)
and a sample weight lifts it (``_prob_rows`` in
stabkit/_accurate/rowtail.py): the weighted loss must keep its relative
accuracy on both sides of the subnormal range, with soft targets, class
weights, reductions and threads. References: mpmath at 300 bits, each term
``t_j log1p((S - p_j) / p_j)`` with ``S - p_j`` summed from the other
entries (nothing cancels)."""

from __future__ import annotations

import time

import mpmath
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate

_MP = mpmath.MPContext()
_MP.prec = 300


def exact_loss(p, t, s=1.0):
    """``s sum_j t_j log(S / p_j)``, exactly enough (300 bits)."""
    p = [_MP.mpf(float(v)) for v in p]
    total = _MP.mpf(0)
    for j, tj in enumerate(t):
        if tj:
            rest = _MP.fsum(v for i, v in enumerate(p) if i != j)
            total += _MP.mpf(float(tj)) * _MP.log1p(rest / p[j])
    return _MP.mpf(float(s)) * total


def _both(p, label, **kw):
    """The sparse loss at ``label`` and the categorical one of its one-hot row."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    labels = np.full(p.shape[0], label)
    sparse = accurate.sparse_categorical_crossentropy(labels, p, **kw)
    cat = accurate.categorical_crossentropy(np.eye(p.shape[1])[labels], p, **kw)
    return sparse, cat


def test_the_reproducer():
    """``[0.995, 1e-320]`` under a sample weight of 1e300: the loss kept only
    the bits of its subnormal, 5.6e11 ulp off."""
    p = [0.995, 1e-320]
    exact = exact_loss(p, [1, 0], 1e300)
    for got in _both(p, 0, sample_weight=np.array([1e300])):
        assert ulps(got[0], exact) <= 1
    assert ulps(1.0049295236410955e-20, exact) > 1e11  # what it gave before, for the record


@pytest.mark.parametrize("w", [1e-300, 0.5, 1.0, 2.0, 1e20, 1e300])
def test_both_sides_of_the_subnormal_range(w):
    """The others' sum from 2**-1074 up past 2**-1000 (the loss subnormal,
    then normal), under weights from 1e-300 to 1e300, three and forty classes."""
    rng = np.random.default_rng(int(np.log10(w) + 400))
    for n in (3, 40):
        ks = np.arange(-1074, -995, 3)
        p = np.zeros((ks.size, n))
        top = rng.integers(0, n, ks.size)
        p[np.arange(ks.size), top] = rng.uniform(0.995, 1.0, ks.size)  # rows must sum to 1 within 1%
        for i, k in enumerate(ks):  # the others: a few multiples of 2**k
            others = [j for j in range(n) if j != top[i]][:2]
            p[i, others] = np.ldexp(rng.integers(1, 9, len(others)).astype(float), int(k))
        sw = np.full(ks.size, w)
        sparse = accurate.sparse_categorical_crossentropy(top, p, sample_weight=sw)
        cat = accurate.categorical_crossentropy(np.eye(n)[top], p, sample_weight=sw)
        for i in range(ks.size):
            exact = exact_loss(p[i], np.eye(n)[top[i]], w)
            assert ulps(sparse[i], exact) <= 1, (n, w, ks[i])
            assert ulps(cat[i], exact) <= 1, (n, w, ks[i])


def test_a_class_weight_below_1_and_a_label_off_the_top():
    """A class weight of 1e-320 on a label that is not the largest entry
    (its loss log(S / p_y) is about 1, the weighted one subnormal), and one of
    1e-10 on the largest, each lifted by a sample weight."""
    p = np.array([[0.6, 0.4 - 2**-60, 2**-60], [0.995, 1e-320, 0.005 - 1e-320]])
    cw = [1e-10, 1e-320, 1.0]
    labels = np.array([1, 0])
    sw = np.array([1e300, 1e10])
    got = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw, class_weight=cw)
    for i in range(2):
        exact = exact_loss(p[i], np.eye(3)[labels[i]] * cw[labels[i]], sw[i])
        assert ulps(got[i], exact) <= 1, i


def test_subnormal_soft_targets():
    """Soft targets with a subnormal entry (5e-324 on a probability of 0.3)
    under a sample weight of 1e308: that term is a subnormal before the weight."""
    p = np.array([[0.7, 0.3], [1.0 - 2**-52, 2**-52]])
    y = np.array([[1.0 - 5e-324, 5e-324], [0.0, 5e-324]])
    y[0, 0] = 0.0  # a single, subnormal target
    sw = np.array([1e308, 1e308])
    got = accurate.categorical_crossentropy(y, p, sample_weight=sw)
    for i in range(2):
        assert ulps(got[i], exact_loss(p[i], y[i], sw[i])) <= 1, i


def test_certain_rows_stay_zero_and_fast():
    """Certain predictions (a single 1.0) with weights above 1, the rows a
    zero loss sends to the tail: exactly +0.0, without a rational per entry
    (50,000 rows of 100 in well under a second)."""
    n_rows, n = 50_000, 100
    p = np.zeros((n_rows, n))
    labels = np.arange(n_rows) % n
    p[np.arange(n_rows), labels] = 1.0
    sw = np.full(n_rows, 3.0)
    t0 = time.perf_counter()
    got = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw)
    took = time.perf_counter() - t0
    assert np.array_equal(got, np.zeros(n_rows)) and not np.signbit(got).any()
    assert took < 5.0  # generous for a busy machine: the rationals would take minutes


def test_reductions_threads_and_rows_left_alone():
    """Tail rows mixed into ordinary ones: the sum and the mean of the
    weighted losses against the exact ones, the same bits on two threads,
    and the ordinary rows untouched (the same bits as without weights, times
    the weight where it is 1)."""
    rng = np.random.default_rng(7)
    n_rows, n = 300, 5
    p = rng.dirichlet(np.ones(n), n_rows)
    labels = np.argmax(p, axis=1)
    tiny = np.arange(0, n_rows, 7)
    for i in tiny:
        p[i] = 0.0
        p[i, labels[i]] = 0.999  # R / p_k inexact: the subnormal quotient loses bits
        p[i, (labels[i] + 1) % n] = 3e-321
    sw = np.where(np.isin(np.arange(n_rows), tiny), 1e300, 1.0)
    per_row = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw)
    exact = [exact_loss(p[i], np.eye(n)[labels[i]], sw[i]) for i in range(n_rows)]
    assert max(ulps(per_row[i], exact[i]) for i in range(n_rows)) <= 2
    plain = accurate.sparse_categorical_crossentropy(labels, p)
    keep = sw == 1.0
    assert np.array_equal(per_row[keep], plain[keep])
    total = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw, reduction="sum")
    assert ulps(total, _MP.fsum(exact)) <= 2
    mean = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw, reduction="mean")
    assert ulps(mean, _MP.fsum(exact) / _MP.fsum(_MP.mpf(float(w)) for w in sw)) <= 2
    two = accurate.sparse_categorical_crossentropy(labels, p, sample_weight=sw, workers=2)
    assert np.array_equal(two, per_row)


def test_rows_that_keep_their_losses():
    """A target on a zero probability keeps its infinite loss; a NaN row
    stays NaN; weights at or below 1 leave the loss as it was."""
    p = np.array([[1.0, 0.0], [np.nan, 0.5], [0.995, 1e-320]])
    got = accurate.categorical_crossentropy(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]), p,
                                            sample_weight=np.array([1e300, 1e300, 1.0]))
    assert got[0] == np.inf and np.isnan(got[1])
    assert got[2] == accurate.categorical_crossentropy(np.array([[1.0, 0.0]]), p[2:])[0]


def test_class_weights_that_overflow_before_the_sample_weight():
    """A class weight of 3 on a loss of 1.8e308 (logits [0, -1.8e308]) or of
    1e308 on -log p = 9.2 overflowed before a sample weight below 1 could
    bring the loss back (inf for 1.35e308 and 9.2e303); sparse and
    categorical, from logits and from probabilities."""
    M = float(np.finfo(np.float64).max)
    x = np.array([[0.0, -M], [0.0, -10.0]])
    sw = np.array([0.25, 1e-10])
    for cw in ([1.0, 3.0], [1.0, 1e308]):
        sparse = accurate.sparse_categorical_crossentropy(np.array([1, 1]), x, True, class_weight=cw, sample_weight=sw)
        cat = accurate.categorical_crossentropy(np.eye(2)[[1, 1]], x, True, class_weight=cw, sample_weight=sw)
        for i in range(2):
            # -log softmax(x)_1 = (x_0 - x_1) + log1p(e^(x_1 - x_0))
            d = _MP.mpf(float(x[i, 0])) - _MP.mpf(float(x[i, 1]))
            exact = _MP.mpf(float(sw[i])) * _MP.mpf(cw[1]) * (d + _MP.log1p(_MP.exp(-d)))
            assert ulps(sparse[i], exact) <= 2 and ulps(cat[i], exact) <= 2, (cw, i)
    p = np.array([[0.9999, 1e-4]])
    for got in _both(p, 1, class_weight=[1.0, 1e308], sample_weight=np.array([1e-5])):
        assert ulps(got[0], exact_loss(p[0], [0, 1e308], 1e-5)) <= 1
