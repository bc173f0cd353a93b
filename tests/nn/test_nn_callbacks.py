"""fit(callbacks=...): the hooks, their order and logs, stop_training,
EarlyStopping with restored weights, ModelCheckpoint's files, LambdaCallback.
(EarlyStopping's decisions against Keras's: test_nn_keras.py.)"""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError
from stabkit.nn.callbacks import Callback

rng = np.random.default_rng(0)
X = rng.random((50, 6)).astype(np.float32)
y = rng.integers(0, 3, 50)


def _model(**compile_kw):
    model = nn.Sequential([nn.Input((6,)), nn.Dense(5, activation="relu"), nn.Dense(3)])
    kw = dict(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.compile(**{**kw, **compile_kw})
    return model


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", self.model is not None, dict(self.params)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs)))


def test_hooks_run_in_keras_order_with_keras_logs():
    model, rec = _model(), Recorder()
    h = model.fit(X, y, epochs=3, batch_size=20, validation_split=0.2, callbacks=[rec], verbose=0, initial_epoch=1)
    kinds = [c[0] for c in rec.calls]
    per_epoch = ["epoch_begin"] + ["batch_begin", "batch_end"] * 2 + ["epoch_end"]  # 40 rows: batches of 20
    assert kinds == ["train_begin"] + per_epoch * 2 + ["train_end"]
    assert rec.calls[0][1] and rec.calls[0][2]["epochs"] == 3 and rec.calls[0][2]["steps"] == 2
    assert [c[1] for c in rec.calls if c[0] == "epoch_begin"] == [1, 2] == h.epoch  # 0-based, from initial_epoch
    assert [c[1] for c in rec.calls if c[0] == "batch_end"] == [0, 1, 0, 1]
    epoch_logs = [c[2] for c in rec.calls if c[0] == "epoch_end"]
    assert epoch_logs[-1] == rec.calls[-1][1] == {k: v[-1] for k, v in h.history.items()}
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epoch_logs[0])
    # a batch's logs are the running means of the epoch so far; the last equals the epoch's
    last_batch = [c[2] for c in rec.calls if c[0] == "batch_end"][-1]
    assert set(last_batch) == {"loss", "accuracy"}
    assert last_batch["loss"] == pytest.approx(h.history["loss"][-1], rel=1e-6)
    assert last_batch["accuracy"] == pytest.approx(h.history["accuracy"][-1])


def test_the_first_batch_log_is_that_batch_alone():
    model, rec = _model(), Recorder()
    model.build(6, seed=1)
    w = model.get_weights()
    model.fit(X, y, epochs=1, batch_size=10, shuffle=False, callbacks=[rec], verbose=0)
    first = next(c[2] for c in rec.calls if c[0] == "batch_end")
    fresh = _model()
    fresh.set_weights(w)
    assert first["loss"] == pytest.approx(fresh.evaluate(X[:10], y[:10], verbose=0)[0], rel=1e-6)


def test_stop_training_ends_the_fit_after_the_batch():
    model = _model()
    stopper = nn.LambdaCallback(on_batch_end=lambda b, logs: setattr(model, "stop_training", b == 1))
    rec = Recorder()
    h = model.fit(X, y, epochs=5, batch_size=10, callbacks=[stopper, rec], verbose=0)
    assert h.epoch == [0] and [c[1] for c in rec.calls if c[0] == "batch_end"] == [0, 1]
    assert rec.calls[-2][0] == "epoch_end" and rec.calls[-1][0] == "train_end"
    # the epoch's logs cover the 20 rows it trained on
    assert 0 <= h.history["accuracy"][0] <= 1 and np.isfinite(h.history["loss"][0])
    model.fit(X, y, epochs=1, verbose=0)  # a new fit starts with stop_training reset
    assert model.stop_training is False


def test_lambda_callback_hooks_and_errors():
    seen = []
    cb = nn.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                           on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, round(logs["loss"], 12))),
                           on_train_end=lambda logs: seen.append("end"))  # fmt: skip
    h = _model().fit(X, y, epochs=2, callbacks=[cb], verbose=0)
    assert seen == ["begin", ("epoch", 0, round(h.history["loss"][0], 12)), ("epoch", 1, round(h.history["loss"][1], 12)), "end"]
    assert not cb.wants_batch_logs()
    with pytest.raises(NNError, match="no hook 'on_epoch_ending'"):
        nn.LambdaCallback(on_epoch_ending=print)
    with pytest.raises(NNError, match="must be callable"):
        nn.LambdaCallback(on_epoch_end=3)
    with pytest.raises(NNError, match="callbacks must be stabkit.nn.callbacks.Callback instances"):
        _model().fit(X, y, callbacks=[print], verbose=0)


def test_early_stopping_stops_and_restores_the_best_weights():
    model = _model(optimizer=nn.SGD(0.5))
    snapshots = []
    keep = nn.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append((logs["loss"], model.get_weights())))
    # a loss that must fall by 1.0 an epoch never improves after the first epoch
    es = nn.EarlyStopping(monitor="loss", min_delta=1.0, patience=2, restore_best_weights=True)
    h = model.fit(X, y, epochs=20, callbacks=[keep, es], verbose=0)
    assert h.epoch == [0, 1, 2] and es.stopped_epoch == 2 and es.best_epoch == 0
    for a, b in zip(model.get_weights(), snapshots[0][1]):
        np.testing.assert_array_equal(a, b)
    assert es.best == snapshots[0][0]


def test_early_stopping_on_accuracy_goes_up_and_warns_on_a_missing_key():
    assert nn.EarlyStopping(monitor="val_accuracy")._sign == 1
    assert nn.EarlyStopping(monitor="val_loss")._sign == -1
    with pytest.raises(NNError, match="pass mode='min' or mode='max'"):
        nn.EarlyStopping(monitor="val_auc")
    with pytest.raises(NNError, match="mode must be"):
        nn.EarlyStopping(mode="up")
    with pytest.warns(RuntimeWarning, match="'val_loss', which is not in the logs"):
        _model().fit(X, y, epochs=2, callbacks=[nn.EarlyStopping()], verbose=0)


def test_model_checkpoint_files(tmp_path):
    model = _model()
    every = nn.ModelCheckpoint(tmp_path / "all" / "m-{epoch:02d}-{loss:.3f}.zip", monitor="loss")
    weights = nn.ModelCheckpoint(str(tmp_path / "w-{epoch}.npz"), save_weights_only=True)
    h = model.fit(X, y, epochs=3, validation_split=0.2, callbacks=[every, weights], verbose=0)
    names = sorted(os.listdir(tmp_path / "all"))
    assert names == [f"m-{e + 1:02d}-{h.history['loss'][e]:.3f}.zip" for e in range(3)]
    np.testing.assert_array_equal(nn.load_model(tmp_path / "all" / names[-1]).predict(X), model.predict(X))
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".npz")) == ["w-1.npz", "w-2.npz", "w-3.npz"]


def test_model_checkpoint_save_best_only(tmp_path):
    model = _model()
    values = iter([0.5, 0.7, 0.4, 0.45, 0.1])
    fake = nn.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_score=next(values)))
    best = nn.ModelCheckpoint(tmp_path / "best-{epoch}.zip", monitor="val_score", mode="min", save_best_only=True)
    model.fit(X, y, epochs=5, callbacks=[fake, best], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["best-1.zip", "best-3.zip", "best-5.zip"]
    assert best.best == 0.1
    bad = nn.ModelCheckpoint(tmp_path / "{nope}.zip", monitor="loss")
    with pytest.raises(NNError, match="cannot format filepath"):
        model.fit(X, y, callbacks=[bad], verbose=0)
