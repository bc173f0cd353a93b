"""kernel_regularizer= and bias_regularizer= (stabkit.nn.regularizers):
the penalties and their gradients, the loss fit reports and evaluate
returns, frozen layers, saving, and whole fits against Keras 3 itself."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import regularizers as R

rng = np.random.default_rng(0)
X = rng.standard_normal((48, 5)).astype(np.float32)
y = rng.integers(0, 3, 48)


def test_penalties_and_gradients():
    w = np.array([[0.5, -2.0], [0.0, 3.0]])
    assert R.L2(0.1).penalty(w) == pytest.approx(0.1 * (0.25 + 4 + 9))
    assert R.L1(0.1).penalty(w) == pytest.approx(0.1 * 5.5)
    assert R.L1L2(0.1, 0.2).penalty(w) == pytest.approx(0.55 + 0.2 * 13.25)
    g = np.zeros_like(w)
    R.L1L2(0.1, 0.2).add_gradient(w, g)
    assert np.allclose(g, 0.1 * np.sign(w) + 0.4 * w)
    # the gradient of the penalty by central differences (away from w = 0)
    reg, v, h = R.L1L2(0.3, 0.7), rng.standard_normal(6) + 2.0, 1e-6
    num = [(reg.penalty(v + h * e) - reg.penalty(v - h * e)) / (2 * h) for e in np.eye(6)]
    g = np.zeros(6)
    reg.add_gradient(v, g)
    assert np.allclose(g, num, rtol=1e-6)
    assert isinstance(R.get("l2"), R.L2) and R.get("l2").l2 == 0.01 and R.l2(0.1) == R.L2(0.1)
    assert R.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.0}}) == R.L1L2(0.1)
    with pytest.raises(nn.NNError, match="unknown kernel_regularizer 'l3'"):
        nn.Dense(2, kernel_regularizer="l3")
    with pytest.raises(nn.NNError, match="l2 must be a non-negative number"):
        R.L2(-1)


def _model(kernel=R.L2(0.1), bias=None, frozen=False):
    model = nn.Sequential([nn.Dense(6, "relu", kernel_regularizer=kernel, bias_regularizer=bias),
                           nn.Dense(3, kernel_regularizer=R.L1L2(0.01, 0.02))])  # fmt: skip
    model.compile(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.build((5,), seed=0)
    model.layers[0].trainable = not frozen
    return model


def test_fit_reports_and_minimises_data_loss_plus_penalty():
    model = _model(bias=R.L1(0.05))
    pen0 = sum(r.penalty(w) for r, w in ((R.L2(0.1), model.layers[0].kernel), (R.L1(0.05), model.layers[0].bias),
                                          (R.L1L2(0.01, 0.02), model.layers[1].kernel)))  # fmt: skip
    data0 = model.evaluate(X, y, verbose=0) - pen0
    plain = _model(kernel=None)
    plain.layers[1].kernel_regularizer = None
    assert plain.evaluate(X, y, verbose=0) == pytest.approx(data0, rel=1e-6)  # the same weights, no penalty
    h = model.fit(X, y, batch_size=48, epochs=1, shuffle=False, verbose=0)
    # one full batch: the epoch's loss is the loss before its update, penalty included
    assert h.history["loss"][0] == pytest.approx(data0 + pen0, rel=1e-6)
    assert h.params["step"] == "NumPy" and "regularizer" in h.params["step_reason"]
    # weight decay by the penalty: the regularized kernel shrinks faster than the plain one
    h2 = model.fit(X, y, batch_size=8, epochs=30, verbose=0, seed=1)
    plain.fit(X, y, batch_size=8, epochs=30, verbose=0, seed=1)
    assert np.linalg.norm(model.layers[0].kernel) < np.linalg.norm(plain.layers[0].kernel)
    assert h2.history["loss"][-1] < h2.history["loss"][0]


def test_a_frozen_layers_penalty_is_left_out():
    a, b = _model(frozen=True), _model(kernel=None, frozen=True)
    assert a.evaluate(X, y, verbose=0) == pytest.approx(b.evaluate(X, y, verbose=0), rel=1e-7)
    a.fit(X, y, batch_size=16, epochs=1, verbose=0, seed=0)
    b.fit(X, y, batch_size=16, epochs=1, verbose=0, seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_saved_and_rebuilt(tmp_path):
    model = _model(bias=R.L1(0.05))
    assert model.layers[0].get_config()["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.1}}
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert back.layers[0].kernel_regularizer == R.L2(0.1) and back.layers[0].bias_regularizer == R.L1(0.05)
    assert back.evaluate(X, y, verbose=0) == pytest.approx(model.evaluate(X, y, verbose=0), rel=1e-7)
    conv = nn.Conv2D(2, 3, kernel_regularizer="l2")
    assert conv.get_config()["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}


@pytest.mark.parametrize("batch_size", [48, 16])
def test_same_losses_and_weights_as_keras(batch_size):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    K = keras.regularizers
    theirs = keras.Sequential([keras.Input((5,)),
                               keras.layers.Dense(6, activation="relu", kernel_regularizer=K.l2(0.1),
                                                  bias_regularizer=K.L1(0.05)),
                               keras.layers.Dense(3, kernel_regularizer=K.L1L2(0.01, 0.02))])  # fmt: skip
    theirs.compile(optimizer=keras.optimizers.SGD(0.1),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    ours = _model(bias=R.L1(0.05))
    # biases off 0: the L1 penalty's gradient at 0 is 0 here (sign, as TensorFlow and PyTorch take it)
    # but 1 on Keras's JAX backend (jax.grad(abs)(0.0) is 1.0)
    ours.set_weights([w + 0.1 if w.ndim == 1 else w for w in ours.get_weights()])
    theirs.set_weights(ours.get_weights())
    th = theirs.fit(X, y, batch_size=batch_size, epochs=3, shuffle=False, verbose=0)
    oh = ours.fit(X, y, batch_size=batch_size, epochs=3, shuffle=False, verbose=0)
    assert np.allclose(oh.history["loss"], th.history["loss"], rtol=2e-5)
    assert all(np.allclose(a, b, atol=2e-5) for a, b in zip(ours.get_weights(), theirs.get_weights()))
    assert ours.evaluate(X, y, verbose=0) == pytest.approx(theirs.evaluate(X, y, verbose=0), rel=2e-5)
