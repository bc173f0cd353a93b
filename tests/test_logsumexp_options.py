"""logsumexp's SciPy options in the three tiers' cores: weights ``b``
(broadcast, zero, negative), ``return_sign``, ``keepdims`` with weights, the
edges, and the accurate tier's error against mpmath, cancelling sums included."""

from __future__ import annotations

import math
import warnings

import ml_dtypes
import mpmath
import numpy as np
import pytest
import scipy
from scipy.special import logsumexp as scipy_lse

import stabkit
from stabkit import accurate, naive, stable
from stabkit.floats import split_exact, ulp_error

TIERS = [naive, stable, accurate]
DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]
INF, NAN = np.inf, np.nan
#: The accurate tier's contract (tests/helpers/numerics.py): rows in float64
#: within 4 ulp, narrower formats below 1 ulp.
BOUND = {"float64": 4.0, "float32": 1.0, "float16": 1.0, "bfloat16": 1.0}


def quiet(fn, *args, **kw):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


def exact(x, b, prec=2400):
    """(log|S|, sign S, S) of S = sum b_i exp(x_i), in mpmath at ``prec`` bits.
    Entries are grouped by their x and the weights of a group added exactly
    first (exactly: float64s span at most 2098 bits), so a sum that is exactly
    0 (x = [1, 1], b = [1, -1]) comes out 0."""
    groups: dict[float, list] = {}
    for xi, bi in zip(np.asarray(x, np.float64).ravel(), np.asarray(b, np.float64).ravel()):
        if bi != 0:
            groups.setdefault(float(xi), []).append(mpmath.mpf(float(bi)))
    with mpmath.workprec(prec):
        s = mpmath.fsum(mpmath.fsum(w) * mpmath.exp(mpmath.mpf(v)) for v, w in groups.items())
        if s == 0:
            return mpmath.mpf("-inf"), 0.0, s
        return mpmath.log(abs(s)), (1.0 if s > 0 else -1.0), s


def ulps(y, v, fmt):
    hi, lo = split_exact(v)
    return float(ulp_error(np.asarray(y), hi, lo, fmt))


# ------------------------------------------------------------ against SciPy


class TestAgainstScipy:
    """Ordinary inputs (nothing overflows, nothing cancels): every tier agrees
    with scipy.special.logsumexp to float64 round-off."""

    @pytest.mark.parametrize("tier", TIERS)
    @pytest.mark.parametrize("axis", [0, 1, -1])
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_positive_weights(self, tier, axis, keepdims):
        rng = np.random.default_rng(1)
        x, b = rng.normal(size=(4, 6)) * 3, rng.random((4, 6))
        got = tier.logsumexp(x, axis=axis, keepdims=keepdims, b=b)
        want = scipy_lse(x, axis=axis, keepdims=keepdims, b=b)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)

    @pytest.mark.parametrize("tier", TIERS)
    def test_mixed_signs_with_sign(self, tier):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(50, 5))
        b = rng.normal(size=(50, 5))
        got, sign = quiet(tier.logsumexp, x, b=b, return_sign=True, axis=-1)
        want, wsign = scipy_lse(x, axis=-1, b=b, return_sign=True)
        assert np.array_equal(sign, wsign) and set(np.unique(sign)) == {-1.0, 1.0}
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
        plain = quiet(tier.logsumexp, x, b=b, axis=-1)
        assert np.array_equal(np.isnan(plain), sign < 0)
        np.testing.assert_array_equal(plain[sign > 0], got[sign > 0])

    @pytest.mark.parametrize("tier", TIERS)
    def test_broadcast_weights(self, tier):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(3, 5))
        for b in (rng.random(5), rng.random((3, 1)), 2.5, rng.random((2, 3, 5))):
            got = tier.logsumexp(x, b=b, axis=-1)
            want = scipy_lse(x, axis=-1, b=b)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


# ------------------------------------------------------------ formats and input checks


