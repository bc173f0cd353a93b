"""Normalization: the Coffee Roasting lab's flow against Keras 3 (adapt on
data of several shapes, a constant column, 3-D data, invert, given mean and
variance), weights and config, the refusals, and the layer inside a
Sequential: fits against Keras, summary, adapt after building, saving."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError
from stabkit.nn import layers as L

rng = np.random.default_rng(0)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    keras.backend.clear_session()
    return keras


def _coffee():
    """The lab's load_coffee_data: temperature and duration, float64."""
    g = np.random.default_rng(2)
    X = g.random(400).reshape(-1, 2)
    X[:, 1] = X[:, 1] * 4 + 11.5
    X[:, 0] = X[:, 0] * (285 - 150) + 150
    Y = ((X[:, 1] > 12) & (X[:, 0] > 175) & (X[:, 0] < 260)).astype(float)[:, None]
    return X, Y


def _data(shape, dtype, constant=True):
    x = rng.standard_normal(shape) * rng.uniform(0.1, 100, shape[-1]) + rng.uniform(-50, 50, shape[-1])
    if constant:
        x[..., 0] = 0.1  # a constant column: variance 0
    return x.astype(dtype)


def _ulps(a, b) -> int:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    assert a.shape == b.shape and a.dtype == b.dtype
    return int(np.max(np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32)), initial=0))


def _quotient(x, mean, var, invert=False):
    """The formula in float32, the division correctly rounded."""
    x = np.asarray(x).astype(np.float32)
    d = np.maximum(np.sqrt(np.float32(var)), np.float32(1e-7))
    return np.float32(mean) + x * d if invert else (x - np.float32(mean)) / d


