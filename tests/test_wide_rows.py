"""Wide cancelling logsumexp rows (issue 13, "also found"): a float64 row of
10**6 log-probabilities took 8-14 s in mpmath, 5-10 s in MPFR; stabkit._accurate.near_zero
sums them in NumPy arrays. Exact values are computed with gmpy2 (MPFR) in a
private context, or with ``stabkit.reference.reference``."""

from __future__ import annotations

import math
from fractions import Fraction

import gmpy2
import numpy as np
import pytest

import stabkit
from stabkit._accurate import cancelling as _lse_exact
from stabkit._accurate import near_zero as _td
from stabkit.reference import reference


def _exact_lse(x: np.ndarray, prec: int = 256):
    """log(sum(exp(x))) of one row in MPFR at ``prec`` bits (an mpfr)."""
    with gmpy2.context(precision=prec):
        return gmpy2.log(gmpy2.fsum([gmpy2.exp(v) for v in x[x > -np.inf].tolist()]))


def _ulps(y: float, exact) -> float:
    e = float(exact)
    with gmpy2.context(precision=400):
        return float(abs(gmpy2.mpfr(float(y)) - exact) / math.ulp(e))


@pytest.fixture
def no_mpfr(monkeypatch):
    """Make any row that reaches the MPFR fallback fail the test."""

    def refuse(row):
        raise AssertionError(f"row of {row.size} entries sent to MPFR")

    monkeypatch.setattr(_lse_exact, "_logsumexp_mp", refuse)


def _reduction_edges(rng, size):
    # x = (N +- 1/2) ln2/4096: |r| at its largest, N rounding either way
    N = -rng.integers(1, 200 * 4096 / math.log(2) - 1, size)
    c = math.log(2) / 4096
    return np.concatenate([(N + 0.5) * c, (N - 0.5) * c, np.nextafter((N + 0.5) * c, 0)])


def test_pieces_sum_to_exp_within_delta():
    # every exp(x) as eleven floats within DELTA = 2**-120 of it (the error
    # analysis in _td._pieces), each inside the bound its grids assume
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            -rng.uniform(0, 200, 1500),
            -(10.0 ** rng.uniform(-300, 2.3, 1500)),
            _reduction_edges(rng, 300),
            [-0.0, -5e-324, -1e-300, -200.0, -1.0, -math.log(2)],
        ]
    )
    x = x[x >= _td.X_LOW]
    pieces = _td._pieces(x[None, :])
    worst = 0.0
    with gmpy2.context(precision=600):
        for i in range(x.size):
            exact = gmpy2.exp(float(x[i]))
            got = gmpy2.fsum([gmpy2.mpfr(float(p[0, i])) for p in pieces])
            worst = max(worst, float(abs(got - exact) / exact))
    assert worst <= _td.DELTA
    for p, (name, exp2, _) in zip(pieces, _td._PIECES):
        assert np.all(np.abs(p) <= 2.0**exp2), name


def test_pieces_of_dropped_entries_are_zero():
    x = np.array([[-np.inf, -200.5, -1e4, -1e308]])
    assert all(not p.any() for p in _td._pieces(x))


@pytest.mark.slow
def test_grid_sums_are_exact_but_for_the_last():
    # the row sums of the q's are exact multiples of each grid; the last one,
    # of what is left, is off by at most 2**-37 * m * (last grid), m the
    # number of terms; grids scale per row
    rng = np.random.default_rng(1)
    scale = np.array([[1.0], [2.0**-30], [2.0**-700]])
    v = rng.uniform(-1, 1, (3, 1 << 16)) * 2.0 ** rng.integers(-60, 0, (3, 1 << 16)) * scale
    exact = [sum(Fraction(float(t)) for t in row) for row in v]
    out: list[np.ndarray] = []
    _td._grid_sums(v, 0, 3, scale, out)
    for r in range(3):
        got = [Fraction(float(o[r])) for o in out]
        grids = [Fraction(float(scale[r, 0])) / 2 ** (36 * (i + 1)) for i in range(3)]
        assert all((g / grid).denominator == 1 for g, grid in zip(got, grids))
        assert abs(sum(got) - exact[r]) <= 2.0**-37 * 2**16 * grids[-1]


@pytest.mark.parametrize("n", [10**4, 10**5, 70_000])
def test_wide_log_probability_rows_never_reach_mpfr(n, no_mpfr):
    # a 10**5 row took 0.98 s in MPFR (5f90b6e); now ~0.04 s, correctly rounded
    rng = np.random.default_rng(n)
    x = np.log(rng.dirichlet(np.ones(n)))
    y = stabkit.logsumexp(x, axis=-1)
    assert y == float(_exact_lse(x))


@pytest.mark.slow
def test_million_entry_log_probability_row(no_mpfr):
    # the row: 8-14 s in mpmath; exact value from MPFR at 192 bits
    x = np.log(np.random.default_rng(10**6).dirichlet(np.ones(10**6)))
    y = stabkit.logsumexp(x, axis=-1)
    assert y == float(_exact_lse(x, prec=192))


