"""Keras 3's documented calls (keras.ops and the functional keras.losses),
run against stabkit (issue 15) and answered by Keras in the same test, on
whatever backend Keras has (JAX here, through KERAS_BACKEND).

One documented difference: keras.losses.binary_crossentropy averages the
last axis, stabkit's returns every element (``reduction="none"``); the tests
average explicitly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from stabkit import accurate, stable

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")
TIERS = (stable, accurate)
ids = lambda t: t.__name__  # noqa: E731


def _np(v):
    return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)


def _x(seed=0, shape=(4, 5), scale=2.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _close(a, b, rtol=2e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), _np(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_ops(tier):
    x = _x()
    _close(tier.sigmoid(x), keras.ops.sigmoid(x))
    _close(tier.log_sigmoid(x), keras.ops.log_sigmoid(x))
    _close(tier.softplus(x), keras.ops.softplus(x))
    for axis in (-1, 0):
        _close(tier.softmax(x, axis=axis), keras.ops.softmax(x, axis=axis))
        _close(tier.log_softmax(x, axis=axis), keras.ops.log_softmax(x, axis=axis))
    for axis in (None, 0, -1):
        for keepdims in (False, True):
            _close(tier.logsumexp(x, axis=axis, keepdims=keepdims), keras.ops.logsumexp(x, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_binary_crossentropy(tier, from_logits, ls):
    x = _x(1)
    p = x if from_logits else 1 / (1 + np.exp(-x))
    y = (np.random.default_rng(2).random(x.shape) > 0.5).astype(np.float32)
    want = keras.losses.binary_crossentropy(y, p, from_logits=from_logits, label_smoothing=ls)
    got = tier.binary_crossentropy(y, p, from_logits=from_logits, label_smoothing=ls).mean(axis=-1)
    # Keras clips probabilities to [1e-7, 1 - 1e-7]; these are far from the clip
    _close(got, want, rtol=1e-5)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_categorical_crossentropy(tier, from_logits):
    z = _x(3)
    p = z if from_logits else np.asarray(accurate.softmax(z))
    y = np.array([0, 4, 2, 1])
    want = keras.losses.sparse_categorical_crossentropy(y, p, from_logits=from_logits)
    _close(tier.sparse_categorical_crossentropy(y, p, from_logits=from_logits), want, rtol=1e-5)
    # labels of shape (batch, 1), as Keras pipelines hand them over
    _close(tier.sparse_categorical_crossentropy(y[:, None], p, from_logits=from_logits), want, rtol=1e-5)


def test_sparse_ignore_class():
    z, y = _x(4), np.array([0, 4, 2, 1])
    want = keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True, ignore_class=4)
    for tier in TIERS:
        got = tier.sparse_categorical_crossentropy(y, z, from_logits=True, ignore_index=4)
        _close(got, want, rtol=1e-5)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_categorical_crossentropy(tier, ls):
    z = _x(5)
    y = np.eye(5, dtype=np.float32)[[1, 0, 3, 3]]
    want = keras.losses.categorical_crossentropy(y, z, from_logits=True, label_smoothing=ls)
    _close(tier.categorical_crossentropy(y, z, from_logits=True, label_smoothing=ls), want, rtol=1e-5)


def test_probabilities_that_do_not_sum_to_one_are_renormalised_as_keras_does():
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], dtype=np.float32) * np.float32(1 + 2e-7)
    y = np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32)
    want = keras.losses.categorical_crossentropy(y, p)
    for tier in TIERS:
        _close(tier.categorical_crossentropy(y, p), want, rtol=1e-6)


def test_loss_object_reduction_and_sample_weight():
    z, y = _x(6), np.array([0, 4, 2, 1])
    sw = np.array([1.0, 0.5, 0.0, 2.0], dtype=np.float32)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # sum_over_batch_size
    want = loss(y, z, sample_weight=sw)
    for tier in TIERS:
        got = tier.sparse_categorical_crossentropy(y, z, from_logits=True, sample_weight=sw, reduction="sum_over_batch_size")
        _close(got, want, rtol=1e-5)


def test_not_probabilities_is_a_clear_error():
    z = _x(7)
    with pytest.raises(ValueError, match="from_logits=True"):
        accurate.sparse_categorical_crossentropy([0, 1, 2, 3], z)