CASES = {
    "lab": ((200, 2), np.float64),
    "float32": ((57, 5), np.float32),
    "images_3d": ((13, 7, 3), np.float64),
    "rank4": ((4, 5, 6, 2), np.float32),
    "one_feature": ((1000, 1), np.float64),
    "ints": ((40, 3), np.int64),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("invert", [False, True])
def test_adapt_and_call_match_keras(case, invert):
    keras = _keras()
    shape, dtype = CASES[case]
    X = _coffee()[0] if case == "lab" else _data(shape, dtype, constant=case != "one_feature")
    X_test = X[:7] * 1.5 - 3 if case != "ints" else X[:7] + 2
    ours, theirs = L.Normalization(axis=-1, invert=invert), keras.layers.Normalization(axis=-1, invert=invert)
    ours.adapt(X)
    theirs.adapt(X)
    axes = tuple(range(X.ndim - 1))
    mean, var, count = ours.get_weights()
    assert mean.shape == var.shape == (shape[-1],) and count == 0
    # float64 statistics rounded once to float32
    assert np.array_equal(mean, np.mean(X.astype(np.float64), axis=axes).astype(np.float32))
    assert np.array_equal(var, np.var(X.astype(np.float64), axis=axes).astype(np.float32))
    kmean, kvar, _ = theirs.get_weights()
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == b.dtype and a.shape == b.shape
    if dtype != np.float32:  # Keras's own calls: bit for bit
        assert np.array_equal(mean, kmean) and np.array_equal(var, kvar)
    else:  # Keras sums float32 data in float32: within its round-off
        eps = 16 * 2.0**-24
        assert np.all(np.abs(mean - kmean) <= eps * np.mean(np.abs(X), axis=axes, dtype=np.float64))
        assert np.all(np.abs(var - kvar) <= eps * np.mean(np.square(X, dtype=np.float64), axis=axes))
    # the call: the formula in float32 with the division correctly rounded; Keras's layer with these statistics
    # on JAX multiplies by the rounded reciprocal (XLA's rewrite), 1 ulp at most (invert: the same operations)
    same = keras.layers.Normalization(mean=mean, variance=var, invert=invert)
    for x in (X, X_test):
        got = ours(x)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == x.shape
        assert np.array_equal(got, _quotient(x, mean, var, invert))
        assert _ulps(got, np.asarray(same(x))) <= (0 if invert else 1)
        if dtype != np.float32:  # the adapted Keras layer itself
            assert _ulps(got, np.asarray(theirs(x))) <= (0 if invert else 1)
    if not invert and case not in ("lab", "one_feature"):
        assert not ours(X)[..., 0].any()  # the constant column: (x - mean) / 1e-7 = 0


def test_constant_float32_column_is_zero_where_keras_is_not():
    """Why the statistics are summed in float64: Keras's float32 mean of a
    column of 100 entries 0.1 (float32) is 1 ulp off, and dividing by 1e-7
    makes that -0.149."""
    keras = _keras()
    X = np.stack([np.full(100, 0.1), np.linspace(0, 1, 100)], axis=1).astype(np.float32)
    ours, theirs = L.Normalization(), keras.layers.Normalization()
    ours.adapt(X)
    theirs.adapt(X)
    assert ours.get_weights()[0][0] == np.float32(0.1) and ours.get_weights()[1][0] == 0
    assert not ours(X)[:, 0].any()
    assert np.allclose(np.asarray(theirs(X))[:, 0], -0.149, atol=1e-3)  # if Keras changes, the docstring says so


def test_lab_flow():
    """The lab's cells with their imports changed: adapt, normalise, fit on
    the normalised data, normalise the test data, predict."""
    X, Y = _coffee()
    norm_l = L.Normalization(axis=-1)
    norm_l.adapt(X)
    Xn = norm_l(X)
    assert np.allclose(Xn.mean(axis=0), 0, atol=1e-5) and np.allclose(Xn.std(axis=0), 1, atol=1e-5)
    model = nn.Sequential([nn.Input((2,)), L.Dense(3, activation="sigmoid", name="layer1"),
                           L.Dense(1, activation="sigmoid", name="layer2")])  # fmt: skip
    model.compile(loss=nn.BinaryCrossentropy(), optimizer=nn.Adam(learning_rate=0.01))
    model.fit(np.tile(Xn, (10, 1)), np.tile(Y, (10, 1)), epochs=3, verbose=0)
    X_testn = norm_l(np.array([[200, 13.9], [200, 17]]))
    assert X_testn.shape == (2, 2) and model.predict(X_testn).shape == (2, 1)
    # one sample alone: Keras's broadcast shape, (1, features)
    assert np.array_equal(norm_l(np.array([200, 13.9])), X_testn[:1])


def test_given_mean_and_variance_match_keras():
    keras = _keras()
    X = _data((30, 3), np.float64)
    for mean, var in (([1.0, -2.0, 3.5], [4.0, 0.5, 0.0]), (3.0, 2.0), (np.array([1, 2, 3]), np.array([1, 4, 9]))):
        for invert in (False, True):
            ours = L.Normalization(mean=mean, variance=var, invert=invert)
            theirs = keras.layers.Normalization(mean=mean, variance=var, invert=invert)
            got = ours(X)
            assert ours.get_weights() == theirs.get_weights() == [] and ours.weights == []
            assert np.array_equal(got, _quotient(X, np.float32(mean), np.float32(var), invert))
            assert _ulps(got, np.asarray(theirs(X))) <= 1
            want = {k: v for k, v in theirs.get_config().items() if k not in ("dtype", "name")}
            assert {k: v for k, v in ours.get_config().items() if k != "name"} == want
            back = L.Normalization(**ours.get_config())
            assert np.array_equal(back(X), got)


def test_weights_and_config_as_keras():
    keras = _keras()
    X = _data((50, 4), np.float64)
    ours, theirs = L.Normalization(), keras.layers.Normalization()
    assert ours.get_weights() == theirs.get_weights() == [] and ours.weights == []
    assert {k: v for k, v in ours.get_config().items() if k != "name"} == \
        {k: v for k, v in theirs.get_config().items() if k not in ("dtype", "name")}  # fmt: skip
    ours.adapt(X)
    theirs.adapt(X)
    assert ours.get_config()["mean"] is None
    assert [(w.dtype, w.shape) for w in ours.get_weights()] == [(w.dtype, w.shape) for w in theirs.get_weights()]
    assert ours.count_params() == theirs.count_params() == 9
    # set_weights: Keras's list; the calls use it at once (Keras 3 keeps its old constants until it reloads)
    new = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 4.0, 0.0, 9.0]), np.array(0)]
    ours.set_weights(new)
    theirs.set_weights(new)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(ours(X), _quotient(X, new[0].astype(np.float32), new[1].astype(np.float32)))
    with pytest.raises(NNError, match="needs a mean of shape"):
        ours.set_weights([np.zeros(3), np.ones(3), np.array(0)])
    with pytest.raises(NNError, match="takes 3 arrays"):
        ours.set_weights(new[:2])
    with pytest.raises(NNError, match="no weights until adapt"):
        L.Normalization().set_weights(new)
    with pytest.raises(NNError, match="has no weights"):
        L.Normalization(mean=0.0, variance=1.0).set_weights(new)
    # a copy is a layer of its own
    twin = copy.deepcopy(ours)
    twin.adapt(X)
    assert not np.array_equal(twin.get_weights()[0], ours.get_weights()[0])


