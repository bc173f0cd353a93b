"""The Keras-shaped API: building, calling, dtypes, weights on disk, errors, reprs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.nn import REPO, lecture_model

import stabkit.nn as nn
from stabkit.nn import (
    SGD,
    Adam,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    DataError,
    Dense,
    NNError,
    Sequential,
    SparseCategoricalCrossentropy,
    layers,
    losses,
    optimizers,
)

rng = np.random.default_rng(0)
X = rng.random((40, 64)).astype(np.float32)
y = rng.integers(0, 10, 40)


def _compiled(**kw):
    model = lecture_model()
    model.compile(optimizer=Adam(), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], **kw)
    return model


def test_keras_import_paths():
    assert layers.Dense is nn.Dense and losses.SparseCategoricalCrossentropy is nn.SparseCategoricalCrossentropy
    assert optimizers.Adam is nn.Adam and nn.Sequential is Sequential
    assert set(nn.__all__) <= set(dir(nn))


def test_lazy_build_glorot_init_and_logits():
    model = _compiled()
    assert not model.built
    with pytest.raises(NNError, match=r"count_params.*isn't built; build it first \(Input\(shape\).*model.build"):
        model.count_params()  # was 0; Keras 3 raises a ValueError
    logits = model(X)
    assert model.built and logits.shape == (40, 10) and logits.dtype == np.float32
    assert model.count_params() == 64 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10
    k = model.layers[0].kernel
    limit = np.sqrt(6 / (64 + 25))
    assert np.all(np.abs(k) <= limit) and k.std() == pytest.approx(limit / np.sqrt(3), rel=0.1)
    assert np.all(model.layers[0].bias == 0)
    # the logits are the plain affine maps of the slide
    w = model.get_weights()
    h = np.maximum(X @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    np.testing.assert_allclose(logits, h @ w[4] + w[5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(X, batch_size=7), logits, rtol=1e-5, atol=1e-6)  # BLAS blocking differs


@pytest.mark.parametrize("dtype,compute,master", [("float32", "float32", "float32"), ("float64", "float64", "float64"), ("float16", "float16", "float32")])
def test_formats(dtype, compute, master):
    model = _compiled(dtype=dtype)
    h = model.fit(X, y, epochs=2, verbose=0, seed=0)
    assert model(X).dtype == compute and model.get_weights()[0].dtype == master
    assert np.isfinite(h.history["loss"]).all()
    assert model.dtype == ("mixed_float16" if dtype == "float16" else dtype)


def test_recompile_changes_the_format_and_keeps_the_weights():
    model = _compiled()
    model.build(64, seed=1)
    w = model.get_weights()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", dtype="float64")
    assert model.get_weights()[0].dtype == np.float64
    np.testing.assert_array_equal(model.get_weights()[0], w[0])


def test_save_and_load_weights_npz(tmp_path):
    model = _compiled()
    model.fit(X, y, epochs=1, verbose=0, seed=0)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["000_bias", "000_kernel", "001_bias", "001_kernel", "002_bias", "002_kernel"]
    other = lecture_model()
    other.load_weights(path)  # builds from the stored shapes
    np.testing.assert_array_equal(other(X), model(X))


def test_load_rejects_pickles_and_strangers(tmp_path):
    model = lecture_model()
    obj = tmp_path / "obj.npz"
    np.savez(obj, **{"000_kernel": np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(DataError, match="obj.npz: not a weights file"):
        model.load_weights(obj)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        model.load_weights(junk)
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(DataError, match="a.npy: not an .npz archive"):
        model.load_weights(npy)
    small = Sequential([Dense(3)])
    small.build(4)
    small.save_weights(tmp_path / "small.npz")
    with pytest.raises(DataError, match=r"small.npz: holds \['000_bias', '000_kernel'\], but this model needs"):
        model.load_weights(tmp_path / "small.npz")
    with pytest.raises(DataError, match="no such file"):
        model.load_weights(tmp_path / "absent.npz")


def test_no_pickle_anywhere_in_the_trainer():
    for path in (REPO / "stabkit" / "nn").glob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text, path


def test_evaluate_and_history():
    model = _compiled()
    h = model.fit(X, y, epochs=3, batch_size=16, validation_data=(X[:8], y[:8]), verbose=0, seed=0)
    assert h.epoch == [0, 1, 2] and len(h.epoch_seconds) == 3  # 0-based, as Keras
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "max_logit_gap", "min_true_prob", "nonfinite_steps"}
    loss, acc = model.evaluate(X, y)
    assert model.evaluate(X, y, return_dict=True) == {"loss": loss, "accuracy": acc}
    assert loss == pytest.approx(model.loss(y, model(X)))
    assert repr(h).startswith("History(3 epochs: loss=")


def test_diagnostics_track_the_logit_gap():
    model = Sequential([Dense(3)])
    model.compile(optimizer=SGD(learning_rate=0.0001), loss=SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build(1)
    model.set_weights([np.array([[0.0, 10.0, 0.0]]), np.zeros(3)])
    h = model.fit(np.array([[1.0]]), np.array([0]), verbose=0)
    assert h.history["max_logit_gap"][0] == pytest.approx(10)
    assert h.history["min_true_prob"][0] == pytest.approx(1 / (2 + np.exp(10)))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Dense(0), "positive integer number of units"),
        (lambda: Dense(4, activation="mish"), "unknown activation 'mish'"),
        (lambda: SparseCategoricalCrossentropy(tier="exact"), "unknown tier 'exact'"),
        (lambda: Adam(learning_rate=0), "learning_rate must be a positive number"),
        (lambda: SGD(momentum=1.5), "momentum must be in"),
        (lambda: _compiled().fit(X, y, epochs=-1), "epochs must be a non-negative integer, got -1"),
        (lambda: _compiled().fit(X, y, batch_size=2.5), "batch_size must be a positive integer"),
        (lambda: _compiled().fit(X, y[:5]), "x has 40 samples but y has 5"),
        (lambda: _compiled().fit(X, y + 10), "label 1[0-9] is out of range for a model with 10 outputs"),
        (lambda: _compiled().fit(X, y, on_nonfinite="ignore"), "on_nonfinite must be"),
        (lambda: lecture_model().fit(X, y), "not compiled"),
        (lambda: _compiled(dtype="int8"), "unknown dtype 'int8'"),
        (lambda: lecture_model().compile(loss="mse"), "unknown loss 'mse'"),
        (lambda: lecture_model().compile(loss="binary_crossentropy", optimizer="ftrl"), "unknown optimizer 'ftrl'"),
        (lambda: lecture_model().compile(loss="binary_crossentropy", metrics=["auc"]), "unknown metric 'auc'"),
        (lambda: (m := _compiled(), m(X), m(X[:, :10])), "expects 64 input features, got 10"),
    ],
)
def test_errors_are_one_family(make, message):
    with pytest.raises(NNError, match=message):
        make()
    assert issubclass(NNError, ValueError)


def test_reprs_and_summary():
    model = lecture_model()
    assert repr(model) == (
        "Sequential([Dense(25, activation='relu'), Dense(15, activation='relu'), Dense(10, activation='linear')])"
    )
    assert repr(Adam()) == "Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)"
    assert repr(SGD(momentum=0.9)) == "SGD(learning_rate=0.01, momentum=0.9)"
    assert repr(BinaryCrossentropy(from_logits=True)) == "BinaryCrossentropy(from_logits=True, tier='accurate')"
    assert repr(CategoricalCrossentropy(tier="naive")) == "CategoricalCrossentropy(from_logits=False, tier='naive')"
    assert repr(nn.activations.ReLU()) == "ReLU()" and repr(nn.ReLU()) == "ReLU('relu')"
    lines = []
    model.summary(print_fn=lines.append)
    assert "unbuilt" in lines[0]
    model.build(784)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "dense (Dense)" in text and "dense_2 (Dense)" in text and "19,625" in text and "Total params: 20,175" in text


def test_adam_state_is_kept_per_parameter():
    model = _compiled()
    model.fit(X, y, epochs=1, batch_size=40, verbose=0, seed=0)
    opt = model.optimizer
    assert opt.iterations == 1
    assert set(opt.state) == {f"{n}/{p}" for n in ("dense", "dense_1", "dense_2") for p in ("kernel", "bias")}
    g = model.gradients(X, y)  # the batch gradient after one step, not the one used; check shapes only
    assert opt.state["dense/kernel"]["m"].shape == g[0].shape == (64, 25)
    assert np.any(opt.state["dense_2/bias"]["v"] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_step_finite_check(dtype):
    """fit's per-step check, ``a @ a`` with an exact fallback when it overflows."""
    from stabkit.nn.steps import _finite

    a = np.linspace(-1, 1, 1001).astype(dtype)
    assert _finite(a)
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[500] = bad
        assert not _finite(b)
    huge = np.full(8, np.finfo(dtype).max / 2, dtype)  # a @ a overflows, every element is finite
    with np.errstate(over="ignore"):  # as in fit
        assert _finite(huge) and not _finite(np.append(huge, dtype(np.nan)))
