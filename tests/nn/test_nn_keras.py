"""Mine vs gold, Keras 3 edition: the optimizers' updates, a whole fit with
sample weights, validation split and metrics, EarlyStopping's decisions and
the summary text, each against Keras 3 (JAX backend) on identical inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
if keras.backend.backend() != "jax":  # pragma: no cover
    pytest.skip("these comparisons are written for Keras's JAX backend", allow_module_level=True)

OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True, "epsilon": 1e-3}),
    ("Adam", {"learning_rate": 0.01}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}-{sorted(k.items())}" for n, k in OPTIMIZERS])
def test_optimizer_updates_match_keras(name, kwargs):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(200).astype(np.float32)
    grads = rng.standard_normal((6, 200)).astype(np.float32) * np.float32(3)
    ours = getattr(nn, name)(**kwargs)
    ours.build({"w": (slice(0, 200), (200,))}, 200, np.float32)
    p = p0.copy()
    theirs = getattr(keras.optimizers, name)(**kwargs)
    v = keras.Variable(p0.copy())
    for g in grads:
        ours.apply(p, g.copy())
        theirs.apply([g], [v])
        np.testing.assert_allclose(p, np.asarray(v), rtol=1e-6, atol=1e-6)
    assert not np.allclose(p, p0)  # the updates moved something


def test_keras_defaults():
    for name in ("SGD", "RMSprop", "Adam"):
        ours, theirs = getattr(nn, name)(), getattr(keras.optimizers, name)()
        for key, value in ours.get_config().items():
            assert float(theirs.get_config()[key]) == pytest.approx(float(value)), (name, key)
    assert nn.Dropout(0.5).rate == keras.layers.Dropout(0.5).rate


def _twins(seed=0):
    """A stabkit model and a Keras model with identical weights."""
    ours = nn.Sequential([nn.Input((12,)), nn.Dense(9, activation="tanh"), nn.Dense(7, activation="relu"), nn.Dense(4)])
    theirs = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="tanh"),
                               keras.layers.Dense(7, activation="relu"), keras.layers.Dense(4)])  # fmt: skip
    w = [np.random.default_rng(seed).uniform(-0.6, 0.6, a.shape).astype(np.float32) for a in ours.get_weights()]
    ours.set_weights(w)
    theirs.set_weights(w)
    return ours, theirs


@pytest.mark.parametrize("optimizer", [("SGD", {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True}),
                                       ("RMSprop", {"learning_rate": 0.01, "momentum": 0.3})])  # fmt: skip
def test_fit_with_weights_split_and_metrics_matches_keras(optimizer):
    """Two epochs, no shuffling, batches of 16 with a last short one,
    sample weights, the last 25% held out: the same weights and logs."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((90, 12)).astype(np.float32)
    y = rng.integers(0, 4, 90)
    sw = rng.uniform(0, 3, 90).astype(np.float32)
    ours, theirs = _twins()
    name, kwargs = optimizer
    metrics = ["accuracy", "sparse_top_k_categorical_accuracy"]
    ours.compile(optimizer=getattr(nn, name)(**kwargs), metrics=metrics,
                 loss=nn.SparseCategoricalCrossentropy(from_logits=True, tier="stable"))  # fmt: skip
    theirs.compile(optimizer=getattr(keras.optimizers, name)(**kwargs), metrics=metrics,
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    args = dict(epochs=2, batch_size=16, shuffle=False, sample_weight=sw, validation_split=0.25, verbose=0)
    h_ours, h_theirs = ours.fit(X, y, **args), theirs.fit(X, y, **args)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert h_ours.params["step"] == "NumPy" and "sample weights" in h_ours.params["step_reason"]
    assert h_ours.epoch == h_theirs.epoch == [0, 1]
    for key, values in h_theirs.history.items():
        np.testing.assert_allclose(h_ours.history[key], values, rtol=2e-5, atol=1e-6, err_msg=key)
    got = ours.evaluate(X, y, sample_weight=sw)
    want = theirs.evaluate(X, y, sample_weight=sw, verbose=0)
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_class_weight_is_keras_sample_weight():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    ours, theirs = _twins(1)
    ours.compile(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True, tier="stable"))
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cw = {0: 3.0, 2: 0.5}  # class 1 and 3 weigh 1, as in Keras
    h1 = ours.fit(X, y, batch_size=8, shuffle=False, class_weight=cw, verbose=0)
    h2 = theirs.fit(X, y, batch_size=8, shuffle=False, class_weight=cw, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert h1.history["loss"][0] == pytest.approx(h2.history["loss"][0], rel=1e-5)


def test_dropout_layer_matches_keras_in_inference_and_in_expectation():
    x = np.ones((2000, 50), np.float32)
    ours, theirs = nn.Dropout(0.3, seed=0), keras.layers.Dropout(0.3, seed=0)
    np.testing.assert_array_equal(ours.forward(x), np.asarray(theirs(x, training=False)))
    a, b = ours.forward(x, training=True), np.asarray(theirs(x, training=True))
    # the same two values (0 and 1/0.7) and about the same share of zeros
    assert set(np.unique(a)) == set(np.unique(b)) == {0.0, np.float32(1) / np.float32(0.7)}
    assert abs((a == 0).mean() - (b == 0).mean()) < 0.01


class _Holder:
    """The least model a Keras callback accepts here: weights in, weights out."""

    def __init__(self):
        self.w, self.stop_training, self.metrics = [np.zeros(1)], False, []

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, w):
        self.w = [np.asarray(a).copy() for a in w]


