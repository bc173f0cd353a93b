"""Error-free transformations and compensated row sums (stabkit._accurate.eft)
against exact rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from stabkit._accurate import eft as _eft


def _exact_row_sums(a):
    return [sum(Fraction(float(v)) for v in row) for row in a]


def _rel_err(hi, lo, exact, scale):
    return max(abs(Fraction(float(h)) + Fraction(float(l)) - e) / s for h, l, e, s in zip(hi, lo, exact, scale))


def test_two_sum_err_is_exact():
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000) * 10.0 ** rng.integers(-20, 20, 2000)
    b = rng.normal(size=2000) * 10.0 ** rng.integers(-20, 20, 2000)
    s = a + b
    r = _eft.two_sum_err(a, b, s)
    assert all(Fraction(x) + Fraction(y) == Fraction(z) + Fraction(w) for x, y, z, w in zip(a, b, s, r))


def _terms(seed, n_rows, n):
    # rows of [0, 1] terms with spreads from 1 to 1e-30, some with one big term
    rng = np.random.default_rng(seed)
    e = np.exp(-rng.uniform(0, 1, (n_rows, n)) * 10.0 ** rng.uniform(0, 2, (n_rows, 1)))
    e[::3, 0] = 1.0
    e[1::4] *= 1e-25  # every term tiny: the split's floor sends these to sum2
    return e


@pytest.mark.parametrize("n", [17, 300, 4000])
def test_sum_split_is_accurate_to_2_to_the_minus_60(n):
    e = _terms(1, 12, n)
    q, rest = np.empty_like(e), np.empty_like(e)
    hi, lo = _eft.sum_split(e, q, rest)
    exact = _exact_row_sums(e)
    assert _rel_err(hi, lo, exact, exact) <= 2.0**-60
    # and the plain sum is not: the test can tell
    assert _rel_err(e.sum(axis=-1), np.zeros(len(e)), exact, exact) > 2.0**-60


@pytest.mark.parametrize("n", [17, 300, 4000])
def test_sum_split_scaled_any_sign_and_magnitude(n):
    rng = np.random.default_rng(2)
    t = rng.normal(size=(10, n)) * 10.0 ** rng.uniform(-300, 300, (10, 1))
    t[0, :] = np.abs(t[0, :])
    q, rest = np.empty_like(t), np.empty_like(t)
    hi, lo = _eft.sum_split_scaled(t, q, rest)
    exact = _exact_row_sums(t)
    magnitude = [sum(abs(Fraction(float(v))) for v in row) for row in t]
    assert _rel_err(hi, lo, exact, magnitude) <= 2.0**-60


def test_sum_split_scaled_passes_non_finite_rows_through():
    t = np.array([[1.0, np.inf, 2.0], [1.0, np.nan, 0.0], [1e308, 1e308, -1.0], [1.0, 2.0, 3.0]])
    t = np.repeat(t, 7, axis=1)  # wide rows
    q, rest = np.empty_like(t), np.empty_like(t)
    hi, lo = _eft.sum_split_scaled(t, q, rest)
    total = hi + lo
    assert total[0] == np.inf and np.isnan(total[1]) and total[2] == np.inf and total[3] == 42.0


def test_sum2_narrow_and_wide_match_fsum():
    rng = np.random.default_rng(3)
    for n in (3, 16, 17, 1001):
        a = np.abs(rng.normal(size=(6, n))) * 10.0 ** rng.uniform(-30, 30, (6, n))
        hi, lo = _eft.sum2(a)
        assert [float(h + l) for h, l in zip(hi, lo)] == [math.fsum(row) for row in a]


def test_workspace_is_reused_for_one_shape_and_replaced_for_another():
    a = _eft.workspace(4, 5, 2)
    assert _eft.workspace(4, 5, 2) is a and a[0].shape == (4, 5)
    b = _eft.workspace(3, 5, 2)
    assert b is not a and b[0].shape == (3, 5)


def test_sum_split_scaled_nonneg_matches_the_general_case():
    rng = np.random.default_rng(4)
    t = np.abs(rng.normal(size=(8, 500))) * 10.0 ** rng.uniform(-200, 200, (8, 1))
    q, rest = np.empty_like(t), np.empty_like(t)
    general = _eft.sum_split_scaled(t, q, rest)
    promised = _eft.sum_split_scaled(t, q, rest, nonneg=True)
    assert np.array_equal(general[0], promised[0]) and np.array_equal(general[1], promised[1])


def test_workspace_too_large_to_keep_is_not_kept():
    small = _eft.workspace(2, 3, 1)
    big = _eft.workspace(1, _eft.KEEP_BYTES // 8 + 1, 1)
    assert big[0].shape == (1, _eft.KEEP_BYTES // 8 + 1)
    assert _eft.workspace(1, _eft.KEEP_BYTES // 8 + 1, 1) is not big
    assert _eft.workspace(2, 3, 1) is small  # the kept one was not replaced


@pytest.mark.parametrize("n", [17, 150, 10_000])
def test_sum_split_returns_a_normalised_pair(n):
    # equal terms just above the n**2 2**-39 floor: the rests all round one
    # way and summed reached 2**-12 of hi, which log1p(hi) + lo/(1+hi) could
    # not absorb (issue 13); normalised, |lo| <= ulp(hi)/2, same value
    grid = 2.0 ** (n.bit_length() + 1 - 52)  # ulp(sigma): the extraction's grid
    base = (np.floor(n * 2.0**-39 * 1.02 / grid) + 0.375) * grid  # rest 0.375 grid each
    e = np.full((3, n), base)
    e[1] += 8 * grid
    e[2, ::2] += 0.25 * grid
    q, rest = np.empty_like(e), np.empty_like(e)
    hi, lo = _eft.sum_split(e, q, rest)
    assert np.all(np.abs(lo) <= np.spacing(hi) / 2)
    exact = _exact_row_sums(e)
    assert _rel_err(hi, lo, exact, exact) <= 2.0**-60
    h2, l2 = _eft.sum_split_scaled(e, q, rest, nonneg=True)
    assert np.all(np.abs(l2) <= np.spacing(h2) / 2)