class TestFormatsAndChecks:
    @pytest.mark.parametrize("tier", TIERS)
    @pytest.mark.parametrize("dt", DTYPES)
    def test_the_result_keeps_the_format_of_x(self, tier, dt):
        x = np.array([[1.0, 2.0, 0.5]], dtype=dt)
        for b in (np.array([1.0, 2.0, 0.25]), np.array([1, 2, 3]), np.array([True, False, True]), np.float32(0.5)):
            out, sign = tier.logsumexp(x, b=b, return_sign=True, axis=-1)
            assert out.dtype == dt and sign.dtype == dt, (dt, np.asarray(b).dtype)
            assert out.shape == (1,)

    @pytest.mark.parametrize("tier", TIERS)
    def test_bad_weights_are_named(self, tier):
        x = np.zeros((2, 3))
        with pytest.raises(ValueError, match=r"b has shape \(4,\).*\(2, 3\)"):
            tier.logsumexp(x, b=np.ones(4), axis=-1)
        with pytest.raises(ValueError, match="b has unsupported dtype"):
            tier.logsumexp(x, b=np.array(["a", "b", "c"]), axis=-1)
        with pytest.raises(TypeError, match="b is complex"):
            tier.logsumexp(x, b=np.ones(3) * 1j, axis=-1)

    @pytest.mark.parametrize("tier", TIERS)
    def test_complex_input_is_a_type_error(self, tier):
        z = np.array([1.0 + 1j, 2.0])
        for fn in (tier.logsumexp, tier.softmax, tier.sigmoid):
            with pytest.raises(TypeError, match=r"(x|a) is complex \(complex128\)"):
                fn(z)
        with pytest.raises(TypeError, match="complex64"):
            tier.logsumexp(z.astype(np.complex64), b=np.ones(2), axis=-1)

    @pytest.mark.parametrize("tier", TIERS)
    def test_bad_axis_with_weights(self, tier):
        with pytest.raises(ValueError, match="axis 2"):
            tier.logsumexp(np.zeros((2, 3)), axis=2, b=np.ones(3))


# ------------------------------------------------------------ the edges


SCIPY_117 = tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 17)

#: (x, b, SciPy's (log|S|, sign)): the edge contract of the weighted tiers
EDGES = [
    ([INF, 1.0], [0.0, 1.0], (1.0, 1.0)),  # a zero weight drops an inf ...
    ([NAN, 1.0], [0.0, 1.0], (1.0, 1.0)),  # ... and a NaN
    ([1.0, 2.0], [0.0, -0.0], (-INF, 0.0)),  # nothing left: the empty sum
    ([-INF, -INF], [1.0, 2.0], (-INF, 0.0)),
    ([1.0, 1.0], [1.0, -1.0], (-INF, 0.0)),  # an exactly zero sum
    ([INF, 1.0], [-1.0, 1.0], (INF, -1.0)),
    ([INF, INF], [1.0, 1.0], (INF, 1.0)),
    ([INF, INF], [1.0, -1.0], (NAN, NAN)),  # inf - inf
    ([1.0, 2.0], [INF, 1.0], (INF, 1.0)),
    ([1.0, 2.0], [-INF, 1.0], (INF, -1.0)),
    ([-INF, 1.0], [INF, 1.0], (NAN, NAN)),  # inf * 0
    ([1.0, 2.0], [NAN, 0.0], (NAN, NAN)),
    ([NAN, 2.0], [1.0, 1.0], (NAN, NAN)),
    ([0.0, 0.0], [0.25, 0.75], (0.0, 1.0)),  # exactly log(1)
]


