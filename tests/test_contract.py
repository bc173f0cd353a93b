"""The written edge contract of the row-wise functions, dtypes and shapes,
plus hypothesis properties of the accurate tier."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import stabkit
from stabkit import accurate, naive, stable

ALL_FUNCS = ["sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp"]
DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]


class TestRowEdges:
    """Module docstring of stabkit.accurate: masking, all -inf, +inf, NaN, empty."""

    def test_masked_entries(self):
        x = np.array([1.0, -np.inf, 0.0])
        p, lp = stabkit.softmax(x), stabkit.log_softmax(x)
        assert p[1] == 0.0 and lp[1] == -np.inf
        assert p[0] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-15, abs=0)
        assert stabkit.logsumexp(x, axis=-1) == pytest.approx(math.log(math.e + 1), rel=1e-15, abs=0)

    def test_all_minus_inf(self):
        x = np.full((2, 3), -np.inf)
        assert np.all(np.isnan(stabkit.softmax(x))) and np.all(np.isnan(stabkit.log_softmax(x)))
        assert np.all(stabkit.logsumexp(x, axis=-1) == -np.inf)

    def test_one_plus_inf_is_the_limit(self):
        x = np.array([np.inf, 1.0, -np.inf])
        assert np.array_equal(stabkit.softmax(x), [1.0, 0.0, 0.0])
        assert np.array_equal(stabkit.log_softmax(x), [0.0, -np.inf, -np.inf])
        assert stabkit.logsumexp(x, axis=-1) == np.inf

    def test_two_plus_inf_is_nan(self):
        x = np.array([np.inf, np.inf, 0.0])
        assert np.all(np.isnan(stabkit.softmax(x))) and np.all(np.isnan(stabkit.log_softmax(x)))
        assert stabkit.logsumexp(x, axis=-1) == np.inf

    def test_nan_poisons_its_row_only(self):
        x = np.array([[np.nan, 1.0], [0.0, 1.0]])
        for f in (stabkit.softmax, stabkit.log_softmax):
            out = f(x)
            assert np.all(np.isnan(out[0])) and np.all(np.isfinite(out[1]))
        assert np.isnan(stabkit.logsumexp(x, axis=-1)[0]) and np.isfinite(stabkit.logsumexp(x, axis=-1)[1])

    @pytest.mark.parametrize("tier", [naive, stable, accurate])
    def test_empty(self, tier):
        for shape in [(0,), (3, 0), (0, 4)]:
            x = np.zeros(shape, np.float32)
            assert tier.softmax(x).shape == shape and tier.softmax(x).dtype == np.float32
            assert tier.log_softmax(x).shape == shape
        with np.errstate(divide="ignore"):  # naive: log(0) of the empty sum
            assert np.array_equal(tier.logsumexp(np.zeros((3, 0)), axis=-1), [-np.inf] * 3)
        assert tier.logsumexp(np.zeros((0, 4)), axis=-1).shape == (0,)
        assert tier.sparse_categorical_crossentropy(np.zeros(0, int), np.zeros((0, 4)), from_logits=True).shape == (0,)

    def test_signed_zeros(self):
        assert np.array_equal(stabkit.softmax(np.array([0.0, -0.0])), [0.5, 0.5])
        assert stabkit.logsumexp(np.array([-0.0]), axis=-1) == 0.0
        assert stabkit.log_softmax(np.array([-0.0]))[0] == 0.0

    def test_scalar_is_a_row_of_one_and_a_bad_axis_is_a_clear_error(self):
        # issue 15: scipy.special.softmax(3.0) is 1.0, logsumexp(3.0) is 3.0
        for tier in (naive, stable, accurate):
            assert tier.softmax(3.0) == 1.0 and isinstance(tier.softmax(3.0), np.float64)
            assert tier.log_softmax(np.float32(3.0)) == 0.0 and tier.log_softmax(np.float32(3.0)).dtype == np.float32
            assert tier.logsumexp(3.0) == 3.0
        with pytest.raises(ValueError, match="axis 2"):
            stabkit.softmax(np.zeros((2, 2)), axis=2)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("fn", ALL_FUNCS)
@pytest.mark.parametrize("tier", [naive, stable, accurate])
def test_output_format_is_input_format(tier, fn, dt):
    x = np.array([[0.5, -1.0, 2.0]], dtype=dt)
    with np.errstate(all="ignore"):
        assert getattr(tier, fn)(x).dtype == np.dtype(dt)


@pytest.mark.parametrize("tier", [naive, stable, accurate])
def test_integers_become_float64(tier):
    assert tier.softmax(np.array([1, 2, 3])).dtype == np.float64
    assert tier.sparse_categorical_crossentropy([0], np.array([[1, 2]]), from_logits=True).dtype == np.float64


# ---------------------------------------------------------------- properties

finite64 = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
rows = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=finite64)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_softmax_sums_to_one(x):
    p = stabkit.softmax(x)
    n = x.shape[-1]
    # each p_i is within a few ulp, so the sum is within n * 4 eps of 1
    assert np.all(np.abs(p.sum(axis=-1) - 1) <= 4 * n * np.finfo(float).eps)
    assert np.all(p >= 0) and np.all(p <= 1)


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(-1000, 1000))
def test_log_softmax_shift_invariant(x, c):
    # x + c is exact for these magnitudes only when it does not round; compare
    # on inputs rounded to multiples of 2**-20 so that the shift is exact
    x = np.round(x * 2**20) / 2**20
    a, b = stabkit.log_softmax(x), stabkit.log_softmax(x + c)
    np.testing.assert_allclose(a, b, rtol=8 * np.finfo(float).eps, atol=0)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.integers(2, 200), elements=st.floats(-800, 800)))
def test_sigmoid_monotone_and_symmetric(x):
    x = np.sort(x)
    s = stabkit.sigmoid(x)
    assert np.all(np.diff(s) >= 0)
    # sigmoid(-x) = 1 - sigmoid(x); compare where 1 - s is exact (s >= 1/2)
    hi = x >= 0
    np.testing.assert_allclose(stabkit.sigmoid(-x[hi]), 1 - s[hi], rtol=0, atol=2 * np.finfo(float).eps)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_logsumexp_consistent_with_log_softmax(x):
    lse = stabkit.logsumexp(x, keepdims=True, axis=-1)
    lp = stabkit.log_softmax(x)
    # log_softmax(x) = x - logsumexp(x) up to rounding of the subtraction
    np.testing.assert_allclose(lp, x - lse, rtol=0, atol=4 * np.finfo(float).eps * (np.abs(x) + np.abs(lse)).max())


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 12)), elements=st.floats(-30, 30)))
def test_tiers_agree_where_all_are_exact(x):
    for fn in ("softmax", "log_softmax", "logsumexp"):
        a = getattr(stable, fn)(x)
        b = getattr(accurate, fn)(x)
        with np.errstate(all="ignore"):
            c = getattr(naive, fn)(x)
        # stable and naive lose *relative* accuracy near 0 (the winner's
        # log-probability), never absolute accuracy on moderate logits
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=2e-15)
        np.testing.assert_allclose(c, b, rtol=1e-12, atol=2e-15)
