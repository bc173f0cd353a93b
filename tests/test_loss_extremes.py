"""The losses at the edges of float64: large weights on the binary loss's
subnormal tails (``w softplus(-z)`` for z > 700), a smoothed categorical loss
that rounds to the largest float64, and the reading of a 1-D
``sample_weight`` on a loss with more axes (Keras's rows or NumPy's trailing
axis: never silently one of them). References: mpmath at 300 bits."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import stabkit
from helpers.numerics import ulps
from stabkit import accurate, naive, stable

TIERS = [naive, stable, accurate]
M = float(np.finfo(np.float64).max)
_MP = mpmath.MPContext()
_MP.prec = 300


def bce_exact(y, z, w=1.0, s=1.0, ls=0.0):
    """``s (w y' softplus(-z) + (1 - y') softplus(z))``, y' smoothed, exactly."""
    y, z, w, s, ls = (_MP.mpf(float(v)) for v in (y, z, w, s, ls))
    y = y * (1 - ls) + ls / 2
    return s * (w * y * _MP.log1p(_MP.exp(-z)) + (1 - y) * _MP.log1p(_MP.exp(z)))


# ------------------------------------------------------------ binary loss: weighted subnormal tails


@pytest.mark.parametrize("z, w, got_before", [(745.0, 1e30, 4.9406564584124655e-294),
                                              (740.0, 1e20, 4.1995579896505956e-302),
                                              (744.0, 1e10, 9.881312917e-314)])
def test_pos_weight_on_a_subnormal_softplus(z, w, got_before):
    """The audit's reproducers: softplus(-z) is subnormal (one to a few bits),
    and ``pos_weight`` lifted those bits into the normal range (6e15 ulp at
    z = 745); the last one's exact loss is subnormal itself."""
    got = accurate.binary_crossentropy(np.array([1.0]), np.array([z]), True, pos_weight=w)[0]
    exact = bce_exact(1, z, w)
    assert ulps(got, exact) <= 1
    assert ulps(got_before, exact) > 1e9  # what the defect gave, for the record


@pytest.mark.parametrize("z", [699.5, 700.5, 708.3, 708.5, 745.2, 760.0, 1000.0, 1435.0])
@pytest.mark.parametrize("w", [1e-300, 1e-20, 1.0, 1e20, 1e300])
def test_tail_both_sides_of_the_threshold(z, w):
    """z on both sides of TAIL_LOGIT (700: below it softplus(-z) is normal and
    the plain product is accurate), of the subnormal range (708.4), of the
    underflow of softplus(-z) itself (745.13), and past it where the weighted
    loss is still normal (1e300 e^-1000 = 5e-135): pos_weight, sample_weight,
    both, and the mirror image (y = 0, z < 0, the term of 1 - y)."""
    y1, y0 = np.array([1.0]), np.array([0.0])
    cases = [(y1, z, dict(pos_weight=w), bce_exact(1, z, w)),
             (y1, z, dict(sample_weight=np.array([w])), bce_exact(1, z, 1.0, w)),
             (y1, z, dict(pos_weight=w, sample_weight=np.array([w])), bce_exact(1, z, w, w)),
             (y0, -z, dict(sample_weight=np.array([w])), bce_exact(0, -z, 1.0, w))]
    for y, zz, kw, exact in cases:
        got = accurate.binary_crossentropy(y, np.array([zz]), True, **kw)[0]
        assert ulps(got, exact) <= 4, (zz, kw, got, _MP.nstr(exact, 17))


def test_tail_sweep_float64():
    """z in 600..745, weights 1e-300..1e300 (pos_weight, and pos_weight with
    sample_weight), against mpmath: within the 4-ulp contract everywhere."""
    zs = np.linspace(600.0, 745.0, 30)
    ws = 10.0 ** np.arange(-300, 301, 60)
    worst = 0.0
    for w in ws:
        got = accurate.binary_crossentropy(np.ones_like(zs), zs, True, pos_weight=w)
        got2 = accurate.binary_crossentropy(np.ones_like(zs), zs, True, pos_weight=w, sample_weight=np.full(zs.shape, w))
        for z, g, g2 in zip(zs, got, got2):
            worst = max(worst, ulps(g, bce_exact(1, z, w)), ulps(g2, bce_exact(1, z, w, w)))
    assert worst <= 4


