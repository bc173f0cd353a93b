"""softplus(x, beta) and the weighted logsumexp at extreme options, against
mpmath at 700 bits from the exact binary inputs.

* softplus(x, beta) = softplus(beta*x)/beta for every positive finite beta
  and every finite x: no NaN from TwoProduct's split, no inf where beta*x
  overflows but the result does not, no precision lost where softplus(beta*x)
  is subnormal and the division by beta lifts it back (stabkit's
  _accurate/scaled.py: three regimes split at t = beta*x = 4, -40, -1500).
* logsumexp(x, b) where one x value carries weights whose float sum
  overflows (1e308 + 1e308) in a row that cancels into the MPFR fallback.
"""

from __future__ import annotations

import math

import ml_dtypes
import mpmath
import numpy as np
import pytest

from stabkit import accurate

MAX = float(np.finfo(np.float64).max)
H = float.fromhex
BETAS = [1e-300, 1e-20, 1e-3, 0.1, 10.0, 1e20, 1e300, MAX]


def exact_softplus_beta(x: float, beta: float):
    """softplus(beta*x)/beta in mpmath, from the exact binary x and beta."""
    with mpmath.workprec(700):
        b = mpmath.mpf(beta)
        t = mpmath.mpf(x) * b
        if t > 0:
            # softplus(t) = t + log1p(exp(-t)); t/b is x exactly
            return mpmath.mpf(x) + mpmath.log1p(mpmath.exp(-t)) / b
        return mpmath.log1p(mpmath.exp(t)) / b


def ulp_err(got: float, v, dtype=np.float64) -> float:
    """|got - v| in units of the last place of v in ``dtype`` (subnormal ulps
    below the normal range); inf where got is inf/NaN but v rounds finite."""
    fi = np.finfo(dtype)
    if not math.isfinite(got):
        fin = abs(v) < mpmath.mpf(float(fi.max)) * (1 + mpmath.mpf(2) ** -(fi.nmant + 1))
        return math.inf if (fin or math.isnan(got)) else 0.0
    if v == 0:
        return 0.0 if got == 0 else math.inf
    e = max(int(mpmath.floor(mpmath.log(abs(v), 2))), int(fi.minexp))
    return float(abs(mpmath.mpf(got) - v) / mpmath.mpf(2) ** (e - fi.nmant))


def softplus_errors(xs, beta, dtype=np.float64):
    a = np.asarray(xs, dtype=dtype)
    y = accurate.softplus(a, beta=beta)
    assert y.dtype == a.dtype
    return [ulp_err(float(yi), exact_softplus_beta(float(xi), beta), dtype)
            for xi, yi in zip(a.astype(np.float64), y)]


# ------------------------------------------------------------ softplus(beta)

# the audit's reproducers: subnormal softplus(beta*x) lifted by 1/beta (the
# old code lost up to 2.1e13 ulp), and overflowing splits / products (NaN, inf)
REPRODUCERS = [
    (H("-0x1.f5718987664b4p+75"), 1e-20),
    (H("-0x1.f8d4e62242a93p+75"), 1e-20),
    (H("-0x1.5aae000000000p+19"), 1e-3),
    (H("-0x1.6472000000000p+19"), 1e-3),
    (H("-0x1.d1a0000000000p+12"), 0.1),
    (H("-0x1.2aa4f4a405be2p+1003"), 1e-300),
    (H("-0x1.0550560f85065p+1007"), 1e-300),
    (MAX, 1e-200),
    (-(2.0**1022), 2.0**-1022),
    (H("-0x1.3880000000001p-1011"), MAX),
    (-0.0, MAX),
    (MAX, 2.0),
    (1e9, 1e300),
]


@pytest.mark.parametrize("x, beta", REPRODUCERS)
def test_softplus_beta_reproducers_within_contract(x, beta):
    # contract 2 ulp; measured <= 0.57 ulp (one rounding of a double-double)
    (err,) = softplus_errors([x], beta)
    assert err <= 1.0


def test_softplus_beta_reproducer_values():
    assert accurate.softplus(np.array([MAX]), beta=2.0)[0] == MAX
    assert accurate.softplus(np.array([1e9]), beta=1e300)[0] == 1e9
    assert accurate.softplus(np.array([H("-0x1.3880000000001p-1011")]), beta=MAX)[0] == 0.0
    y = accurate.softplus(np.array([-0.0]), beta=MAX)[0]
    assert y == float(mpmath.log(2) / mpmath.mpf(MAX))  # ln2/beta, subnormal


def _thresholds(beta):
    """x on both sides of every regime boundary t = beta*x in {4, -40,
    -1500}, plus |t| near 709/745 (where exp(t) leaves the normal range)."""
    xs = []
    for t in (4.0, -40.0, -1500.0, -708.4, -745.1, 37.0, -37.0):
        x0 = t / beta
        if not math.isfinite(x0):
            continue
        lo = hi = x0
        for _ in range(3):
            lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
        xs += [lo, x0, hi]
    return xs