def test_adapt_takes_lists_and_batches():
    X = _data((60, 3), np.float64)
    whole = L.Normalization()
    whole.adapt(X)
    for data in (X.tolist(), [X[:25], X[25:]], (b for b in (X[:10], X[10:]))):
        layer = L.Normalization()
        layer.adapt(data)
        for a, b in zip(layer.get_weights(), whole.get_weights()):
            assert np.array_equal(a, b)
    # adapt again: the new data's statistics
    whole.adapt(X[:20])
    assert np.array_equal(whole.get_weights()[0], np.mean(X[:20], axis=0).astype(np.float32))


def test_refusals():
    X = _data((20, 2), np.float64)
    with pytest.raises(NNError, match=r"\.adapt\(x\) first"):
        L.Normalization()(X)
    for axis in (0, 1, None, (0, 1), True, "last"):
        with pytest.raises(NNError, match="last axis only"):
            L.Normalization(axis=axis)
    assert L.Normalization(axis=(-1,)).axis == L.Normalization(axis=[-1]).axis == (-1,)
    layer = L.Normalization()
    layer.adapt(X)
    for x in (X[:, :1], np.ones((3, 3)), np.ones(3)):
        with pytest.raises(NNError, match="normalises 2 features"):
            layer(x)
    with pytest.raises(NNError, match="normalises 2 features"):
        layer.adapt(np.ones((5, 3)))
    with pytest.raises(NNError, match="normalises 3 features"):
        L.Normalization(mean=[0, 0, 0], variance=[1, 1, 1])(X)
    with pytest.raises(NNError, match="samples, features"):
        L.Normalization().adapt(X[:, 0])
    with pytest.raises(NNError, match="no data"):
        L.Normalization().adapt(np.empty((0, 2)))
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(NNError, match=r"index \(4, 1\)"):
        L.Normalization().adapt(bad)
    with pytest.raises(NNError, match="numbers"):
        L.Normalization().adapt(np.array([["a", "b"]]))
    for kw, match in (({"mean": 1.0}, "both mean= and variance="), ({"mean": [1, 2], "variance": [1]}, "one shape"),
                      ({"mean": [[1.0]], "variance": [[1.0]]}, "1-D"), ({"mean": 0, "variance": -1}, ">= 0"),
                      ({"mean": np.nan, "variance": 1}, "finite"), ({"invert": "yes"}, "True or False")):  # fmt: skip
        with pytest.raises(NNError, match=match):
            L.Normalization(**kw)
    with pytest.raises(NNError, match="adapt learns them"):
        L.Normalization(mean=0.0, variance=1.0).adapt(X)
    with pytest.raises(NNError, match=r"Normalization\(dtype='float64'\): compile's dtype= sets"):
        L.Normalization(dtype="float64")
    with pytest.raises(TypeError, match="'sparse'"):
        L.Normalization(sparse=True)
    # a refused adapt changes nothing
    assert np.array_equal(layer.get_weights()[0], np.mean(X, axis=0).astype(np.float32))


# ------------------------------------------------------------------ in a Sequential


def _lab_layers(M):
    return [M.Dense(3, activation="sigmoid"), M.Dense(1, activation="sigmoid")]


def _lab_models(keras, X):
    """The lab's network behind a Normalization adapted to ``X``, in stabkit
    (seeded) and in Keras: (ours, its Normalization, theirs)."""
    ours_norm, theirs_norm = L.Normalization(), keras.layers.Normalization()
    ours_norm.adapt(X)
    theirs_norm.adapt(X)
    ours = nn.Sequential([nn.Input((2,)), ours_norm, *_lab_layers(L)])
    ours.build((2,), seed=0)
    theirs = keras.Sequential([keras.Input((2,)), theirs_norm, *_lab_layers(keras.layers)])
    return ours, ours_norm, theirs


