"""What a Keras user writes first: each test is one
call that was refused, crashed or misled before (the frozen layers are in test_nn_trainable.py), with what
Keras 3 (JAX backend) does where that is the contract."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import stabkit.nn as nn


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras", reason="Keras 3 is not installed")


def _data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, X[:, :3].argmax(1)


def _model(last=None, units=3, loss=None, optimizer="adam"):
    model = nn.Sequential([nn.Input((5,)), nn.Dense(8, activation="relu"), nn.Dense(units, activation=last)])
    model.compile(optimizer=optimizer, loss=loss or nn.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _refused_before_any_update(model, match, **fit):
    before = model.get_weights()
    with pytest.raises(nn.NNError, match=match) as e:
        model.fit(**fit, epochs=1, verbose=0)
    assert "\n" not in str(e.value)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_categorical_targets_outside_0_1_are_refused_before_any_update():
    """``np.eye(3)[y] * 2`` ran a whole epoch, then the accurate tier raised
    a ValueError from stabkit/accurate.py. (Keras trains on such targets.)"""
    X, y = _data()
    model = _model(loss=nn.CategoricalCrossentropy(from_logits=True))
    _refused_before_any_update(model, r"categorical labels must lie in \[0, 1\].*y\[0, \d\] = 2", x=X, y=np.eye(3)[y] * 2)
    _refused_before_any_update(model, r"y\[0, 0\] = -0.1", x=X, y=np.eye(3)[y] - 0.1)
    with pytest.raises(nn.NNError, match="must lie in"):
        model.evaluate(X, np.eye(3)[y] * 2)
    model.fit(X, np.eye(3)[y] * 0.9 + 0.1 / 3, epochs=1, verbose=0)  # soft labels in [0, 1] still train


def test_softmax_over_one_unit_is_refused_before_any_update():
    """``Dense(1, activation='softmax')`` + ``BinaryCrossentropy()`` failed
    mid-fit with "loss became inf ... smallest p_y = 0.33". Keras warns
    that such a softmax is always 1 and suggests a sigmoid; stabkit refuses
    to train it (predict still runs, as in Keras)."""
    X, y = _data()
    for loss in (nn.BinaryCrossentropy(), nn.BinaryCrossentropy(from_logits=True), nn.SparseCategoricalCrossentropy()):
        model = _model("softmax", 1, loss)
        # a categorical loss on one output is named first: one output is one class
        why = "needs one output per class" if isinstance(loss, nn.SparseCategoricalCrossentropy) else "softmax over 1 output, which is always 1"
        _refused_before_any_update(model, rf"{why}.*activation='sigmoid'", x=X, y=y > 0)
    assert np.all(model.predict(X) == 1)
    keras = _keras()
    with pytest.warns(UserWarning, match="This axis has size 1.*Did you mean to use a sigmoid"):
        keras.layers.Dense(1, activation="softmax")(X)


def test_a_single_callback_is_accepted_as_keras_accepts_it():
    """``callbacks=EarlyStopping(...)``, not a list: TypeError "'EarlyStopping'
    object is not iterable"; Keras takes it (and a tuple)."""
    X, y = _data()
    model = _model()
    stop = nn.EarlyStopping(monitor="loss", patience=0, min_delta=100)  # stops after its first epoch
    h = model.fit(X, y, epochs=5, verbose=0, callbacks=stop)
    assert stop.model is model and h.epoch == [0, 1]
    assert model.fit(X, y, epochs=1, verbose=0, callbacks=(nn.Callback(),)).epoch == [0]
    keras = _keras()
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    theirs.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    h = theirs.fit(X, y, epochs=5, verbose=0, callbacks=keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100))
    assert h.epoch == [0, 1]


def test_class_weight_with_a_str_key_is_one_clear_error():
    """``class_weight={'0': 1.0}``: internal TypeError "'>' not supported
    between instances of 'str' and 'int'". Keras looks classes up by int and
    so silently ignores a str key; stabkit names it."""
    X, y = _data()
    model = _model()
    _refused_before_any_update(model, r"class_weight keys must be class indices.*got '0' \(str\); write \{0: ...\}",
                               x=X, y=y, class_weight={"0": 1.0, 1: 2.0})  # fmt: skip
    _refused_before_any_update(model, r"got 1.0 \(float\)", x=X, y=y, class_weight={1.0: 2.0})