class TestEdges:
    @pytest.mark.parametrize("tier", [stable, accurate])
    @pytest.mark.parametrize("x, b, want", EDGES)
    def test_edge_table(self, tier, x, b, want):
        x, b = np.array(x), np.array(b)
        out, sign = tier.logsumexp(x, b=b, return_sign=True, axis=-1)
        assert np.array_equal([out, sign], want, equal_nan=True), (out, sign)
        # the table is SciPy 1.17's behaviour (1.15 gives other signs at the
        # zero and infinite sums: (-inf, 1) for an empty sum, (inf, 1) for -inf)
        if SCIPY_117:
            assert np.array_equal(scipy_lse(x, b=b, return_sign=True), want, equal_nan=True)
        plain = tier.logsumexp(x, b=b, axis=-1)
        assert np.array_equal(plain, np.nan if want[1] < 0 else want[0], equal_nan=True)

    @pytest.mark.parametrize("tier", [stable, accurate])
    def test_a_zero_weight_always_drops_its_entry(self, tier):
        # SciPy 1.17 returns NaN for these rows (a dropped inf or NaN and no
        # finite term left); the rule here has no exception
        for x, b, want in [([INF], [0.0], (-INF, 0.0)), ([NAN, INF, 0.0], [0.0, 1e-300, 0.0], (INF, 1.0)),
                           ([-INF, NAN, -800.0], [1e-300, 0.0, -0.0], (-INF, 0.0))]:
            got = tier.logsumexp(np.array(x), b=np.array(b), return_sign=True, axis=-1)
            assert np.array_equal(got, want), (x, b, got)

    def test_an_infinite_weight_makes_an_infinite_term(self):
        # exp(-801) underflows, but -inf * exp(-801) is -inf; the stable tier
        # (as SciPy) multiplies -inf by the underflowed 0: NaN
        x, b = np.array([-800.0, 1.0]), np.array([-INF, 1.0])
        assert np.array_equal(accurate.logsumexp(x, b=b, return_sign=True, axis=-1), (INF, -1.0))
        assert np.all(np.isnan(stable.logsumexp(x, b=b, return_sign=True, axis=-1)))

    @pytest.mark.parametrize("tier", TIERS)
    def test_empty_rows(self, tier):
        # the sum of nothing is 0: log -inf, sign 0 (SciPy 1.17 says sign -1
        # for an empty row and 0 for an all -inf one; stabkit says 0 for both)
        x = np.zeros((3, 0), np.float32)
        for b in (None, np.zeros((3, 0))):
            out, sign = tier.logsumexp(x, b=b, return_sign=True, axis=-1)
            assert out.dtype == np.float32 and out.shape == (3,)
            assert np.all(out == -np.inf) and np.all(sign == 0)
        out, sign = tier.logsumexp(x, b=np.ones(0), keepdims=True, return_sign=True, axis=-1)
        assert out.shape == sign.shape == (3, 1)

    @pytest.mark.parametrize("tier", TIERS)
    def test_sign_without_weights(self, tier):
        x = np.array([[1.0, 2.0], [-INF, -INF], [NAN, 0.0]])
        out, sign = quiet(tier.logsumexp, x, return_sign=True, axis=-1)
        assert np.array_equal(out, quiet(tier.logsumexp, x, axis=-1), equal_nan=True)
        assert np.array_equal(sign, [1.0, 0.0, NAN], equal_nan=True)

    def test_naive_multiplies_the_inf_by_the_zero_weight(self):
        # the textbook formula: 0 * exp(inf) = 0 * inf is NaN, where the
        # other tiers drop the entry
        out = quiet(naive.logsumexp, np.array([INF, 1.0]), b=np.array([0.0, 1.0]), axis=-1)
        assert np.isnan(out)
        assert stable.logsumexp(np.array([INF, 1.0]), b=np.array([0.0, 1.0]), axis=-1) == 1.0

    @pytest.mark.parametrize("tier", TIERS)
    def test_keepdims_with_weights(self, tier):
        rng = np.random.default_rng(4)
        x, b = rng.normal(size=(2, 3, 4)), rng.random((3, 1))
        for axis in (0, 1, 2, -2):
            flat = tier.logsumexp(x, axis=axis, b=b)
            kept, sign = tier.logsumexp(x, axis=axis, keepdims=True, b=b, return_sign=True)
            assert kept.shape == sign.shape == np.expand_dims(flat, axis).shape
            np.testing.assert_array_equal(kept, np.expand_dims(flat, axis))


