"""Keras's activation layers (Activation, ReLU, LeakyReLU, ELU, Softmax):
their outputs and whole fits against Keras 3, as a softmax output layer,
their names, saving, and the refused arguments."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import layers as L

rng = np.random.default_rng(0)
X = rng.standard_normal((48, 5)).astype(np.float32)
y = rng.integers(0, 3, 48)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    keras.backend.clear_session()
    return keras


def _pair(make):
    """Our model and Keras's from one recipe make(layers_module), Keras's with our weights."""
    keras = _keras()
    ours = nn.Sequential(make(L))
    ours.build((5,), seed=0)
    theirs = keras.Sequential([keras.Input((5,)), *make(keras.layers)])
    theirs.set_weights(ours.get_weights())
    return ours, theirs, keras


RECIPES = {
    "relu": lambda M: [M.Dense(6), M.ReLU(), M.Dense(3)],
    "relu6": lambda M: [M.Dense(6), M.ReLU(max_value=6), M.Dense(3)],
    "leaky": lambda M: [M.Dense(6), M.LeakyReLU(), M.Dense(3)],
    "leaky_slope": lambda M: [M.Dense(6), M.LeakyReLU(negative_slope=0.1), M.Dense(3)],
    "relu_slope": lambda M: [M.Dense(6), M.ReLU(negative_slope=0.05), M.Dense(3)],
    "elu": lambda M: [M.Dense(6), M.ELU(alpha=0.5), M.Dense(3)],
    "activation": lambda M: [M.Dense(6), M.Activation("gelu"), M.Dense(3), M.Activation("softmax")],
    "softmax": lambda M: [M.Dense(6, activation="tanh"), M.Dense(3), M.Softmax()],
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_outputs_names_and_fits_match_keras(recipe):
    ours, theirs, keras = _pair(RECIPES[recipe])
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    want = np.asarray(theirs.predict(X, verbose=0))
    assert np.allclose(ours.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    probs = isinstance(ours.layers[-1], L.Activation) and ours.layers[-1].activation.name == "softmax"
    ours.compile(optimizer=nn.SGD(0.5), loss=nn.SparseCategoricalCrossentropy(from_logits=not probs))
    theirs.compile(optimizer=keras.optimizers.SGD(0.5),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probs))  # fmt: skip
    h = ours.fit(X, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    th = theirs.fit(X, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert np.allclose(h.history["loss"], th.history["loss"], rtol=1e-4)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(ours.get_weights(), theirs.get_weights()))
    assert h.params["step"] == "NumPy"


def test_a_softmax_layer_is_the_output_activation():
    model = nn.Sequential([L.Dense(3), L.Activation("softmax")])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(X, y, epochs=1, verbose=0, seed=0)
    assert any(issubclass(x.category, nn.LogitsWarning) for x in w)  # probabilities taken as logits
    model = nn.Sequential([L.Dense(3), L.ReLU()])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=False))
    with pytest.raises(nn.NNError, match="relu"):
        model.fit(X, y, epochs=1, verbose=0, seed=0)


def test_saved_refused_and_in_place_safe(tmp_path):
    model = nn.Sequential([L.Dense(4), L.LeakyReLU(0.1), L.ReLU(max_value=6), L.ELU(0.5), L.Dense(3), L.Softmax()])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy())
    model.build((5,), seed=0)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert [type(x).__name__ for x in back.layers] == ["Dense", "LeakyReLU", "ReLU", "ELU", "Dense", "Softmax"]
    assert back.layers[1].negative_slope == 0.1 and back.layers[3].alpha == 0.5
    assert np.array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
    # the layer below keeps its own outputs (ReLU works in place on a copy)
    x = np.array([[-1.0, 2.0]])
    assert np.array_equal(L.ReLU()(x), [[0.0, 2.0]]) and x[0, 0] == -1.0
    for bad, match in ((lambda: L.ReLU(threshold=1.0), "threshold"), (lambda: L.Softmax(axis=0), "last axis"),
                       (lambda: L.ReLU(max_value=3.0), "max_value None or 6"),
                       (lambda: L.LeakyReLU(negative_slope=-1), "negative_slope must be a number >= 0")):  # fmt: skip
        with pytest.raises(nn.NNError, match=match):
            bad()
