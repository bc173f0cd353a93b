"""The steps of the cancelling logsumexp rows after the vectorised one
(tests/test_native_lse_fast.py): the 80-bit step, the double-double steps
in C and NumPy, MPFR, each correctly rounded where it settles a row, and
the routing of logsumexp_cancelling around them."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

from stabkit import accurate
from stabkit._accurate import cancelling
from stabkit._native import lserows, rows
from stabkit.reference import reference

needs_c = pytest.mark.skipif(rows.library() is None, reason="the extension is not built")
needs_x87 = pytest.mark.skipif(not cancelling.EXTENDED, reason="long double is float64 on this platform")


def _cancelling(rng, n_rows, n):
    """Rows whose logsumexp is near 0 with a negative maximum: shifted by
    their own float64 logsumexp, then by delta (|delta| from 1e-14 to 3,
    times log n for long rows), so that cancellation factors run from below
    1 to ~1e14. Masked entries and tied maxima included."""
    x = rng.uniform(-5.0, 0.0, (n_rows, n))
    if n > 1:
        x[::5, rng.integers(0, n)] = -np.inf
        x[2::7, 0] = x[2::7].max(axis=-1)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    size = np.exp(rng.uniform(-32.0, 1.0, (n_rows, 1))) * max(1.0, np.log(n))
    delta = size * rng.choice([-1.0, 1.0], (n_rows, 1))
    return x - lse + delta


STEP_FAST, STEP_DD = ("logsumexp (cancelling rows, vectorised double-double step)",
                      "logsumexp (cancelling rows, double-double step)")


@needs_c
def test_kernels_lists_both_steps(monkeypatch):
    import stabkit

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = stabkit.kernels()
    assert table[STEP_FAST] == table[STEP_DD] == "native"
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    table = stabkit.kernels()
    assert table[STEP_FAST] == table[STEP_DD] == "STABKIT_NATIVE=0"


@needs_x87
def test_the_80_bit_step_keeps_only_certified_roundings():
    """The NumPy longdouble step keeps a row only where Ziv's test
    certifies its float64 rounding: each kept value is the correctly
    rounded one; most rows that cancel by up to ~4 are kept, and rows that
    cancel by ~1e9 never are."""
    rng = np.random.default_rng(9)
    x = _cancelling(rng, 300, 12)
    val, ok = cancelling._lse_extended(x)
    same_bits(val[ok], _correctly_rounded(x)[ok])
    m = x.max(axis=-1)
    with np.errstate(divide="ignore"):
        L = np.log(np.exp(x - m[:, None]).sum(axis=-1))
        amp = (np.abs(m) + L) / np.abs(m + L)
    assert ok[amp < 4].mean() > 0.8
    assert not ok[amp > 1e9].any() and (amp > 1e9).sum() >= 10


@pytest.mark.parametrize("n", [2, 10, 300])
def test_cancelling_rows_have_the_same_bits_with_and_without_the_extension(n):
    """Every step rounds correctly or passes the row on: the compiled steps
    or not, one answer, the correctly rounded one."""
    rng = np.random.default_rng(100 + n)
    x = _cancelling(rng, 60, n)
    fast, slow = each_path(cancelling.logsumexp_cancelling, x)
    same_bits(fast, slow)
    same_bits(fast, _correctly_rounded(x))


def test_rows_near_zero_go_to_the_exact_sum(monkeypatch):
    """Routing by the first pass's value: rows of log-probabilities
    (logsumexp within NEAR/2 of 0) skip the vectorised step and are summed
    exactly."""
    seen = []
    real = cancelling._td.lse_near_zero

    def spy(rows):
        seen.append(rows.shape[0])
        return real(rows)

    monkeypatch.setattr(cancelling._td, "lse_near_zero", spy)
    p = np.random.default_rng(3).dirichlet(np.ones(40), size=8)
    x = np.log(p)  # each row's logsumexp is within a few ulps of 0
    accurate.logsumexp(x, axis=-1)
    assert sum(seen) == 8


# ------------------------------------------------------------ the double-double step


def _correctly_rounded(x) -> np.ndarray:
    """The correctly rounded logsumexp of each row (the project's mpmath
    references, Ziv's loop), every one settled."""
    ref = reference("logsumexp", x)
    assert not ref.unsettled.any()
    return ref.rounded


@needs_c
@pytest.mark.parametrize("n", [1, 2, 10, 17, 100, 1000])
def test_the_double_double_step_is_correctly_rounded_where_it_decides(n):
    rng = np.random.default_rng(200 + n)
    x = _cancelling(rng, 150 if n <= 100 else 30, n)
    val, done = lserows.dd(x)
    same_bits(val[done], _correctly_rounded(x)[done])
    # it decides the rows that cancel by up to ~1e6 (Ziv's test fails only
    # within ~2**-88 of a rounding boundary: about amp * 2**-36 of rows, 2**-16
    # at 1e6, 1% at 3e8)
    m = x.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", under="ignore"):
        L = np.log(np.exp(x - m).sum(axis=-1))
        amp = (np.abs(m[:, 0]) + L) / np.abs(m[:, 0] + L)
    assert done[amp < 1e6].all()
    assert (amp < 1e6).sum() >= 0.4 * len(x)


@needs_c
def test_the_double_double_step_leaves_what_it_cannot_decide():
    """A row that cancels by ~1e14 (its value 1e-14, its terms of order 1)
    is past the step's ~2**-88 error: undecided, left to MPFR; so is a
    row with a NaN or an infinite maximum."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-3.0, 0.0, (40, 8))
    m = x.max(axis=-1, keepdims=True)
    x = x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))
    x += 1e-14 * rng.choice([-1.0, 1.0], (40, 1))
    _, done = lserows.dd(x)
    assert not done.any()
    _, done = lserows.dd(np.array([[np.nan, -1.0], [np.inf, -1.0], [-np.inf, -np.inf]]))
    assert not done.any()


def test_mpfr_rows_are_correctly_rounded():
    rng = np.random.default_rng(11)
    x = _cancelling(rng, 60, 6)
    same_bits(np.array([cancelling._logsumexp_mp(row) for row in x]), _correctly_rounded(x))


def test_numpy_double_double_rows_are_correctly_rounded():
    rng = np.random.default_rng(12)
    x = _cancelling(rng, 60, 12)
    same_bits(cancelling._lse_dd(x), _correctly_rounded(x))
