"""The vectorised double-double step of the cancelling float64 logsumexp
rows (stabkit/_native/_lse_fast.c): its terms against MPFR, its rows against
the correctly rounded references, the rows it must leave undecided, and the
cancelling rows' bits with and without the extension (every step of the
float64 chain rounds correctly, so the paths agree)."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._native import lserows, rows
from stabkit.reference import reference

needs_c = pytest.mark.skipif(rows.library() is None, reason="the extension is not built")

LN2_128 = float(gmpy2.log(2)) / 128


def _arguments(rng) -> np.ndarray:
    """x - m over the step's domain: uniform on [-200, 0], above 0 (the
    Newton step's exp(y0), y0 <= 42), tiny, both sides of every 16th
    rounding boundary of k = a 128/ln2, and the ends."""
    k = np.arange(-18464, 64, 16)
    edges = (k + 0.5) * LN2_128
    return np.concatenate([
        rng.uniform(-200.0, 0.0, 6000), rng.uniform(0.0, 42.0, 1000), -rng.exponential(1e-3, 1000),
        np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [-200.0, -199.99, -1e-300, 0.0, 42.0],
    ])


@needs_c
def test_each_term_is_within_the_bound_the_ziv_test_assumes():
    """TERM_ERR is 2**-77 (derived 2**-77.9): measured against MPFR at 200
    bits, with m carrying a fraction so that x - m has a low part."""
    rng = np.random.default_rng(77)
    a = _arguments(rng)
    m = -0.3
    x = a + m
    hi, lo = lserows.fast_terms(x, m)
    worst = gmpy2.mpfr(0)
    with gmpy2.context(precision=200):
        for xi, h, l in zip(x, hi, lo):
            e = gmpy2.exp(gmpy2.mpfr(xi) - gmpy2.mpfr(m))
            worst = max(worst, abs((gmpy2.mpfr(h) + gmpy2.mpfr(l)) - e) / e)
        assert worst < gmpy2.mpfr(2) ** -77.9
        assert worst > gmpy2.mpfr(2) ** -90  # a measurement, not an exact path


@needs_c
def test_dead_entries_give_zero_and_the_threshold_is_at_minus_200():
    hi, lo = lserows.fast_terms(np.array([-np.inf, -200.5, -1e308, -200.0, -199.5]), 0.0)
    assert np.all(hi[:3] == 0.0) and np.all(lo[:3] == 0.0)
    assert np.all(hi[3:] > 0.0)


def _cancelling(rng, n_rows, n, offset):
    """Rows of sd-1 logits shifted so that their maximum is negative and the
    logsumexp is offset by a delta of either sign (1e-6 to 3): cancellation
    factors from ~1 to ~1e7; -inf entries, entries below m - 200, ties."""
    x = rng.standard_normal((n_rows, n))
    if n > 2:
        x[::4, rng.integers(0, n)] = -np.inf
        x[1::5, 1] = x[1::5].max(axis=-1)
        x[2::6, 2] = -500.0
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    delta = np.exp(rng.uniform(np.log(1e-6), np.log(3.0), (n_rows, 1))) * rng.choice([-1.0, 1.0], (n_rows, 1))
    return x - lse + delta - offset * (rng.random((n_rows, 1)) < 0.3)


@needs_c
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 16, 17, 32, 33, 127, 128, 129, 511, 512, 513, 1000, 2049])
def test_rows_it_decides_are_correctly_rounded(n):
    """Widths on both sides of the eight lanes, of the rows taken eight at a
    time (up to 32 entries; 123 rows leave three to the row-by-row path),
    of a lane's 16-term renormalisation and of the 512-entry block."""
    rng = np.random.default_rng(1000 + n)
    x = _cancelling(rng, 123 if n <= 200 else 24, n, offset=3.0)
    val, done = lserows.fast(x)
    ref = reference("logsumexp", x)
    assert not ref.unsettled.any()
    same_bits(val[done], ref.rounded[done])
    assert np.isnan(val[~done]).all()
    if n > 1:
        # Ziv's test fails only within ~2**-76 of a rounding boundary: on the
        # rows whose result is below ~1e-6 (a fraction of them), not above
        assert done[np.abs(ref.rounded) > 1e-4].all()
        assert done.mean() > 0.8


@needs_c
def test_rows_it_must_leave_undecided():
    """A NaN anywhere, an infinite maximum, a row of -inf, and a row that
    cancels by ~1e14 (its terms' 2**-77 is past its ulp)."""
    rng = np.random.default_rng(5)
    y = rng.uniform(-3.0, 0.0, (30, 9))
    m = y.max(axis=-1, keepdims=True)
    y = y - (m + np.log(np.exp(y - m).sum(axis=-1, keepdims=True))) + 1e-14
    special = np.full((4, 9), -1.0)
    special[0, 8], special[1, 3], special[2, :] = np.nan, np.inf, -np.inf
    special[3, 0] = np.nan  # NaN first: the scan's comparisons skip it
    _, done = lserows.fast(np.concatenate([y, special]))
    assert not done.any()


@needs_c
def test_strided_rows_give_the_bits_of_their_contiguous_copy():
    rng = np.random.default_rng(8)
    x = _cancelling(rng, 40, 30, offset=2.0)
    a = lserows.fast(np.repeat(x, 2, axis=1)[:, ::2])
    b = lserows.fast(x)
    same_bits(a[0], b[0])
    assert np.array_equal(a[1], b[1])


@pytest.mark.parametrize("n", [3, 10, 600])
def test_float64_cancelling_rows_are_correctly_rounded_on_both_paths(n):
    """stabkit.logsumexp of rows that cancel (negative maxima about the size
    of the log term, results from 1e-6 to 3 and log-probabilities): the
    same bits with and without the extension, and the correctly rounded
    value on the rows that cancel."""
    rng = np.random.default_rng(300 + n)
    x = _cancelling(rng, 60 if n < 600 else 12, n, offset=4.0)
    logp = np.log(rng.dirichlet(np.ones(n), size=6))
    x = np.concatenate([x, logp])
    fast, slow = each_path(stabkit.logsumexp, x, axis=-1)
    same_bits(fast, slow)
    # the rows the accurate tier sends to the cancelling steps (rows.py:
    # m < 0 and L / |m + L| > CANCEL64); the others keep its first pass
    m = x.max(axis=-1)
    with np.errstate(divide="ignore"):
        L = np.log(np.exp(x - m[:, None]).sum(axis=-1))
        cancel = (m < 0) & (L / np.abs(m + L) > 1.2)
    assert cancel.mean() > 0.5
    same_bits(fast[cancel], reference("logsumexp", x[cancel]).rounded)


@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_narrower_formats_round_the_correctly_rounded_float64(fmt):
    """Rows of log-probabilities rounded to the format cancel past
    CANCEL_NARROW: their result is the correctly rounded float64 rounded
    once more, the same with and without the extension."""
    import ml_dtypes

    dtype = ml_dtypes.bfloat16 if fmt == "bfloat16" else np.dtype(fmt)
    rng = np.random.default_rng(12)
    x = np.log(rng.dirichlet(np.ones(50), size=40)).astype(dtype)
    fast, slow = each_path(stabkit.logsumexp, x, axis=-1)
    same_bits(fast, slow)
    want = reference("logsumexp", x.astype(np.float64)).rounded.astype(dtype)
    same_bits(fast, want)
