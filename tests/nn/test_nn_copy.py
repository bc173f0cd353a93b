"""copy.deepcopy and pickle of models and layers, as Keras allows both.

A fitted model once failed both (a weak reference, C function pointers);
an attribute-by-attribute copy would also have left each copied layer with
a detached array instead of a view of the copy's flat weights, so the copy
is checked to train exactly as the original trains, on weights of its own."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import stabkit.nn as nn

rng = np.random.default_rng(0)
X = rng.random((64, 8))
y = rng.integers(0, 4, 64)


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def _copies(obj):
    return copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("opt", [lambda: nn.Adam(1e-2), lambda: nn.RMSprop(1e-2), lambda: nn.SGD(0.1, momentum=0.9)])
def test_a_fitted_model_copies_and_trains_as_the_original(dtype, opt):
    model = nn.Sequential([nn.Dense(5, activation="relu"), nn.Dropout(0.1), nn.Dense(4)])
    model.compile(optimizer=opt(), loss=nn.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  dtype=dtype)
    model.build((None, 8), seed=0)
    model.layers[0].set_weights(model.layers[0].get_weights())
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, seed=0)
    for twin in _copies(model):
        assert _same(model, twin) and twin.optimizer.iterations == model.optimizer.iterations == 4
        assert twin.dtype == model.dtype and twin.history is not None and twin.history.model is twin
        assert [l._weights_set for l in twin.layers] == [l._weights_set for l in model.layers]
        assert all(np.array_equal(v, model.optimizer.variables()[k]) for k, v in twin.optimizer.variables().items())
    twins = _copies(model)
    runs = [m.fit(X, y, batch_size=16, epochs=2, verbose=0, seed=1).history["loss"] for m in (model, *twins)]
    assert runs[0] == runs[1] == runs[2]  # the same moments, iterations and dropout stream
    assert _same(model, twins[0]) and _same(model, twins[1])
    # weights of its own: the copy's layer views are its flat buffer's
    twins[0].layers[0].kernel[...] = 0.0
    assert not twins[0].get_weights()[0].any() and model.get_weights()[0].any()


def test_unbuilt_models_and_layers_called_alone_copy():
    model = nn.Sequential([nn.Dense(3), nn.Dense(2)])
    for twin in _copies(model):
        assert not twin.built and [l.name for l in twin.layers] == [l.name for l in model.layers]
    layer = nn.Dense(3)
    out = layer(X)
    for twin in _copies(layer):
        assert np.array_equal(twin(X), out)
        twin.set_weights([np.zeros((8, 3)), np.zeros(3)])
        assert not twin(X).any() and np.array_equal(layer(X), out)
