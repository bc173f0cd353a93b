"""Gradient checks: back-propagation against central finite differences in
float64, for every activation, every loss, both input kinds and every tier."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stabkit import registry
from stabkit.nn import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Dense,
    Sequential,
    SparseCategoricalCrossentropy,
)

TIERS = list(registry.TIERS)
HIDDEN = ["linear", "relu", "sigmoid", "softmax"]
rng0 = np.random.default_rng(1234)


def _labels(loss_cls, n, k, rng):
    if loss_cls is SparseCategoricalCrossentropy:
        return rng.integers(0, k, n)
    if loss_cls is CategoricalCrossentropy:
        y = rng.random((n, k))  # soft labels whose rows do not sum to 1
        return y
    return (rng.random((n, k)) < 0.5).astype(np.float64)


def _fd_gradients(model, x, y, h=1e-6):
    """Central differences of the tier's mean loss in every weight."""
    weights = model.get_weights()
    grads = []
    for i, w in enumerate(weights):
        g = np.zeros_like(w)
        for j in np.ndindex(w.shape):
            vals = []
            for sign in (1, -1):
                trial = [a.copy() for a in weights]
                trial[i][j] += sign * h
                model.set_weights(trial)
                vals.append(model.loss(y, model(x)))
            g[j] = (vals[0] - vals[1]) / (2 * h)
        grads.append(g)
    model.set_weights(weights)
    return grads


def _output_activation(loss_cls, from_logits):
    if from_logits:
        return "linear"
    return "sigmoid" if loss_cls is BinaryCrossentropy else "softmax"


CASES = [
    (loss_cls, from_logits, tier, hidden)
    for loss_cls, from_logits, tier in itertools.product(
        [SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy], [True, False], TIERS
    )
    for hidden in HIDDEN
]