SEQUENCES = {
    "down then flat": [1.0, 0.8, 0.7, 0.7, 0.71, 0.69, 0.695, 0.7, 0.72, 0.73],
    "noisy": [0.5, 0.6, 0.4, 0.45, 0.41, 0.39, 0.5, 0.38, 0.6, 0.7],
    "up": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
}
SETTINGS = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 1, "min_delta": 0.02},
    {"patience": 2, "restore_best_weights": True},
    {"patience": 1, "baseline": 0.45},
    {"patience": 1, "start_from_epoch": 3, "restore_best_weights": True},
    {"patience": 1, "mode": "max"},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("seq", list(SEQUENCES))
def test_early_stopping_decides_as_keras(seq, settings):
    runs = []
    for cls in (nn.EarlyStopping, keras.callbacks.EarlyStopping):
        cb, holder = cls(monitor="val_loss", **settings), _Holder()
        cb.set_model(holder)
        cb.on_train_begin()
        trace = []
        for epoch, value in enumerate(SEQUENCES[seq]):
            holder.w = [np.array([float(epoch)])]  # the weights say which epoch they are from
            cb.on_epoch_end(epoch, {"loss": 0.0, "val_loss": value})
            trace.append((cb.wait, holder.stop_training))
            if holder.stop_training:
                break
        cb.on_train_end()
        runs.append((trace, cb.stopped_epoch, cb.best, cb.best_epoch, holder.w[0][0]))
    assert runs[0] == runs[1]


def test_dense_without_a_bias_trains_as_keras(tmp_path):
    """``Dense(..., use_bias=False)``: Keras's weights (a kernel only), its
    summary, the same weights and losses after two epochs of Adam from
    identical weights (the NumPy step: the C step needs biases), and a
    save/load round trip."""
    ours = nn.Sequential([nn.Input((12,)), nn.Dense(9, activation="relu", use_bias=False), nn.Dense(4)])
    theirs = keras.Sequential([keras.Input((12,)), keras.layers.Dense(9, activation="relu", use_bias=False, name="dense"),
                               keras.layers.Dense(4, name="dense_1")], name="sequential")  # fmt: skip
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()] == [(12, 9), (9, 4), (4,)]
    w = [np.random.default_rng(5).uniform(-0.6, 0.6, a.shape).astype(np.float32) for a in ours.get_weights()]
    ours.set_weights(w)
    theirs.set_weights(w)
    texts = [], []
    ours.summary(print_fn=texts[0].append)
    theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
    assert texts[0] == texts[1]
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((70, 12)).astype(np.float32), rng.integers(0, 4, 70)
    ours.compile(optimizer=nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True, tier="stable"))
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    args = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    h_ours, h_theirs = ours.fit(X, y, **args), theirs.fit(X, y, **args)
    assert h_ours.params["step"] == "NumPy" and "without a bias" in h_ours.params["step_reason"]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=2e-5)
    ours.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert not back.layers[0].use_bias and back.layers[1].use_bias
    for a, b in zip(back.get_weights(), ours.get_weights()):
        assert np.array_equal(a, b)


