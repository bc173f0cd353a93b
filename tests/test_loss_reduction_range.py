"""The accurate tier's loss reductions: one rounding of a float64 sum, and
weights whose products leave float64's normal range.

An outside search (2026-12-07) found the reductions rounding each weighed
term to the loss's format before summing (float32 sums 1.25 ulp off, a
float16 mean of 708.5 returned inf because its weighed term overflowed
float16), and float64 means whose weighed terms underflowed to 0 (a sample
weight of 6e-226 on a loss of 6e-273: mean 0, 7.6e15 ulp) or whose weights
multiplied to 0 (class weights of 1e-179 under sample weights of 1e-279:
0 / 0 = NaN). Every test here fails on the code before.
"""

from __future__ import annotations

import mpmath
import ml_dtypes
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate

_MP = mpmath.MPContext()
_MP.prec = 200


def _sparse_exact(labels, z, sw=None, cw=None, red="sum"):
    """The weighted sparse loss from logits reduced as ``red``, in mpmath."""
    tot = den = _MP.mpf(0)
    for i, (y, row) in enumerate(zip(labels, z)):
        xs = [_MP.mpf(float(v)) for v in row]
        m = max(xs)
        lse = m + _MP.log(sum(_MP.exp(v - m) for v in xs))
        w = (_MP.mpf(float(sw[i])) if sw is not None else 1) * (_MP.mpf(float(cw[y])) if cw is not None else 1)
        tot += w * (lse - xs[y])
        den += w
    return tot / den if red == "mean" else tot / len(labels) if red == "sum_over_batch_size" else tot


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("red", ["sum", "mean", "sum_over_batch_size"])
def test_narrow_reductions_round_once(dtype, red):
    # the float64 terms summed, then one rounding: within half an ulp and a
    # hair (the float64 terms' own error), where rounding each term first
    # reached 1.25 ulp
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(60):
        n, k = int(rng.integers(2, 9)), int(rng.integers(2, 6))
        z = (rng.standard_normal((n, k)) * 3).astype(dtype)
        labels = rng.integers(0, k, n)
        sw = rng.uniform(0.5, 2.0, n).astype(dtype) if red == "mean" else None
        got = accurate.sparse_categorical_crossentropy(labels, z, from_logits=True, sample_weight=sw, reduction=red)
        worst = max(worst, ulps(got, _sparse_exact(labels, z, sw, red=red), dtype))
    assert worst <= 0.5 + 2.0**-20, worst


def test_a_bfloat16_sum_is_rounded_once():
    # three rows of zeros: 3 ln 3 = 3.29584; each term rounded to bfloat16
    # first (1.09375) summed to 3.28125 (1.07 ulp); rounded once, 3.296875
    z = np.zeros((3, 3), ml_dtypes.bfloat16)
    got = accurate.sparse_categorical_crossentropy([0, 1, 2], z, from_logits=True, reduction="sum")
    assert got.dtype == z.dtype and float(got) == 3.296875


@pytest.mark.parametrize("red", ["mean", "sum_over_batch_size"])
def test_a_narrow_weighed_term_past_the_format_does_not_overflow_the_reduction(red):
    # 708.5 * 50496 overflows float16: the mean (708.5) came out inf
    z = np.array([[-708.5]], np.float16)
    got = accurate.binary_crossentropy(np.ones((1, 1), np.float16), z, from_logits=True, sample_weight=[[50496.0]],
                                       reduction=red)
    want = 708.5 if red == "mean" else np.inf  # the sum over the batch is 3.6e7 itself
    assert float(got) == want


def test_a_float64_mean_under_a_tiny_sample_weight():
    # w l = 6e-226 * 6e-273 underflows to 0: the mean was 0, not l
    p, w = 6.231247508353557e-273, 6.214994191529464e-226
    got = accurate.binary_crossentropy([[1e-300]], [[p]], sample_weight=[[w]], reduction="mean")
    one = accurate.binary_crossentropy([[1e-300]], [[p]])[0, 0]
    assert got == one and ulps(got, -(1 - _MP.mpf(1e-300)) * _MP.log1p(-_MP.mpf(p)) - _MP.mpf(1e-300)
                               * _MP.log(_MP.mpf(p))) <= 1


