"""scipy.special's documented calls, run against stabkit (issue 15).

Cases written from the behaviour scipy.special documents for ``expit``,
``log_expit``, ``softmax``, ``log_softmax`` and ``logsumexp``; each is
answered by SciPy itself in the same test, so the comparison is live. Where
stabkit's accurate tier and SciPy disagree by more than rounding, mpmath
decides (the accurate tier must be the closer one).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.special as sp

import stabkit
from stabkit import accurate, naive, stable

TIERS = (naive, stable, accurate)
ids = lambda t: t.__name__  # noqa: E731


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_expit_documented_values(tier):
    x = np.array([-np.inf, -1.5, 0, 1.5, np.inf])
    np.testing.assert_allclose(tier.sigmoid(x), sp.expit(x), rtol=1e-15)
    m = np.array([[-1.0, 0.0], [0.5, 2.0]])
    np.testing.assert_allclose(tier.sigmoid(m), sp.expit(m), rtol=1e-15)
    # a Python scalar gives a NumPy scalar, as SciPy's ufunc does
    assert type(tier.sigmoid(0.25)) is type(sp.expit(0.25))


def test_log_expit_documented_values():
    x = np.array([-3.0, 0.25, 2.5, 5.0])
    np.testing.assert_allclose(stabkit.log_sigmoid(x), sp.log_expit(x), rtol=1e-15)
    # far in the tails, where log(expit(x)) is -inf or 0
    big = np.array([-3000.0, -100.0, 100.0, 3000.0])
    assert np.array_equal(stabkit.log_sigmoid(big)[:2], sp.log_expit(big)[:2])
    np.testing.assert_allclose(stabkit.log_sigmoid(big), sp.log_expit(big), rtol=1e-15)
    # the stable tier is PyTorch's logsigmoid and also finite there
    assert np.all(np.isfinite(stable.log_sigmoid(big)))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_softmax_whole_array_and_axes(tier):
    x = np.array([[1, 0.5, 0.2, 3], [1, -1, 7, 3], [2, 12, 13, 3]])
    # SciPy's default axis=None is spelled out: stabkit's default is axis=-1
    np.testing.assert_allclose(tier.softmax(x, axis=None), sp.softmax(x), rtol=1e-14)
    assert tier.softmax(x, axis=None).sum() == pytest.approx(1.0, rel=1e-15)
    for axis in (0, 1, (0, 1)):
        np.testing.assert_allclose(tier.softmax(x, axis=axis), sp.softmax(x, axis=axis), rtol=1e-14)


@pytest.mark.parametrize("tier", (stable, accurate), ids=ids)
def test_log_softmax_of_a_wide_gap(tier):
    x = np.array([1000.0, 1.0])
    np.testing.assert_allclose(tier.log_softmax(x), sp.log_softmax(x), rtol=1e-15)
    # the naive tier's failure at the same call: exp(1000) overflows
    with np.errstate(all="ignore"):
        assert np.isnan(naive.log_softmax(x)[0])


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp_plain_and_weighted(tier):
    a = np.arange(10.0)
    assert tier.logsumexp(a) == pytest.approx(sp.logsumexp(a), rel=1e-15)
    b = np.arange(10, 0, -1)
    assert tier.logsumexp(a, b=b) == pytest.approx(sp.logsumexp(a, b=b), rel=1e-14)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp_return_sign(tier):
    got = tier.logsumexp([1, 2], b=[1, -1], return_sign=True)
    want = sp.logsumexp([1, 2], b=[1, -1], return_sign=True)
    assert got[0] == pytest.approx(want[0], rel=1e-14) and got[1] == want[1]
    # without return_sign a negative sum has no real log
    with np.errstate(all="ignore"):
        assert np.isnan(tier.logsumexp([1, 2], b=[1, -1]))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp_masked_array_through_zero_weights(tier):
    a = np.ma.array([np.log(2), 2, np.log(3)], mask=[False, True, False])
    b = (~a.mask).astype(int)
    assert tier.logsumexp(a.data, b=b) == pytest.approx(sp.logsumexp(a.data, b=b), rel=1e-15)
    assert tier.logsumexp(a.data, b=b) == pytest.approx(np.log(5), rel=1e-15)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp_axis_keepdims(tier):
    a = np.arange(12.0).reshape(3, 4) / 3
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            got = tier.logsumexp(a, axis=axis, keepdims=keepdims)
            want = sp.logsumexp(a, axis=axis, keepdims=keepdims)
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-14)


def test_where_scipy_loses_digits_the_accurate_tier_is_closer():
    # log-probabilities: SciPy's logsumexp is ~1e-16 off an exact value of
    # ~1e-17; mpmath decides
    rng = np.random.default_rng(7)
    x = np.log(rng.dirichlet(np.ones(50)))
    with mpmath.workprec(400):
        exact = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in x))
    err = lambda y: abs(mpmath.mpf(float(y)) - exact)  # noqa: E731
    assert err(stabkit.logsumexp(x)) <= err(sp.logsumexp(x))
    assert err(stabkit.logsumexp(x)) <= 2 * np.spacing(abs(float(exact)))
