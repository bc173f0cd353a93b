"""The categorical and sparse cross-entropies from logits where a row's loss
is subnormal (its label on the largest logit, every other logit some 708 or
more below) and a sample or class weight lifts it (stabkit/_accurate/rowtail.py):
the weighted loss must keep its relative accuracy, on both sides of the
subnormal range (a gap of 708.4) and of the loss's own underflow (745.13),
through the narrow-row and wide-row kernels, in blocks where only some rows
are tiny, with threads, reductions and ignored labels. References: mpmath at
300 bits."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate

_MP = mpmath.MPContext()
_MP.prec = 300


def exact_loss(x, t, s=1.0):
    """``s sum_j t_j (-log softmax(x)_j)`` with ``-log p_j = (x_k - x_j) +
    log1p(sum_{i != k} e^(x_i - x_k))`` (k the largest), exactly."""
    x = [_MP.mpf(float(v)) for v in x]
    k = max(range(len(x)), key=lambda i: x[i])
    L = _MP.log1p(_MP.fsum(_MP.exp(v - x[k]) for i, v in enumerate(x) if i != k and v != _MP.ninf))
    return _MP.mpf(float(s)) * _MP.fsum(_MP.mpf(float(tj)) * ((x[k] - x[j]) + L) for j, tj in enumerate(t) if tj)


def _rows(gaps, n, rng):
    """One row per gap: the largest logit at a random place, the others
    ``gap`` and more below it."""
    x = -(np.asarray(gaps)[:, None] + rng.uniform(0.0, 30.0, (len(gaps), n)))
    top = rng.integers(0, n, len(gaps))
    x[np.arange(len(gaps)), top] = rng.uniform(-5.0, 5.0, len(gaps))
    for i, g in enumerate(gaps):  # the nearest one exactly ``gap`` below
        x[i, (top[i] + 1) % n] = x[i, top[i]] - g
    return x, top


def test_the_reproducer():
    """A gap of 740 with a sample weight of 1e300: the loss was 4.1996e-22
    against 4.2170e-22 (0.4% off, 1.6e13 ulp)."""
    x = np.array([[0.0, -740.0, -745.0]])
    got = accurate.sparse_categorical_crossentropy(np.array([0]), x, True, sample_weight=np.array([1e300]))[0]
    exact = exact_loss(x[0], [1, 0, 0], 1e300)
    assert ulps(got, exact) <= 2
    assert ulps(4.1995579896505958e-22, exact) > 1e12  # what it gave before, for the record


@pytest.mark.parametrize("n", [3, 40])  # the narrow-row kernel and the wide-row one
@pytest.mark.parametrize("w", [1e-300, 0.5, 1.0, 2.0, 1e20, 1e300])
def test_both_sides_of_the_subnormal_range_and_the_underflow(n, w):
    rng = np.random.default_rng([n, int(np.log10(w)) + 400])
    gaps = [690.0, 705.0, 708.3, 708.5, 720.0, 740.0, 745.1, 745.2, 760.0, 900.0, 1500.0]
    x, top = _rows(gaps, n, rng)
    t = np.eye(n)[top]
    sw = np.full(len(gaps), w)
    cw = np.full(n, w)
    calls = [
        (accurate.sparse_categorical_crossentropy(top, x, True, sample_weight=sw), 1.0, w),
        (accurate.sparse_categorical_crossentropy(top, x, True, class_weight=cw), w, 1.0),
        (accurate.sparse_categorical_crossentropy(top, x, True, class_weight=cw, sample_weight=sw), w, w),
        (accurate.categorical_crossentropy(t, x, True, sample_weight=sw), 1.0, w),
        (accurate.categorical_crossentropy(t, x, True, class_weight=cw, sample_weight=sw), w, w),
    ]
    for got, tw, s in calls:
        for i in range(len(gaps)):
            exact = exact_loss(x[i], t[i] * tw, s)
            assert ulps(got[i], exact) <= 2, (gaps[i], tw, s, got[i], _MP.nstr(exact, 17))


def test_only_some_rows_tiny_in_many_blocks_and_threads():
    """20,000 rows (several blocks), one in 50 with a gap past 708, sample
    weights from 1 to 1e300: the tiny rows exact, the others unchanged by the
    tail (the same bits as without the large weights, times the weight),
    and two workers give the same bits."""
    rng = np.random.default_rng(5)
    rows, n = 20_000, 10
    x = rng.standard_normal((rows, n)) * 3
    lab = np.argmax(x, axis=-1)
    far = np.arange(0, rows, 50)
    x[far] = -800.0 + rng.standard_normal((far.size, n))
    x[far, lab[far]] = 0.0
    sw = 10.0 ** rng.uniform(0, 300, rows)
    got = accurate.sparse_categorical_crossentropy(lab, x, True, sample_weight=sw)
    for i in far[:40]:
        assert ulps(got[i], exact_loss(x[i], np.eye(n)[lab[i]], sw[i])) <= 2
    rest = np.setdiff1d(np.arange(rows), far)
    plain = accurate.sparse_categorical_crossentropy(lab, x, True)
    assert np.array_equal(got[rest], plain[rest] * sw[rest])
    two = accurate.sparse_categorical_crossentropy(lab, x, True, sample_weight=sw, workers=2)
    assert np.array_equal(got.view(np.uint64), two.view(np.uint64))


def test_rows_the_tail_leaves_alone():
    """Labels off the largest logit, tied maxima, smoothing, soft labels on
    two classes, a single live class, NaN and +inf logits: the loss is not
    tiny (or not a number), and stays what the kernels give."""
    x = np.array([[0.0, -800.0, -900.0], [0.0, 0.0, -900.0], [0.0, -800.0, 5.0],
                  [0.0, -np.inf, -np.inf], [np.nan, -800.0, 0.0], [np.inf, -800.0, 0.0]])
    for t in (np.array([[0, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], float),
              np.array([[0.5, 0.5, 0]] * 6)):
        sw = np.full(6, 1e300)
        got = accurate.categorical_crossentropy(t, x, True, sample_weight=sw)
        want = accurate.categorical_crossentropy(t, x, True) * sw
        assert np.array_equal(got, want, equal_nan=True)
    smooth = accurate.categorical_crossentropy(np.eye(3)[[0]], x[:1], True, 0.1, sample_weight=np.array([1e300]))
    assert ulps(smooth[0], exact_loss(x[0], [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3], 1e300)) <= 4
    # a masked class adds nothing to a tail row
    masked = np.array([[0.0, -800.0, -np.inf]])
    got = accurate.sparse_categorical_crossentropy(np.array([0]), masked, True, sample_weight=np.array([1e300]))
    assert ulps(got[0], exact_loss(masked[0], [1, 0, 0], 1e300)) <= 2
    # a masked row alone: log1p(0) = 0, any weight
    one = accurate.sparse_categorical_crossentropy(np.array([0]), x[3:4], True, sample_weight=np.array([1e300]))
    assert one[0] == 0.0


def test_float32_logits_reductions_and_ignored_labels():
    x = np.array([[0.0, -740.0, -741.0], [0.0, -1.0, -2.0], [3.0, -750.0, -760.0]])
    lab = np.array([0, 1, 0])
    sw = np.array([1e30, 1.0, 1e30])
    ex = [exact_loss(x[i], np.eye(3)[lab[i]], sw[i]) for i in range(3)]
    got32 = accurate.sparse_categorical_crossentropy(lab, x.astype(np.float32), True, sample_weight=sw)
    assert got32.dtype == np.float32
    # float32 logits are the same numbers here; the float32 loss rounds once
    assert all(ulps(got32[i], ex[i], np.float32) <= 1 for i in range(3))
    total = accurate.sparse_categorical_crossentropy(lab, x, True, sample_weight=sw, reduction="sum")
    assert ulps(total, _MP.fsum(ex)) <= 2
    mean = accurate.sparse_categorical_crossentropy(lab, x, True, sample_weight=sw, reduction="mean")
    assert ulps(mean, _MP.fsum(ex) / _MP.fsum(_MP.mpf(float(v)) for v in sw)) <= 2
    ign = accurate.sparse_categorical_crossentropy(np.array([0, 1, -100]), x, True, sample_weight=sw,
                                                   ignore_index=-100)
    assert ign[2] == 0.0 and ulps(ign[0], ex[0]) <= 2


def test_classes_on_another_axis():
    """3-d logits with the classes on axis 1 (the rows are a view across
    the array): the tail finds each tiny row where the loss puts it."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 5, 6))
    x[2, :, 3] = -800.0 + rng.standard_normal(5)
    x[2, 1, 3] = 0.0
    lab = np.argmax(x, axis=1)
    onehot = np.moveaxis(np.eye(5)[lab], -1, 1)
    w = 10.0 ** rng.uniform(0, 300, (4, 6))
    exact = exact_loss(x[2, :, 3], np.eye(5)[1], w[2, 3])
    for got in (accurate.categorical_crossentropy(onehot, x, True, axis=1, sample_weight=w),
                accurate.sparse_categorical_crossentropy(lab, x, True, axis=1, sample_weight=w)):
        assert got.shape == (4, 6)
        assert ulps(got[2, 3], exact) <= 2
        plain = accurate.sparse_categorical_crossentropy(lab, x, True, axis=1) * w
        keep = np.ones((4, 6), bool)
        keep[2, 3] = False
        assert np.array_equal(got[keep], plain[keep])


