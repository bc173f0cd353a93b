"""The accurate weighted logsumexp on rows longer than a block
(stabkit/_accurate/weighted_long.py): a chunk at a time, against exact
references (mpmath, gmpy2), with the chunking shrunk to a few dozen columns
so that every chunk boundary is cheap to reach, and on real long rows: the
memory stays a few chunks, and a row of 2**20 whose signed weights cancel
is settled by the double-double pass, not by MPFR (before 2026-12-08: the
whole row in every temporary, and the n**2 bound sent such rows to MPFR)."""

from __future__ import annotations

import tracemalloc

import gmpy2
import ml_dtypes
import numpy as np
import pytest
from helpers.native import each_path
from helpers.weighted import exact_lse

from stabkit import accurate
from stabkit._accurate import weighted, weighted_long
from stabkit.floats import split_exact, ulp_error

#: The accurate tier's contract: float64 within 4 ulp, narrower below 1 ulp.
BOUND = {"float64": 4.0, "float32": 1.0, "float16": 1.0, "bfloat16": 1.0}
DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def exact(x, b, prec=600):
    return exact_lse(x, b, prec)


def ulps(y, v, fmt):
    hi, lo = split_exact(v)
    return float(ulp_error(np.asarray(y), hi, lo, fmt))


@pytest.fixture
def small_chunks(monkeypatch):
    """Rows longer than 48 entries take the long-row path, 48 at a time."""
    monkeypatch.setattr(weighted, "BLOCK", 48)
    monkeypatch.setattr(weighted_long, "BLOCK", 48)


def _row(rng, n, kind):
    x = rng.normal(size=n) * [1, 5, 30][rng.integers(0, 3)]
    if kind == "positive":
        b = rng.uniform(0.1, 10, n)
    elif kind == "signed":
        b = rng.uniform(0.1, 2, n) * rng.choice([-1.0, 1.0], n)
    elif kind == "cancelling":
        # the last weight undoes the others' sum to 1e-6 .. 1e-15 of it
        b = rng.uniform(0.1, 2, n) * rng.choice([-1.0, 1.0], n)
        k = rng.integers(0, n)
        rest = np.delete(b * np.exp(x - x[k]), k)
        b[k] = -np.sum(rest) * (1 + 10.0 ** -rng.integers(6, 16))
    else:  # weights of every size: the leading term is found by x + k ln 2
        b = np.array([1e300, 1e-300, 5e-324, 1.5, -3e-310, -7e200, 2.0**-1000])[rng.integers(0, 7, n)]
        x = x + rng.choice([0.0, 500.0, -500.0], n)
    return x, b


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["positive", "signed", "cancelling", "extreme"])
def test_chunked_rows_against_mpmath(small_chunks, fmt, kind):
    rng = np.random.default_rng(["float64", "float32", "float16", "bfloat16"].index(fmt) * 10 + len(kind))
    for n in (49, 96, 97, 200, 481):
        x, b = _row(rng, n, kind)
        x = x.astype(DT[fmt])
        # the row twice: the rows' loop, and the same row as one
        got, sign = accurate.logsumexp(np.stack([x, x]), b=np.stack([b, b]), return_sign=True, axis=-1)
        v, s = exact(x, b)
        assert got.dtype == DT[fmt] and got[0] == got[1] and sign[0] == sign[1] == s, (n, kind)
        if s:
            assert ulps(got[0], v, fmt) <= BOUND[fmt] if fmt == "float64" else ulps(got[0], v, fmt) < 1, (n, x, b, got)


@pytest.mark.parametrize("where", [0, 47, 48, 95, 250])
def test_the_leading_term_in_any_chunk(small_chunks, where):
    # one term far above the rest, in the first, a boundary's or the last chunk
    rng = np.random.default_rng(where)
    x, b = rng.normal(size=251), rng.uniform(-1, 1, 251)
    x[where], b[where] = 40.0, -3.0
    got, sign = accurate.logsumexp(x, b=b, return_sign=True)
    v, s = exact(x, b)
    assert sign == s == -1.0 and ulps(got, v, "float64") <= 4


def test_equal_leading_terms_across_chunks(small_chunks):
    # the same largest z in two chunks (the first is the shift, as within a
    # chunk): the sum of the two leading terms is exact either way
    x, b = np.zeros(100), np.full(100, 1e-3)
    x[10] = x[70] = 20.0
    b[10], b[70] = 1.0, -1.0 + 2.0**-40
    got, sign = accurate.logsumexp(x, b=b, return_sign=True)
    v, s = exact(x, b)
    assert sign == s and ulps(got, v, "float64") <= 4