def test_in_a_model_fits_as_keras_and_keeps_its_statistics():
    keras = _keras()
    X, Y = _coffee()
    ours, ours_norm, theirs = _lab_models(keras, X)
    theirs.set_weights(ours.get_weights())
    before = ours_norm.get_weights()
    assert len(ours.get_weights()) == len(theirs.get_weights()) == 7
    assert ours._param_counts() == (13, 5) and len(ours.non_trainable_weights) == 3
    ours.compile(optimizer=nn.Adam(0.01), loss=nn.BinaryCrossentropy())
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy())
    h = ours.fit(X, Y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    th = theirs.fit(X, Y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    assert np.allclose(h.history["loss"], th.history["loss"], rtol=1e-5)
    # the statistics are untouched, in both; the trained weights agree
    for a, b in zip(before, ours_norm.get_weights()):
        assert np.array_equal(a, b)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_weights()[:3], theirs.get_weights()[:3]))
    assert np.allclose(ours.predict(X), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    # the model on X is the lab's model on norm_l(X)
    plain = nn.Sequential([nn.Input((2,)), *_lab_layers(L)])
    plain.set_weights(ours.get_weights()[3:])
    assert np.allclose(plain.predict(ours_norm(X)), ours.predict(X), rtol=1e-6, atol=1e-7)


def test_summary_as_keras():
    keras = _keras()
    from stabkit.nn import summary

    X = _coffee()[0]
    theirs_norm = keras.layers.Normalization()
    theirs_norm.adapt(X)
    theirs = keras.Sequential([keras.Input((2,)), theirs_norm, keras.layers.Dense(3)])
    lines = []
    theirs.summary(print_fn=lambda s, **kw: lines.append(s))
    norm = L.Normalization()
    norm.adapt(X)
    ours = nn.Sequential([L.Input((2,)), norm, L.Dense(3)])
    assert "\n".join(lines).strip().splitlines() == summary.text(ours).strip().splitlines()


def test_adapt_after_building_and_the_unadapted_model():
    X, Y = _coffee()
    model = nn.Sequential([L.Input((2,)), L.Normalization(), *_lab_layers(L)])
    model.compile(optimizer="adam", loss=nn.BinaryCrossentropy())
    for run in (lambda: model.predict(X), lambda: model.fit(X, Y, epochs=1, verbose=0)):
        with pytest.raises(NNError, match="adapt\\(x\\) first"):
            run()
    model.layers[0].adapt(X)  # into the model's weights, as Keras assigns its variables
    assert np.array_equal(model.get_weights()[0], np.mean(X, axis=0).astype(np.float32))
    model.fit(X, Y, epochs=1, verbose=0, seed=0)
    with pytest.raises(NNError, match="normalises 2 features"):
        model.layers[0].adapt(np.ones((4, 3)))
    # a model whose fit was refused before it trained (unbuilt again) leaves the layer its statistics
    norm = L.Normalization()
    norm.adapt(X)
    fresh = nn.Sequential([norm, *_lab_layers(L)])
    fresh.compile(optimizer="adam", loss=nn.BinaryCrossentropy())
    with pytest.raises(NNError):
        fresh.fit(X, Y[:10], verbose=0)
    assert not fresh.built and np.array_equal(norm(X), _quotient(X, *norm.get_weights()[:2]))
    fresh.fit(X, Y, epochs=1, verbose=0)
    assert np.array_equal(fresh.get_weights()[1], np.var(X, axis=0).astype(np.float32))
    # a model with given statistics holds no weights for them
    given = nn.Sequential([L.Normalization(mean=[200.0, 13.0], variance=[1500.0, 1.3]), *_lab_layers(L)])
    given.build((2,), seed=0)
    assert given.count_params() == 13 and len(given.get_weights()) == 4
    with pytest.raises(NNError, match="normalises 2 features"):
        nn.Sequential([L.Normalization(mean=[0.0, 0.0], variance=[1.0, 1.0]), L.Dense(1)]).build((3,))


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_formats_and_the_gradient(dtype):
    X, Y = _coffee()
    norm = L.Normalization()
    norm.adapt(X)
    model = nn.Sequential([norm, *_lab_layers(L)])
    model.compile(optimizer="sgd", loss=nn.BinaryCrossentropy(), dtype=dtype)
    model.build((2,), seed=0)
    out = model.layers[0].forward(X.astype(model._compute))
    assert out.dtype == model._compute
    assert np.allclose(out, norm(X), rtol=1e-3 if dtype == "float16" else 1e-6, atol=1e-2 if dtype == "float16" else 1e-6)
    before = model.get_weights()[:3]
    model.fit(X, Y, epochs=1, verbose=0, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()[:3]))
    if dtype != "float64":
        return
    # between two layers: dL/dx = dL/dy / denominator, against central differences
    mid = nn.Sequential([L.Dense(3, activation="tanh"), L.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 0.04]),
                         L.Dense(1, activation="sigmoid")])  # fmt: skip
    mid.compile(optimizer="sgd", loss=nn.BinaryCrossentropy(), dtype="float64")
    mid.build((2,), seed=1)
    x, yy = norm(X[:16]).astype(np.float64), Y[:16]
    w0, g, h = mid.get_weights(), mid.gradients(x, yy)[0], 1e-6
    for j in range(w0[0].size):
        vals = []
        for s in (h, -h):
            w = [a.copy() for a in w0]
            w[0].ravel()[j] += s
            mid.set_weights(w)
            vals.append(mid.evaluate(x, yy))
        assert (vals[0] - vals[1]) / (2 * h) == pytest.approx(g.ravel()[j], rel=1e-4, abs=1e-7)