@pytest.mark.parametrize("beta", BETAS + [2.0**-1000, 2.0**1000, 0.75])
def test_softplus_beta_both_sides_of_thresholds(beta):
    xs = _thresholds(beta)
    for t in (4.0, -40.0):
        x0 = t / beta
        if math.isfinite(x0) and x0 != 0:
            # the points really straddle the boundary in the rounded product
            ts = [beta * x for x in xs]
            assert min(ts) < t < max(ts) or any(v == t for v in ts)
    errs = softplus_errors(xs, beta)
    assert max(errs) <= 1.0, (beta, max(errs), xs[int(np.argmax(errs))])


@pytest.mark.parametrize("beta", BETAS)
def test_softplus_beta_sweep_every_magnitude(beta):
    # log-spaced |x| over the whole float64 range, both signs, and x with
    # beta*x log-spaced in [1e-3, 2000] (every regime, both signs)
    rng = np.random.default_rng(20261205)
    xs = np.exp2(rng.uniform(-1074, 1024, 40))
    with np.errstate(all="ignore"):
        xt = np.exp(rng.uniform(math.log(1e-3), math.log(2000), 40)) / beta
    xs = np.concatenate([xs, xt[np.isfinite(xt)], [0.0, 5e-324, MAX]])
    xs = np.concatenate([xs, -xs])
    errs = softplus_errors(xs, beta)
    assert max(errs) <= 1.0, (beta, max(errs), xs[int(np.argmax(errs))])


@pytest.mark.parametrize("beta", [1e-300, 2.0**-1074, 1.0 + 2**-52, 1e300, MAX])
def test_softplus_beta_infinities_and_nan(beta):
    y = accurate.softplus(np.array([np.inf, -np.inf, np.nan]), beta=beta)
    assert y[0] == np.inf and y[1] == 0.0 and np.isnan(y[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_softplus_beta_narrow_formats_at_extremes(dtype):
    fi = ml_dtypes.finfo(dtype)
    big = float(fi.max) / 2
    # -0.0 with beta = max: ln2/max is 3.9e-309, 0 in every narrow format
    y = accurate.softplus(np.array([-0.0, big, -big], dtype=dtype), beta=MAX)
    assert y.dtype == dtype
    assert float(y[0]) == 0.0 and float(y[1]) == big and float(y[2]) == 0.0
    y = accurate.softplus(np.array([big], dtype=dtype), beta=1e300)
    assert float(y[0]) == big  # beta*x overflows float64; the result is x
    if dtype is not np.float16:
        y = accurate.softplus(np.array([1.6e11], dtype=dtype), beta=1e300)
        assert float(y[0]) == float(np.array(1.6e11, dtype))


@pytest.mark.parametrize("beta", BETAS)
def test_softplus_beta_float32_within_one_ulp(beta):
    rng = np.random.default_rng(7)
    fmax = float(np.finfo(np.float32).max)
    with np.errstate(all="ignore"):
        xt = np.exp(rng.uniform(math.log(1e-3), math.log(200), 25)) / beta
    xs = np.concatenate([np.exp2(rng.uniform(-149, 128, 25)), xt[np.abs(xt) < fmax]])
    xs = np.concatenate([xs, -xs]).astype(np.float32)
    errs = softplus_errors(xs, beta, np.float32)
    assert max(errs) < 1.0, (beta, max(errs))


# ------------------------------------------------------------ weighted logsumexp


def exact_weighted(x, b):
    """(log|S|, sign S) of S = sum b_i exp(x_i), weights of one x added
    exactly (mpmath's fsum of mpf values at 2400 bits holds any float64 sum)."""
    groups: dict[float, list] = {}
    for xi, bi in zip(x, b):
        groups.setdefault(float(xi), []).append(mpmath.mpf(float(bi)))
    with mpmath.workprec(2400):
        s = mpmath.fsum(mpmath.fsum(w) * mpmath.exp(mpmath.mpf(v)) for v, w in groups.items())
        if s == 0:
            return -math.inf, 0.0
        return mpmath.log(abs(s)), (1.0 if s > 0 else -1.0)


WEIGHTED = [
    # the audit's: 1e308 + 1e308 overflowed math.fsum in the MPFR fallback
    ([0.0, 0.0, 1.0], [1e308, 1e308, -(1e308 / math.e) * 2]),
    ([5.0, 5.0, 6.0], [1e308, 1.7e308, -(2.7e308 / math.e)]),
    ([1e4, 1e4, 0.0], [5e-324, -5e-324, 1.0]),
    ([1e4, 1e4, 0.0], [5e-324, 5e-324, 1.0]),
    ([0.0, 0.0, 0.0, 1.0], [MAX, MAX, -MAX, 1e-300]),
]


@pytest.mark.parametrize("x, b", WEIGHTED)
def test_weighted_logsumexp_huge_group_weights(x, b):
    x, b = np.array(x), np.array(b)
    val, sign = accurate.logsumexp(x, b=b, return_sign=True)
    ev, es = exact_weighted(x, b)
    assert float(sign) == es
    assert ulp_err(float(val), ev) <= 1.0


def test_weighted_logsumexp_exact_cases_with_huge_weights():
    # the group at x = 0 sums to exactly 1 through MAX + MAX (a float sum
    # overflows): logsumexp is 0 exactly, sign +1
    val, sign = accurate.logsumexp(np.zeros(5), b=np.array([MAX, MAX, 1.0, -MAX, -MAX]),
                                   return_sign=True)
    assert (float(val), float(sign)) == (0.0, 1.0)
    # every group cancels exactly: -inf and sign 0
    val, sign = accurate.logsumexp(np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0]),
                                   b=np.array([MAX, MAX, -MAX, -MAX, 1e308, -1e308]),
                                   return_sign=True)
    assert float(val) == -np.inf and float(sign) == 0.0


