"""LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN and CSVLogger:
their rules driven epoch by epoch beside Keras 3's own callbacks, and in fit
(the learning_rate they log reaches History, as Keras's History comes after
them)."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

import stabkit.nn as nn

rng = np.random.default_rng(0)
X, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
VAL = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]  # plateaus and one drop


def _ours(lr=0.1):
    model = nn.Sequential([nn.Dense(3)])
    model.compile(optimizer=nn.SGD(lr), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.build((4,), seed=0)
    return model


def _drive(cb, model, values):
    """The callback's epoch hooks on logs holding val_loss; the rates after each epoch."""
    cb.set_model(model)
    cb.on_train_begin({})
    rates = []
    for epoch, v in enumerate(values):
        cb.on_epoch_begin(epoch, {})
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        rates.append(float(model.optimizer.learning_rate))
    return rates


@pytest.mark.parametrize("kw", [{"patience": 2}, {"patience": 1, "cooldown": 2, "factor": 0.5},
                                {"patience": 1, "min_lr": 0.02, "factor": 0.3}, {"patience": 0, "min_delta": 0.05},
                                {"monitor": "val_loss", "mode": "max", "patience": 2}])  # fmt: skip
def test_reduce_lr_on_plateau_as_keras(kw):
    ours = _drive(nn.ReduceLROnPlateau(**kw), _ours(), VAL)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    theirs = _drive(keras.callbacks.ReduceLROnPlateau(**kw), km, VAL)
    assert np.allclose(ours, theirs, rtol=1e-6), (ours, theirs)
    assert len(set(np.round(ours, 9))) > 1 or kw.get("mode") == "max"  # the rate moved (a test that can fail)


def test_reduce_lr_on_plateau_rules_by_hand():
    rates = _drive(nn.ReduceLROnPlateau(patience=2, factor=0.5), _ours(), [1.0, 1.0, 1.0, 1.0, 1.0, 0.1])
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    with pytest.raises(nn.NNError, match="factor >= 1.0"):
        nn.ReduceLROnPlateau(factor=1.0)


def test_learning_rate_scheduler_in_fit_reaches_history():
    def halve_after_two(epoch, lr):
        return lr if epoch < 2 else lr * 0.5

    model = _ours(0.2)
    h = model.fit(X, y, epochs=4, verbose=0, seed=0, callbacks=[nn.LearningRateScheduler(halve_after_two)])
    assert h.history["learning_rate"] == pytest.approx([0.2, 0.2, 0.1, 0.05])
    # a function of the epoch alone, as Keras's old API
    model = _ours()
    h = model.fit(X, y, epochs=3, verbose=0, seed=0, callbacks=[nn.LearningRateScheduler(lambda e: 0.01 * (e + 1))])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])
    with pytest.raises(nn.NNError, match="should be a float, got 1 at epoch 0"):
        _ours().fit(X, y, epochs=1, verbose=0, callbacks=[nn.LearningRateScheduler(lambda e, lr: 1)])
    # an optimizer on a schedule object refuses it, as Keras's does
    sched = _ours()
    sched.compile(optimizer=nn.SGD(nn.ExponentialDecay(0.1, 10, 0.5)),
                  loss=nn.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    with pytest.raises(nn.NNError, match="cannot be set"):
        sched.fit(X, y, epochs=1, verbose=0, callbacks=[nn.LearningRateScheduler(lambda e, lr: lr / 2)])


def test_reduce_lr_in_fit_and_its_printed_line(capsys):
    model = _ours()
    cb = nn.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=10.0, verbose=1)
    h = model.fit(X, y, epochs=3, verbose=0, seed=0, callbacks=[cb])
    # the rate an epoch ran with, logged before the reduction (Keras's order)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)
    out = capsys.readouterr().out
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05." in out and "Epoch 3:" in out


def test_terminate_on_nan_and_csv_logger(tmp_path, capsys):
    path = tmp_path / "log.csv"
    model = _ours()
    model.fit(X, y, epochs=2, verbose=0, seed=0, validation_split=0.25, callbacks=[nn.CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1"] and float(rows[1]["loss"]) == pytest.approx(model.history.history["loss"][1])
    assert list(rows[0])[:3] == ["epoch", "loss", "max_logit_gap"]  # then the other keys, sorted
    model.fit(X, y, epochs=1, verbose=0, seed=0, validation_split=0.25, callbacks=[nn.CSVLogger(path, append=True)])
    assert len(list(csv.DictReader(path.open()))) == 3  # one header
    with pytest.raises(nn.NNError, match="CSVLogger cannot write"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[nn.CSVLogger(tmp_path / "no" / "dir.csv")])
    # a huge rate overflows the logits: the running loss turns inf or NaN and the fit stops after that batch
    bad = _ours(1e300)
    cb = nn.TerminateOnNaN()
    h = bad.fit(X * 1e300, y, epochs=3, batch_size=8, verbose=0, seed=0, on_nonfinite="continue", callbacks=[cb])
    assert len(h.epoch) == 1 and "Invalid loss, terminating training" in capsys.readouterr().out
