"""The convolutional layers with the Keras API of the trainer: Input and
input_shape=, Dropout on images, summary, save / load_model, callbacks,
validation, metrics, sample weights, the other optimizers, Keras's layer
names, and which step fit runs. (Against Keras itself: test_nn_keras.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError
from stabkit.nn import _native

rng = np.random.default_rng(0)
X = rng.random((48, 10, 10, 1))
y = rng.integers(0, 3, 48)


def _cnn(*first, dropout=0.25, seed=0, **conv):
    """Conv2D, MaxPooling2D, Flatten, Dropout, Dense after the ``first`` items (an Input)."""
    return nn.Sequential([*first, nn.Conv2D(4, 3, activation="relu", **conv), nn.MaxPooling2D(),
                          nn.Flatten(), nn.Dropout(dropout, seed=seed), nn.Dense(3)])  # fmt: skip


def _compile(model, optimizer=None, dtype="float64", metrics=("accuracy",)):
    model.compile(optimizer=optimizer or nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics), dtype=dtype)  # fmt: skip
    return model


def test_input_and_input_shape_build_a_cnn_at_once():
    shapes = [(3, 3, 1, 4), (4,), (64, 3), (3,)]
    models = [
        _cnn(nn.Input((10, 10, 1))),
        _cnn(nn.Input((None, 10, 10, 1)[1:])),
        nn.Sequential([nn.Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)), nn.MaxPooling2D(), nn.Flatten(),
                       nn.Dropout(0.25), nn.Dense(3)]),  # fmt: skip
    ]
    for model in models:
        assert model.built and [w.shape for w in model.get_weights()] == shapes and model.count_params() == 40 + 195
    pooled = nn.Sequential([nn.MaxPooling2D(input_shape=(10, 10, 1)), nn.Flatten(), nn.Dense(2)])
    flat = nn.Sequential([nn.Flatten(input_shape=(10, 10, 1)), nn.Dense(2)])
    assert pooled.get_weights()[0].shape == (25, 2) and flat.get_weights()[0].shape == (100, 2)
    # a layer added to a built CNN gets weights for what the layers before it give
    model = models[0]
    w = model.get_weights()
    model.add(nn.Dense(2))
    assert [a.shape for a in model.get_weights()] == shapes + [(3, 2), (2,)]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), w))
    # ... and one that cannot take it is refused, and not added
    dense = nn.Sequential([nn.Input((10, 10, 1)), nn.Dense(3)])
    with pytest.raises(NNError, match="takes images"):
        dense.add(nn.Conv2D(2, 3))
    assert len(dense.layers) == 1 and dense(X).shape == (48, 3)
    with pytest.raises(NNError, match=r"add the channel axis: x.reshape\(-1, 10, 10, 1\)"):
        _cnn(nn.Input((10, 10)))
    with pytest.raises(NNError, match="only the first layer may take input_shape"):
        nn.Sequential([nn.Conv2D(2, 3), nn.MaxPooling2D(input_shape=(10, 10, 1))])


def test_dropout_takes_images_where_it_stands():
    """Dropout keeps the shape it is given: images between Conv2D and
    MaxPooling2D, images in front of a Conv2D, flattened images in front of
    a Dense layer (the model flattens them as for a Dense first layer)."""
    between = nn.Sequential([nn.Input((10, 10, 1)), nn.Conv2D(4, 3), nn.Dropout(0.5, seed=1), nn.MaxPooling2D(),
                             nn.Flatten(), nn.Dense(3)])  # fmt: skip
    front = nn.Sequential([nn.Input((10, 10, 1)), nn.Dropout(0.5, seed=1), nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(3)])
    dense = nn.Sequential([nn.Input((10, 10, 1)), nn.Dropout(0.5, seed=1), nn.Dense(3)])
    assert between._shapes() == [(10, 10, 1), (8, 8, 4), (8, 8, 4), (4, 4, 4), (64,), (3,)]
    assert front._shapes() == [(10, 10, 1), (10, 10, 1), (8, 8, 4), (256,), (3,)]
    assert dense._shapes() == [(100,), (100,), (3,)]
    for model in (between, front, dense):
        _compile(model)
        np.testing.assert_array_equal(model(X), model.predict(X))  # inference: no dropout
        assert not np.allclose(model(X, training=True), model(X))
        before = model.evaluate(X, y)[0]
        model.fit(X, y, epochs=10, batch_size=16, verbose=0, seed=0)
        assert model.evaluate(X, y)[0] < before  # it learns (random labels: by heart)
    # a mask over images: about `rate` of every channel dropped, the rest scaled
    out = between.layers[1].forward(np.ones((200, 8, 8, 4)), training=True)
    assert out.shape == (200, 8, 8, 4) and abs((out == 0).mean() - 0.5) < 0.01
    np.testing.assert_array_equal(np.unique(out), [0.0, 2.0])


def test_dropout_on_images_gradients_match_finite_differences():
    """The gradient through Conv2D, Dropout (same masks), MaxPooling2D and
    Dense, against central differences of the loss in float64."""
    model = _compile(nn.Sequential([nn.Input((6, 6, 1)), nn.Conv2D(2, 3, activation="tanh"), nn.Dropout(0.4),
                                    nn.MaxPooling2D(), nn.Flatten(), nn.Dense(3)]))  # fmt: skip
    x, t = X[:5, :6, :6], y[:5]
    drop = model.layers[1]

    def reset():
        drop._rng = np.random.default_rng(7)

    reset()
    grads = model.gradients(x, t)
    assert drop._mask is not None and not drop._mask.all()  # the masks did drop something
    for w, g in zip(model.weights, grads, strict=True):
        for i in np.ndindex(w.shape):
            old, values = w[i], []
            for h in (1e-6, -1e-6):
                w[i] = old + h
                reset()
                values.append(model.loss(t, model(x, training=True)))
            w[i] = old
            assert g[i] == pytest.approx((values[0] - values[1]) / 2e-6, rel=1e-5, abs=1e-8)


def test_summary_prints_image_shapes_and_parameters():
    model = nn.Sequential([nn.Input((28, 28, 1)), nn.Conv2D(8, 3, activation="relu"), nn.MaxPooling2D(),
                           nn.Conv2D(16, 3, padding="same", use_bias=False), nn.Flatten(), nn.Dropout(0.5),
                           nn.Dense(10)])  # fmt: skip
    texts = []
    model.summary(print_fn=texts.append)
    rows = [line.split("│")[1:4] for line in texts[0].splitlines() if line.startswith("│")]
    assert [[c.strip() for c in row] for row in rows] == [
        ["conv2d (Conv2D)", "(None, 26, 26, 8)", "80"],
        ["max_pooling2d (MaxPooling2D)", "(None, 13, 13, 8)", "0"],
        ["conv2d_1 (Conv2D)", "(None, 13, 13, 16)", "1,152"],
        ["flatten (Flatten)", "(None, 2704)", "0"],
        ["dropout (Dropout)", "(None, 2704)", "0"],
        ["dense (Dense)", "(None, 10)", "27,050"],
    ]
    assert " Total params: 28,282 (110.48 KB)" in texts[0]
    unbuilt = []
    _cnn().summary(print_fn=unbuilt.append)
    assert "(None" not in unbuilt[0] and "0 (unbuilt)" in unbuilt[0]


def test_layer_names_are_keras_names():
    model = nn.Sequential([nn.Conv2D(2, 3), nn.MaxPooling2D(), nn.Conv2D(2, 1), nn.MaxPooling2D(1), nn.Flatten(),
                           nn.Dropout(0.1), nn.Dense(3), nn.Dense(2)])  # fmt: skip
    assert [layer.name for layer in model.layers] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1",
                                                      "flatten", "dropout", "dense", "dense_1"]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_and_load_model_round_trip_a_cnn_exactly(tmp_path, dtype):
    model = nn.Sequential([nn.Input((10, 10, 1)), nn.Conv2D(3, (3, 2), strides=(1, 2), padding="same", use_bias=False,
                                                            activation="relu"),
                           nn.MaxPooling2D(pool_size=3, strides=2, padding="same"), nn.Flatten(),
                           nn.Dropout(0.3, seed=5), nn.Dense(3, name="logits")], name="cnn")  # fmt: skip
    _compile(model, optimizer=nn.RMSprop(0.01, momentum=0.5), dtype=dtype)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    model.save(tmp_path / "cnn.zip")
    back = nn.load_model(tmp_path / "cnn.zip")
    assert repr(back) == repr(model) and back.name == "cnn" and back.dtype == model.dtype
    assert [l.name for l in back.layers] == ["conv2d", "max_pooling2d", "flatten", "dropout", "logits"]
    assert [l.get_config() for l in back.layers] == [l.get_config() for l in model.layers]
    assert back._in_shape == (10, 10, 1) and back.optimizer.iterations == 6
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for k, v in model.optimizer.variables().items():
        np.testing.assert_array_equal(back.optimizer.variables()[k], v)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    # training on from the file is training on from the model (same dropout masks)
    for m in (model, back):
        m.layers[3]._rng = np.random.default_rng(9)
        m.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=4)
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the weights alone: into a model built for the same images
    model.save_weights(tmp_path / "w.npz")
    other = nn.Sequential([nn.Input((10, 10, 1)), *(type(l)(**l.get_config()) for l in model.layers)])
    _compile(other, dtype=dtype)
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.predict(X), model.predict(X))


def test_set_weights_needs_the_image_size():
    model = _cnn()
    with pytest.raises(NNError, match=r"build the model first, e.g. model.build\(\(28, 28, 1\)\)"):
        model.set_weights([np.zeros((3, 3, 1, 4)), np.zeros(4), np.zeros((64, 3)), np.zeros(3)])
    assert not model.built
    model.build((10, 10, 1))
    with pytest.raises(NNError, match=r"layer dense needs a kernel of shape \(64, 3\), got \(63, 3\)"):
        model.set_weights([np.zeros((3, 3, 1, 4)), np.zeros(4), np.zeros((63, 3)), np.zeros(3)])
    flat = nn.Sequential([nn.Dropout(0.5), nn.Dense(3)])  # Dense first that cares: built from the kernel
    flat.set_weights([np.ones((100, 3)), np.zeros(3)])
    assert flat(X).shape == (48, 3) and flat._in_shape == (100,)


def test_callbacks_validation_and_metrics_with_a_cnn(tmp_path):
    model = _compile(_cnn(nn.Input((10, 10, 1))), metrics=("accuracy", "sparse_top_k_categorical_accuracy"))
    batches = []
    seen = nn.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(dict(logs)))
    ckpt = nn.ModelCheckpoint(tmp_path / "best.zip", monitor="val_loss", save_best_only=True)
    stop = nn.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    h = model.fit(X, y, epochs=30, batch_size=8, validation_split=0.25, callbacks=[seen, ckpt, stop], verbose=0, seed=0)
    keys = {"loss", "accuracy", "sparse_top_k_categorical_accuracy", "val_loss", "val_accuracy",
            "val_sparse_top_k_categorical_accuracy"}  # fmt: skip
    assert keys <= set(h.history) and len(batches) == 5 * len(h.epoch) and {"loss", "accuracy"} <= set(batches[0])
    assert stop.stopped_epoch == h.epoch[-1] < 29  # the validation loss stopped falling
    best = int(np.argmin(h.history["val_loss"]))
    assert stop.best_epoch == best and ckpt.best == h.history["val_loss"][best]
    # the restored weights are the best epoch's, which the checkpoint holds
    xv, yv = X[36:], y[36:]
    saved = nn.load_model(tmp_path / "best.zip")
    np.testing.assert_array_equal(saved.predict(xv), model.predict(xv))
    logs = model.evaluate(xv, yv, batch_size=1024, return_dict=True)
    assert logs["loss"] == pytest.approx(h.history["val_loss"][best], rel=1e-12)
    assert logs["accuracy"] == h.history["val_accuracy"][best]


def test_sample_weights_and_optimizers_with_a_cnn():
    """sum(w * loss) / n: weight 2 everywhere is twice the learning rate; SGD
    with (Nesterov) momentum and RMSprop train a CNN."""
    runs = []
    for lr, kw in ((0.05, {"sample_weight": np.full(48, 2.0)}), (0.1, {})):
        model = _compile(_cnn(dropout=0.0), optimizer=nn.SGD(lr))
        model.build((10, 10, 1), seed=0)
        h = model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=1, **kw)
        runs.append((model.get_weights(), h.history["loss"], h.params))
    for a, b in zip(runs[0][0], runs[1][0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert "sample weights" in runs[0][2]["step_reason"]
    np.testing.assert_allclose(runs[0][1][0], 2 * runs[1][1][0], rtol=1e-12)  # the first epoch's weighted loss
    for opt in (nn.SGD(0.05, momentum=0.9, nesterov=True), nn.RMSprop(0.005, centered=True)):
        h = _compile(_cnn(), optimizer=opt).fit(X, y, epochs=4, batch_size=16, verbose=0, seed=0)
        assert h.history["loss"][-1] < h.history["loss"][0]


@pytest.mark.parametrize(
    "layers,reason",
    [
        ([nn.Conv2D(2, 3), nn.Flatten(), nn.Dense(3)], "layer Conv2D"),
        ([nn.MaxPooling2D(), nn.Flatten(), nn.Dense(3)], "layer MaxPooling2D"),
        ([nn.Flatten(), nn.Dense(3)], "layer Flatten"),
        ([nn.Dropout(0.2), nn.Dense(3)], "layer Dropout"),
        ([nn.Dense(5, activation="relu"), nn.Dense(3)], None),
    ],
)
def test_the_c_step_runs_dense_networks_only(layers, reason):
    """On images too: a Dense-only network gets them flattened and runs the
    C step; any other layer runs the NumPy step and fit says why."""
    model = _compile(nn.Sequential([nn.Input((10, 10, 1)), *layers]), dtype="float32")
    h = model.fit(X.astype(np.float32), y, verbose=0)
    if _native.library() is None:  # pragma: no cover - without the extension every model says so
        assert h.params["step"] == "NumPy" and h.params["step_reason"] == _native.status()[1]
    elif reason is None:
        assert h.params["step"] == "C" and "step_reason" not in h.params
    else:
        assert h.params["step"] == "NumPy" and h.params["step_reason"] == reason