@pytest.mark.parametrize("n", [2, 10, 40])
def test_a_class_weight_below_1_that_makes_the_loss_subnormal(n):
    """A class weight below 1 makes a normal loss subnormal, and a sample
    weight lifts it again (class_weight 1e-20, sample_weight 1e20, a gap of
    690: 5.3e11 ulp before; the redo ran only where the unweighted loss was
    subnormal). Gaps from 50 to 740 (the redo's series needs the row's sum
    below 2**-60), class weights from 1e-5 to 1e-300, the sample weight near
    their inverse; sparse and categorical."""
    rng = np.random.default_rng(n)
    gaps = np.concatenate([[50.0, 100.0, 690.0, 708.0, 740.0], rng.uniform(50.0, 740.0, 20)])
    x, top = _rows(gaps, n, rng)
    for e in (-5, -20, -100, -300):
        cw = np.ones(n)
        cw[top] = 10.0**e  # each row's label carries the small weight (the other classes keep 1)
        sw = 10.0 ** -e * rng.uniform(0.5, 4.0, len(gaps))
        got = accurate.sparse_categorical_crossentropy(top, x, True, class_weight=cw, sample_weight=sw)
        onehot = np.eye(n)[top]
        cat = accurate.categorical_crossentropy(onehot, x, True, class_weight=cw, sample_weight=sw)
        for i in range(len(gaps)):
            t = np.zeros(n)
            t[top[i]] = cw[top[i]]
            exact = exact_loss(x[i], t, sw[i])
            assert ulps(got[i], exact) <= 2, (e, gaps[i])
            assert ulps(cat[i], exact) <= 2, (e, gaps[i])


