"""What a Keras user reached for and found missing or different (the h3
tester's report): automatic layer names, ``input_shape`` / ``output_shape``
/ ``pop`` / ``layer.weights`` / ``History.model``, Keras's import paths and
``to_categorical``, Keras 3's progress lines, empty validation data. Each
checked against Keras 3 on JAX where Keras is installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError

rng = np.random.default_rng(0)
X = rng.normal(size=(500, 40)).astype(np.float32)
y = X[:, :10].argmax(1)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    if keras.backend.backend() != "jax":  # pragma: no cover
        pytest.skip("these comparisons are written for Keras's JAX backend")
    keras.backend.clear_session()  # Keras numbers its names per session: start afresh
    return keras


def _compiled(layers, metrics=("accuracy",)):
    model = nn.Sequential(layers)
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True), metrics=list(metrics))
    return model


# ------------------------------------------------------------ 1. automatic names


def test_a_named_layer_does_not_count_towards_the_automatic_names():
    """Was ``dense_1``: the count included the layer named 'L1'; Keras names it ``dense``."""
    model = nn.Sequential([nn.Input((400,)), nn.Dense(25, name="L1"), nn.Dense(10)])
    assert [layer.name for layer in model.layers] == ["L1", "dense"]


def test_an_automatic_name_skips_a_name_given_later_in_the_list():
    """Was refused ("two layers named 'dense'"): the unnamed layer now takes the next free number."""
    model = nn.Sequential([nn.Dense(3), nn.Dense(3, name="dense")])
    assert [layer.name for layer in model.layers] == ["dense_1", "dense"]
    model.build(4)
    assert model.count_params() == 4 * 3 + 3 + 3 * 3 + 3
    model = nn.Sequential([nn.Dense(3, name="dense_1"), nn.Dense(3), nn.Dense(3)])
    assert [layer.name for layer in model.layers] == ["dense_1", "dense", "dense_2"]
    with pytest.raises(NNError, match="two layers named 'a'; layer names must be unique in a model"):
        nn.Sequential([nn.Dense(3, name="a"), nn.Dense(3, name="a")])


def test_automatic_names_match_a_fresh_keras_session():
    keras = _keras()
    cases = [
        (lambda L: [L.Input((400,)), L.Dense(25, name="L1"), L.Dense(10)]),
        (lambda L: [L.Dense(3), L.Dropout(0.1), L.Dense(3, name="x"), L.Dense(3), L.Dropout(0.2)]),
        (lambda L: [L.Conv2D(2, 3), L.MaxPooling2D(), L.Flatten(), L.Dense(4, name="head"), L.Dense(2)]),
    ]
    for make in cases:
        keras.backend.clear_session()
        theirs = keras.Sequential(make(keras.layers))
        ours = nn.Sequential(make(nn))
        assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    # a layer named by its first model keeps its name in the next, and the new one counts on, as in Keras
    keras.backend.clear_session()
    shared_k, shared = keras.layers.Dense(3), nn.Dense(3)
    keras.Sequential([shared_k]), nn.Sequential([shared])
    theirs, ours = keras.Sequential([keras.layers.Dense(4), shared_k]), nn.Sequential([nn.Dense(4), shared])
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers] == ["dense_1", "dense"]


# ------------------------------------------------------------ 2. attributes


def test_input_and_output_shape_as_keras():
    keras = _keras()
    for make in (lambda L: [L.Input((40,)), L.Dense(25, activation="relu"), L.Dense(10)],
                 lambda L: [L.Input((28, 28, 1)), L.Conv2D(2, 3), L.MaxPooling2D(), L.Flatten(), L.Dense(3)]):  # fmt: skip
        theirs, ours = keras.Sequential(make(keras.layers)), nn.Sequential(make(nn))
        assert (ours.input_shape, ours.output_shape) == (theirs.input_shape, theirs.output_shape)
    ours = nn.Sequential([nn.Dense(25), nn.Dense(10)])
    ours.build((None, 40))
    assert (ours.input_shape, ours.output_shape) == ((None, 40), (None, 10))


def test_an_unbuilt_model_has_no_input_or_output_shape_as_in_keras():
    model = nn.Sequential([nn.Dense(25), nn.Dense(10)])
    with pytest.raises(AttributeError, match="has no defined input shape yet"):
        model.input_shape
    with pytest.raises(AttributeError, match="has no defined output shape yet"):
        model.output_shape
    assert not hasattr(model, "input_shape")  # Keras raises an AttributeError too


def test_count_params_of_an_unbuilt_model_raises_as_in_keras():
    """Was 0: Keras 3 raises a ValueError (NNError here) until the model is
    built; a model that starts with an Input is built at once."""
    unbuilt = [lambda L: [L.Dense(3), L.Dense(2)], lambda L: [L.Dropout(0.5)], lambda L: [L.Input((4,))],
               lambda L: []]  # fmt: skip
    for make in unbuilt:
        with pytest.raises(NNError, match=r"count_params.*isn't built.*Input\(shape\).*model\.build\(input_shape\)"):
            nn.Sequential(make(nn)).count_params()
    popped = nn.Sequential([nn.Dense(3)])
    popped.build(4)
    popped.pop()
    with pytest.raises(NNError, match="isn't built"):
        popped.count_params()
    assert nn.Sequential([nn.Input((4,)), nn.Dense(3)]).count_params() == 15
    assert nn.Sequential([nn.Dense(3, input_shape=(4,))]).count_params() == 15
    model = nn.Sequential([nn.Dense(3), nn.Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)  # the summary still counts an unbuilt model's 0, as Keras's
    assert " Total params: 0 (0.00 B)" in lines[0]
    model.build((None, 4))
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    keras = _keras()
    for make in unbuilt:
        with pytest.raises(ValueError, match="count_params.*isn't built"):
            keras.Sequential(make(keras.layers)).count_params()
    assert keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).count_params() == 15


def test_pop_removes_the_last_layer_and_keeps_the_others_weights():
    model = _compiled([nn.Input((40,)), nn.Dense(25, activation="relu"), nn.Dropout(0.1), nn.Dense(10)])
    model.fit(X, y, epochs=1, verbose=0, seed=0)
    before = model.get_weights()
    last = model.pop()
    assert last.name == "dense_1" and [layer.name for layer in model.layers] == ["dense", "dropout"]
    assert model.output_shape == (None, 25) and len(model.weights) == 2
    for a, b in zip(model.get_weights(), before[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(last.get_weights()[0], before[2])  # the popped layer keeps its own weights
    assert model.pop().name == "dropout" and model.output_shape == (None, 25)  # no weights to drop
    model.add(nn.Dense(10))  # the counter goes on, as Keras's: dense_2
    assert [layer.name for layer in model.layers] == ["dense", "dense_2"]
    model.fit(X, y, epochs=1, verbose=0)  # trains after a pop (fresh optimizer state)
    model.pop(), model.pop()
    assert not model.built and model.layers == [] and model.weights == []
    with pytest.raises(IndexError, match="has no layers"):
        model.pop()
    model.add(nn.Dense(3))  # the Input's shape stays: built again at once
    assert model.input_shape == (None, 40) and model.output_shape == (None, 3)
    unbuilt = nn.Sequential([nn.Dense(4), nn.Dense(3)])
    assert unbuilt.pop().name == "dense_1" and not unbuilt.built and len(unbuilt.layers) == 1


def test_layer_weights_are_its_live_arrays():
    model = _compiled([nn.Dense(5), nn.Dense(3, use_bias=False)])
    assert model.layers[0].weights == []  # unbuilt, as Keras's []
    model.build(4, seed=0)
    kernel, bias = model.layers[0].weights
    assert kernel.shape == (4, 5) and bias.shape == (5,) and [w.shape for w in model.layers[1].weights] == [(5, 3)]
    np.testing.assert_array_equal(kernel, model.get_weights()[0])
    kernel[...] = 0.5  # a view, as Keras's variables are the layer's live weights
    np.testing.assert_array_equal(model.get_weights()[0], 0.5)
    assert nn.Sequential([nn.Input((4,)), nn.Dropout(0.1)]).layers[0].weights == []


def test_history_model_is_the_fitted_model():
    model = _compiled([nn.Input((40,)), nn.Dense(10)])
    assert model.fit(X, y, epochs=1, verbose=0).model is model


# ------------------------------------------------------------ 3. imports


def test_keras_import_paths_in_a_fresh_interpreter():
    code = "\n".join([
        "from stabkit.nn.layers import Dense, Dropout, Input, Flatten, Conv2D, MaxPooling2D",
        "from stabkit.nn.models import Sequential, load_model",
        "from stabkit.nn.optimizers.schedules import CosineDecay",
        "import stabkit.nn, stabkit.nn.conv, stabkit.nn.pooling, stabkit.nn.saving, stabkit.nn.schedules",
        "assert Conv2D is stabkit.nn.conv.Conv2D and MaxPooling2D is stabkit.nn.pooling.MaxPooling2D",
        "assert Sequential is stabkit.nn.Sequential and load_model is stabkit.nn.saving.load_model",
        "assert CosineDecay is stabkit.nn.schedules.CosineDecay",
    ])  # fmt: skip
    for program in (code, "import stabkit.nn as keras; keras.utils.to_categorical([0]); keras.models.Sequential; "
                          "keras.optimizers.schedules.ExponentialDecay"):  # fmt: skip
        r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr


def test_to_categorical_as_keras():
    theirs = _keras().utils.to_categorical
    from stabkit.nn.utils import to_categorical

    for args in (([0, 2, 1],), ([0, 1], 4), (np.array([[0], [2]]),), (np.array([[0, 1], [2, 0]]),), (2, 3),
                 (np.array([0, 9], np.uint8),), ([1.0, 0.0],), ([True, False],), ([], 3)):  # fmt: skip
        ours = to_categorical(*args)
        np.testing.assert_array_equal(ours, theirs(*args))
        assert ours.dtype == theirs(*args).dtype == np.float64  # Keras 3 returns float64 for NumPy input
    with pytest.raises(TypeError, match="takes class indices"):
        to_categorical(["a", "b"])  # Keras: ValueError: invalid literal for int()


@pytest.mark.parametrize("args,match", [
    (([-1, 0],), r"x\[0\] = -1 is negative; class indices start at 0 \(Keras would wrap it"),
    (([0, 5], 3), r"x\[1\] = 5 is past the last class, 2; raise num_classes"),
    (([0, 1.7],), r"x\[1\] = 1.7 is not a whole number"),
    (([0, np.nan],), r"x\[1\] = nan is not a whole number"),
    (([],), "cannot infer num_classes from no labels"),
    (([0], 0), "num_classes must be a positive integer or None, got 0"),
    (([0], 2.0), "num_classes must be a positive integer or None, got 2.0"),
])  # fmt: skip
def test_to_categorical_refuses_what_keras_would_wrap_truncate_or_crash_on(args, match):
    with pytest.raises(NNError, match=match):
        nn.to_categorical(*args)


# ------------------------------------------------------------ 4. output

TIME = re.compile(r"\d+s( -)? \d+(s|ms|us)/step")
NUMBER = re.compile(r": \d\.\d{4}(e[-+]\d\d)?")


def _shape_of(text: str) -> list[str]:
    """The lines with their times and numbers blanked (``T``, ``N``)."""
    return [NUMBER.sub(": N", TIME.sub("T", line)) for line in text.splitlines() if line.strip()]


def test_fit_verbose_2_prints_keras_3s_lines(capsys):
    model = _compiled([nn.Input((40,)), nn.Dense(10)])
    model.fit(X, y, epochs=2, verbose=2, validation_split=0.2, seed=0)
    out = capsys.readouterr().out
    assert _shape_of(out) == ["Epoch 1/2", "13/13 - T - accuracy: N - loss: N - val_accuracy: N - val_loss: N",
                              "Epoch 2/2", "13/13 - T - accuracy: N - loss: N - val_accuracy: N - val_loss: N"]  # fmt: skip
    model.fit(X, y, epochs=1, verbose=2)  # one epoch: no "Epoch 1/1", as Keras
    assert _shape_of(capsys.readouterr().out) == ["16/16 - T - accuracy: N - loss: N"]


def test_evaluate_and_predict_print_keras_3s_last_line_when_asked(capsys):
    model = _compiled([nn.Input((40,)), nn.Dense(10)])
    for verbose in (1, "auto"):
        result = model.evaluate(X, y, verbose=verbose)
        assert _shape_of(capsys.readouterr().out) == [f"16/16 {'━' * 20} T - accuracy: N - loss: N"]
        assert result == model.evaluate(X, y)  # the same numbers, silently: stabkit's default is 0
    model.evaluate(X, y, verbose=2, batch_size=100)
    assert _shape_of(capsys.readouterr().out) == ["5/5 - T - accuracy: N - loss: N"]
    model.predict(X, verbose=1)
    model.predict(X[:10], verbose=2)
    assert _shape_of(capsys.readouterr().out) == [f"16/16 {'━' * 20} T", "1/1 - T"]
    model.predict(X), model.evaluate(X, y), model.fit(X, y, verbose=0)
    assert capsys.readouterr().out == ""  # the defaults stay silent (stabkit train prints its own summary)
    # 3 and above: Keras's quietest mode, the epochs' names in fit and nothing else
    model.evaluate(X, y, verbose=3), model.predict(X, verbose=7), model.fit(X, y, verbose=3)
    assert capsys.readouterr().out == ""
    model.fit(X, y, epochs=2, verbose=3)
    assert capsys.readouterr().out == "Epoch 1/2\nEpoch 2/2\n"
    for bad in (-1, "x", 2.5):
        with pytest.raises(NNError, match=r"verbose must be 0 \(silent\), 1 \(progress bar\), 2 \(one line\), 3"):
            model.fit(X, y, verbose=bad)


def test_verbose_2_lines_have_keras_3s_fields_in_its_order(capsys):
    keras = _keras()
    theirs = keras.Sequential([keras.Input((40,)), keras.layers.Dense(10)])
    ours = nn.Sequential([nn.Input((40,)), nn.Dense(10)])
    texts = []
    for model, loss in ((theirs, keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
                        (ours, nn.SparseCategoricalCrossentropy(from_logits=True))):  # fmt: skip
        model.compile(optimizer="adam", loss=loss, metrics=["sparse_categorical_accuracy", "acc"])
        model.fit(X, y, epochs=2, verbose=2, validation_split=0.2)
        model.evaluate(X, y, verbose=2)
        model.predict(X, verbose=2)
        texts.append(_shape_of(capsys.readouterr().out))
    assert texts[0] == texts[1]
    assert texts[1][1] == ("13/13 - T - acc: N - loss: N - sparse_categorical_accuracy: N - val_acc: N - val_loss: N"
                           " - val_sparse_categorical_accuracy: N")  # fmt: skip


# ------------------------------------------------------------ 5. empty validation data


def test_empty_validation_data_is_refused_before_training():
    """Was val_loss NaN with NumPy's "Mean of empty slice" warnings; Keras 3
    warns that its input ran out of data and logs no val_ metrics."""
    model = _compiled([nn.Dense(10)])
    with pytest.raises(NNError, match="validation_data holds no samples; pass some or leave it out"):
        model.fit(X, y, epochs=1, verbose=0, validation_data=(X[:0], y[:0]))
    assert not model.built  # refused before the model was built for it


def test_accuracy_with_a_binary_loss_on_several_outputs_is_binary_where_keras_picks_categorical():
    """A documented difference (docs/trainer.md, compile): Keras resolves
    'accuracy' by the shapes, so a binary loss on several outputs gets the
    argmax comparison; stabkit keeps the fraction of labels right, what a
    multi-label model's accuracy means. Both are checked here against their
    definitions, and Keras's against Keras."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    kernel, bias = rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32)
    argmax_right = np.mean(np.argmax(x @ kernel, axis=1) == np.argmax(labels, axis=1))
    labels_right = np.mean((x @ kernel > 0) == (labels > 0.5))
    for logits in (False, True):
        model = nn.Sequential([nn.Dense(3, activation="linear" if logits else "sigmoid")])
        model.compile(optimizer="adam", loss=nn.BinaryCrossentropy(from_logits=logits), metrics=["accuracy"])
        model.build(4)
        model.set_weights([kernel, bias])
        assert model.evaluate(x, labels)[1] == pytest.approx(labels_right) != argmax_right
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    theirs.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    theirs.set_weights([kernel, bias])
    assert theirs.evaluate(x, labels, verbose=0)[1] == pytest.approx(argmax_right)
