"""softmax, log_softmax and logsumexp against the mpmath reference.

Required of the accurate tier: float64 at most 4 ulp on rows of up to 10**4
elements with any spread and offsets up to +-1e4; float32, float16 and
bfloat16 below 1 ulp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.numerics import adversarial_rows, errors, quiet

import stabkit
from stabkit import naive, stable
from stabkit.reference import reference

ROWWISE = ["softmax", "log_softmax", "logsumexp"]
BOUND = {"float64": 4.0, "float32": 1.0, "float16": 1.0, "bfloat16": 1.0}


def _worst(fn, tier, rows):
    worst, fails = 0.0, 0
    for r in rows:
        e, f, _, _ = errors(fn, tier, r)
        fails += int(f.sum())
        e = e[~np.isnan(e)]
        worst = max(worst, float(e.max()) if e.size else 0.0)
    return worst, fails


@pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("fn", ROWWISE)
def test_accurate_on_adversarial_rows(fn, fmt):
    rows = adversarial_rows(fmt, seed=11, n_rows=45)
    worst, fails = _worst(fn, "accurate", rows)
    assert fails == 0
    assert worst <= BOUND[fmt]


@pytest.mark.slow
@pytest.mark.parametrize("fn", ROWWISE)
def test_accurate_on_long_float64_rows(fn):
    rng = np.random.default_rng(3)
    rows = [
        rng.normal(size=10_000) * 30 + 9_000.5,  # offset 9000: the shift itself rounds
        np.log(rng.dirichlet(np.ones(10_000))),  # logsumexp ~ 0
        np.r_[50.0, rng.normal(size=999) - 40],  # one winner far ahead of 999 others
        rng.uniform(-700, 700, size=3_000) - 1e4,
    ]
    worst, fails = _worst(fn, "accurate", rows)
    assert fails == 0
    assert worst <= 4.0


class TestLogSoftmax:
    def test_winner_at_gap_10_float64(self):
        # -log1p(exp(-10)) = -4.539889921686465e-05 (mpmath, 200 bits). The
        # max-shift form rounds 1 + exp(-10) first: ~1000 ulp off (SciPy and
        # PyTorch measured at 978 ulp).
        x = np.array([10.0, 0.0])
        e_st, _, _, ref = errors("log_softmax", "stable", x)
        e_acc, _, y, _ = errors("log_softmax", "accurate", x, ref=ref)
        assert e_st[0] > 500
        assert e_acc[0] <= 0.5
        assert y[0] == -4.539889921686465e-05

    @pytest.mark.parametrize("fmt,gap", [("float64", 37.0), ("float32", 17.0)])
    def test_winner_rounds_to_zero_in_stable(self, fmt, gap):
        # 1 + exp(-gap) rounds to 1 once exp(-gap) < 2**-p: stable returns 0
        x = np.array([gap, 0.0], dtype=fmt)
        y_st = stable.log_softmax(x)
        assert y_st[0] == 0.0
        y = stabkit.log_softmax(x)
        assert y[0] == pytest.approx(-math.exp(-gap), rel=1e-6, abs=0)
        assert errors("log_softmax", "accurate", x)[0][0] <= 0.5

    def test_naive_gives_minus_inf_where_probability_underflows(self):
        x = np.array([800.0, 0.0])
        y = quiet(naive.log_softmax, x)
        assert np.isnan(y[0])  # exp(800) = inf, inf/inf
        x = np.array([0.0, -800.0])
        assert quiet(naive.log_softmax, x)[1] == -np.inf  # exact: -800
        assert stabkit.log_softmax(x)[1] == -800.0


class TestSoftmax:
    def test_spread_of_700_in_float64(self):
        # the shift x - max rounds when x and max differ in exponent; exp turns
        # an absolute error of ulp(700)/2 into ~250 relative ulp
        rng = np.random.default_rng(0)
        x = np.r_[700.0 + rng.uniform(0, 1, 20), rng.uniform(0, 1, 20)]
        e_st, _, _, ref = errors("softmax", "stable", x)
        e_acc, f, _, _ = errors("softmax", "accurate", x, ref=ref)
        assert np.nanmax(e_st) > 100
        assert np.nanmax(e_acc) <= 4 and not f.any()

    def test_naive_overflow_is_nan(self):
        y = quiet(naive.softmax, np.array([1000.0, 1.0], np.float32))
        assert np.isnan(y[0])
        assert np.array_equal(stabkit.softmax(np.array([1000.0, 1.0], np.float32)), [1.0, 0.0])

    def test_sums_to_one_and_keeps_tiny_probabilities(self):
        x = np.array([0.0, -740.0, -1.0])
        p = stabkit.softmax(x)
        assert p[1] > 0  # exp(-740)/(1+e^-1) is a float64 subnormal, not 0
        assert abs(p.sum() - 1) <= 2 * np.finfo(float).eps


class TestLogsumexp:
    def test_cancelling_row_keeps_relative_accuracy(self):
        # x = log([1/4, 1/4, 1/2]) rounded: the exact logsumexp is ~1e-17, not 0
        x = np.log(np.array([0.25, 0.25, 0.5]))
        e_st, _, y_st, ref = errors("logsumexp", "stable", x)
        e_acc, _, y, _ = errors("logsumexp", "accurate", x, ref=ref)
        assert float(ref.rounded) != 0.0
        assert e_acc <= 1.0
        assert e_st > 1e6

    def test_overflow_in_naive(self):
        assert quiet(naive.logsumexp, np.array([1000.0, 0.0])) == np.inf
        assert stabkit.logsumexp(np.array([1000.0, 0.0]), axis=-1) == 1000.0

    def test_keepdims_and_axis(self):
        x = np.arange(12.0).reshape(3, 4)
        for axis in (0, 1, -1):
            got = stabkit.logsumexp(x, axis=axis, keepdims=True)
            want = np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-15)
        ref = reference("logsumexp", x, axis=0)
        assert np.max(ref.ulp_error(stabkit.logsumexp(x, axis=0))) <= 0.5


class TestTiersAgreeWhereAllAreExact:
    @pytest.mark.parametrize("fn", ROWWISE)
    def test_moderate_rows(self, fn):
        # on rows of small logits all three tiers are within a few ulp
        rng = np.random.default_rng(8)
        x = rng.normal(size=(50, 10))
        outs = [quiet(getattr(t, fn), x) for t in (naive, stable, stabkit)]
        for o in outs[:2]:
            np.testing.assert_allclose(o, outs[2], rtol=1e-13, atol=0)