@pytest.mark.parametrize(
    "x_at, b_at, want",
    [
        # (entries set in the row of zeros with weights 1, in two chunks)
        ({5: np.nan}, {}, (np.nan, np.nan)),
        ({90: np.nan}, {}, (np.nan, np.nan)),
        ({5: np.inf, 90: np.inf}, {90: -1.0}, (np.nan, np.nan)),  # infinite terms of both signs
        ({90: np.inf}, {90: -2.0}, (np.inf, -1.0)),
        ({5: np.inf}, {}, (np.inf, 1.0)),
        ({90: np.nan}, {90: 0.0}, None),  # a zero weight drops a NaN entry
        ({}, {90: np.inf}, (np.inf, 1.0)),  # an infinite weight: an infinite term
    ],
)
def test_edges_in_any_chunk(small_chunks, x_at, b_at, want):
    x, b = np.zeros(130), np.ones(130)
    for i, v in x_at.items():
        x[i] = v
    for i, v in b_at.items():
        b[i] = v
    got = accurate.logsumexp(x, b=b, return_sign=True)
    if want is None:
        keep = b != 0
        want = accurate.logsumexp(x[keep], b=b[keep], return_sign=True)
    assert np.array_equal(np.array(got, np.float64), np.array(want, np.float64), equal_nan=True)


def test_rows_with_nothing_to_sum(small_chunks):
    x = np.full((3, 100), -np.inf)
    x[2, 80] = 1.0
    b = np.ones((3, 100))
    b[1] = 0.0
    b[2, 3] = -1.0
    out, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
    assert np.array_equal(out, [-np.inf, -np.inf, 1.0]) and np.array_equal(sign, [0.0, 0.0, 1.0])


def test_exact_cancellation_goes_to_mpfr(small_chunks):
    # pairs that cancel exactly, across chunks, leave the one small term:
    # no float sum can see it, MPFR (with the exact groups) does
    x = np.repeat(np.arange(60.0), 2)
    b = np.tile([1.0, -1.0], 60)
    x, b = np.append(x, -3.0), np.append(b, 1e-200)
    got, sign = accurate.logsumexp(x, b=b, return_sign=True)
    assert sign == 1.0 and got == np.float64(np.log(1e-200) - 3.0)
    got, sign = accurate.logsumexp(x[:-1], b=b[:-1], return_sign=True)
    assert (got, sign) == (-np.inf, 0.0)


def _gmpy_lse(x, b, prec=256):
    """log|sum b exp(x)| in MPFR (an exact reference for long rows, faster
    than mpmath), as a float64 pair hi + lo."""
    with gmpy2.context(gmpy2.get_context(), precision=prec):
        s = gmpy2.mpfr(0)
        for xi, bi in zip(x.tolist(), b.tolist()):
            s += gmpy2.mpfr(bi) * gmpy2.exp(gmpy2.mpfr(xi))
        v = gmpy2.log(abs(s))
        hi = float(v)
        return hi, float(v - hi), (1.0 if s > 0 else -1.0)


@pytest.mark.slow
def test_a_long_cancelling_row_stays_in_double_double(monkeypatch):
    # 2**20 entries, signed weights, one of them chosen so that |S| is about
    # 2**-16 of the terms' magnitudes A: the double-double pass's error bound
    # is now ~2**-72 A (a chunk's n**2 2**-104), 2**-56 of the log; the
    # row's n**2 2**-104 was 2**-64 A, 2**-48 of the log (an ulp of the
    # result is ~2**-51), so the row went on to MPFR
    def no_mpfr(*_):
        raise AssertionError("the row went to MPFR")

    monkeypatch.setattr(weighted_long, "weighted_row_mp", no_mpfr)
    rng = np.random.default_rng(3)
    n = 1 << 20
    x, b = rng.normal(size=n), rng.uniform(0.5, 2, n) * rng.choice([-1.0, 1.0], n)
    t = b * np.exp(x)
    b[0] = (-(np.sum(t) - t[0]) + np.sum(np.abs(t)) * 2.0**-16) / np.exp(x[0])
    # the compiled pass (terms within 2**-77) settles it too; both paths
    # give the correctly rounded value
    (got, sign), (slow, slow_sign) = each_path(accurate.logsumexp, x, b=b, return_sign=True)
    hi, lo, s = _gmpy_lse(x, b)
    assert sign == slow_sign == s and got == slow
    assert float(ulp_error(np.asarray(got), np.asarray(hi), np.asarray(lo), "float64")) <= 0.5


@pytest.mark.slow
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("native", [True, False])
def test_memory_stays_a_few_chunks(signed, native, monkeypatch):
    # 2**22 float64 entries (32 MiB, with its weights 64 MiB): every
    # temporary is a chunk's (before: ~20 row-sized ones), on both paths
    if not native:
        monkeypatch.setenv("STABKIT_NATIVE", "0")
    rng = np.random.default_rng(4)
    n = 1 << 22
    x, b = rng.normal(size=n), rng.uniform(0.5, 2, n)
    if signed:
        b *= rng.choice([-1.0, 1.0], n)
    tracemalloc.start()
    try:
        out, sign = accurate.logsumexp(x, b=b, return_sign=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(out) and sign != 0
    assert peak < 24 * 2**20, peak