@pytest.mark.parametrize("z, w", [(694.0, 1e300), (710.0, 1e300), (740.0, 1e300), (745.5, 1e300), (800.0, 1e300)])
def test_tail_float32(z, w):
    """float32 logits with a float64 pos_weight of 1e300: the loss (a normal
    float32 at z = 694..745) is rounded once from the float64 value."""
    zz = np.float32(z)
    got = accurate.binary_crossentropy(np.array([1.0], np.float32), np.array([zz]), True, pos_weight=w)
    assert got.dtype == np.float32
    assert ulps(got[0], bce_exact(1, zz, w), np.float32) <= 1


def test_tail_with_label_smoothing_and_far_logits():
    """With smoothing the (1 - y') z term dominates and the tiny one still
    counts where it is above half an ulp; a tail past any weight (z = 3000)
    is 0; infinite logits keep their plain values (0 for the tiny term)."""
    for z, w in [(740.0, 1e30), (720.0, 1e300), (3000.0, 1e300)]:
        got = accurate.binary_crossentropy(np.array([1.0]), np.array([z]), True, 0.1, pos_weight=w)[0]
        assert ulps(got, bce_exact(1, z, w, 1.0, 0.1)) <= 4
    assert accurate.binary_crossentropy(np.array([1.0]), np.array([3000.0]), True, pos_weight=1e300)[0] == 0.0
    assert accurate.binary_crossentropy(np.array([1.0]), np.array([np.inf]), True, pos_weight=1e300)[0] == 0.0
    assert accurate.binary_crossentropy(np.array([0.0]), np.array([np.inf]), True, pos_weight=2.0)[0] == np.inf
    assert np.isnan(accurate.binary_crossentropy(np.array([1.0]), np.array([np.nan]), True, pos_weight=2.0)[0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_an_infinite_or_nan_pos_weight_is_inf_or_nan_at_every_logit(dtype):
    """Both softplus terms are > 0, so an infinite positive-class weight
    makes every loss of a positive label inf, and a NaN one (or inf times a
    zero label) NaN. The far logits' tail gave NaN at z = -1000 and 0 at
    z = max (an outside search), where the nearer logits gave inf."""
    big = float(np.finfo(dtype).max)
    z = np.array([-big, -1000, -100, -10, 0, 10, 100, big], dtype)
    ones, zeros = np.ones(8, dtype), np.zeros(8, dtype)
    assert np.all(accurate.binary_crossentropy(ones, z, True, pos_weight=np.inf) == np.inf)
    for y, pw in ((ones, np.nan), (zeros, np.inf), (zeros, np.nan)):
        assert np.isnan(accurate.binary_crossentropy(y, z, True, pos_weight=pw)).all(), (y[0], pw)


# ------------------------------------------------------------ smoothed rows whose loss is the largest float64


@pytest.mark.parametrize("n", [3, 6, 15, 16])
def test_smoothed_loss_rounding_to_the_largest_float64(n):
    """[M, -M, 0, ...] with label n - 1 and label_smoothing 0.1: the exact
    loss is M (the smoothed targets sum to 1, the log-softmax overflows);
    the rounded targets put the computed sum up to ~0.7 ulp above M
    (n = 6, 15 returned inf). Since the targets are rounded once
    (targets64), n = 6 gives M - ulp: finite and within 1 ulp."""
    x = np.array([M, -M] + [0.0] * (n - 2))[None]
    xs = [_MP.mpf(v) for v in x[0]]
    lse = _MP.log(sum(_MP.exp(v - xs[0]) for v in xs)) + xs[0]
    ls = _MP.mpf(0.1)
    t = [ls / n + (1 - ls) * (i == n - 1) for i in range(n)]
    exact = sum(ti * (lse - v) for ti, v in zip(t, xs))
    assert ulps(M, exact) <= 1
    got_c = accurate.categorical_crossentropy(np.eye(n)[n - 1][None], x, True, label_smoothing=0.1)
    got_s = accurate.sparse_categorical_crossentropy(np.array([n - 1]), x, True, label_smoothing=0.1)
    for got in (got_c[0], got_s[0]):
        assert np.isfinite(got) and ulps(got, exact) <= 1, (n, got)


@pytest.mark.parametrize("e, finite", [(51, True), (52, True), (50, False), (40, False)])
def test_overflowing_loss_both_sides_of_the_bound(e, finite):
    """[M, -M, 0] with targets [0, 2**-e, 1 - 2**-e]: the exact loss is
    M (1 + 2**-e). Within the sum's error bound (4 ulp of M, e >= 51) the
    result is M; past it (e = 50: 8 ulp above M, which rounds to inf) inf."""
    y = np.array([[0.0, 2.0**-e, 1.0 - 2.0**-e]])
    exact = _MP.mpf(M) * (1 + _MP.mpf(2) ** -e)
    got = accurate.categorical_crossentropy(y, np.array([[M, -M, 0.0]]), True)[0]
    if finite:
        assert got == M and abs(exact - M) <= 4 * _MP.mpf(2) ** 971
    else:
        assert got == np.inf and exact > _MP.mpf(M) + _MP.mpf(2) ** 970


# ------------------------------------------------------------ sample_weight on losses with more axes


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_row_weights_on_a_square_binary_loss_are_refused(tier):
    """A (3,) sample_weight on a (3, 3) elementwise loss: Keras weighs rows,
    NumPy broadcasting weighs columns; the loss refuses it and says how to
    write each reading."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3, 3)).astype(np.float32)
    y = (rng.random((3, 3)) > 0.5).astype(np.float32)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) is ambiguous.*\(3, 1\).*\(1, 3\)"):
        tier.binary_crossentropy(y, z, True, sample_weight=np.array([1.0, 0, 0]), reduction="sum_over_batch_size")


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_each_reading_written_out(tier):
    """(N, 1) weighs rows (Keras's value: the per-element losses of row 0
    over all 9 elements), (1, C) weighs columns; scalars and (1,) still
    broadcast."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3, 3))
    y = (rng.random((3, 3)) > 0.5).astype(np.float64)
    plain = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
    rows = tier.binary_crossentropy(y, z, True, sample_weight=np.array([[1.0], [0], [0]]), reduction="sum_over_batch_size")
    cols = tier.binary_crossentropy(y, z, True, sample_weight=np.array([[1.0, 0, 0]]), reduction="sum_over_batch_size")
    np.testing.assert_allclose(rows, plain[0].sum() / 9, rtol=1e-12)
    np.testing.assert_allclose(cols, plain[:, 0].sum() / 9, rtol=1e-12)
    for sw in (2.0, np.array([2.0])):
        np.testing.assert_allclose(tier.binary_crossentropy(y, z, True, sample_weight=sw, reduction="sum"),
                                   2 * plain.sum(), rtol=1e-12)


def test_row_weights_that_only_fit_as_rows_suggest_the_reshape():
    """(3,) weights on a (3, 2) loss: NumPy's rules refuse them; the message
    names sample_weight and the (3, 1) shape of Keras's reading."""
    y, z = np.zeros((3, 2)), np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\).*\(3, 2\).*pass shape \(3, 1\)"):
        stabkit.binary_crossentropy(y, z, True, sample_weight=np.array([1.0, 0, 0]))
    # a length that fits neither reading: no reshape hint
    with pytest.raises(ValueError, match=r"sample_weight has shape \(4,\)") as err:
        stabkit.binary_crossentropy(y, z, True, sample_weight=np.ones(4))
    assert "(4, 1)" not in str(err.value)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_per_row_losses_keep_their_per_sample_weights(tier):
    """The sparse and categorical losses are per row: (N,) weights on (N, C)
    rows with N == C are per sample, unambiguous."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 3))
    sw = np.array([1.0, 0.0, 2.0])
    per_row = np.logaddexp.reduce(z, axis=1) - z[np.arange(3), [0, 1, 2]]
    got_s = tier.sparse_categorical_crossentropy(np.array([0, 1, 2]), z, True, sample_weight=sw, reduction="sum")
    got_c = tier.categorical_crossentropy(np.eye(3), z, True, sample_weight=sw, reduction="sum")
    np.testing.assert_allclose([got_s, got_c], (sw * per_row).sum(), rtol=1e-12)


def test_sequence_losses_with_batch_weights():
    """A (B, T, C) categorical loss is (B, T): (B,) weights are ambiguous when
    B == T and need (B, 1) otherwise; (B, 1) weighs the whole sequence."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2, 2, 4))
    y = np.eye(4)[[[0, 1], [2, 3]]]
    with pytest.raises(ValueError, match=r"ambiguous.*\(2, 1\).*\(1, 2\)"):
        accurate.categorical_crossentropy(y, z, True, sample_weight=np.array([1.0, 0.0]))
    z3, y3 = rng.normal(size=(2, 3, 4)), np.eye(4)[[[0, 1, 2], [3, 0, 1]]]
    with pytest.raises(ValueError, match=r"pass shape \(2, 1\)"):
        accurate.categorical_crossentropy(y3, z3, True, sample_weight=np.array([1.0, 0.0]))
    got = accurate.categorical_crossentropy(y3, z3, True, sample_weight=np.array([[1.0], [0.0]]), reduction="sum")
    want = accurate.categorical_crossentropy(y3[:1], z3[:1], True, reduction="sum")
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum_over_batch_size"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_mean_of_losses_whose_sum_overflows(reduction, dtype):
    # two losses of 0.75 max: their sum passes float64's max, their mean does
    # not (was inf); the sum itself stays inf, as the exact sum is
    big = float(0.75 * np.finfo(dtype).max)
    y, z = np.ones((2, 1), dtype), np.full((2, 1), -big, dtype)
    got = accurate.binary_crossentropy(y, z, from_logits=True, reduction=reduction)
    assert got.dtype == dtype and float(got) == float(np.asarray(big, dtype))
    if dtype == np.float64:
        assert np.isinf(accurate.binary_crossentropy(y, z, from_logits=True, reduction="sum"))
    # three entries, one ignored: the divisor counts two
    lab, logits = np.array([0, 0, -100]), np.array([[-big, 0.0], [-big, 0.0], [0.0, 0.0]], dtype)
    got = accurate.sparse_categorical_crossentropy(lab, logits, from_logits=True, reduction=reduction, ignore_index=-100)
    exact = (mpmath.mpf(big) + mpmath.log1p(mpmath.exp(-mpmath.mpf(big)))) if dtype == np.float64 else big
    assert float(got) == float(np.asarray(float(exact), dtype))


@pytest.mark.parametrize("n", [3, 20, 1000])  # the narrow-row kernel, the wide one, long rows
def test_an_infinite_logit_gives_the_loss_of_its_log_softmax(n, monkeypatch):
    """A row with one +inf logit has the log-softmax 0 there and -inf
    elsewhere (the edge contract), so a label off it makes the loss +inf,
    as the sparse loss gives; the categorical loss gave NaN (its rows of an
    infinite loss were sent to the scaled pass meant for finite logits).
    Two +inf logits: NaN. The same with the extension on and off."""
    x = np.zeros((4, n))
    x[:, 0] = np.inf
    x[3, 1] = np.inf
    y = np.zeros((4, n))
    y[0, 1], y[1, 0], y[2, :2], y[3, 1] = 1.0, 1.0, 0.5, 1.0
    for native in ("1", "0"):
        monkeypatch.setenv("STABKIT_NATIVE", native)
        got = accurate.categorical_crossentropy(y, x, from_logits=True)
        assert got[0] == np.inf and got[1] == 0.0 and got[2] == np.inf and np.isnan(got[3])
        sparse = accurate.sparse_categorical_crossentropy(np.array([1, 0]), x[:2], from_logits=True)
        assert sparse.tolist() == [np.inf, 0.0]
