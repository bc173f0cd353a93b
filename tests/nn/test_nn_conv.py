"""Conv2D, MaxPooling2D and Flatten inside Sequential: Keras's padding rule,
shape inference, weights, the step fit runs, errors, formats."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stabkit.nn import (
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    NativeStepWarning,
    NNError,
    NonFiniteError,
    Sequential,
    SparseCategoricalCrossentropy,
)
from stabkit.nn.conv import window

rng0 = np.random.default_rng(0)
X = rng0.random((40, 12, 12, 1)).astype(np.float32)
Y = rng0.integers(0, 10, 40)


def _cnn(padding="valid"):
    return Sequential([Conv2D(8, 3, activation="relu", padding=padding), MaxPooling2D(), Flatten(), Dense(10)])


def _fit(model):
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(X, Y, verbose=0)


def _compiled(dtype="float32", padding="valid"):
    model = _cnn(padding)
    model.compile(optimizer=Adam(), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], dtype=dtype)
    return model


@pytest.mark.parametrize(
    "size,k,s,expected",
    [
        (28, 3, 1, (28, 1, 1)),
        (5, 2, 1, (5, 0, 1)),  # one pixel of padding: at the bottom / right
        (7, 3, 2, (4, 1, 1)),
        (8, 3, 2, (4, 0, 1)),
        (9, 4, 3, (3, 0, 1)),
        (10, 4, 3, (4, 1, 2)),
        (4, 1, 3, (2, 0, 0)),  # a 1-wide window never needs padding
    ],
)
def test_same_padding_is_keras(size, k, s, expected):
    assert window(size, k, s, "same") == expected
    out, before, after = expected
    assert (out - 1) * s + k <= size + before + after  # the last window fits in the padded image


def test_same_padding_puts_the_odd_pixel_after():
    """A 2x2 kernel of ones over a 3x3 image with 'same' sums x[r:r+2, c:c+2]
    with zeros past the bottom and right edge, not before the top and left."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    model = Sequential([Conv2D(1, 2, padding="same", use_bias=False), Flatten(), Dense(1)])
    model.compile(loss="binary_crossentropy", dtype="float64")
    model.build((3, 3, 1))
    model.set_weights([np.ones((2, 2, 1, 1)), np.eye(9)[:, :1], np.zeros(1)])
    y = model.layers[0].forward(x)[0, :, :, 0]
    xp = np.pad(x[0, :, :, 0], ((0, 1), (0, 1)))
    np.testing.assert_array_equal(y, xp[:3, :3] + xp[1:, :3] + xp[:3, 1:] + xp[1:, 1:])


def test_sequential_infers_shapes_and_counts_parameters():
    model = _cnn()
    model.build((28, 28, 1))
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    for shape, count in (("(None, 26, 26, 8)", "80"), ("(None, 13, 13, 8)", "0"), ("(None, 1352)", "0"), ("(None, 10)", "13,530")):
        assert shape in text and count in text
    assert "Total params: 13,610" in text
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 8), (8,), (1352, 10), (10,)]
    model.build((None, 9, 7, 1))  # Keras's batch axis is accepted
    assert [w.shape for w in model.get_weights()][2] == (3 * 2 * 8, 10)


def test_initial_weights_are_keras_defaults():
    """Glorot-uniform: U(-l, l), l = sqrt(6 / (kh*kw*in + kh*kw*out)); zero biases."""
    model = Sequential([Conv2D(64, 5), Flatten(), Dense(2)])
    model.build((8, 8, 32), seed=0)
    kernel, bias = model.get_weights()[:2]
    limit = np.sqrt(6 / (25 * 32 + 25 * 64))
    assert np.all(np.abs(kernel) <= limit) and np.max(np.abs(kernel)) > 0.99 * limit
    assert np.std(kernel) == pytest.approx(limit / np.sqrt(3), rel=0.01)
    assert not bias.any()


def test_weights_set_save_and_load(tmp_path):
    model = _compiled()
    model.fit(X, Y, epochs=1, verbose=0, seed=0)
    other = _cnn()
    with pytest.raises(NNError, match="build the model first"):
        other.set_weights(model.get_weights())
    other.build((12, 12, 1))
    with pytest.raises(NNError, match=r"layer conv2d needs a kernel of shape \(3, 3, 1, 8\), got \(3, 3, 2, 8\)"):
        other.set_weights([np.zeros((3, 3, 2, 8))] + model.get_weights()[1:])
    with pytest.raises(NNError, match="expected 4 arrays"):
        other.set_weights(model.get_weights()[:2])
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other(X), model(X))
    model.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as data:
        # numbered among the layers with weights, as for Dense and Dropout
        assert sorted(data.files) == ["000_bias", "000_kernel", "001_bias", "001_kernel"]
    third = _cnn()
    third.build((12, 12, 1))
    third.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(third(X), model(X))


def test_fit_runs_the_numpy_step_and_says_why():
    """The C step handles Dense networks only; a CNN runs the NumPy step,
    names the reason, and does not warn about a missing extension."""
    from stabkit.nn import _native

    model = _compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeStepWarning)
        h = model.fit(X, Y, epochs=2, batch_size=8, verbose=0, seed=0)
    assert h.params["step"] == "NumPy" and h.params["step_reason"] in ("layer Conv2D", _native.status()[1])
    assert _native._unsupported_model(model) == "layer Conv2D"
    assert h.history["loss"][1] < h.history["loss"][0]


