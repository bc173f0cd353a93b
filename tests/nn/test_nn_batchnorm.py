"""BatchNormalization: training and inference against Keras 3 (whole fits,
moving statistics, predictions, summary), images, a frozen layer, the
gradient against central differences, saving, and the refused arguments."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import layers as L

rng = np.random.default_rng(0)
X = (rng.standard_normal((48, 5)) * 3 + 1).astype(np.float32)
y = rng.integers(0, 3, 48)
IMG = rng.standard_normal((24, 6, 6, 2)).astype(np.float32)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    keras.backend.clear_session()
    return keras


RECIPES = {
    "dense": (lambda M, **kw: [M.Dense(8), M.BatchNormalization(**kw), M.ReLU(), M.Dense(3)], X, (5,)),
    "no_scale": (lambda M, **kw: [M.Dense(8), M.BatchNormalization(scale=False, momentum=0.5, **kw), M.Dense(3)],
                 X, (5,)),  # fmt: skip
    "images": (lambda M, **kw: [M.Conv2D(3, 3), M.BatchNormalization(**kw), M.Flatten(), M.Dense(3)], IMG,
               (6, 6, 2)),  # fmt: skip
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_fits_match_keras(recipe):
    keras = _keras()
    make, data, shape = RECIPES[recipe]
    ours = nn.Sequential(make(L))
    ours.build(shape, seed=0)
    theirs = keras.Sequential([keras.Input(shape), *make(keras.layers)])
    theirs.set_weights(ours.get_weights())
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.compile(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    theirs.compile(optimizer=keras.optimizers.SGD(0.1),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    yy = y[: len(data)]
    h = ours.fit(data, yy, batch_size=8, epochs=3, shuffle=False, verbose=0)
    th = theirs.fit(data, yy, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert np.allclose(h.history["loss"], th.history["loss"], rtol=1e-4)
    # every weight, the moving statistics included
    assert all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(ours.get_weights(), theirs.get_weights()))
    assert np.allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0), rtol=1e-4, atol=1e-5)
    assert ours.evaluate(data, yy, verbose=0) == pytest.approx(theirs.evaluate(data, yy, verbose=0), rel=1e-4)
    if recipe == "dense":
        trained, fixed = ours._param_counts()
        assert fixed == 16 and trained == 5 * 8 + 8 + 16 + 8 * 3 + 3


def test_summary_as_keras():
    keras = _keras()
    from stabkit.nn import summary

    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), keras.layers.BatchNormalization()])
    lines = []
    theirs.summary(print_fn=lambda s, **kw: lines.append(s))
    ours = nn.Sequential([L.Input((5,)), L.Dense(8), L.BatchNormalization()])
    text = summary.text(ours)
    assert "│ batch_normalization             │" in text and "│ (BatchNormalization)            │" in text
    assert "\n".join(lines).strip().splitlines()[4:9] == text.strip().splitlines()[4:9]


def test_gradient_and_frozen_layer():
    model = nn.Sequential([L.Dense(4), L.BatchNormalization(), L.Dense(3)])
    model.compile(optimizer="sgd", loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build((5,), seed=1)
    x, yy = X[:12].astype(np.float64), y[:12]
    w0 = model.get_weights()
    g = model.gradients(x, yy)
    model.set_weights(w0)  # the gradients' forward pass moved the moving statistics: put them back
    assert not g[4].any() and not g[5].any()  # the moving statistics get no gradient
    h = 1e-6
    for k in (0, 2, 3):  # the kernel below, gamma, beta: every gradient the layer passes on or holds
        flat = w0[k].ravel()
        for j in range(0, flat.size, max(1, flat.size // 4)):
            plus, minus = [w.copy() for w in w0], [w.copy() for w in w0]
            plus[k].ravel()[j] += h
            minus[k].ravel()[j] -= h
            vals = []
            for ws in (plus, minus):
                model.set_weights(ws)
                out = model(x, training=True)
                vals.append(float(np.mean(model.loss.values(yy, np.asarray(out)))))
            assert (vals[0] - vals[1]) / (2 * h) == pytest.approx(g[k].ravel()[j], rel=1e-5, abs=1e-8)
    # frozen: inference mode in fit, its statistics and weights left alone
    model.set_weights(w0)
    model.layers[1].trainable = False
    model.fit(x, yy, epochs=2, verbose=0, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.layers[1].get_weights(), w0[2:6]))


def test_saved_and_refused(tmp_path):
    model = nn.Sequential([L.Dense(4), L.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False), L.Dense(4)])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, y % 4, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert back.layers[1].weight_names == ("gamma", "moving_mean", "moving_variance")
    assert np.array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
    for kw, match in (({"axis": 1}, "last axis only"), ({"momentum": 1.0}, "momentum must be a number in"),
                      ({"epsilon": 0}, "epsilon must be positive")):  # fmt: skip
        with pytest.raises(nn.NNError, match=match):
            L.BatchNormalization(**kw)