def test_summary_is_keras_text():
    """Built from Input, then compiled and fitted (the optimizer line)."""
    ours = nn.Sequential([nn.Input((64,)), nn.Dense(25, activation="relu"), nn.Dropout(0.2), nn.Dense(10)])
    # Keras numbers its layers across models (dense_7): name them as ours are
    theirs = keras.Sequential([keras.Input((64,)), keras.layers.Dense(25, activation="relu", name="dense"),
                               keras.layers.Dropout(0.2, name="dropout"), keras.layers.Dense(10, name="dense_1")],
                              name="sequential")  # fmt: skip
    texts = [], []
    ours.summary(print_fn=texts[0].append)
    theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
    X, y = np.random.default_rng(0).random((8, 64)).astype(np.float32), np.arange(8)
    for model, loss in ((ours, nn.SparseCategoricalCrossentropy(from_logits=True)),
                        (theirs, keras.losses.SparseCategoricalCrossentropy(from_logits=True))):  # fmt: skip
        model.compile(optimizer="adam", loss=loss)
        model.fit(X, y, verbose=0)
    ours.summary(print_fn=texts[0].append)
    theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
    assert texts[0] == texts[1]


def test_cnn_layer_names_and_summary_are_keras():
    """Keras's automatic names for the image layers (``max_pooling2d``, in
    snake case) and its summary of a CNN: image shapes, Conv2D parameters."""
    keras.backend.clear_session()  # Keras numbers its names per session: start at conv2d, not conv2d_7
    theirs = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                               keras.layers.MaxPooling2D(), keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
                               keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dropout(0.5),
                               keras.layers.Dense(10)], name="sequential")  # fmt: skip
    ours = nn.Sequential([nn.Input((28, 28, 1)), nn.Conv2D(8, 3, activation="relu"), nn.MaxPooling2D(),
                          nn.Conv2D(16, 3, padding="same", use_bias=False), nn.MaxPooling2D(), nn.Flatten(),
                          nn.Dropout(0.5), nn.Dense(10)])  # fmt: skip
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert "max_pooling2d_1" in [l.name for l in ours.layers]
    texts = [], []
    ours.summary(print_fn=texts[0].append)
    theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
    X, y = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32), np.arange(8)
    for model, loss in ((ours, nn.SparseCategoricalCrossentropy(from_logits=True)),
                        (theirs, keras.losses.SparseCategoricalCrossentropy(from_logits=True))):  # fmt: skip
        model.compile(optimizer="adam", loss=loss)
        model.fit(X, y, verbose=0)
    ours.summary(print_fn=texts[0].append)
    theirs.summary(print_fn=lambda s, **kw: texts[1].append(s), line_length=76)
    assert "(None, 26, 26, 8)" in texts[0][0] and texts[0] == texts[1]


@pytest.mark.parametrize("name", ["CategoricalCrossentropy", "BinaryCrossentropy"])
def test_label_smoothing_as_keras_smooths(name):
    # CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), the
    # Keras call: refused with a TypeError before; the same value as Keras's
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4)).astype("float32")
    y = np.eye(4)[rng.integers(0, 4, 5)] if name.startswith("Cat") else (rng.random((5, 4)) > 0.5) * 1.0
    y = y.astype("float32")
    want = float(getattr(keras.losses, name)(from_logits=True, label_smoothing=0.2)(y, z))
    got = getattr(nn.losses, name)(from_logits=True, label_smoothing=0.2)(y, z)
    assert got == pytest.approx(want, rel=1e-6)