def test_weighted_reproducer_reaches_the_mpfr_fallback(monkeypatch):
    # the audit's row cancels enough to need weighted_row_mp, whose group sums
    # (now exact integers) used to overflow in math.fsum
    import stabkit._accurate.weighted as weighted

    calls = []
    real = weighted.weighted_row_mp

    def spy(x, b):
        calls.append(1)
        return real(x, b)

    monkeypatch.setattr(weighted, "weighted_row_mp", spy)
    x, b = WEIGHTED[0]
    val, sign = accurate.logsumexp(np.array(x), b=np.array(b), return_sign=True)
    assert calls
    ev, es = exact_weighted(x, b)
    assert float(sign) == es == -1.0 and ulp_err(float(val), ev) <= 1.0


def _groups_reference(x, b):
    """The exact group sums, entry by entry in Python integers (2**-1074 units)."""
    from fractions import Fraction

    by_x: dict[float, Fraction] = {}
    for v, w in zip(x.tolist(), b.tolist()):
        by_x[v + 0.0] = by_x.get(v + 0.0, Fraction(0)) + Fraction(w)
    return {v: int(c * 2**1074) for v, c in by_x.items() if c}


@pytest.mark.parametrize("seed", range(8))
def test_weighted_groups_of_long_rows_are_exact(seed):
    # rows past 64 entries are grouped by a sort, and groups of integer
    # weights summed in float64 (exact up to 2**53); every other group, and
    # every group of a short row, in Python integers: both against Fractions
    from stabkit._accurate.weighted_mp import _groups

    rng = np.random.default_rng(seed)
    for n in (40, 300):
        x = rng.choice(np.array([-0.0, 0.0, 1.5, -3.0, 700.0, 2.0**-1074]), n)
        kind = seed % 4
        if kind == 0:  # +-1 and small integers: the float path, cancelling groups
            b = rng.choice(np.array([1.0, -1.0, 2.0, -2.0]), n)
        elif kind == 1:  # decimals: 0.1 + 0.2 - 0.3 is not 0 in binary
            b = rng.choice(np.array([0.1, 0.2, -0.3, 2.0**-1074, -(2.0**-1074)]), n)
        elif kind == 2:  # integers whose float64 sums round (past 2**53)
            b = rng.choice(np.array([2.0**52 + 1, 2.0**52 + 3, -(2.0**52) - 1, 1.0]), n)
        else:  # huge weights: float64 sums overflow
            b = rng.choice(np.array([1e308, -1e308, 1.0]), n)
        got = {v: units for v, _, units in _groups(x, b)}
        assert got == _groups_reference(x, b)
        for v, ws, _ in _groups(x, b):
            assert sorted(ws) == sorted(b[(x + 0.0) == v].tolist())


def test_weighted_long_cancelling_rows_are_exact():
    # a million-entry row of +-e^v pairs and one e^-700 (was 3.3 s in a
    # Python loop over the entries; the answer is exact either way)
    rng = np.random.default_rng(0)
    v = rng.normal(0, 5, 50_000)
    a = np.concatenate([np.repeat(v, 2), [-700.0]])
    b = np.concatenate([np.tile([1.0, -1.0], 50_000), [1.0]])
    val, sign = accurate.logsumexp(a, b=b, return_sign=True)
    assert (float(val), float(sign)) == (-700.0, 1.0)
    # the sum exactly 1: logsumexp exactly 0 (the groups at -0.0 and 0.0 are one)
    a2 = np.concatenate([a[:-1], [0.0, -0.0]])
    b2 = np.concatenate([b[:-1], [0.75, 0.25]])
    assert accurate.logsumexp(a2, b=b2, return_sign=True) == (0.0, 1.0)