@pytest.mark.parametrize("loss_cls,from_logits,tier,hidden", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_backprop_matches_finite_differences(loss_cls, from_logits, tier, hidden):
    rng = np.random.default_rng(7)
    n, d, k = 5, 4, 3
    model = Sequential([Dense(6, activation=hidden), Dense(k, activation=_output_activation(loss_cls, from_logits))])
    model.compile(optimizer="adam", loss=loss_cls(from_logits=from_logits, tier=tier), dtype="float64")
    model.build(d, seed=3)
    x = rng.normal(size=(n, d))
    y = _labels(loss_cls, n, k, rng)
    got = model.gradients(x, y)
    want = _fd_gradients(model, x, y)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_three_layer_network_matches_finite_differences(hidden):
    """Gradients flow through two hidden layers into the first kernel."""
    rng = np.random.default_rng(11)
    model = Sequential([Dense(5, activation=hidden), Dense(4, activation="relu"), Dense(3)])
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build(3, seed=5)
    x, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    for g, w in zip(model.gradients(x, y), _fd_gradients(model, x, y), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-8)


def _loss_fd(loss, y, out, h):
    """Central differences of the batch-mean loss in each entry of ``out``."""
    fd = np.zeros_like(out)
    for j in np.ndindex(out.shape):
        up, dn = out.copy(), out.copy()
        up[j] += h
        dn[j] -= h
        fd[j] = (loss(y, up) - loss(y, dn)) / (2 * h)
    return fd


@pytest.mark.parametrize(
    "loss,y",
    [
        (SparseCategoricalCrossentropy(tier="naive"), np.array([0, 2, 1])),
        (SparseCategoricalCrossentropy(tier="stable"), np.array([0, 2, 1])),
        (CategoricalCrossentropy(tier="accurate"), np.eye(3)[[1, 1, 0]]),
        (SparseCategoricalCrossentropy(tier="accurate"), np.array([1, 0, 2])),
        (CategoricalCrossentropy(tier="stable"), np.eye(3)[[1, 1, 0]] * 0.7 + 0.1),
        (BinaryCrossentropy(tier="naive"), np.array([[0, 1, 1], [1, 0, 0], [0.3, 0.5, 1]])),
        (BinaryCrossentropy(tier="stable"), np.array([[0, 1, 1], [1, 0, 0], [0.3, 0.5, 1]])),
        (SparseCategoricalCrossentropy(tier="accurate", label_smoothing=0.2), np.array([1, 0, 2])),
        (CategoricalCrossentropy(tier="naive", label_smoothing=0.3), np.eye(3)[[1, 1, 0]]),
        (BinaryCrossentropy(tier="accurate", label_smoothing=0.1), np.array([[0, 1, 1], [1, 0, 0], [0.3, 0.5, 1]])),
    ],
    ids=["sparse-naive", "sparse-stable", "categorical-accurate", "sparse-accurate", "categorical-stable-soft",
         "binary-naive", "binary-stable", "sparse-smoothed", "categorical-smoothed", "binary-smoothed"],
)
def test_probability_gradient_is_the_derivative_of_the_tier(loss, y):
    """d/dp of the tier's loss values, including the stable tier's rescaling
    and the accurate tier's renormalisation of rows that do not sum to 1
    (within the 1e-2 the losses accept)."""
    p = np.random.default_rng(2).uniform(0.05, 0.9, size=(3, 3))
    p = p / p.sum(axis=1, keepdims=True) * np.array([[0.996], [1.0], [1.005]])
    g = loss.gradient(loss.prepare(y, 3), p)
    np.testing.assert_allclose(g, _loss_fd(loss, y, p, 1e-7), rtol=1e-5, atol=1e-9)


def test_stable_tier_clip_has_zero_gradient_like_keras():
    """Below p = 1e-7 the stable (Keras) loss is flat, so its gradient is 0;
    the naive and accurate tiers still push with -1/p."""
    p = np.array([[1e-9, 0.5, 0.5 - 1e-9]])
    y = np.array([0])
    stable = SparseCategoricalCrossentropy(tier="stable").gradient(y, p)
    naive = SparseCategoricalCrossentropy(tier="naive").gradient(y, p)
    assert stable[0, 0] == 0
    assert naive[0, 0] == pytest.approx(-1e9)


def test_fused_logit_gradient_is_softmax_minus_onehot_over_batch():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    g = SparseCategoricalCrossentropy(from_logits=True).gradient(np.array([2, 1]), z)
    e = np.exp(z[0] - 3)
    np.testing.assert_allclose(g[0], (e / e.sum() - [0, 0, 1]) / 2)
    np.testing.assert_allclose(g[1], np.array([1.0, -1.0, 0.0]) / 2)  # no overflow at 1000


@pytest.mark.parametrize("loss", [SparseCategoricalCrossentropy(from_logits=True), CategoricalCrossentropy(from_logits=True)])
def test_logit_gradient_is_shift_invariant_and_sums_to_zero(loss):
    """softmax(z + c) = softmax(z): adding a constant to a row of logits
    changes neither the loss nor the gradient, even at c = 1e4 where a naive
    exp would overflow; for one-hot labels each gradient row sums to 0."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, 6)
    y = y if isinstance(loss, SparseCategoricalCrossentropy) else np.eye(4)[y]
    g = loss.gradient(y, z)
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-15)
    for c in (-1e4, 3.0, 1e4):
        np.testing.assert_allclose(loss.gradient(y, z + c), g, atol=1e-12)
        assert loss(y, z + c) == pytest.approx(loss(y, z), rel=1e-9)


@pytest.mark.parametrize("loss,y", [
    (SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2), np.array([1, 0, 2])),
    (CategoricalCrossentropy(from_logits=True, label_smoothing=0.3), np.eye(3)[[1, 1, 0]] * 0.8 + 0.05),
    (BinaryCrossentropy(from_logits=True, label_smoothing=0.1), np.array([[0, 1, 1], [1, 0, 0], [0.3, 0.5, 1]])),
], ids=["sparse", "categorical", "binary"])
def test_smoothed_logit_gradient_is_the_derivative_of_the_loss(loss, y):
    """Keras's label_smoothing in the trainer's losses (refused with a
    TypeError before): the fused gradient is d/dz of the smoothed loss."""
    z = np.random.default_rng(4).normal(size=(3, 3)) * 2
    g = loss.gradient(loss.prepare(y, 3), z)
    np.testing.assert_allclose(g, _loss_fd(loss, y, z, 1e-6), rtol=1e-6, atol=1e-9)