def test_a_float64_mean_under_huge_sample_weights():
    # both weighed terms overflow (1e300 * 7e10 and 3e299 * 1e10): the mean is finite
    z = np.array([[-7e10], [-1e10]])
    got = accurate.binary_crossentropy(np.ones((2, 1)), z, from_logits=True, sample_weight=[[1e300], [3e299]],
                                       reduction="mean")
    exact = (_MP.mpf(1e300) * _MP.mpf(7e10) + _MP.mpf(3e299) * _MP.mpf(1e10)) / (_MP.mpf(1e300) + _MP.mpf(3e299))
    assert ulps(got, exact) <= 1


def test_class_weights_under_sample_weights_whose_products_underflow():
    # w_y * s = 1.9e-179 * 9.9e-279 is 0 in float64: the mean was 0 / 0 = NaN
    rng = np.random.default_rng(3)
    z = rng.standard_normal((3, 4))
    labels, cw, sw = np.array([0, 2, 0]), [1.9e-179, 1.0, 3.7e-181, 2.0], [9.9e-279, 4.4e-281, 1.5e-280]
    got = accurate.sparse_categorical_crossentropy(labels, z, from_logits=True, class_weight=cw, sample_weight=sw,
                                                   reduction="mean")
    assert ulps(got, _sparse_exact(labels, z, sw, cw, "mean")) <= 2


def test_an_ignored_sample_does_not_set_the_scale():
    # the ignored sample's label stands at class 0 (weight 4e215): scaling
    # the mean by it sent the others' weights (6e-255, 9e-291) to 0
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 6))
    cw = [4.4e215, 6.2e-113, 4.1e-187, 1.0e-198, 6.4e-255, 8.5e-291]
    got = accurate.sparse_categorical_crossentropy([-100, 4, 5], z, from_logits=True, ignore_index=-100,
                                                   class_weight=cw, reduction="mean")
    assert ulps(got, _sparse_exact([4, 5], z[1:], None, cw, "mean")) <= 2


@pytest.mark.parametrize("fn", ["sparse", "categorical", "binary"])
def test_a_mean_does_not_depend_on_the_scale_of_its_weights(fn):
    # sum(w l) / sum(w) is the same real number for w 2**k: the same bits
    rng = np.random.default_rng(11)
    z = rng.standard_normal((50, 5))
    labels = rng.integers(0, 5, 50)
    sw = rng.uniform(0.1, 3.0, 50)

    def mean(w):
        if fn == "sparse":
            return accurate.sparse_categorical_crossentropy(labels, z, True, sample_weight=w, reduction="mean",
                                                            class_weight=[1.0, 2.0, 0.5, 1.0, 3.0])
        if fn == "categorical":
            return accurate.categorical_crossentropy(np.eye(5)[labels] * 0.9 + 0.02, z, True, sample_weight=w,
                                                     reduction="mean", label_smoothing=0.1)
        return accurate.binary_crossentropy((labels[:, None] > 2) * 1.0, z[:, :1], True, sample_weight=w[:, None],
                                            reduction="mean")

    base = mean(sw)
    for k in (-900, -300, -40, 40, 300, 900):
        assert mean(np.ldexp(sw, k)) == base, k


def test_a_mean_whose_weights_span_past_float64_flushes_the_negligible_ones():
    # sample x class weights 1e381 and 1e-140: keeping every sample weight
    # normal left 1e261 * 1e120 to overflow, and the mean came out 0
    z = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    got = accurate.sparse_categorical_crossentropy([0, 1], z, True, class_weight=[1e120, 1e100, 1.0],
                                                   sample_weight=[[1e261], [1e-240]], reduction="mean")
    assert got == accurate.sparse_categorical_crossentropy([0], z[:1], True)[0]