def test_rows_the_series_cannot_take_go_through_mpfr():
    """What the series (a target on the largest logit alone, the row's sum
    below 2**-60) leaves: a class weight of 1e-310 or 5e-324 with gaps of 0.5
    to 40, subnormal targets (on the largest logit, on another, soft), under
    sample weights up to 1e308; before, 3e3 to 5e15 ulp off."""
    rng = np.random.default_rng(11)
    for n in (3, 40):
        gaps = np.array([0.5, 3.0, 10.0, 40.0])
        x, top = _rows(gaps, n, rng)
        for cw_top in (1e-310, 5e-324):
            cw = np.ones(n)
            cw[top] = cw_top
            sw = np.full(len(gaps), 1e300)
            got = accurate.sparse_categorical_crossentropy(top, x, True, class_weight=cw, sample_weight=sw)
            cat = accurate.categorical_crossentropy(np.eye(n)[top], x, True, class_weight=cw, sample_weight=sw)
            for i in range(len(gaps)):
                exact = exact_loss(x[i], np.eye(n)[top[i]] * cw_top, sw[i])
                assert ulps(got[i], exact) <= 2 and ulps(cat[i], exact) <= 2, (n, cw_top, gaps[i])
        y = np.zeros((len(gaps), n))
        y[0, top[0]] = 5e-324  # on the largest logit
        y[1, (top[1] + 1) % n] = 5e-324  # on another
        y[2, top[2]], y[2, (top[2] + 2) % n] = 1e-310, 3e-320  # soft, both subnormal
        y[3, (top[3] + 1) % n] = 2.0**-1060
        sw = np.array([1e300, 1e308, 1e305, 1e290])
        got = accurate.categorical_crossentropy(y, x, True, sample_weight=sw)
        for i in range(len(gaps)):
            assert ulps(got[i], exact_loss(x[i], y[i], sw[i])) <= 2, (n, i)
        assert np.array_equal(accurate.categorical_crossentropy(y, x, True, sample_weight=sw, workers=2), got)