# ------------------------------------------------------------ the accurate tier


class TestAccurateWeights:
    def test_unit_weights_give_the_unweighted_bits(self):
        rng = np.random.default_rng(5)
        for dt in DTYPES:
            x = (rng.normal(size=(40, 7)) * 20).astype(dt)
            x[::5, 2] = -np.inf
            mask = rng.random(x.shape) < 0.3
            assert np.array_equal(accurate.logsumexp(x, b=np.ones(7), axis=-1), accurate.logsumexp(x, axis=-1), equal_nan=True)
            masked = np.where(mask, np.array(-np.inf, dt), x)
            assert np.array_equal(accurate.logsumexp(x, b=~mask, axis=-1), accurate.logsumexp(masked, axis=-1))

    @pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
    def test_nonnegative_weights_against_mpmath(self, fmt):
        dt = ml_dtypes.bfloat16 if fmt == "bfloat16" else np.dtype(fmt)
        rng = np.random.default_rng(6)
        for i in range(60):
            n = [1, 2, 3, 10, 40][i % 5]
            x = (rng.normal(size=n) * [1e-3, 1, 30, 300][i % 4]).astype(dt)
            b = rng.random(n) * 10.0 ** rng.integers(-8, 8)
            if i % 3 == 0:
                # weights that nearly undo the exps: the result is close to 0
                b = rng.dirichlet(np.ones(n)) * np.exp(-np.asarray(x, np.float64))
            if not np.all(np.isfinite(b) & (b > 0)):
                continue  # exp(-x) overflowed or the weight underflowed: not this test's point
            v, s, _ = exact(x, b)
            y, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
            assert sign == s == 1.0
            assert ulps(y, v, fmt) <= BOUND[fmt] if fmt == "float64" else ulps(y, v, fmt) < 1, (x, b, y)

    @pytest.mark.parametrize("fmt", ["float64", "float32"])
    def test_extreme_weights_against_mpmath(self, fmt):
        rng = np.random.default_rng(7)
        for i in range(40):
            n = 1 + i % 6
            x = (rng.uniform(-700, 700, n) + [0.0, 1e5, -1e5, 1e30][i % 4]).astype(fmt)
            b = np.array([1e300, 1e-300, 5e-324, 1.5, -3e-310, -7e200])[rng.integers(0, 6, n)]
            v, s, _ = exact(x, b)
            y, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
            assert sign == s
            assert ulps(y, v, fmt) <= BOUND[fmt] if fmt == "float64" else ulps(y, v, fmt) < 1, (x, b, y)

    @pytest.mark.parametrize("fmt", ["float64", "float32"])
    def test_cancelling_sums_against_mpmath(self, fmt):
        """Weights of both signs that cancel the sum to 1e-6 .. 1e-15 of its
        terms: the accurate tier stays within its contract; the stable tier
        (SciPy's method) is off by up to ~n eps sum|terms| / |sum| in the log,
        the bound of plain summation, far more than an ulp (and has no bound
        once that ratio passes 1: the sum may even come out 0)."""
        rng = np.random.default_rng(8)
        eps = float(np.finfo(fmt).eps)
        stable_worst = 0.0
        for i in range(30):
            n = [2, 5, 30][i % 3]
            x = (rng.normal(size=n) * 5).astype(fmt)
            b = rng.random(n) * rng.choice([-1.0, 1.0], size=n)
            terms = b[:-1] * np.exp(x[:-1].astype(np.float64) - float(x[-1]))
            b[-1] = -np.sum(terms) * (1 + [1e-6, 1e-10, 1e-15][i % 3])
            v, s, S = exact(x, b)
            mag = sum(abs(mpmath.mpf(float(bi)) * mpmath.exp(mpmath.mpf(float(xi)))) for xi, bi in zip(x, b))
            y, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
            assert sign == s
            assert ulps(y, v, fmt) <= BOUND[fmt] if fmt == "float64" else ulps(y, v, fmt) < 1, (x, b, y)
            ys, ss = quiet(stable.logsumexp, x, b=b, return_sign=True, axis=-1)
            # the relative error of the plain sum (b rounded to the format
            # included), and what it does to the log while it is below 1/2
            delta = 4 * n * eps * float(mag / abs(S))
            if delta < 0.5:
                assert ss == s and abs(float(ys) - float(v)) <= 2 * delta
            stable_worst = max(stable_worst, ulps(ys, v, fmt) if np.isfinite(ys) else math.inf)
        assert stable_worst > 1e3

    def test_exact_cancellation_leaves_the_small_terms(self):
        # the large terms cancel exactly; plain sums (SciPy, the stable tier)
        # lose what is left and say -inf
        got = accurate.logsumexp(np.array([700.0, 0.0, 700.0]), b=np.array([-1.0, -1.0, 1.0]), return_sign=True, axis=-1)
        assert np.array_equal(got, (0.0, -1.0))
        x, b = np.array([0.0, 0.0, 5.0]), np.array([1.0, -1.0, 1e-300])
        v, _, _ = exact(x, b)
        y, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
        assert sign == 1.0 and ulps(y, v, "float64") <= 4
        assert stable.logsumexp(np.array([700.0, 0.0, 700.0]), b=np.array([-1.0, -1.0, 1.0]), axis=-1) == -INF

    def test_pairs_one_ulp_apart(self):
        # exp(a) - exp(a + ulp(a)): the sum is -exp(a) * ulp(a), 2**-52 of the terms
        for a in (1.0, -30.0, 700.0, 1e-3):
            x = np.array([a, np.nextafter(a, np.inf)])
            v, s, _ = exact(x, [1.0, -1.0])
            y, sign = accurate.logsumexp(x, b=np.array([1.0, -1.0]), return_sign=True, axis=-1)
            assert sign == s == -1.0 and ulps(y, v, "float64") <= 4

    def test_many_rows_and_blocks(self):
        # wide rows (the pairwise sums), narrow rows (column loops), many blocks
        rng = np.random.default_rng(9)
        for shape in [(3, 3000), (20000, 4)]:
            x = rng.normal(size=shape) * 10
            b = rng.random(shape) - 0.2
            b[:, 0] = np.abs(b[:, 0]) + 1.0
            got, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
            want, wsign = scipy_lse(x, axis=-1, b=b, return_sign=True)
            assert np.array_equal(sign, wsign)
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
            for r in rng.integers(0, shape[0], 3):
                v, _, _ = exact(x[r], b[r], prec=400)
                assert ulps(got[r], v, "float64") <= 4

    def test_silent_under_raise(self):
        with np.errstate(all="raise"):
            out = stabkit.logsumexp(np.array([1e308, -1e308, np.inf]), b=np.array([1e-300, 2.0, 0.0]), axis=-1)
        assert out == pytest.approx(1e308, rel=1e-15)


# ------------------------------------------------------------ where the naive tier breaks


class TestNaiveFailsWithWeights:
    def test_overflow_with_a_tiny_weight(self):
        # 1e-300 * exp(1000) = exp(1000 - 690.8): finite, but exp(1000) is not
        x, b = np.array([1000.0, 0.0]), np.array([1e-300, 1.0])
        v, _, _ = exact(x, b)
        assert quiet(naive.logsumexp, x, b=b, axis=-1) == np.inf
        for tier in (stable, accurate):
            assert ulps(tier.logsumexp(x, b=b, axis=-1), v, "float64") <= 4

    def test_float32_overflow_at_89(self):
        x, b = np.array([89.0, 88.0], np.float32), np.array([0.5, -0.25])
        v, s, _ = exact(x, b)
        assert quiet(naive.logsumexp, x, b=b, axis=-1) == np.inf
        assert quiet(naive.logsumexp, x.astype(np.float64), b=b, axis=-1) == pytest.approx(float(v), rel=1e-14)
        y, sign = accurate.logsumexp(x, b=b, return_sign=True, axis=-1)
        assert sign == s == 1.0 and ulps(y, v, "float32") < 1
