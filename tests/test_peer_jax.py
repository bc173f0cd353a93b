"""jax.nn's documented calls, run against stabkit (issue 15), answered by
JAX in the same test. JAX arrays in, JAX arrays out."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit import accurate, naive, stable

jax = pytest.importorskip("jax")
jnp = jax.numpy
TIERS = (naive, stable, accurate)
ids = lambda t: t.__name__  # noqa: E731


def _x(seed=0, shape=(3, 4)):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * 2, dtype=jnp.float32)


def _close(a, b, rtol=2e-6, atol=1e-6):
    assert isinstance(a, jax.Array)
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_activations(tier):
    x = _x()
    _close(tier.sigmoid(x), jax.nn.sigmoid(x))
    _close(tier.log_sigmoid(x), jax.nn.log_sigmoid(x))
    _close(tier.softplus(x), jax.nn.softplus(x))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
@pytest.mark.parametrize("axis", [-1, 0, (0, 1), None])
def test_softmax_axes(tier, axis):
    x = _x(1)
    _close(tier.softmax(x, axis=axis), jax.nn.softmax(x, axis=axis))
    _close(tier.log_softmax(x, axis=axis), jax.nn.log_softmax(x, axis=axis))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_softmax_where(tier):
    x = _x(2)
    w = jnp.asarray(np.random.default_rng(3).random((3, 4)) > 0.3).at[:, 0].set(True)
    got, want = tier.softmax(x, where=w), jax.nn.softmax(x, where=w)
    _close(jnp.where(w, got, 0), jnp.where(w, want, 0))
    assert np.all(np.asarray(got)[~np.asarray(w)] == 0)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp(tier):
    x = _x(4)
    for axis in (None, 0, 1):
        for keepdims in (False, True):
            _close(tier.logsumexp(x, axis=axis, keepdims=keepdims), jax.nn.logsumexp(x, axis=axis, keepdims=keepdims))
    w = jnp.asarray([[True, False, True, True]] * 3)
    _close(tier.logsumexp(x, axis=1, where=w), jax.nn.logsumexp(x, axis=1, where=w))
    b = jnp.asarray([1.0, 0.5, 2.0, 0.0], dtype=jnp.float32)
    _close(tier.logsumexp(x, axis=1, b=b), jax.nn.logsumexp(x, axis=1, b=b))
    got = tier.logsumexp(jnp.array([1.0, 2.0]), b=jnp.array([1.0, -1.0]), return_sign=True)
    want = jax.nn.logsumexp(jnp.array([1.0, 2.0]), b=jnp.array([1.0, -1.0]), return_sign=True)
    _close(got[0], want[0])
    assert float(got[1]) == float(want[1]) == -1.0


def test_bfloat16_in_and_out():
    x = _x(5).astype(jnp.bfloat16)
    y = accurate.log_softmax(x)
    assert y.dtype == jnp.bfloat16
    _close(y, jax.nn.log_softmax(x.astype(jnp.float32)), rtol=2**-8, atol=2**-8)


def test_inside_jit_is_a_clear_error():
    with pytest.raises(TypeError, match="outside the transformation"):
        jax.jit(accurate.softmax)(_x())