def test_images_before_a_conv_layer_per_channel():
    keras = _keras()
    imgs = _data((12, 5, 5, 2), np.float32, constant=False)
    norm = L.Normalization()
    norm.adapt(imgs)
    mean, var, _ = norm.get_weights()
    theirs = keras.layers.Normalization(mean=mean, variance=var)
    assert mean.shape == (2,)
    model = nn.Sequential([norm, L.Conv2D(3, 3), L.Flatten(), L.Dense(2)])
    model.build((5, 5, 2), seed=0)
    assert model.layers[0].forward(imgs).shape == imgs.shape
    assert _ulps(model.layers[0].forward(imgs), np.asarray(theirs(imgs))) <= 1
    # before a Dense layer images are flattened: 50 features, not the 2 channels it learnt
    with pytest.raises(NNError, match="normalises 2 features"):
        nn.Sequential([norm, L.Dense(2)]).build((5, 5, 2))


def test_saved_and_loaded(tmp_path):
    X, Y = _coffee()
    norm = L.Normalization()
    norm.adapt(X)
    model = nn.Sequential([norm, L.Dense(3, activation="sigmoid"),
                           L.Normalization(mean=[0.5, -0.5, 1.0], variance=[2.0, 2.0, 0.25], invert=True),
                           L.Dense(1, activation="sigmoid")])  # fmt: skip
    model.compile(optimizer=nn.Adam(0.01), loss=nn.BinaryCrossentropy())
    model.fit(X, Y, epochs=2, verbose=0, seed=0)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in back.layers] == ["Normalization", "Dense", "Normalization", "Dense"]
    assert back.layers[2].invert and back.layers[2].get_config() == model.layers[2].get_config()
    for a, b in zip(back.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)
    assert np.array_equal(back.predict(X), model.predict(X))
    # the weights alone, and a copy
    model.save_weights(tmp_path / "w.npz")
    other = nn.Sequential.from_config(model.get_config())
    with pytest.raises(NNError, match="adapt\\(x\\) first"):  # fresh layers: no statistics yet
        other.predict(X)
    other.load_weights(tmp_path / "w.npz")
    assert np.array_equal(other.predict(X), model.predict(X))
    assert np.array_equal(copy.deepcopy(model).predict(X), model.predict(X))


def test_weights_h5_both_ways_with_keras(tmp_path):
    keras = _keras()
    pytest.importorskip("h5py")
    X, _ = _coffee()
    ours, _, theirs = _lab_models(keras, X)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert np.array_equal(a, b)
    theirs.layers[1].set_weights([w * 2 for w in theirs.layers[1].get_weights()])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert np.array_equal(a, b)
