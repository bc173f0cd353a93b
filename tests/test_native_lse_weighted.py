"""The weighted logsumexp, correctly rounded on every path (2026-12-08):
the compiled pass (stabkit/_native/_lse_weighted.c) and the NumPy steps
(stabkit/_accurate/weighted.py: float64 pass, double-double pass, MPFR) each
settle a row only where Ziv's test decides its rounding. Checked here:

- every row's result is the exact value (mpmath, 2,400 bits) rounded to
  float64, then once more to a narrower format, on rows that reach every
  step: positive and signed weights, sums that cancel to 1e-6 .. 1e-15 of
  their terms, weights from 5e-324 to 1e300, entries 500 apart, |x| past
  2**53, results near 0 and exactly representable ones;
- with and without the extension, the same bits (and the C pass settles
  the ordinary rows itself: it is not a pass that declines everything);
- the C pass's outcomes: edge rows (NaN, +inf, non-finite weights, no
  nonzero term) and rows outside its exp's domain are left to NumPy.
"""

from __future__ import annotations

import ml_dtypes
import mpmath
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path
from helpers.weighted import exact_lse

from stabkit import accurate
from stabkit._native import lserows
from stabkit._native import rows as native
from stabkit.floats import get_format, round_float64

needs_c = pytest.mark.skipif(native.library() is None, reason="the C extension is not built here")
DT = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def exact(x, b, prec=2400):
    return exact_lse(x, b, prec)


def rounded(v, fmt: str) -> float:
    """The exact value rounded to float64 (mpmath rounds to nearest), then
    once more to ``fmt``."""
    f = float(v)
    return float(round_float64(np.array([f]), get_format(fmt))[0].astype(np.float64)) if fmt != "float64" else f


def _row(rng, n: int, kind: str):
    x = rng.normal(size=n) * [0.5, 3, 30][rng.integers(0, 3)]
    if kind == "positive":
        b = rng.uniform(0.01, 100, n)
    elif kind == "signed":
        b = rng.uniform(0.1, 2, n) * rng.choice([-1.0, 1.0], n)
    elif kind == "cancelling":
        b = rng.uniform(0.1, 2, n) * rng.choice([-1.0, 1.0], n)
        k = rng.integers(0, n)
        if n > 1:
            rest = np.delete(b * np.exp(x - x[k]), k)
            b[k] = -np.sum(rest) * (1 + 10.0 ** -rng.integers(6, 16))
    elif kind == "extreme":  # weights of every size, entries far apart
        b = np.array([1e300, 1e-300, 5e-324, 1.5, -3e-310, -7e200, 2.0**-1000])[rng.integers(0, 7, n)]
        x = x + rng.choice([0.0, 500.0, -500.0, 150.0], n)
    elif kind == "huge_x":  # |x| past 2**53: x + k ln 2 rounds to x
        x = 1e30 + np.zeros(n)
        b = np.array([5e-324, 1.5, -3e-310, -7e200, 1e300])[rng.integers(0, 5, n)]
    elif kind == "near_zero":  # weights that undo the exps: results near 0
        b = rng.dirichlet(np.ones(n)) * np.exp(-x) * (1 + rng.uniform(-1e-9, 1e-9, n))
    else:  # "masked": -inf entries and zero weights among the others
        b = rng.uniform(-1, 2, n)
        x[rng.random(n) < 0.3] = -np.inf
        b[rng.random(n) < 0.2] = 0.0
    return x, b


KINDS = ["positive", "signed", "cancelling", "extreme", "huge_x", "near_zero", "masked"]


@pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("kind", KINDS)
def test_correctly_rounded_on_both_paths(fmt, kind):
    rng = np.random.default_rng(KINDS.index(kind) * 7 + len(fmt))
    rows = [_row(rng, n, kind) for n in [1, 2, 3, 5, 9, 17, 40] * 5]
    n = max(len(x) for x, _ in rows)
    # rows padded with zero weights (entries that do not count) to one width
    x2 = np.zeros((len(rows), n))
    b2 = np.zeros((len(rows), n))
    for i, (x, b) in enumerate(rows):
        x2[i, : len(x)], b2[i, : len(b)] = x, b
    if fmt == "float16":  # its largest is 65504: the huge entries stay finite
        x2 = np.clip(x2, -6e4, 6e4)
    x2 = x2.astype(DT[fmt])
    with np.errstate(all="ignore"):
        (fo, fs), (so, ss) = each_path(accurate.logsumexp, x2, b=b2, axis=-1, return_sign=True)
    same_bits(fo, so)
    same_bits(fs, ss)
    for i in range(len(rows)):
        v, s = exact(x2[i], b2[i])
        assert fs[i] == s, (i, x2[i], b2[i])
        if s:
            assert float(fo[i]) == rounded(v, fmt), (i, x2[i], b2[i], fo[i], float(v))