def test_a_class_weight_key_past_every_label_weighs_nothing_and_allocates_nothing():
    """As Keras, which looks each sample's class up in the dict (the table
    of weights was as long as the largest key: 10**12 was a MemoryError)."""
    X, y = _data()
    model = _model()
    w = model.get_weights()
    losses = []
    for cw in ({0: 2.0, 10**12: 5.0}, {0: 2.0}, None):
        model.set_weights(w)
        losses.append(model.train_on_batch(X, y, class_weight=cw))  # the loss before the update
    assert losses[0] == losses[1] != losses[2]


@pytest.mark.parametrize("last, loss", [("softmax", nn.SparseCategoricalCrossentropy(from_logits=True)),
                                        ("softmax", nn.CategoricalCrossentropy(from_logits=True)),
                                        ("sigmoid", nn.BinaryCrossentropy(from_logits=True))])  # fmt: skip
def test_a_loss_from_logits_on_a_softmax_or_sigmoid_output_warns_once(last, loss):
    """Trained silently. Keras on TensorFlow warns "`...crossentropy`
    received `from_logits=True`, but the `output` argument was produced by a
    Softmax activation and thus does not represent logits" (on JAX it cannot
    see the activation and says nothing); stabkit warns on every backend,
    once per compile."""
    X, y = _data()
    y = np.eye(3)[y] if isinstance(loss, (nn.CategoricalCrossentropy, nn.BinaryCrossentropy)) else y
    model = _model(last, 3, loss)
    with pytest.warns(nn.LogitsWarning, match=f"from_logits=True.*produced by a {last} activation.*do not represent logits"):
        model.fit(X, y, epochs=1, verbose=0)
    assert issubclass(nn.LogitsWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, epochs=1, verbose=0)  # once per compile
        model.evaluate(X, y)
        _model(None, 3, loss).fit(X, y, epochs=1, verbose=0)  # logits: no warning
    model.compile(optimizer="adam", loss=loss)
    with pytest.warns(nn.LogitsWarning):
        model.evaluate(X, y)


def test_a_loss_class_and_keras_class_names_are_accepted():
    """``loss=SparseCategoricalCrossentropy`` (the class) was refused; Keras
    makes it with its defaults, and takes the class's name as a string
    (case-sensitive). Keras refuses an optimizer class; so does stabkit,
    saying to write ``Adam()``."""
    X, y = _data()
    model = _model(last="softmax", loss=nn.SparseCategoricalCrossentropy)
    assert type(model.loss) is nn.SparseCategoricalCrossentropy and not model.loss.from_logits
    model.fit(X, y, epochs=1, verbose=0)
    keras = _keras()
    names = ["SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
             "sparse_categorical_crossentropy", "sparsecategoricalcrossentropy", "SparseCategoricalCrossEntropy"]  # fmt: skip
    for name in names:
        try:
            keras.losses.get(name)
            keras_takes = True
        except ValueError:
            keras_takes = False
        try:
            ours = nn.losses.get(name)
        except nn.NNError:
            ours = None
        assert (ours is not None) == keras_takes, name
        assert ours is None or not ours.from_logits
    assert type(nn.losses.get(nn.BinaryCrossentropy)) is nn.BinaryCrossentropy
    for name in ("Adam", "SGD", "RMSprop", "rmsprop"):
        assert type(nn.optimizers.get(name)).__name__ == type(keras.optimizers.get(name)).__name__
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        keras.optimizers.get(keras.optimizers.Adam)
    with pytest.raises(nn.NNError, match=r"the class; pass an instance, Adam\(\)"):
        _model(optimizer=nn.Adam)


def test_metrics_names_name_evaluates_values():
    """Was an AttributeError. Keras 3 gives ["loss", "compile_metrics"]; the
    names of evaluate's list, in its order, are what zip() needs."""
    X, y = _data()
    model = nn.Sequential([nn.Input((5,)), nn.Dense(3)])
    assert model.metrics_names == []
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy"]
    values = model.evaluate(X, y, verbose=0)
    assert dict(zip(model.metrics_names, values)) == model.evaluate(X, y, verbose=0, return_dict=True)


