"""Frozen layers (``layer.trainable = False``): fit leaves their weights and
the optimizer's state for them alone, on every path (the C and the NumPy
step, the C and the NumPy Adam, SGD, RMSprop, mixed float16), and the
summary counts them as Keras does. It was not so before:
the flag was ignored, fit updated the layer and summary() said
"Non-trainable params: 0"."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import _native

needs_c = pytest.mark.skipif(_native.library() is None, reason="the C extension is not built")


def _model(dtype="float32", seed=0):
    model = nn.Sequential([nn.Input((12,)), nn.Dense(9, activation="relu"), nn.Dense(7, activation="relu"), nn.Dense(4)])
    w = [np.random.default_rng(seed).uniform(-0.6, 0.6, a.shape) for a in model.get_weights()]
    model.set_weights(w)
    return model


def _data(n=70, seed=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 4, n)


class TestOptimizerRuns:
    """``apply(params, grads, runs)`` updates the slices ``runs`` exactly as
    the optimizer would update them alone, and touches nothing else."""

    @pytest.mark.parametrize("make", [lambda: nn.SGD(0.1, momentum=0.9, nesterov=True),
                                      lambda: nn.RMSprop(0.01, momentum=0.5, centered=True),
                                      lambda: nn.Adam(0.01)], ids=["SGD", "RMSprop", "Adam"])  # fmt: skip
    def test_runs_update_as_the_optimizer_alone_and_leave_the_rest(self, make):
        rng = np.random.default_rng(0)
        p0 = rng.standard_normal(300)
        runs = [slice(0, 100), slice(200, 300)]
        keep = np.r_[0:100, 200:300]
        frozen, alone = make(), make()
        frozen.build({"w": (slice(0, 300), (300,))}, 300, np.float64)
        alone.build({"w": (slice(0, 200), (200,))}, 200, np.float64)
        p, q = p0.copy(), p0[keep].copy()
        for _ in range(5):
            g = rng.standard_normal(300)
            frozen.apply(p, g, runs)
            alone.apply(q, g[keep].copy())
        np.testing.assert_array_equal(p[keep], q)
        np.testing.assert_array_equal(p[100:200], p0[100:200])
        for name, flat in frozen.variables().items():
            assert not flat[100:200].any(), name  # no state for the frozen slice
            np.testing.assert_array_equal(flat[keep], alone.variables()[name])
        assert frozen.iterations == alone.iterations == 5


@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_a_frozen_layer_keeps_its_weights_and_adam_state_on_every_path(monkeypatch, native, dtype):
    monkeypatch.setenv("STABKIT_NATIVE", native)
    X, y = _data()
    model = _model()
    model.compile(optimizer=nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype=dtype)
    model.get_layer("dense_1").trainable = False  # after compile: taken at the next fit, as in Keras
    before = model.get_weights()
    h = model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=1)
    after = model.get_weights()
    want_c = native == "1" and dtype != "float16" and _native.library() is not None
    assert h.params["step"] == ("C" if want_c else "NumPy")
    np.testing.assert_array_equal(after[2], before[2])  # dense_1's kernel and bias: not a bit moved
    np.testing.assert_array_equal(after[3], before[3])
    assert all(not np.array_equal(a, b) for k, (a, b) in enumerate(zip(after, before)) if k not in (2, 3))
    for name in ("dense_1/kernel", "dense_1/bias"):
        assert not model.optimizer.state[name]["m"].any() and not model.optimizer.state[name]["v"].any()
    assert model.optimizer.state["dense/kernel"]["m"].any()


@needs_c
def test_the_c_and_numpy_steps_agree_with_a_frozen_layer(monkeypatch):
    X, y = _data()
    weights = []
    for native in ("1", "0"):
        monkeypatch.setenv("STABKIT_NATIVE", native)
        model = _model()
        model.layers[0].trainable = False
        model.compile(optimizer=nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
        model.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=2)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_freezing_or_unfreezing_after_a_fit_takes_effect_on_the_next_fit():
    """Keras 3.15 on JAX raises a ValueError here unless compile runs again
    (its optimizer was built for the other set of variables); stabkit reads
    the flags at every fit. A frozen layer's Adam state is kept for when it
    is unfrozen."""
    X, y = _data()
    model = _model()
    model.compile(optimizer=nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    w0, m0 = model.layers[0].get_weights(), model.optimizer.state["dense/kernel"]["m"].copy()
    w2 = model.layers[2].get_weights()
    model.fit(X, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.layers[0].get_weights(), w0))
    np.testing.assert_array_equal(model.optimizer.state["dense/kernel"]["m"], m0)
    assert not np.array_equal(model.layers[2].get_weights()[0], w2[0])
    model.layers[0].trainable = True
    model.fit(X, y, epochs=1, verbose=0)
    assert not np.array_equal(model.layers[0].get_weights()[0], w0[0])


def test_model_trainable_false_freezes_every_layer():
    X, y = _data()
    model = _model()
    model.trainable = False
    assert not model.trainable and [l.trainable for l in model.layers] == [False, False, False]
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6
    model.compile(optimizer="sgd", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_weights()
    model.fit(X, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    model.trainable = True
    assert [l.trainable for l in model.layers] == [True, True, True] and len(model.trainable_weights) == 6


def test_weight_roles_of_layers_and_models_are_live_views():
    """Layers' trainable_weights / non_trainable_weights and Keras 3's
    *variables names: the same arrays as ``weights``, split by role; a
    BatchNormalization's moving statistics never train; writing into one
    changes the model."""
    model = nn.Sequential([nn.Input((5,)), nn.Dense(4), nn.BatchNormalization(), nn.Dense(2)])
    dense, bn, _ = model.layers
    assert [w.shape for w in bn.trainable_weights] == [(4,), (4,)]  # gamma, beta
    assert [w.shape for w in bn.non_trainable_variables] == [(4,), (4,)]  # moving mean, variance
    assert (len(model.variables), len(model.trainable_variables), len(model.non_trainable_variables)) == (8, 6, 2)
    assert all(a is b for a, b in zip(dense.variables, dense.weights))
    dense.trainable = False
    assert dense.trainable_variables == [] and len(dense.non_trainable_weights) == 2
    assert (len(model.trainable_variables), len(model.non_trainable_variables)) == (4, 4)
    model.trainable_variables[-1][...] = 7.0  # the last Dense's bias
    assert np.all(model.get_weights()[-1] == 7.0)
    assert nn.Dense(3).trainable_weights == [] and nn.Dense(3).variables == []  # unbuilt


def test_trainable_is_a_constructor_argument_and_survives_save_and_load(tmp_path):
    model = nn.Sequential([nn.Input((5,)), nn.Dense(4, activation="relu", trainable=False), nn.Dropout(0.1), nn.Dense(3)])
    assert [l.trainable for l in model.layers] == [False, True, True]
    assert model.layers[0].get_config()["trainable"] is False
    assert [w.shape for w in model.trainable_weights] == [(4, 3), (3,)]
    assert [w.shape for w in model.non_trainable_weights] == [(5, 4), (4,)]
    model.trainable_weights[0][...] = 1.0  # live views, as Keras's variables
    assert (model.layers[2].get_weights()[0] == 1).all()
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert [l.trainable for l in back.layers] == [False, True, True]


class TestAgainstKeras:
    """Mine vs gold: Keras 3 on JAX, identical weights and data."""

    @pytest.fixture(autouse=True)
    def _keras(self):
        os.environ.setdefault("KERAS_BACKEND", "jax")
        self.keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
        if self.keras.backend.backend() != "jax":  # pragma: no cover
            pytest.skip("written for Keras's JAX backend")

    def _theirs(self, ours):
        keras = self.keras
        theirs = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="relu", name="dense"),
                                   keras.layers.Dense(7, activation="relu", name="dense_1"),
                                   keras.layers.Dense(4, name="dense_2")], name="sequential")  # fmt: skip
        theirs.set_weights([w.astype(np.float32) for w in ours.get_weights()])
        return theirs

    def _summaries(self, ours, theirs):
        texts = [], []
        ours.summary(print_fn=texts[0].append)
        theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
        return texts

    @pytest.mark.parametrize("frozen, optimizer", [
        ([0], ("Adam", {"learning_rate": 0.01})),
        ([1], ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True})),
        ([0, 2], ("SGD", {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True})),
    ])  # fmt: skip
    def test_frozen_layers_train_and_summarise_as_keras(self, frozen, optimizer):
        keras = self.keras
        X, y = _data()
        ours = _model()
        theirs = self._theirs(ours)
        name, kwargs = optimizer
        ours.compile(optimizer=getattr(nn, name)(**kwargs),
                     loss=nn.SparseCategoricalCrossentropy(from_logits=True, tier="stable"))  # fmt: skip
        theirs.compile(optimizer=getattr(keras.optimizers, name)(**kwargs),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
        for k in frozen:  # after compile, before the first fit: Keras honours it
            ours.layers[k].trainable = theirs.layers[k].trainable = False
        before = ours.get_weights()
        args = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
        h_ours, h_theirs = ours.fit(X, y, **args), theirs.fit(X, y, **args)
        for k, (a, b, w) in enumerate(zip(ours.get_weights(), theirs.get_weights(), before)):
            if k // 2 in frozen:
                np.testing.assert_array_equal(a, w)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=2e-5)
        texts = self._summaries(ours, theirs)
        assert "Non-trainable params: 0 " not in texts[0][0] and texts[0] == texts[1]

    def test_a_fully_frozen_model_summarises_as_keras(self):
        keras = self.keras
        X, y = _data()
        ours = _model()
        theirs = self._theirs(ours)
        ours.trainable = theirs.trainable = False
        assert [l.trainable for l in ours.layers] == [l.trainable for l in theirs.layers] == [False] * 3
        for model, loss in ((ours, nn.SparseCategoricalCrossentropy(from_logits=True)),
                            (theirs, keras.losses.SparseCategoricalCrossentropy(from_logits=True))):  # fmt: skip
            model.compile(optimizer="adam", loss=loss)
            model.fit(X, y, epochs=1, verbose=0)
        texts = self._summaries(ours, theirs)
        assert "Trainable params: 0 " in texts[0][0] and texts[0] == texts[1]

    def test_count_params_and_get_layer_as_keras(self):
        keras = self.keras
        ours = _model()
        theirs = self._theirs(ours)
        assert [l.count_params() for l in ours.layers] == [l.count_params() for l in theirs.layers] == [117, 70, 32]
        assert nn.Dropout(0.5).count_params() == keras.layers.Dropout(0.5).count_params() == 0
        assert ours.get_layer("dense_1") is ours.layers[1] and ours.get_layer(index=-1) is ours.layers[-1]
        for kwargs in ({"name": "nope"}, {"index": 3}, {}, {"name": "dense", "index": 0}):
            with pytest.raises(ValueError) as want:
                theirs.get_layer(**kwargs)
            with pytest.raises(nn.NNError) as got:  # a ValueError
                ours.get_layer(**kwargs)
            assert str(got.value) == str(want.value)
        with pytest.raises(ValueError, match="count_params.*isn't built"):
            keras.layers.Dense(3).count_params()
        with pytest.raises(nn.NNError, match="count_params.*isn't built"):
            nn.Dense(3).count_params()

    @pytest.mark.parametrize("frozen", [[], [0], [1, 2]])
    def test_weight_roles_as_keras(self, frozen):
        keras = self.keras
        ours = nn.Sequential([nn.Input((5,)), nn.Dense(4), nn.BatchNormalization(), nn.Dense(2)])
        theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
                                   keras.layers.Dense(2)])  # fmt: skip
        for i in frozen:
            ours.layers[i].trainable = theirs.layers[i].trainable = False
        for attr in ("variables", "trainable_variables", "non_trainable_variables", "trainable_weights",
                     "non_trainable_weights", "weights"):  # fmt: skip
            for a, b in zip([ours, *ours.layers], [theirs, *theirs.layers]):
                assert [w.shape for w in getattr(a, attr)] == [tuple(v.shape) for v in getattr(b, attr)], attr