@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_wide_rows_on_both_paths(fmt):
    rng = np.random.default_rng(11)
    x = (rng.normal(size=(30, 1000)) * 3).astype(fmt)
    b = rng.uniform(0.1, 2, (30, 1000)) * rng.choice([-1.0, 1.0], (30, 1000))
    (fo, fs), (so, ss) = each_path(accurate.logsumexp, x, b=b, axis=-1, return_sign=True)
    same_bits(fo, so)
    same_bits(fs, ss)
    for i in (0, 7, 29):
        v, s = exact(x[i], b[i], prec=600)
        assert fs[i] == s and float(fo[i]) == rounded(v, fmt)


def _near_midpoint(a: float, side: int):
    """``(x, b, mid)``: a row whose logsumexp lies 2**-120 (relative) to one
    side of ``mid``, the float64 midpoint above ``|a|`` (``a`` a float64);
    its terms at x = 0, -40, -80, -120 each cancel the previous ones'
    rounding errors, so the sum is ``exp(mid (1 + side 2**-120))`` to
    ~2**-200."""
    with mpmath.workprec(600):
        mid = mpmath.mpf(a) + np.copysign(np.spacing(abs(a)), a) / 2
        target = mpmath.exp(mid * (1 + side * mpmath.mpf(2) ** -120))
        x, b, rest = [0.0, -40.0, -80.0, -120.0], [], target
        for xi in x:
            b.append(float(rest / mpmath.exp(xi)))
            rest -= mpmath.mpf(b[-1]) * mpmath.exp(xi)
    return np.array(x), np.array(b), mid


@pytest.mark.parametrize("a", [1.5, -3.25, 700.0, 2.0**-30])
@pytest.mark.parametrize("side", [1, -1])
def test_results_next_to_a_midpoint(a, side):
    # every float step's bound (2**-77 in C, ~2**-86 in the NumPy passes) is
    # far wider than 2**-120: only MPFR can say which way the row rounds
    x, b, mid = _near_midpoint(a, side)
    v, s = exact(x, b)
    assert s == 1.0 and (abs(v) > abs(mid)) == (side > 0)
    want = float(v)  # a, or its neighbour away from 0
    assert want == (a if side < 0 else a + np.copysign(np.spacing(abs(a)), a))
    if native.library() is not None:
        assert lserows.weighted(x[None], b[None])[2][0] == lserows.UNDECIDED
    for out, sign in each_path(accurate.logsumexp, x, b=b, return_sign=True):
        assert (float(out), sign) == (want, 1.0)


def test_exact_results():
    # one group whose weights sum to 1: the logsumexp is its x, exactly
    for x, b in [([3.0, 3.0], [0.5, 0.5]), ([-2.5, -2.5, 7.0], [0.75, 0.25, 0.0]), ([1e-300], [1.0])]:
        got = each_path(accurate.logsumexp, np.array(x), b=np.array(b), return_sign=True)
        for out, sign in got:
            assert (out, sign) == (np.float64(x[0]), 1.0)


@needs_c
def test_the_c_pass_settles_ordinary_rows():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2000, 10)) * 3
    for b in (rng.uniform(0.1, 2, x.shape), rng.uniform(0.1, 2, x.shape) * rng.choice([-1.0, 1.0], x.shape)):
        out, sign, status = lserows.weighted(x, b)
        # a result within ~2**-70 of a rounding boundary, or a sum that
        # cancels past ~2**-50, is rare in such rows
        assert np.count_nonzero(status == lserows.DONE) >= 1990


@needs_c
def test_the_c_pass_leaves_edges_and_far_terms():
    rows = [
        ([0.0, np.nan], [1.0, 1.0], lserows.EDGE),
        ([0.0, np.inf], [1.0, -1.0], lserows.EDGE),
        ([0.0, 1.0], [1.0, np.inf], lserows.EDGE),
        ([0.0, 1.0], [0.0, 0.0], lserows.EDGE),  # no nonzero term
        ([-np.inf, -np.inf], [1.0, 1.0], lserows.EDGE),
        ([0.0, 300.0], [1.0, 2.0**-500], lserows.UNDECIDED),  # x - m = 300: outside exp_term's domain
        ([1.0, 1.0], [1.0, -1.0], lserows.UNDECIDED),  # S = 0 exactly
        ([0.0, 1.0], [1.0, 2.0], lserows.DONE),
    ]
    for x, b, want in rows:
        x, b = np.array([x]), np.array([b])
        assert lserows.weighted(x, b)[2][0] == want, (x, b)
        with np.errstate(all="ignore"):
            fast, slow = each_path(accurate.logsumexp, x, b=b, axis=-1, return_sign=True)
        same_bits(fast[0], slow[0])
        same_bits(fast[1], slow[1])
    v, _ = exact([0.0, 300.0], [1.0, 2.0**-500])
    assert accurate.logsumexp(np.array([0.0, 300.0]), b=np.array([1.0, 2.0**-500])) == float(v)


@needs_c
def test_kernels_lists_the_pass(monkeypatch):
    import stabkit

    key = "logsumexp with weights b (correctly rounded pass)"
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    assert stabkit.kernels()[key] == "native"
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert stabkit.kernels()[key] == "STABKIT_NATIVE=0"