def test_get_config_and_from_config_make_the_same_architecture():
    """Was an AttributeError: Keras's way to clone a model's layers."""
    model = _model()
    config = model.get_config()
    assert config["build_input_shape"] == [None, 5]
    assert [spec["class_name"] for spec in config["layers"]] == ["Dense", "Dense"]
    clone = nn.Sequential.from_config(config)
    assert clone.built and clone.name == model.name
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    assert [layer.get_config() for layer in clone.layers] == [layer.get_config() for layer in model.layers]
    assert not any(np.array_equal(a, b) for a, b in zip(clone.get_weights()[::2], model.get_weights()[::2]))
    unbuilt = nn.Sequential([nn.Dense(4)]).get_config()
    assert "build_input_shape" not in unbuilt and not nn.Sequential.from_config(unbuilt).built
    with pytest.raises(nn.NNError, match="Sequential config"):
        nn.Sequential.from_config({"name": "x"})
    with pytest.raises(nn.NNError, match="unknown layer class 'Lambda'"):
        nn.Sequential.from_config({"layers": [{"class_name": "Lambda", "config": {}}]})


def test_learning_rate_assign_from_a_callback():
    """``optimizer.learning_rate.assign(...)`` (Keras's variable method) was
    an AttributeError on a float; the halved rate now reaches the updates."""
    X, y = _data()

    class Halve(nn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rate = self.model.optimizer.learning_rate
            rate.assign(rate * 0.5)

    nn.utils.set_random_seed(0)
    model = _model(optimizer=nn.Adam(0.01))
    model.fit(X, y, epochs=3, verbose=0, callbacks=[Halve()], seed=0)
    rate = model.optimizer.learning_rate
    assert rate == 0.01 / 8 and rate.numpy() == rate.value == 0.01 / 8
    assert f"{rate:.2e}" == "1.25e-03" and isinstance(rate, float)
    # an assigned rate trains as one given to the optimizer
    nn.utils.set_random_seed(1)
    a = _model(optimizer=nn.Adam(0.5))
    nn.utils.set_random_seed(1)
    b = _model(optimizer=nn.Adam(1e-3))
    a.optimizer.learning_rate.assign(1e-3)
    for m in (a, b):
        m.fit(X, y, epochs=1, verbose=0, seed=2)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    with pytest.raises(nn.NNError, match="positive number"):
        rate.assign(-1.0)
    import copy
    import pickle

    assert type(copy.deepcopy(rate)) is float and type(pickle.loads(pickle.dumps(rate))) is float
    sched = nn.Sequential([nn.Dense(3)])
    sched.compile(optimizer=nn.Adam(nn.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)),
                  loss="sparse_categorical_crossentropy")
    with pytest.raises(nn.NNError, match="cannot be set"):
        sched.optimizer.learning_rate.assign(1e-2)
    assert nn.Adam(np.float32(0.5)).learning_rate == 0.5  # NumPy scalars are numbers too


def test_compile_takes_kerass_execution_arguments_in_its_order():
    """compile(..., jit_compile=False) / run_eagerly / steps_per_execution were
    TypeErrors; they change nothing in a NumPy trainer. Values that would
    change what Keras computes are one NNError each."""
    model = nn.Sequential([nn.Input((5,)), nn.Dense(3)])
    loss = nn.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss, None, ["accuracy"], None, True, 1, False, True)  # Keras's positional order
    assert model.metrics == ["accuracy"]
    model.compile(optimizer="adam", loss=loss, jit_compile="auto", run_eagerly=False, steps_per_execution=1,
                  auto_scale_loss=False)
    for kw, match in (({"steps_per_execution": 4}, "leave it at 1"), ({"jit_compile": "xla"}, "jit_compile must be"),
                      ({"run_eagerly": "yes"}, "run_eagerly must be True or False"),
                      ({"weighted_metrics": ["accuracy"]}, "weighted_metrics are not computed")):
        with pytest.raises(nn.NNError, match=match):
            model.compile(optimizer="adam", loss=loss, **kw)
    # a metric list in Keras's third place is loss_weights there: said so, not taken as metrics
    with pytest.raises(nn.NNError, match=r"loss_weights weighs the losses of a model with several outputs.*metrics="):
        model.compile("adam", loss, ["accuracy"])


