"""sigmoid, log_sigmoid and softplus: every tier against the mpmath reference.

The 16-bit formats are swept exhaustively (all 65,536 bit patterns less the
NaNs); float32 and float64 are sampled uniformly over bit patterns plus the
named regimes. For the naive tier the tests pin *where* it fails, from first
principles (the overflow threshold of ``exp`` in the format, the point where
``1 + exp(x)`` rounds to 1), rather than skipping it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.numerics import errors, exhaustive, ordinal_uniform, quiet

import stabkit
from stabkit import accurate, naive, stable
from stabkit.floats import get_format

SIXTEEN = ["float16", "bfloat16"]
ONE_ARG = ["sigmoid", "log_sigmoid", "softplus"]


def _exp_overflow(fmt):
    """exp(x) is inf in ``fmt`` once x exceeds log(max + ulp/2)."""
    f = get_format(fmt)
    return math.log(f.max * (1 + 2.0 ** -f.precision))


# ---------------------------------------------------------------- exhaustive


@pytest.mark.slow
@pytest.mark.parametrize("fmt", SIXTEEN)
@pytest.mark.parametrize("fn", ONE_ARG)
def test_accurate_exhaustive_16bit(fn, fmt):
    x, ref = exhaustive(fn, fmt)
    e, fails, _, _ = errors(fn, "accurate", x, ref=ref)
    assert not fails.any()
    assert not ref.unsettled.any()
    assert np.nanmax(e) < 1.0
    assert np.mean(e <= 0.5) >= 0.999  # correctly rounded on nearly every input


@pytest.mark.slow
@pytest.mark.parametrize("fmt", SIXTEEN)
@pytest.mark.parametrize("fn", ONE_ARG)
def test_stable_exhaustive_16bit_is_faithful_where_it_does_not_overflow(fn, fmt):
    # the stable tier computes op by op in the 16-bit format: a few rounding
    # errors pile up (up to ~1.8 ulp) but nothing breaks, except softplus in
    # float16, whose exp(x) overflows below PyTorch's threshold of 20
    x, ref = exhaustive(fn, fmt)
    e, fails, _, _ = errors(fn, "stable", x, ref=ref)
    x64 = x.astype(np.float64)
    if fn == "softplus" and fmt == "float16":
        t = _exp_overflow(fmt)
        assert np.array_equal(fails, (x64 > t) & (x64 <= 20))
    else:
        assert not fails.any()
    assert np.nanmax(np.where(fails, np.nan, e)) < 2.0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", SIXTEEN)
class TestNaiveFailsWhereTheFormulaSays:
    def test_sigmoid_underflows_to_zero_once_exp_overflows(self, fmt):
        x, ref = exhaustive("sigmoid", fmt)
        _, fails, y, _ = errors("sigmoid", "naive", x, ref=ref)
        x64 = x.astype(np.float64)
        assert not fails.any()  # 1/(1+inf) is 0, never NaN
        zero_wrong = (y.astype(np.float64) == 0) & (ref.rounded.astype(np.float64) != 0)
        # exp(-x) overflows for x < -T; from there on, every nonzero result is lost
        t = _exp_overflow(fmt)
        assert np.array_equal(zero_wrong, (x64 < -t) & (ref.rounded.astype(np.float64) != 0))
        assert zero_wrong.sum() > 5

    @pytest.mark.parametrize("fn", ["softplus", "log_sigmoid"])
    def test_softplus_overflows_and_rounds_to_zero(self, fn, fmt):
        x, ref = exhaustive(fn, fmt)
        _, fails, y, _ = errors(fn, "naive", x, ref=ref)
        x64 = x.astype(np.float64)
        s = 1 if fn == "softplus" else -1  # log_sigmoid(x) = -softplus(-x)
        t = _exp_overflow(fmt)
        finite = np.isfinite(x64)
        # log(1 + exp(x)) is inf once exp overflows, where the exact value is finite
        assert np.array_equal(fails, finite & (s * x64 > t))
        # 1 + exp(x) rounds to 1 once exp(x) <= 2**-p (half an ulp of 1): log gives 0
        f = get_format(fmt)
        one_rounds = s * x64 <= math.log(2.0 ** -f.precision)
        zero_wrong = (y.astype(np.float64) == 0) & (ref.rounded.astype(np.float64) != 0)
        assert np.array_equal(zero_wrong, one_rounds & (ref.rounded.astype(np.float64) != 0))


# ---------------------------------------------------------------- sampled


def _sample(fmt):
    return np.concatenate([
        ordinal_uniform(fmt, 1500, seed=1),
        ordinal_uniform(fmt, 1500, seed=2, lo=-800.0, hi=800.0),
        np.linspace(-750, 750, 600),
        np.array([0.0, -0.0, 2.0**-30, -(2.0**-30), 20.0, 20.5, 36.7, -709.79, -745.1, 709.79, 1e300, -1e300]),
    ]).astype(fmt)


@pytest.mark.parametrize("fmt,bound", [("float32", 1.0), ("float64", 2.0)])
@pytest.mark.parametrize("fn", ONE_ARG)
def test_accurate_sampled(fn, fmt, bound):
    with np.errstate(over="ignore"):  # 1e300 is inf in float32: an input like any other
        x = _sample(fmt)
    e, fails, _, ref = errors(fn, "accurate", x)
    assert not fails.any()
    assert np.nanmax(e) <= bound
    if fmt == "float32":
        assert np.mean(e <= 0.5) >= 0.999


# ---------------------------------------------------------------- regressions


class TestSigmoid:
    def test_float64_subnormal_results_survive(self):
        # naive 1/(1+exp(800)) -> 1/inf = 0, but sigmoid(-720) = 2.03e-313 is a
        # float64 subnormal (computed with mpmath at 200 bits)
        x = np.array([-720.0])
        assert quiet(naive.sigmoid, x)[0] == 0.0
        e, fails, y, ref = errors("sigmoid", "accurate", x)
        assert y[0] == pytest.approx(2.0322308024e-313, rel=1e-9, abs=0)
        assert e[0] <= 0.5

    def test_edges(self):
        x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
        for tier in (naive, stable, accurate):
            y = quiet(tier.sigmoid, x)
            assert y[0] == 0.5 and y[1] == 0.5 and y[2] == 1.0 and y[3] == 0.0 and np.isnan(y[4])

    def test_monotone_on_a_dense_grid(self):
        x = np.sort(ordinal_uniform("float64", 20000, seed=5, lo=-50, hi=50))
        assert np.all(np.diff(stabkit.sigmoid(x)) >= 0)

    def test_formats_and_integers(self):
        import ml_dtypes

        for dt in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64):
            assert stabkit.sigmoid(np.array([1.0], dt)).dtype == dt
        assert stabkit.sigmoid(np.array([1, 2])).dtype == np.float64
        assert stabkit.sigmoid(np.zeros((2, 0))).shape == (2, 0)
        assert np.ndim(stabkit.sigmoid(0.0)) == 0
        with pytest.raises(TypeError, match="complex128"):
            stabkit.sigmoid(np.array([1j]))


    def test_float32_midpoints_near_zero_are_correctly_rounded(self):
        # x an odd multiple of 2**-24: 1/2 + x/4 is exactly a float32
        # midpoint, and only -x**3/48 (2e-9 ulp) says which way to round; the
        # exhaustive float32 sweep found 81 such inputs rounded the wrong way
        k = np.arange(1, 2**14, 2, dtype=np.float64) * 2.0**-24
        x = np.concatenate([k, -k]).astype(np.float32)
        e, fails, y, _ = errors("sigmoid", "accurate", x)
        assert not fails.any()
        assert np.max(e) < 0.5
        assert y[0] == np.float32(0.5) and y[x.size // 2] == np.float32(0.5)  # x = +-2**-24

    def test_float64_near_zero_by_the_series(self):
        rng = np.random.default_rng(6)
        x = rng.uniform(-(2.0**-10), 2.0**-10, 3000) * 10.0 ** rng.uniform(-12, 0, 3000)
        e, fails, _, _ = errors("sigmoid", "accurate", x)
        assert not fails.any() and np.max(e) <= 0.6


class TestLogSigmoid:
    def test_large_positive_keeps_tiny_result(self):
        # log_sigmoid(40) = -log1p(exp(-40)) = -4.248354255291589e-18
        y = stabkit.log_sigmoid(np.array([40.0, 800.0]))
        assert y[0] == pytest.approx(-4.248354255291589e-18, rel=1e-15, abs=0)
        assert y[1] == 0.0  # exact -exp(-800) underflows float64
        assert quiet(naive.log_sigmoid, np.array([40.0]))[0] == 0.0

    def test_very_negative(self):
        y = stabkit.log_sigmoid(np.array([-800.0, -np.inf]))
        assert y[0] == -800.0 and y[1] == -np.inf
        assert quiet(naive.log_sigmoid, np.array([-800.0]))[0] == -np.inf

    def test_edges(self):
        y = stabkit.log_sigmoid(np.array([np.inf, 0.0, np.nan]))
        assert y[0] == 0.0 and y[1] == pytest.approx(-math.log(2), rel=1e-15, abs=0) and np.isnan(y[2])


class TestNearZeroSeries:
    def test_log_sigmoid_input_float64_rounded_the_wrong_way(self):
        # the exhaustive float32 sweep's one miss: exact value 8e-11 ulp from a
        # float32 midpoint; the double-double series settles it
        x = np.array([-4.4680992e-04], dtype=np.float32)
        for fn, arg in (("log_sigmoid", x), ("softplus", -x)):
            e, fails, y, _ = errors(fn, "accurate", arg)
            assert not fails.any() and e[0] < 0.5
        assert quiet(stabkit.log_sigmoid, x)[0] == np.float32(-0.69337064)

    @pytest.mark.parametrize("fmt", ["float32", "float64"])
    @pytest.mark.parametrize("fn", ["softplus", "log_sigmoid"])
    def test_correctly_rounded_near_zero(self, fn, fmt):
        rng = np.random.default_rng(8)
        x = (rng.uniform(-1, 1, 6000) * 2.0 ** rng.uniform(-40, -10, 6000)).astype(fmt)
        e, fails, _, _ = errors(fn, "accurate", x)
        assert not fails.any() and np.max(e) <= 0.5


class TestSoftplus:
    def test_past_pytorch_threshold(self):
        # softplus(30) = 30 + 9.357622968839737e-14 (mpmath, 200 bits): in
        # float64 that is 26 ulp above 30, which a threshold at 20 drops
        x = np.array([21.0, 30.0, 36.0])
        e_st, _, y_st, ref = errors("softplus", "stable", x)
        assert np.array_equal(y_st, x)
        assert e_st[1] > 20
        e_acc, _, _, _ = errors("softplus", "accurate", x, ref=ref)
        assert np.max(e_acc) <= 0.5

    def test_tiny_results(self):
        # softplus(-40) = log1p(exp(-40)) = 4.248354255291589e-18
        assert stabkit.softplus(np.array([-40.0]))[0] == pytest.approx(4.248354255291589e-18, rel=1e-15, abs=0)
        assert quiet(naive.softplus, np.array([-40.0]))[0] == 0.0

    def test_edges(self):
        y = stabkit.softplus(np.array([np.inf, -np.inf, np.nan, 0.0]))
        assert y[0] == np.inf and y[1] == 0.0 and np.isnan(y[2]) and y[3] == pytest.approx(math.log(2), rel=1e-15, abs=0)