def test_batches_and_interleaved_calls_do_not_disturb_training():
    """The layers reuse scratch buffers between training steps only: calling
    the model between steps changes nothing, and predict matches __call__."""
    a, b = _compiled(dtype="float64"), _compiled(dtype="float64")
    other = rng0.random((5, 12, 12, 1))
    a.fit(X, Y, epochs=1, batch_size=8, verbose=0, seed=3)
    b.fit(X, Y, epochs=1, batch_size=8, verbose=0, seed=3, on_step=lambda e, s: b(other))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_allclose(a.predict(X, batch_size=7), a(X), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_float32_and_mixed_float16_follow_float64(padding):
    ref = _compiled("float64", padding)
    ref.build((12, 12, 1), seed=1)
    out64 = ref(X)
    for dtype, tol in (("float32", 1e-5), ("float16", 2e-2)):
        model = _compiled(dtype, padding)
        model.build((12, 12, 1))
        model.set_weights(ref.get_weights())
        out = model(X)
        assert out.dtype == (np.float16 if dtype == "float16" else np.float32)
        np.testing.assert_allclose(out.astype(np.float64), out64, rtol=tol, atol=tol)
        g, g64 = model.gradients(X, Y), ref.gradients(X, Y)
        for a, b in zip(g, g64, strict=True):
            assert np.max(np.abs(a - b)) <= 10 * tol * np.max(np.abs(b))


def test_a_nan_pixel_is_refused_before_any_update():
    """A NaN in x is the data's fault, not an overflow: fit names the
    pixel before the first step (it used to report a NaN loss at step 1)."""
    x = X.copy()
    x[5, 3, 4, 0] = np.nan
    model = _compiled()
    model.build(X.shape[1:], seed=0)
    w = model.get_weights()
    with pytest.raises(NNError, match=r"x holds NaN at x\[5, 3, 4, 0\] \(sample 5\)") as e:
        model.fit(x, Y, epochs=1, batch_size=8, shuffle=False, verbose=0, seed=0)
    assert not isinstance(e.value, NonFiniteError)
    for a, b in zip(model.get_weights(), w, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_nan_pixel_is_trained_past_with_on_nonfinite_continue():
    """on_nonfinite='continue' trains past non-finite steps, NaN data included."""
    x = X.copy()
    x[5, 3, 4, 0] = np.nan
    model = _compiled()
    h = model.fit(x, Y, epochs=1, batch_size=8, shuffle=False, verbose=0, seed=0, on_nonfinite="continue")
    assert h.history["nonfinite_steps"][0] >= 1  # step 1 and every step after it (the weights turn NaN)
    assert np.isnan(model.get_weights()[0]).any()


def test_use_bias_false_has_a_kernel_only():
    model = Sequential([Conv2D(2, 3, use_bias=False), Flatten(), Dense(3)])
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True))
    model.build((5, 5, 1))
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 2), (18, 3), (3,)]
    assert [g.shape for g in model.gradients(X[:2, :5, :5], Y[:2] % 3)] == [(3, 3, 1, 2), (18, 3), (3,)]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Conv2D(0, 3), "positive integer number of filters"),
        (lambda: Conv2D(4, (3, 0)), "kernel_size must be a positive integer or a pair"),
        (lambda: Conv2D(4, 3, strides="2"), "strides must be"),
        (lambda: Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same'"),
        (lambda: MaxPooling2D(pool_size=(2, 2, 2)), "pool_size must be"),
        (lambda: _cnn()(X[:, :, :, 0]), r"add the channel axis: x.reshape\(-1, 12, 12, 1\)"),
        (lambda: (m := _cnn(), m(X), m(X[:, :10, :10])), r"expects inputs of shape \(batch, 12, 12, 1\), got \(batch, 10, 10, 1\)"),
        (lambda: (m := _cnn(), m(X), m(X[:, :, :, 0])), "add the channel axis"),
        (lambda: Sequential([Conv2D(2, 3), Dense(3)]).build((8, 8, 1)), r"put Flatten\(\) before it"),
        (lambda: _fit(Sequential([Conv2D(2, 3), Flatten()])), "the last layer must be a Dense layer"),
        (lambda: Sequential([Conv2D(2, 5), Flatten(), Dense(2)]).build((4, 4, 1)), "does not fit in 4x4 images"),
        (lambda: Sequential([MaxPooling2D(3), Flatten(), Dense(2)]).build((2, 6, 1)), "does not fit in 2x6 images"),
        (lambda: _cnn().build((28, 28, 0)), "must be a tuple of positive integers"),
    ],
)
def test_errors_name_the_problem(make, message):
    with pytest.raises(NNError, match=message):
        make()


def test_reprs():
    assert repr(Conv2D(8, 3, activation="relu")) == (
        "Conv2D(8, kernel_size=(3, 3), strides=(1, 1), padding='valid', activation='relu')"
    )
    assert repr(MaxPooling2D()) == "MaxPooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid')"
    assert repr(Flatten()) == "Flatten()"
