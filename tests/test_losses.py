"""The cross-entropy losses against the mpmath reference, per tier."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.numerics import adversarial_rows, errors, ordinal_uniform, quiet

import stabkit
from stabkit import naive, stable

BOUND = {"float64": 4.0, "float32": 1.0, "float16": 1.0, "bfloat16": 1.0}
FORMATS = list(BOUND)


class TestBinaryCrossentropy:
    def test_confident_and_right_from_logits(self):
        # (x = -40, y = 0): softplus(-40) = 4.248354255291589e-18 (mpmath, 300 bits).
        # PyTorch's log(exp(-m) + exp(-x-m)) form returns 0; Keras's log1p form
        # (our stable tier) keeps it.
        y, x = np.array([0.0, 1.0]), np.array([-40.0, 40.0])
        e_acc, _, out, ref = errors("binary_crossentropy", "accurate", y, x, from_logits=True)
        assert np.all(out == 4.248354255291589e-18) and np.max(e_acc) <= 0.5
        nv = quiet(naive.binary_crossentropy, y, x, from_logits=True)
        # sigmoid(-40) rounds to 4.2e-18 but 1 - p to 1, so log gives 0; at
        # x = 40, p rounds to 1 and 0 * log(1 - p) = 0 * -inf is NaN
        assert nv[0] == 0.0 and np.isnan(nv[1])

    def test_soft_labels_do_not_cancel(self):
        # max(x,0) - x*y cancels for y near 1 and large x: the accurate form
        # y*softplus(-x) + (1-y)*softplus(x) adds two non-negative terms
        y = np.array([0.999999, 0.9, 0.5, 1e-9])
        x = np.array([40.0, 30.0, 700.0, -30.0])
        e_st, _, _, ref = errors("binary_crossentropy", "stable", y, x, from_logits=True)
        e_acc, f, _, _ = errors("binary_crossentropy", "accurate", y, x, from_logits=True, ref=ref)
        assert np.max(e_acc) <= 2 and not f.any()
        assert np.max(e_st) > 100

    def test_minus_log_one_minus_tiny_p(self):
        # -log(1 - p) for p = 1e-20 is 1e-20; log(1 - p) rounds to log(1) = 0
        # and Keras's clip to 1e-7 turns it into 1.0000000494736474e-07
        y, p = np.array([0.0]), np.array([1e-20])
        assert quiet(naive.binary_crossentropy, y, p)[0] == 0.0
        assert stable.binary_crossentropy(y, p)[0] == pytest.approx(1.00000005e-07, rel=1e-7, abs=0)
        e, _, out, _ = errors("binary_crossentropy", "accurate", y, p)
        assert out[0] == 1e-20 and e[0] <= 0.5

    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("from_logits", [True, False])
    def test_accurate_sampled(self, fmt, from_logits):
        rng = np.random.default_rng(4)
        n = 1500
        if from_logits:
            x = np.concatenate([rng.uniform(-60, 60, n // 2), rng.uniform(-800, 800, n // 2)])
        else:
            x = np.concatenate([rng.uniform(0, 1, n // 3), 10.0 ** rng.uniform(-40, 0, n // 3), 1 - 10.0 ** rng.uniform(-8, 0, n - 2 * (n // 3))])
        y = rng.choice([0.0, 1.0, 0.5, 0.1, 0.9], size=x.size)
        with np.errstate(over="ignore"):
            x = x.astype(fmt)
        e, f, _, ref = errors("binary_crossentropy", "accurate", y, x, from_logits=from_logits)
        assert not f.any()
        assert np.nanmax(e) <= BOUND[fmt]

    def test_edges(self):
        # zero weights make their term 0 even where the log is infinite
        y = np.array([0.0, 1.0, 1.0, 0.0, np.nan])
        p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
        out = stabkit.binary_crossentropy(y, p)
        assert out[0] == 0.0 and out[1] == 0.0 and out[2] == np.inf and out[3] == np.inf and np.isnan(out[4])
        z = np.array([-np.inf, np.inf, np.inf, np.nan])
        out = stabkit.binary_crossentropy(np.array([0.0, 1.0, 0.0, 1.0]), z, from_logits=True)
        assert out[0] == 0.0 and out[1] == 0.0 and out[2] == np.inf and np.isnan(out[3])

    @pytest.mark.parametrize("tier", [naive, stable, stabkit])
    def test_shape_mismatch(self, tier):
        with pytest.raises(ValueError, match="shape"):
            tier.binary_crossentropy(np.zeros(3), np.zeros(4))


class TestSparseCategoricalCrossentropy:
    def test_confident_and_right_float32(self):
        # 4 classes, winner 20 ahead of three others: log1p(3 exp(-20)) =
        # 6.183460848198079e-09 (mpmath, 300 bits). PyTorch and the max-shift
        # form return 0.0 in float32.
        z = np.array([[20.0, 0.0, 0.0, 0.0]], np.float32)
        y = np.array([0])
        assert stable.sparse_categorical_crossentropy(y, z, from_logits=True)[0] == 0.0
        e, f, out, _ = errors("sparse_categorical_crossentropy", "accurate", y, z, from_logits=True)
        assert out.dtype == np.float32 and out[0] == np.float32(6.183460848198079e-09) and e[0] <= 0.5

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_accurate_on_adversarial_rows(self, fmt):
        rng = np.random.default_rng(21)
        for row in adversarial_rows(fmt, seed=5, n_rows=27):
            z = row[None, :]
            for label in {int(np.argmax(row)), int(np.argmin(row)), int(rng.integers(row.size))}:
                e, f, _, _ = errors("sparse_categorical_crossentropy", "accurate", np.array([label]), z, from_logits=True)
                assert not f.any() and np.nanmax(e) <= BOUND[fmt], (row, label)

    def test_from_probabilities_uses_them_as_given(self):
        p = np.array([[1e-30, 1 - 1e-30], [0.0, 1.0]])
        out = stabkit.sparse_categorical_crossentropy(np.array([0, 0]), p)
        assert out[0] == pytest.approx(69.07755278982137, rel=1e-15, abs=0) and out[1] == np.inf
        # Keras clips at 1e-7: -log(1e-7) = 16.118...
        assert stable.sparse_categorical_crossentropy(np.array([0]), p[:1])[0] == pytest.approx(16.11809565095832, rel=1e-6, abs=0)

    @pytest.mark.parametrize("tier", [naive, stable, stabkit])
    def test_labels_validated(self, tier):
        z = np.zeros((2, 3))
        with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
            tier.sparse_categorical_crossentropy(np.array([0, 3]), z, from_logits=True)
        with pytest.raises(ValueError, match="label -1"):
            tier.sparse_categorical_crossentropy(np.array([-1, 0]), z, from_logits=True)
        with pytest.raises(ValueError, match="shape"):
            tier.sparse_categorical_crossentropy(np.array([0, 1, 2]), z, from_logits=True)
        with pytest.raises(ValueError, match="not an integer"):
            tier.sparse_categorical_crossentropy(np.array([0.5, 1.0]), z, from_logits=True)
        # integral floats are accepted, as in Keras
        assert tier.sparse_categorical_crossentropy(np.array([0.0, 2.0]), z, from_logits=True).shape == (2,)

    def test_masked_classes_and_axis(self):
        z = np.array([[0.0, -np.inf, 1.0], [np.nan, 0.0, 0.0]])
        out = stabkit.sparse_categorical_crossentropy(np.array([1, 1]), z, from_logits=True)
        assert out[0] == np.inf and np.isnan(out[1])
        zt = np.random.default_rng(0).normal(size=(4, 5))
        a = stabkit.sparse_categorical_crossentropy(np.arange(5) % 4, zt, from_logits=True, axis=0)
        b = stabkit.sparse_categorical_crossentropy(np.arange(5) % 4, zt.T, from_logits=True)
        assert np.array_equal(a, b)


class TestCategoricalCrossentropy:
    @pytest.mark.parametrize("fmt", ["float64", "float32"])
    def test_soft_labels_accurate(self, fmt):
        rng = np.random.default_rng(2)
        for row in adversarial_rows(fmt, seed=9, n_rows=18):
            z = row[None, :]
            y = rng.dirichlet(np.ones(row.size))[None, :]
            y[~np.isfinite(z)] = 0.0  # masked classes get zero weight
            y = y.astype(fmt)
            e, f, _, _ = errors("categorical_crossentropy", "accurate", y, z, from_logits=True)
            assert not f.any() and np.nanmax(e) <= BOUND[fmt]

    def test_masked_logit_with_zero_target_is_not_nan(self):
        z = np.array([[30.0, 0.0, -np.inf]], np.float32)
        y = np.array([[1.0, 0.0, 0.0]], np.float32)
        # stable (as PyTorch with probability targets): 0 * -inf = NaN
        with np.errstate(invalid="ignore"):
            assert np.isnan(stable.categorical_crossentropy(y, z, from_logits=True)[0])
        e, f, out, _ = errors("categorical_crossentropy", "accurate", y, z, from_logits=True)
        assert out[0] == np.float32(9.357623e-14) and e[0] <= 0.5

    def test_matches_sparse_for_one_hot(self):
        rng = np.random.default_rng(1)
        z = rng.normal(size=(20, 7)) * 20
        lab = rng.integers(0, 7, 20)
        assert np.array_equal(stabkit.categorical_crossentropy(np.eye(7)[lab], z, from_logits=True),
                              stabkit.sparse_categorical_crossentropy(lab, z, from_logits=True))

    @pytest.mark.parametrize("tier", [naive, stable, stabkit])
    def test_shape_mismatch(self, tier):
        with pytest.raises(ValueError, match="shape"):
            tier.categorical_crossentropy(np.zeros((2, 3)), np.zeros((2, 4)))


def test_float64_elementwise_bce_bound_on_ordinal_samples():
    x = ordinal_uniform("float64", 3000, seed=7, lo=-1e4, hi=1e4)
    for yv in (0.0, 1.0, 0.3):
        e, f, _, _ = errors("binary_crossentropy", "accurate", np.full(x.shape, yv), x, from_logits=True)
        assert not f.any() and np.nanmax(e) <= 2.0


def _cce_formula(y, z, axis=-1, ls=0.0, cw=None):
    """``-sum(y' * log_softmax(z))`` on the whole array in z's format, with the
    smoothed, class-weighted targets ``y'`` written out."""
    from stabkit import stable

    dt = z.dtype
    y = np.asarray(y).astype(dt)
    if ls:
        y = y * (np.ones((), dt) - dt.type(ls)) + dt.type(ls / z.shape[axis])
    if cw is not None:
        shape = [1] * z.ndim
        shape[axis] = -1
        y = y * np.asarray(cw).astype(dt).reshape(shape)
    with np.errstate(all="ignore"):
        return -np.sum(y * stable.log_softmax(z, axis=axis), axis=axis)


@pytest.mark.parametrize("dt", FORMATS)
def test_stable_categorical_blocks_are_the_whole_array_formula(dt):
    """The stable tier's cross-entropy from logits runs float32 and float64 in
    blocks of rows with reused buffers: the bits of ``-sum(y * log_softmax(z))``
    on the whole array in every format, along any axis, in any memory
    layout, with non-finite logits and with the options that change the
    targets."""
    from stabkit import stable
    from stabkit.floats import get_format, round_float64

    dtype = get_format(dt).dtype
    rng = np.random.default_rng(5)
    shapes = [(700, 1000), (300, 1001), (30000, 10), (5000, 17), (3, 7, 50), (9,), (1, 1)]
    for shape in shapes if dt in ("float32", "float64") else shapes[2:]:
        z = round_float64(rng.standard_normal(shape) * 5, get_format(dt))
        y = round_float64(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]), get_format(dt))
        assert z.dtype == dtype
        got = stable.categorical_crossentropy(y, z, from_logits=True)
        assert np.array_equal(got, _cce_formula(y, z)), shape
        if z.ndim >= 2:
            # the classes on axis 0, or rows not in C order: the same values,
            # the same bits (each row is summed contiguous, as NumPy sums a
            # C-ordered row: pairwise)
            zt, yt = np.ascontiguousarray(np.swapaxes(z, 0, -1)), np.ascontiguousarray(np.swapaxes(y, 0, -1))
            assert np.array_equal(stable.categorical_crossentropy(yt, zt, from_logits=True, axis=0), got.T)
            assert np.array_equal(stable.categorical_crossentropy(np.asfortranarray(y), np.asfortranarray(z), from_logits=True), got)
            zs, ys = z[..., ::2], y[..., ::2]
            assert np.array_equal(stable.categorical_crossentropy(ys, zs, from_logits=True),
                                  _cce_formula(ys.copy(), zs.copy()))
            assert np.array_equal(stable.categorical_crossentropy(y[::2], z[::2], from_logits=True), got[::2])
    # masked (-inf), infinite and NaN logits, all-masked rows, zero targets
    z = round_float64(rng.standard_normal((600, 300)) * 5, get_format(dt))
    y = round_float64(rng.dirichlet(np.ones(300), size=600), get_format(dt))
    z[::3, ::7], z[5], z[7, 3], z[11, 4], y[::5, ::7] = -np.inf, -np.inf, np.inf, np.nan, 0
    with np.errstate(all="ignore"):
        got = stable.categorical_crossentropy(y, z, from_logits=True)
    want = _cce_formula(y, z)
    assert np.isnan(got[5]) and np.isnan(got[0]) and np.isfinite(got[1])
    assert np.array_equal(got, want, equal_nan=True)
    # the options that change the targets, block by block
    cw = rng.uniform(0.5, 2.0, 300)
    with np.errstate(all="ignore"):
        got = stable.categorical_crossentropy(y, z, from_logits=True, label_smoothing=0.1, class_weight=cw)
    assert np.array_equal(got, _cce_formula(y, z, ls=0.1, cw=cw), equal_nan=True)


def test_stable_categorical_refuses_bad_targets_in_any_block():
    """A target out of [0, 1] anywhere (the last block of rows too) is
    refused with the range of the whole array, before the other checks."""
    from stabkit import stable

    for dt in (np.float32, np.float64):
        y = np.full((3000, 1000), 1e-3, dtype=dt)
        y[2999, 5], y[0, 0] = -0.5, 1.25
        with pytest.raises(ValueError, match=r"y_true must hold targets in \[0, 1\]; it holds values in \[-0.5, 1.25\]"):
            stable.categorical_crossentropy(y, np.zeros((3000, 1000), dtype=dt), from_logits=True, reduction="bogus")
