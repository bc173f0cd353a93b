"""The C twin of the cancelling logsumexp rows' 80-bit extended step
(stabkit/_native/_extended.c) against the NumPy step it replaces
(stabkit._accurate.cancelling._lse_extended), bit for bit, and the routing
of logsumexp_cancelling around it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

from stabkit import accurate
from stabkit._accurate import cancelling
from stabkit._native import extended, rows
from stabkit.floats import get_format
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


@needs_c
@needs_x87
def test_the_c_step_is_on_where_long_double_is_extended():
    assert extended.status(cancelling._lse_extended) == "native"


@needs_c
@needs_x87
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 15, 16, 17, 64, 127, 128, 129, 136, 255, 257, 1031, 5000])
def test_same_bits_as_numpys_longdouble_step(n):
    rng = np.random.default_rng(n)
    x = _cancelling(rng, 400 if n < 1000 else 40, n)
    got = extended.lse_extended(x, cancelling._lse_extended)
    assert got is not None
    with np.errstate(all="ignore"):
        want, ok = cancelling._lse_extended(x)
    same_bits(got[0], want)
    assert np.array_equal(got[1], ok)
    if n > 1:  # both answers of the settling test occur
        assert ok.any() and not ok.all()


@needs_c
@needs_x87
def test_strided_rows_give_the_bits_of_their_contiguous_copy():
    rng = np.random.default_rng(7)
    x = _cancelling(rng, 50, 24)
    view = np.repeat(x, 2, axis=1)[:, ::2]  # not contiguous
    a = extended.lse_extended(view, cancelling._lse_extended)
    b = extended.lse_extended(x, cancelling._lse_extended)
    same_bits(a[0], b[0])
    assert np.array_equal(a[1], b[1])


@needs_c
@needs_x87
def test_a_c_step_that_differs_is_not_used(monkeypatch):
    """The check at the first call compares with the NumPy step (the oracle
    passed down): one that disagrees in the last bit keeps the NumPy step
    on."""
    real = cancelling._lse_extended

    def off_by_one(x):
        out, ok = real(x)
        return np.nextafter(out, np.inf), ok

    monkeypatch.setattr(extended, "_CHECKED", None)
    assert extended.lse_extended(np.array([[-1.0, -1.5]]), off_by_one) is None
    assert extended.status(off_by_one) != "native"
    monkeypatch.setattr(extended, "_CHECKED", None)
    assert extended.lse_extended(np.array([[-1.0, -1.5]]), real) is not None


STEP80, STEP_DD = "logsumexp (cancelling rows, 80-bit step)", "logsumexp (cancelling rows, double-double step)"


@needs_c
@needs_x87
def test_kernels_lists_both_steps_and_why_one_is_off(monkeypatch):
    """stabkit.kernels() names the cancelling rows' two C steps: native
    where they run; the 80-bit one off, with its reason, where its check
    against the NumPy step failed; both off with STABKIT_NATIVE=0."""
    import stabkit

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = stabkit.kernels()
    assert table[STEP80] == table[STEP_DD] == "native"
    monkeypatch.setattr(extended, "_CHECKED", False)
    table = stabkit.kernels()
    assert table[STEP80].startswith("the C step differs from NumPy's longdouble loops")
    assert table[STEP_DD] == "native"
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    table = stabkit.kernels()
    assert table[STEP80] == table[STEP_DD] == "STABKIT_NATIVE=0"


@needs_c
@needs_x87
def test_status_makes_the_check_with_the_registered_numpy_step(monkeypatch):
    """The oracle comes from stabkit._accurate.cancelling (registered on
    import), so kernels() answers before any cancelling row was seen."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    assert extended._ORACLE is cancelling._lse_extended
    monkeypatch.setattr(extended, "_CHECKED", None)
    assert extended.status() == "native"
    assert extended._CHECKED is True


@needs_c
def test_status_without_an_oracle_says_the_check_comes_on_first_use(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(extended, "_CHECKED", None)
    monkeypatch.setattr(extended, "_ORACLE", None)
    assert extended.status() == "checked against the NumPy step on first use (stabkit.accurate is not loaded)"
    assert extended._CHECKED is None


@pytest.mark.parametrize("n", [2, 10, 300])
def test_cancelling_rows_have_the_same_bits_with_and_without_the_extension(n):
    """logsumexp_cancelling routes by the extended step's value (C or NumPy,
    the same bits), then near-zero, double-double or MPFR: one answer."""
    rng = np.random.default_rng(100 + n)
    x = _cancelling(rng, 60, n)
    fast, slow = each_path(cancelling.logsumexp_cancelling, x, get_format("float64"))
    same_bits(fast, slow)


@needs_x87
def test_rows_near_zero_still_go_to_the_exact_sum(monkeypatch):
    """Routing by the extended value: a row of log-probabilities (logsumexp
    within NEAR/2 of 0) is summed exactly, not left to the extended step."""
    seen = []
    real = cancelling._td.lse_near_zero

    def spy(rows, fmt):
        seen.append(rows.shape[0])
        return real(rows, fmt)

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
    val, done = extended.lse_rows_dd(x)
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
    _, done = extended.lse_rows_dd(x)
    assert not done.any()
    _, done = extended.lse_rows_dd(np.array([[np.nan, -1.0], [np.inf, -1.0], [-np.inf, -np.inf]]))
    assert not done.any()


def test_mpfr_rows_are_correctly_rounded():
    rng = np.random.default_rng(11)
    x = _cancelling(rng, 60, 6)
    same_bits(np.array([cancelling._logsumexp_mp(row) for row in x]), _correctly_rounded(x))


def test_numpy_double_double_rows_are_correctly_rounded():
    rng = np.random.default_rng(12)
    x = _cancelling(rng, 60, 12)
    same_bits(cancelling._lse_dd(x), _correctly_rounded(x))