@pytest.mark.slow
def test_many_narrow_log_probability_rows():
    # rows of 7 and 300 entries, several blocks of 2**16 entries each; the
    # array path's Ziv test leaves under 1% of the rows (those whose bound,
    # ~2**-122, reaches a rounding boundary: more often the smaller the
    # result), and the steps after it settle them correctly rounded too
    rng = np.random.default_rng(2)
    for n in (7, 300):
        x = np.log(rng.dirichlet(np.ones(n), size=(1 << 17) // n + 3))
        y = stabkit.logsumexp(x, axis=-1)
        pick = slice(None, None, max(1, x.shape[0] // 300))  # keep the reference cheap
        ref = reference("logsumexp", x[pick])
        assert np.max(ref.ulp_error(y[pick])) <= 0.5
        out, ok = _td.lse_near_zero(x)
        assert np.all(out[ok] == y[ok]) and ok.mean() > 0.99
        left = np.flatnonzero(~ok)[:40]
        if left.size:  # the 7-entry rows leave some
            assert np.max(reference("logsumexp", x[left]).ulp_error(y[left])) <= 0.5


def test_results_near_2_to_the_minus_60_are_certified_by_the_ziv_test():
    # [log1p(-eps), log(eps)], both rounded, sums to 1 + ~eps 2**-53 log(eps):
    # below 2**-59 the error bound (~2**-120) is above 2**-62 of the result,
    # so only the Ziv test (the bound's interval rounds to one float64) can
    # accept a row
    eps = np.geomspace(1e-4, 1e-2, 40)
    x = np.concatenate([np.log1p(-eps)[:, None], np.log(eps)[:, None], np.full((40, 100), -np.inf)], axis=1)
    out, ok = _td.lse_near_zero(x)
    exact = [_exact_lse(r) for r in x]
    assert all(out[i] == float(exact[i]) for i in np.flatnonzero(ok))
    small = np.array([0 < abs(float(e)) < 2.0**-59 for e in exact])
    assert (ok & small).sum() >= 5
    assert np.all(stabkit.logsumexp(x, axis=-1) == np.array([float(e) for e in exact]))


def test_wide_row_with_a_confident_winner(no_mpfr):
    # log_softmax of a confident classifier over 2*10**5 classes: the
    # winner's log-probability is ~-1e-10 and the logsumexp ~1e-26, far below
    # any bound of 2**-122 absolute; exp(m) - 1 and the other terms keep
    # bounds relative to themselves (_top_terms, the per-row grids)
    rng = np.random.default_rng(7)
    z = rng.normal(size=200_000)
    z[0] = math.log(z.size) + 23.0
    x = stabkit.log_softmax(z)
    assert -1e-9 < x[0] < 0
    y = stabkit.logsumexp(x, axis=-1)
    assert y == float(_exact_lse(x, prec=320))


def test_log_softmax_rows_and_masked_entries(no_mpfr):
    # -inf entries (masked classes) and entries below X_LOW (e**-200 and
    # less: dropped, inside the bound) next to ordinary log-probabilities
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4, 5000)) * 5
    z[:, ::7] = -np.inf
    z[:, 1::11] = -1e4
    x = stabkit.log_softmax(z)
    assert np.isneginf(x).any() and (x < -200).any()
    ref = reference("logsumexp", x)
    assert np.max(ref.ulp_error(stabkit.logsumexp(x, axis=-1))) <= 0.5


@pytest.mark.slow
def test_float32_log_probability_rows():
    rng = np.random.default_rng(4)
    x = np.log(rng.dirichlet(np.ones(3000), size=4)).astype(np.float32)
    ref = reference("logsumexp", x)
    assert np.max(ref.ulp_error(stabkit.logsumexp(x, axis=-1))) <= 0.5


def test_a_row_cancelling_to_1e_minus_300_falls_back_to_mpfr(monkeypatch):
    # [-eps, log(eps)] sums to 1 + ~1e-316: far below what the array path
    # can certify (its bound is ~2**-120); padded past MP_DIRECT so that it
    # goes there first, then to MPFR
    eps = 1e-300
    x = np.concatenate([[-eps, math.log(eps)], np.full(100, -np.inf), np.full(100, -1000.0)])
    _, ok = _td.lse_near_zero(x[None, :])
    assert not ok[0]
    calls = []
    real = _lse_exact._logsumexp_mp
    monkeypatch.setattr(_lse_exact, "_logsumexp_mp", lambda row: calls.append(row.size) or real(row))
    y = stabkit.logsumexp(x, axis=-1)
    assert calls
    exact = _exact_lse(x[:2], prec=4400)
    assert _ulps(y, exact) <= 0.51


def test_rows_far_from_zero_are_left_to_double_double():
    # a cancelling row whose logsumexp is ~0.05: not near 0, double-double
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 400)) - math.log(400) - 0.2
    _, ok = _td.lse_near_zero(x)
    assert not ok.any()
    ref = reference("logsumexp", x)
    assert np.max(ref.ulp_error(stabkit.logsumexp(x, axis=-1))) <= 1.0
