"""Bad input refused before any state changes: a probability loss on a
linear output, a 1-D x, NaN or inf in the data; batch_size=None (Keras's
default); Keras's small conveniences (input_dim, *_on_batch, layer weights)."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit.nn import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Dense,
    NNError,
    NonFiniteError,
    Sequential,
    SparseCategoricalCrossentropy,
)

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 3)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)


def _weights_unchanged(model, before):
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ 1. from_logits=False on a linear output


@pytest.mark.parametrize(
    "loss,act,want",
    [
        ("sparse_categorical_crossentropy", None, "softmax"),
        (SparseCategoricalCrossentropy(tier="stable"), "relu", "softmax"),
        (CategoricalCrossentropy(), "sigmoid", "softmax"),  # sigmoid rows do not sum to 1
        ("binary_crossentropy", "tanh", "sigmoid"),
    ],
)
def test_a_probability_loss_on_a_non_probability_output_is_refused_before_any_update(loss, act, want):
    model = Sequential([Dense(2, activation=act)])
    model.compile("adam", loss)
    model.build(3, seed=0)
    before = model.get_weights()
    Y = np.eye(2)[y] if isinstance(loss, CategoricalCrossentropy) or loss == "binary_crossentropy" else y
    for call in (lambda: model.fit(X, Y, epochs=3, verbose=0), lambda: model.evaluate(X, Y),
                 lambda: model.gradients(X, Y), lambda: model.train_on_batch(X, Y)):  # fmt: skip
        with pytest.raises(NNError, match=rf"\(from_logits=False\) reads the last layer's outputs as probabilities, "
                           rf"but layer 'dense' has activation '{act or 'linear'}'; pass loss=\w+\(from_logits=True\)"
                           rf".* or give it activation='{want}'"):  # fmt: skip
            call()
    _weights_unchanged(model, before)


def test_a_probability_loss_on_an_unbuilt_model_leaves_it_unbuilt():
    model = Sequential([Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(NNError, match="from_logits=True"):
        model.fit(X, y, verbose=0)
    assert not model.built


@pytest.mark.parametrize("loss,act", [("sparse_categorical_crossentropy", "softmax"), ("binary_crossentropy", "sigmoid"),
                                      ("binary_crossentropy", "softmax")])  # fmt: skip
def test_a_probability_loss_on_a_probability_output_trains(loss, act):
    model = Sequential([Dense(2, activation=act)])
    model.compile("adam", loss)
    Y = np.eye(2)[y] if loss == "binary_crossentropy" else y
    h = model.fit(X, Y, epochs=2, verbose=0, seed=0)
    assert np.isfinite(h.history["loss"]).all() and np.isfinite(model.evaluate(X, Y))


@pytest.mark.parametrize("loss,act", [(SparseCategoricalCrossentropy(), "sigmoid"),
                                      (SparseCategoricalCrossentropy(from_logits=True), None),
                                      ("sparse_categorical_crossentropy", "softmax"),
                                      (CategoricalCrossentropy(from_logits=True), None)])  # fmt: skip
def test_a_categorical_loss_on_one_output_is_refused_with_the_binary_loss_as_the_way_out(loss, act):
    """Dense(1, 'sigmoid') with a sparse loss, the usual binary-classifier
    slip: once told to pass from_logits=True or use a softmax, each of which
    led to another refusal; one output is one class, so the hint is the
    binary loss (Keras trains on, its loss ~1e-7 and meaningless)."""
    model = Sequential([Dense(1, activation=act)])
    model.compile("adam", loss)
    Y = y[:, None].astype(np.float32) if isinstance(loss, CategoricalCrossentropy) else y
    with pytest.raises(NNError, match=r"needs one output per class, but layer 'dense' has 1 output; for one binary "
                       r"output use BinaryCrossentropy\(\) with activation='sigmoid'"):  # fmt: skip
        model.fit(X, Y, verbose=0)
    assert not model.built


# ------------------------------------------------------------ 2. a 1-D x


def _binary_1d():
    x = np.linspace(-2, 2, 50, dtype=np.float32)
    model = Sequential([Dense(1, "sigmoid")])
    model.compile("adam", "binary_crossentropy")
    return x, (x > 0).astype(np.float32), model


def test_a_1d_x_is_refused_by_fit_and_leaves_the_model_unbuilt():
    x, t, model = _binary_1d()
    with pytest.raises(NNError, match=r"x must be at least 2-D, shape \(samples, features\), got a 1-D array of shape \(50,\); .* reshape it "
                       r"to \(50, 1\) with x\[:, None\] or x.reshape\(-1, 1\)"):  # fmt: skip
        model.fit(x, t, verbose=0)
    assert not model.built
    model.fit(x[:, None], t, epochs=2, verbose=0, seed=0)  # the next fit builds it for one feature
    assert [w.shape for w in model.get_weights()] == [(1, 1), (1,)]


@pytest.mark.parametrize("call", ["predict", "evaluate", "call", "predict_on_batch", "test_on_batch", "train_on_batch"])
def test_a_1d_x_is_refused_everywhere(call):
    x, t, model = _binary_1d()
    run = {"predict": lambda: model.predict(x), "evaluate": lambda: model.evaluate(x, t), "call": lambda: model(x),
           "predict_on_batch": lambda: model.predict_on_batch(x), "test_on_batch": lambda: model.test_on_batch(x, t),
           "train_on_batch": lambda: model.train_on_batch(x, t)}[call]  # fmt: skip
    with pytest.raises(NNError, match=r"x must be at least 2-D"):
        run()
    assert not model.built  # unbuilt before, unbuilt after
    model.build(1, seed=0)
    before = model.get_weights()
    with pytest.raises(NNError, match=r"x must be at least 2-D"):
        run()
    _weights_unchanged(model, before)


def test_a_failed_fit_for_a_label_mismatch_leaves_the_model_unbuilt():
    x, t, model = _binary_1d()
    with pytest.raises(NNError, match="x has 50 samples but y has 49"):
        model.fit(x[:, None], t[:-1], verbose=0)
    assert not model.built and model.layers[0].get_weights() == []
    with pytest.raises(NNError, match="x has 50 samples but y has 49"):
        model.evaluate(x[:, None], t[:-1])
    assert not model.built


# ------------------------------------------------------------ 3. batch_size=None


def test_batch_size_none_is_32_as_in_keras():
    model = Sequential([Dense(2)])
    model.compile("sgd", SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(X, y, batch_size=None, verbose=0, seed=0)
    assert h.params["batch_size"] == 32 and h.params["steps"] == 2
    np.testing.assert_array_equal(model.predict(X, batch_size=None), model.predict(X, batch_size=32))
    assert model.evaluate(X, y, batch_size=None) == model.evaluate(X, y, batch_size=32)
    for bad in (0, -1, 2.5, True, "32"):
        with pytest.raises(NNError, match="batch_size must be a positive integer"):
            model.predict(X, batch_size=bad)


# ------------------------------------------------------------ 4. NaN or inf in the data


def _logit_model(**compile_args):
    model = Sequential([Dense(2)])
    model.compile("adam", SparseCategoricalCrossentropy(from_logits=True), **compile_args)
    return model


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(x="nan"), r"x holds NaN at x\[7, 2\] \(sample 7\), 1 non-finite value in all; .*np.isfinite\(x\)"),
        (dict(x="inf"), r"x holds inf at x\[7, 2\]"),
        (dict(val_x="-inf"), r"validation_data\[0\] holds -inf at validation_data\[0\]\[7, 2\] \(sample 7\)"),
        (dict(y="nan"), r"y holds NaN at y\[5\], 1 non-finite"),
        (dict(val_y="nan"), r"validation_data\[1\] holds NaN at validation_data\[1\]\[5\]"),
    ],
)
def test_non_finite_data_is_refused_at_fit_start(kwargs, message):
    bad = {k: X.copy() if "x" in k else y.astype(np.float32) for k in kwargs}
    for k, v in kwargs.items():
        bad[k][(7, 2) if "x" in k else 5] = float(v)
    model = _logit_model()
    model.build(3, seed=0)
    before = model.get_weights()
    val = (bad.get("val_x", X), bad.get("val_y", y))
    with pytest.raises(NNError, match=message) as e:
        model.fit(bad.get("x", X), bad.get("y", y), epochs=2, verbose=0, validation_data=val)
    assert not isinstance(e.value, NonFiniteError)  # not "the logits overflowed"
    _weights_unchanged(model, before)
    fresh = _logit_model()
    with pytest.raises(NNError, match=message.replace("validation_data\\[0\\]", "x").replace("validation_data\\[1\\]", "y")):
        fresh.evaluate(val[0], val[1]) if "val_x" in kwargs or "val_y" in kwargs else fresh.evaluate(bad.get("x", X), bad.get("y", y))
    assert not fresh.built


def test_a_value_past_float16_is_named_not_reported_as_a_nan_loss():
    model = _logit_model(dtype="float16")
    x = X.copy()
    x[3, 1] = 1e5
    with pytest.raises(NNError, match=r"x\[3, 1\] = 100000 overflows float16 \(largest 65504\); scale the inputs"):
        model.fit(x, y, verbose=0)
    assert not model.built


def test_nan_data_with_on_nonfinite_continue_trains_on():
    x = X.copy()
    x[39, 0] = np.nan
    model = _logit_model()
    h = model.fit(x, y, epochs=1, verbose=0, shuffle=False, on_nonfinite="continue", seed=0)
    assert h.history["nonfinite_steps"] == [1]


def test_a_real_overflow_keeps_its_message():
    model = _logit_model(dtype="float16")
    model.build(3, seed=0)
    model.set_weights([np.full((3, 2), 3e4) * [1, -1], np.zeros(2)])
    with pytest.raises(NonFiniteError, match="overflow"):
        model.fit(np.abs(X) + 1, y, verbose=0, shuffle=False)


# ------------------------------------------------------------ 5. Keras's conveniences


def test_bare_string_metrics_are_refused_as_keras_refuses_them():
    with pytest.raises(NNError, match=r"metrics must be a list of names, e.g. \['accuracy'\]"):
        _logit_model(metrics="accuracy")


def test_dense_input_dim_is_input_shape():
    model = Sequential([Dense(4, "relu", input_dim=3), Dense(2)])
    assert model.built and [w.shape for w in model.get_weights()][:2] == [(3, 4), (4,)]
    with pytest.raises(NNError, match="pass input_shape or input_dim, not both"):
        Dense(2, input_dim=3, input_shape=(3,))
    with pytest.raises(NNError, match="input_dim must be a positive integer, got 0"):
        Dense(2, input_dim=0)


def test_dense_unsupported_arguments_are_named():
    with pytest.raises(NNError, match=r"Dense\(use_bias=...\) takes True or False, got 'no'"):
        Dense(2, use_bias="no")
    assert Dense(2, use_bias=False).weight_names == ("kernel",) and Dense(2).weight_names == ("kernel", "bias")
    # Keras's arguments stabkit takes at their defaults only: another value is one NNError naming it
    with pytest.raises(NNError, match=r"Dense\(activity_regularizer='l2'\): stabkit has no activity regularizers"):
        Dense(2, kernel_constraint="non_neg", activity_regularizer="l2")
    with pytest.raises(NNError, match=r"Dense\(kernel_constraint='non_neg'\): stabkit has no weight constraints"):
        Dense(2, kernel_constraint="non_neg", activity_regularizer=None)
    with pytest.raises(TypeError, match=r"Dense does not support the arguments 'lora_alpha', 'lora_rank'"):
        Dense(2, lora_rank=4, lora_alpha=8)


def test_layer_get_weights():
    model = Sequential([Dense(4, "relu"), Dense(2)])
    assert model.layers[0].get_weights() == []
    model.build(3, seed=0)
    w = model.get_weights()
    for got, want in zip(model.layers[0].get_weights() + model.layers[1].get_weights(), w, strict=True):
        np.testing.assert_array_equal(got, want)
    model.layers[0].get_weights()[0][...] = 7  # a copy
    np.testing.assert_array_equal(model.get_weights()[0], w[0])


def test_on_batch_methods_match_one_batch_fit_evaluate_predict():
    model = _logit_model(metrics=["accuracy"])
    model.build(3, seed=0)
    twin = _logit_model(metrics=["accuracy"])
    twin.build(3)
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict_on_batch(X), model.predict(X, batch_size=len(X)))
    assert model.test_on_batch(X, y) == model.evaluate(X, y, batch_size=len(X))
    before = model.evaluate(X, y)
    logs = model.train_on_batch(X, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"} and logs["loss"] == pytest.approx(before[0], rel=1e-5)
    h = twin.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, verbose=0)  # the same single update
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert h.history["loss"][0] == pytest.approx(logs["loss"])
    after = model.evaluate(X, y)
    out = model.train_on_batch(X, y)  # no return_dict: [loss, accuracy], as Keras
    assert isinstance(out, list) and out[0] == pytest.approx(after[0], rel=1e-5) and out[1] == after[1]
    single = Sequential([Dense(2)])
    single.compile("sgd", SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(single.train_on_batch(X, y), float)  # the loss alone without metrics


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_layer_set_weights_is_model_set_weights_for_one_layer(dtype):
    model, twin = _logit_model(dtype=dtype), _logit_model(dtype=dtype)
    for m in (model, twin):
        m.add(Dense(3))  # two layers: dense, dense_1
        m.build(3, seed=0)
    new = [np.full((3, 2), 0.25), np.array([1.0, -1.0])]
    model.layers[0].set_weights(new)
    twin.set_weights(new + twin.get_weights()[2:])
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(X), twin.predict(X))  # the float16 copy is refreshed too
    np.testing.assert_array_equal(model.layers[0].get_weights()[1], [1.0, -1.0])


def test_layer_set_weights_errors_change_nothing():
    from stabkit.nn import Dropout

    model = Sequential([Dense(2), Dropout(0.5), Dense(2)])
    with pytest.raises(NNError, match="layer dense has no weights yet: build the model first"):
        model.layers[0].set_weights([np.zeros((3, 2)), np.zeros(2)])
    model.build(3, seed=0)
    before = model.get_weights()
    for bad, message in [([np.zeros((3, 2))], r"layer dense takes 2 arrays \(kernel, bias\), got 1"),
                         ([np.zeros((3, 2)), np.zeros(3)], r"layer dense needs a bias of shape \(2,\), got \(3,\)"),
                         ([np.zeros((3, 2)), np.zeros(2, bool)], r"weights must be numbers .* got bool"),
                         ([np.zeros((3, 2)), np.zeros(2, complex)], "weights must be numbers")]:  # fmt: skip
        with pytest.raises(NNError, match=message):
            model.layers[0].set_weights(bad)
    _weights_unchanged(model, before)
    # integers are cast, as Keras casts them (the Coursera lab's np.array([[2]]))
    model.layers[0].set_weights([np.array([[2, 0], [1, -3], [0, 7]]), np.array([-4, 5])])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], [[2.0, 0.0], [1.0, -3.0], [0.0, 7.0]])
    model.set_weights([np.ones((3, 2), int), np.zeros(2, np.int8), np.ones((2, 2), np.uint8), np.zeros(2, int)])
    assert all(w.dtype.kind == "f" for w in model.get_weights()) and model.get_weights()[0].sum() == 6
    with pytest.raises(NNError, match="weights must be numbers"):
        model.set_weights([np.ones((3, 2), bool), np.zeros(2), np.ones((2, 2)), np.zeros(2)])
    model.layers[1].set_weights([])  # Dropout: no weights, as Keras
    with pytest.raises(NNError, match="layer dropout has no weights, got 1 arrays"):
        model.layers[1].set_weights([np.zeros(2)])


def test_a_one_input_list_and_a_nested_python_list():
    """Keras's ``[x]`` (a list holding the one input array) is x; a nested
    Python list is data: ``[[a, b, c]]`` is one sample of three features,
    not the 1-D ``[a, b, c]``."""
    model = _logit_model()
    model.build(3, seed=0)
    np.testing.assert_array_equal(model.predict([X]), model.predict(X))
    np.testing.assert_array_equal(model.predict([[0.1, 0.2, 0.3]]), model.predict(np.array([[0.1, 0.2, 0.3]])))
    assert model.predict([[0.1, 0.2, 0.3]]).shape == (1, 2)
    with pytest.raises(NNError, match=r"x must be at least 2-D.* got a 1-D array of shape \(3,\)"):
        model.predict([0.1, 0.2, 0.3])