@pytest.mark.parametrize("red", ["sum", "sum_over_batch_size", "mean"])
def test_weighed_terms_overflowing_with_opposite_signs(red):
    # 1e308 * 2.13 and -0.7e308 * 3.05 each overflow: inf - inf was NaN
    x, w = np.array([[-2.0], [-3.0]]), np.array([[1e308], [-0.7e308]])
    got = accurate.binary_crossentropy(np.ones((2, 1)), x, True, sample_weight=w, reduction=red)
    terms = [_MP.mpf(float(wi)) * _MP.log1p(_MP.exp(-_MP.mpf(float(xi)))) for wi, xi in zip(w[:, 0], x[:, 0])]
    exact = sum(terms) / {"sum": 1, "sum_over_batch_size": 2, "mean": _MP.mpf(0.3e308)}[red]
    # the terms cancel 300-fold: their own roundings (1 ulp of 2e308) decide the error
    assert np.isfinite(got) and abs(_MP.mpf(float(got)) - exact) <= 2 * _MP.mpf(2) ** 971 * (1 if red == "sum" else 0.5)


def test_the_smoothed_sparse_loss_keeps_its_overflowed_terms_for_the_reduction():
    # its rows are weighed by the categorical loss's plan: the term 1e308 *
    # 4.9 was noted there and lost, and the mean over the batch came out inf
    z = np.array([[0.0, 5.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    kw = dict(sample_weight=[[1e308], [1.0], [1.0], [1.0]], label_smoothing=0.1, reduction="sum_over_batch_size")
    got = accurate.sparse_categorical_crossentropy([0, 0, 0, 0], z, True, **kw)
    assert np.isfinite(got) and got == accurate.categorical_crossentropy(np.eye(3)[[0, 0, 0, 0]], z, True, **kw)


def test_the_scaling_is_the_accurate_tiers_alone():
    # the stable and naive tiers weigh in the loss's format with the weights
    # as given, as the frameworks do: a float16 weight of 1e-3 beside 100,
    # scaled by 2**-7, went subnormal in float16 (its term 1% off)
    from stabkit import naive, stable

    # the small weight's loss (10) carries most of the sum: the large
    # weight's (3e-5) counts a third as much
    z = np.array([[-5.0, 5.0, 0.0], [0.0, 11.0, 0.0]], np.float16)
    w = np.array([1e-3, 100.0], np.float16)
    for tier in (stable, naive):
        got = tier.sparse_categorical_crossentropy([0, 1], z, True, sample_weight=w, reduction="mean")
        per = tier.sparse_categorical_crossentropy([0, 1], z, True)
        assert per[0] * w[0] > 2 * per[1] * w[1]
        want = np.sum(per * w, dtype=np.float32) / np.sum(w.astype(np.float32))
        assert got == np.float16(want), tier.__name__


# ------------------------------------------------------------ losses past float64's range (outside search, session 33)

_M = float(np.finfo(np.float64).max)


def _categorical_exact(y, z, cw, ls=0.0, sw=None):
    """Per-row ``sw * sum_j cw_j y'_j (lse - z_j)``, ``y'`` smoothed, in mpmath."""
    out = []
    for i, (yi, row) in enumerate(zip(y, z)):
        xs = [_MP.mpf(float(v)) for v in row]
        m = max(xs)
        lse = m + _MP.log(sum(_MP.exp(v - m) for v in xs))
        n = len(xs)
        t = [_MP.mpf(float(cw[j])) * (_MP.mpf(float(yi[j])) * (1 - _MP.mpf(ls)) + _MP.mpf(ls) / n) for j in range(n)]
        out.append((1 if sw is None else _MP.mpf(float(sw[i]))) * sum(tj * (lse - xj) for tj, xj in zip(t, xs)))
    return out


@pytest.mark.parametrize("red", ["sum_over_batch_size", "mean"])
def test_a_mean_of_losses_past_the_range_is_finite(red):
    # each loss 2M overflows, but the mean of 2M and ~0 is M: it came out inf
    z = np.array([[-_M, _M], [-_M, _M]])
    for fn, y in ((accurate.sparse_categorical_crossentropy, [0, 1]),
                  (accurate.categorical_crossentropy, np.eye(2)[[0, 1]])):  # fmt: skip
        got = fn(y, z, True, reduction=red)
        assert ulps(got, _sparse_exact([0, 1], z, red=red)) <= 1, fn.__name__
    # ten samples, one past the range under a weight of 2: 7.19e307, not inf
    z10, sw = np.tile([[1.0, 0.0]], (10, 1)), np.r_[2.0, np.ones(9)]
    z10[0] = [-_M, _M]
    got = accurate.sparse_categorical_crossentropy(np.zeros(10, int), z10, True, sample_weight=sw, reduction=red)
    assert ulps(got, _sparse_exact(np.zeros(10, int), z10, sw=sw, red=red)) <= 1
    # an ignored sample past the range counts nowhere
    got = accurate.sparse_categorical_crossentropy([0, 1], z, True, ignore_index=0, reduction=red)
    assert got == accurate.sparse_categorical_crossentropy([1], z[1:], True)[0]


def test_a_sparse_class_weight_below_one_brings_a_loss_back_into_range():
    # the loss 2M under a class weight of 1/2 is M: it came out inf (the
    # categorical loss and a sample weight of 1/2 gave M)
    z = np.array([[-_M, _M]])
    for cw in ([0.5, 1.0], {0: 0.5}):
        assert accurate.sparse_categorical_crossentropy([0], z, True, class_weight=cw)[0] == _M
    got = accurate.sparse_categorical_crossentropy([0, 0], np.repeat(z, 2, 0), True, class_weight=[0.25, 1.0],
                                                   reduction="sum")  # fmt: skip
    assert got == _M


@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("w0", [3.0, 4.0, 5.0, 8.0, 16.0])
def test_wide_rows_under_large_class_weights_past_the_range_are_inf_not_nan(w0, ls):
    # 17 classes (the wide path), the target on a logit of -M under a class
    # weight of 4: the scaled pass's sum overflowed to NaN, and a sample
    # weight of 0.1 could not bring the loss back (0.8M came out NaN)
    for n in (16, 17, 40):
        z = np.array([[-_M] * (n - 1) + [_M]])
        y, cw = np.eye(n)[[0]], np.r_[w0, np.ones(n - 1)]
        for sw in (None, [0.1]):
            got = accurate.categorical_crossentropy(y, z, True, label_smoothing=ls, class_weight=cw, sample_weight=sw)
            assert ulps(got[0], _categorical_exact(y, z, cw, ls, sw)[0]) <= 4, (n, sw)


@pytest.mark.parametrize("red", ["sum_over_batch_size", "mean", "sum"])
def test_a_binary_loss_past_the_range_under_pos_weight_keeps_a_finite_reduction(red):
    # a documented limit until now: a per-sample loss overflowing under its
    # pos_weight gave inf where the mean is finite (3M / 8 from logits; a
    # pos_weight of 1e306 on -log(5e-324) from probabilities)
    def softplus(v):
        return _MP.log1p(_MP.exp(v)) if v < 0 else v + _MP.log1p(_MP.exp(-v))

    div = {"sum": 1, "sum_over_batch_size": 8, "mean": 8}[red]
    for z, pos in ((-_M, 3.0), (-5.0, 1e308), (-_M / 2, 1.5)):
        zz = np.full((8, 1), 40.0)
        zz[0] = z
        got = accurate.binary_crossentropy(np.ones((8, 1)), zz, True, pos_weight=pos, reduction=red)
        exact = sum(_MP.mpf(pos) * softplus(-_MP.mpf(float(v))) for v in zz[:, 0]) / div
        assert ulps(got, exact) <= 1, (z, pos)
    p = np.full((8, 1), 0.5)
    p[0] = 5e-324
    got = accurate.binary_crossentropy(np.ones((8, 1)), p, False, pos_weight=1e306, reduction=red)
    exact = sum(_MP.mpf(1e306) * -_MP.log(_MP.mpf(float(v))) for v in p[:, 0]) / div
    assert ulps(got, exact) <= 1
