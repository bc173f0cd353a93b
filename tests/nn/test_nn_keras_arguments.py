"""Keras 3 arguments that a lecture's code passes and stabkit takes only at
Keras's defaults (or a value meaning the same here): accepted there, refused
by name otherwise (:mod:`stabkit.nn.defaults`), never a bare "unexpected
keyword argument". Also load_model(compile=False), save's overwrite=False,
the refusal to save an unadapted Normalization, and summary()'s Keras
arguments: the Trainable column, Keras's default width and an unbuilt
model's ``0 (unbuilt)``, each compared with Keras's own text."""

from __future__ import annotations

import inspect
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


def _params(fn) -> list[str]:
    """The named parameters of ``fn`` in order (no self, *args, **kwargs)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds and p.name != "self"]


# ------------------------------------------------------------ layers

#: Keras-valid calls at Keras's defaults (or channels_last / float32): taken here as in Keras
DEFAULT_CALLS = [
    ("Conv2D", (4, 3), dict(data_format="channels_last", dilation_rate=1, groups=1, kernel_constraint=None,
                            bias_constraint=None, activity_regularizer=None, dtype=None)),
    ("Conv2D", (4, 3), dict(data_format=None, dilation_rate=(1, 1), dtype="float32")),
    ("MaxPooling2D", (), dict(data_format=None)),
    ("MaxPooling2D", (), dict(data_format="channels_last")),
    ("Flatten", (), dict(data_format=None)),
    ("Dropout", (0.5,), dict(noise_shape=None)),
    ("BatchNormalization", (), dict(beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                                    gamma_constraint=None, synchronized=False, renorm=False)),
    ("Activation", ("relu",), dict(dtype=None)),
    ("ReLU", (), dict(dtype=None)),
    ("LeakyReLU", (), dict(dtype="float32")),
    ("ELU", (), dict(dtype=None)),
    ("Softmax", (), dict(dtype=None)),
    ("Dense", (3,), dict(dtype=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None)),
    ("Normalization", (), dict(dtype=None)),
]

#: Keras-valid calls stabkit cannot honour: one NNError naming the argument
REFUSED_CALLS = [
    ("Conv2D", (4, 3), dict(data_format="channels_first"), r"Conv2D\(data_format='channels_first'\).*channels last"),
    ("Conv2D", (4, 3), dict(dilation_rate=2), r"Conv2D\(dilation_rate=2\).*dilated.*leave dilation_rate at 1"),
    ("Conv2D", (4, 3), dict(groups=2), r"Conv2D\(groups=2\).*grouped"),
    ("Conv2D", (4, 3), dict(kernel_constraint="non_neg"), r"Conv2D\(kernel_constraint='non_neg'\).*constraints"),
    ("Conv2D", (4, 3), dict(activity_regularizer="l2"), r"Conv2D\(activity_regularizer='l2'\)"),
    ("Conv2D", (4, 3), dict(dtype="float64"), r"Conv2D\(dtype='float64'\): compile's dtype= sets the model's"),
    ("MaxPooling2D", (), dict(data_format="channels_first"), r"MaxPooling2D\(data_format='channels_first'\)"),
    ("Flatten", (), dict(data_format="channels_first"), r"Flatten\(data_format='channels_first'\)"),
    ("Dropout", (0.5,), dict(noise_shape=(None, 1)), r"Dropout\(noise_shape=\(None, 1\)\)"),
    ("BatchNormalization", (), dict(gamma_regularizer="l2"), r"BatchNormalization\(gamma_regularizer='l2'\)"),
    ("BatchNormalization", (), dict(beta_constraint="non_neg"), r"BatchNormalization\(beta_constraint='non_neg'\)"),
    ("BatchNormalization", (), dict(renorm=True), r"BatchNormalization\(renorm=True\)"),
    ("ReLU", (), dict(dtype="float16"), r"ReLU\(dtype='float16'\)"),
    ("Softmax", (), dict(dtype="float64"), r"Softmax\(dtype='float64'\)"),
    ("Dense", (3,), dict(bias_constraint="non_neg"), r"Dense\(bias_constraint='non_neg'\)"),
    ("Dense", (3,), dict(dtype="float64"), r"Dense\(dtype='float64'\)"),
]


@pytest.mark.parametrize("cls, args, kwargs", DEFAULT_CALLS)
def test_keras_defaults_are_taken(cls, args, kwargs):
    layer = getattr(L, cls)(*args, **kwargs)
    assert layer.get_config() == getattr(L, cls)(*args).get_config()  # nothing stored: they change nothing
    keras = _keras()
    getattr(keras.layers, cls)(*args, **kwargs)  # the same call is Keras-valid


@pytest.mark.parametrize("cls, args, kwargs, match", REFUSED_CALLS)
def test_other_values_are_refused_by_name(cls, args, kwargs, match):
    with pytest.raises(NNError, match=match):
        getattr(L, cls)(*args, **kwargs)


def test_layers_take_keras_positional_order():
    """Conv2D, MaxPooling2D, Flatten, Dropout and BatchNormalization list
    Keras's named arguments first, in Keras's order."""
    keras = _keras()
    for cls in ("Conv2D", "MaxPooling2D", "Flatten", "Dropout", "BatchNormalization"):
        theirs = _params(getattr(keras.layers, cls).__init__)
        assert _params(getattr(L, cls).__init__)[: len(theirs)] == theirs, cls
    conv = L.Conv2D(4, 3, 1, "valid", "channels_last", 1, 1, "relu")
    assert conv.activation.name == "relu" and conv.strides == (1, 1)
    assert L.Dropout(0.5, None, 7).seed == 7


# ------------------------------------------------------------ saving

def _model(dtype="float32"):
    model = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="relu"), nn.Dense(2)])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  dtype=dtype)  # fmt: skip
    model.fit(rng.standard_normal((16, 4)), rng.integers(0, 2, 16), epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_model_compile_false(tmp_path, dtype):
    model = _model(dtype)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras", custom_objects=None, compile=False, safe_mode=True)
    assert back.loss is None and back.optimizer is None and back.metrics_names == []
    assert back.dtype == model.dtype
    for a, b in zip(back.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    with pytest.raises(NNError, match="not compiled"):
        back.evaluate(np.zeros((2, 4)), np.zeros(2))
    again = nn.load_model(tmp_path / "m.keras", None, True, False)
    assert again.optimizer.iterations == model.optimizer.iterations
    assert nn.load_model(tmp_path / "m.keras", custom_objects={}).loss is not None


def test_load_model_refuses_custom_objects(tmp_path):
    _model().save(tmp_path / "m.keras")
    with pytest.raises(NNError, match=r"load_model\(custom_objects=.*stabkit's own"):
        nn.load_model(tmp_path / "m.keras", custom_objects={"MyLayer": object})
    with pytest.raises(NNError, match=r"load_model\(compile=...\) takes True or False"):
        nn.load_model(tmp_path / "m.keras", compile="no")


@pytest.mark.parametrize("name", ["m.keras", "w.npz", "w.weights.h5"])
def test_overwrite_false_keeps_an_existing_file(tmp_path, name):
    if name.endswith(".h5"):
        pytest.importorskip("h5py")
    model, path = _model(), tmp_path / name
    save = model.save if name == "m.keras" else model.save_weights
    save(path, overwrite=False)  # no file yet: written
    before = path.read_bytes()
    model.set_weights([w + 1 for w in model.get_weights()])
    with pytest.raises(NNError, match="exists and overwrite=False: nothing written"):
        save(path, overwrite=False)
    assert path.read_bytes() == before
    save(path, overwrite=True)
    assert path.read_bytes() != before


def test_save_arguments_at_keras_defaults(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras", True, None)
    model.save(tmp_path / "n.keras", zipped=True)
    model.save_weights(tmp_path / "w.npz", True, None)
    model.load_weights(tmp_path / "w.npz", skip_mismatch=False)
    with pytest.raises(NNError, match=r"save\(zipped=False\).*one zip archive"):
        model.save(tmp_path / "o.keras", zipped=False)
    with pytest.raises(NNError, match=r"save_weights\(max_shard_size=2\).*one file"):
        model.save_weights(tmp_path / "x.npz", max_shard_size=2)
    with pytest.raises(NNError, match=r"load_weights\(skip_mismatch=True\)"):
        model.load_weights(tmp_path / "w.npz", skip_mismatch=True)
    assert not (tmp_path / "o.keras").exists() and not (tmp_path / "x.npz").exists()


def test_saving_methods_take_keras_arguments_in_order():
    keras = _keras()
    for method in ("save", "save_weights", "load_weights", "predict", "evaluate", "summary"):
        theirs = _params(getattr(keras.Model, method))
        assert _params(getattr(nn.Sequential, method))[: len(theirs)] == theirs, method
    assert _params(nn.load_model) == _params(keras.models.load_model)


@pytest.mark.parametrize("name", ["m.keras", "w.npz", "w.weights.h5"])
def test_an_unadapted_normalization_is_not_saved(tmp_path, name):
    if name.endswith(".h5"):
        pytest.importorskip("h5py")
    norm = L.Normalization()
    model = nn.Sequential([nn.Input((3,)), norm, nn.Dense(2)])
    save = model.save if name == "m.keras" else model.save_weights
    with pytest.raises(NNError, match=r"layer 'normalization' \(Normalization\) has no mean and variance yet: call "
                                      r"normalization.adapt\(x\).*nothing written"):  # fmt: skip
        save(tmp_path / name)
    assert not (tmp_path / name).exists()
    norm.adapt(rng.standard_normal((10, 3)))
    save(tmp_path / name)
    assert (tmp_path / name).exists()


# ------------------------------------------------------------ predict, evaluate

def test_predict_and_evaluate_take_keras_arguments():
    model = _model()
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 2, 10)
    assert np.array_equal(model.predict(X, None, 0, None, None), model.predict(X, steps=None, callbacks=[]))
    logs = model.evaluate(X, y, 4, 0, None, None, None, True)  # Keras's positional order: ..., steps, callbacks, return_dict
    assert set(logs) == {"loss", "accuracy"} and logs == model.evaluate(X, y, return_dict=True, callbacks=[])
    for call, name in ((lambda: model.predict(X, steps=2), "predict"), (lambda: model.evaluate(X, y, steps=2), "evaluate")):
        with pytest.raises(NNError, match=rf"{name}\(steps=2\): one pass covers all of x"):
            call()
    with pytest.raises(NNError, match=r"evaluate\(callbacks=.*in fit only"):
        model.evaluate(X, y, callbacks=[nn.callbacks.Callback()])
    with pytest.raises(NNError, match=r"predict\(callbacks=.*in fit only"):
        model.predict(X, callbacks=nn.callbacks.Callback())


# ------------------------------------------------------------ summary

def _frozen_pair(keras):
    theirs = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5, trainable=False), keras.layers.Dropout(0.1),
                               keras.layers.Dense(3)], name="sequential")  # fmt: skip
    ours = nn.Sequential([nn.Input((8,)), nn.Dense(5, trainable=False), nn.Dropout(0.1), nn.Dense(3)])
    return ours, theirs


def _texts(ours, theirs, **kw):
    texts = [], []
    ours.summary(print_fn=texts[0].append, **kw)
    theirs.summary(print_fn=lambda s, **_: texts[1].append(s), **kw)
    return texts


@pytest.mark.parametrize("line_length", [None, 76, 60, 50, 41])
def test_show_trainable_is_keras_text(line_length):
    """Keras 3's Trainable column: Y, N, or - for a layer without weights
    (also for an unbuilt one), the header cut to ``Trai…`` and ``0
    (unbuilt)`` wrapped as rich wraps them."""
    keras = _keras()
    ours, theirs = _frozen_pair(keras)
    texts = _texts(ours, theirs, line_length=line_length, show_trainable=True)
    assert texts[0] == texts[1]
    if line_length == 76:
        assert "│   N   │" in texts[0][0] and "┃ Trai… ┃" in texts[0][0]
    keras.backend.clear_session()
    layers = [keras.layers.Conv2D(2, 3), keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(2)]
    texts = _texts(nn.Sequential([L.Conv2D(2, 3), L.MaxPooling2D(), L.Flatten(), L.Dense(2)]),
                   keras.Sequential(layers, name="sequential"), line_length=line_length, show_trainable=True)  # fmt: skip
    assert texts[0] == texts[1]


def test_unbuilt_summary_is_keras_text():
    """``0 (unbuilt)`` for the layers Keras builds on their first call
    (Flatten too, without weights), ``0`` for those built when made."""
    keras = _keras()
    theirs = keras.Sequential([keras.layers.Dense(5), keras.layers.Flatten(), keras.layers.Dropout(0.1),
                               keras.layers.BatchNormalization(), keras.layers.ReLU()], name="sequential")  # fmt: skip
    ours = nn.Sequential([L.Dense(5), L.Flatten(), L.Dropout(0.1), L.BatchNormalization(), L.ReLU()])
    texts = _texts(ours, theirs, line_length=76)
    assert texts[0] == texts[1] and "│ flatten (Flatten)               │ ?                      │   0 (unbuilt) │" in texts[0][0]


@pytest.mark.parametrize("columns", ["80", "104", "95"])
def test_default_width_is_keras(monkeypatch, columns):
    """``line_length=None``: 88 (100 with the Trainable column) cut to the
    terminal's columns less 4, as Keras sizes it ($COLUMNS first)."""
    keras = _keras()
    monkeypatch.setenv("COLUMNS", columns)
    ours, theirs = _frozen_pair(keras)
    for show in (False, True):
        texts = _texts(ours, theirs, show_trainable=show)
        assert texts[0] == texts[1]
        assert len(texts[0][0].splitlines()[1]) == min(88 + 12 * show, int(columns) - 4)


def test_summary_keras_arguments(capsys):
    model = nn.Sequential([nn.Input((8,)), nn.Dense(5), nn.Dense(3)])
    plain = []
    model.summary(print_fn=plain.append)
    nested = []
    model.summary(print_fn=nested.append, expand_nested=True)
    assert nested == plain
    model.summary(None, None, None, False, False, None)
    assert capsys.readouterr().out == plain[0]
    with pytest.raises(NNError, match=r"summary\(positions=\[0.3, 0.6, 1.0\]\).*line_length= is taken"):
        model.summary(positions=[0.3, 0.6, 1.0])
    with pytest.raises(NNError, match=r"summary\(layer_range=.*every layer"):
        model.summary(layer_range=("dense", "dense_1"))
    with pytest.raises(NNError, match=r"summary\(show_trainable=...\) takes True or False"):
        model.summary(show_trainable="yes")
