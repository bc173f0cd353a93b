"""``fit(on_step=...)``: called after every update, with the optimizer state readable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stabkit.nn import Adam, Dense, NNError, Sequential, SparseCategoricalCrossentropy
from stabkit.nn.data import load_digits


def _model():
    m = Sequential([Dense(8, activation="relu"), Dense(10, activation="linear")])
    m.compile(optimizer=Adam(learning_rate=1e-2), loss=SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_on_step_sees_every_update_and_adams_state():
    """The weight change at each step is Adam's update recomputed from the
    m, v and t the callback reads (Keras's form, epsilon outside the sqrt)."""
    X, y = load_digits()
    X, y = X[:200], y[:200]
    model = _model()
    model.build(X.shape[1], seed=0)
    opt = model.optimizer
    calls, before = [], [model.layers[1].bias.copy()]

    def on_step(epoch, step):
        t = opt.iterations
        m, v = opt.state["dense_1/bias"]["m"], opt.state["dense_1/bias"]["v"]
        alpha = opt.learning_rate * math.sqrt(1 - opt.beta_2**t) / (1 - opt.beta_1**t)
        expected = before[-1] - alpha * m / (np.sqrt(v) + opt.epsilon)
        np.testing.assert_allclose(model.layers[1].bias, expected, rtol=1e-5, atol=1e-7)
        before.append(model.layers[1].bias.copy())
        calls.append((epoch, step, t))

    model.fit(X, y, epochs=2, batch_size=64, seed=0, verbose=0, on_step=on_step)
    assert [(e, s) for e, s, _ in calls] == [(e, s) for e in (1, 2) for s in (1, 2, 3, 4)]
    assert [t for *_, t in calls] == list(range(1, 9))


def test_on_step_does_not_change_training():
    X, y = load_digits()
    X, y = X[:200], y[:200]
    a, b = _model(), _model()
    a.fit(X, y, epochs=2, batch_size=32, seed=1, verbose=0)
    b.fit(X, y, epochs=2, batch_size=32, seed=1, verbose=0, on_step=lambda e, s: None)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_on_step_must_be_callable():
    X, y = load_digits()
    with pytest.raises(NNError, match="on_step must be callable"):
        _model().fit(X[:50], y[:50], verbose=0, on_step=3)