def test_optimizers_take_kerass_options_at_their_defaults():
    """Adam(amsgrad=False), name=, clipnorm=None ... were TypeErrors; what
    stabkit does not compute (an average of the weights) is refused by name.
    (Clipping, weight decay and AMSGrad act: test_nn_optimizer_options.py.)"""
    opt = nn.Adam(1e-3, 0.9, 0.999, 1e-7, False, weight_decay=None, clipnorm=None, clipvalue=None,
                  global_clipnorm=None, use_ema=False, ema_momentum=0.9, loss_scale_factor=None,
                  gradient_accumulation_steps=None, name="my_adam")
    assert opt.name == "my_adam" and nn.Adam().name == "adam" and nn.SGD(name="s").name == "s"
    assert nn.RMSprop(clipnorm=None).name == "rmsprop"
    for cls, kw, match in ((nn.Adam, {"amsgrad": "yes"}, r"Adam\(amsgrad=...\) takes True or False"),
                           (nn.Adam, {"clipnorm": 1.0, "clipvalue": 0.5}, "only one of clipnorm, clipvalue"),
                           (nn.SGD, {"weight_decay": "0.01"}, r"SGD\(weight_decay=...\) takes None or a finite"),
                           (nn.RMSprop, {"use_ema": True}, "moving average"),
                           (nn.RMSprop, {"gradient_accumulation_steps": 2}, "gradient accumulation is not"),
                           (nn.Adam, {"momentum": 0.9}, "Adam has no argument 'momentum'")):
        with pytest.raises(nn.NNError, match=match):
            cls(**kw)
    X, y = _data()
    a, b = _model(optimizer=nn.Adam(0.01, amsgrad=False, clipnorm=None)), _model(optimizer=nn.Adam(0.01))
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.fit(X, y, epochs=2, verbose=0, seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_fit_validation_freq_and_batch_size_as_keras():
    """validation_freq=2 validates after epochs 2 and 4 only (Keras's
    history: val_ lists of 2 beside lists of 4); steps_per_epoch is refused
    by name (an epoch is one pass here)."""
    X, y = _data(80)
    model = _model()
    h = model.fit(X, y, epochs=4, verbose=0, validation_split=0.25, validation_freq=2, validation_batch_size=7,
                  seed=0)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2 and h.epoch == [0, 1, 2, 3]
    every = _model()
    every.set_weights([w.copy() for w in model.get_weights()])
    with pytest.raises(nn.NNError, match="validation_freq must be a positive integer"):
        every.fit(X, y, epochs=1, verbose=0, validation_freq=0)
    with pytest.raises(nn.NNError, match="steps_per_epoch=3: an epoch here is one pass"):
        every.fit(X, y, epochs=1, verbose=0, steps_per_epoch=3)
    with pytest.raises(nn.NNError, match="validation_batch_size must be a positive integer"):
        every.fit(X, y, epochs=1, verbose=0, validation_batch_size=0)


def test_metric_classes_as_keras_writes_them(tmp_path):
    """metrics=[keras.metrics.SparseCategoricalAccuracy()] was refused
    (names only). Each class logs under its Keras name, or the name given;
    model.save keeps the class and its settings."""
    X, y = _data()
    model = nn.Sequential([nn.Input((5,)), nn.Dense(8, activation="relu"), nn.Dense(3)])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[nn.metrics.SparseCategoricalAccuracy(), nn.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    logs = model.evaluate(X, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "sparse_categorical_accuracy", "top2"]
    out = model.predict(X)
    assert logs["sparse_categorical_accuracy"] == np.mean(out.argmax(1) == y)
    assert logs["top2"] == np.mean(np.sum(out > out[np.arange(len(y)), y][:, None], axis=1) < 2)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert back.evaluate(X, y, verbose=0, return_dict=True) == logs
    binary = nn.Sequential([nn.Input((5,)), nn.Dense(1)])
    binary.compile(optimizer="adam", loss=nn.BinaryCrossentropy(from_logits=True),
                   metrics=[nn.metrics.BinaryAccuracy(threshold=0.0, name="acc0")])
    yb = (X[:, 0] > 0).astype(np.float32)[:, None]
    assert binary.evaluate(X, yb, verbose=0, return_dict=True)["acc0"] == np.mean((binary.predict(X) > 0) == (yb > 0.5))
    with pytest.raises(nn.NNError, match=r"write SparseCategoricalAccuracy\(\), as Keras does"):
        model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(), metrics=[nn.metrics.SparseCategoricalAccuracy])
    with pytest.raises(nn.NNError, match="CategoricalAccuracy needs dense labels"):
        model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(), metrics=[nn.metrics.CategoricalAccuracy()])
