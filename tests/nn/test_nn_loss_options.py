"""The trainer's losses: Keras's constructor options, and stabkit's loss
functions in compile()."""

from __future__ import annotations

import numpy as np
import pytest

import stabkit
import stabkit.nn as nn


def test_keras_loss_options_the_trainer_does_not_take_are_named():
    for kw, msg in (({"ignore_class": 3}, "does not take ignore_class=3"), ({"reduction": "sum"}, "reduction='sum'")):
        with pytest.raises(nn.NNError, match=msg):
            nn.losses.SparseCategoricalCrossentropy(**kw)
    # Keras's own defaults are what the trainer does: taken
    nn.losses.SparseCategoricalCrossentropy(reduction="sum_over_batch_size", axis=-1, name="scce")
    with pytest.raises(nn.NNError, match="Keras's label_smoothing goes by name"):
        nn.losses.CategoricalCrossentropy(True, 0.1)


def test_compile_takes_stabkits_loss_functions_as_keras_takes_its_own():
    # compile(loss=keras.losses.sparse_categorical_crossentropy) in Keras;
    # stabkit's function was "unknown loss"
    model = nn.Sequential([nn.Dense(3)])
    model.compile(loss=stabkit.stable.sparse_categorical_crossentropy)
    assert isinstance(model.loss, nn.losses.SparseCategoricalCrossentropy) and model.loss.tier == "stable"
    assert not model.loss.from_logits
    with pytest.raises(nn.NNError, match="no autodiff"):
        model.compile(loss=lambda y, p: 0.0)


def test_a_smoothed_loss_survives_save_and_load(tmp_path):
    model = nn.Sequential([nn.Dense(3)])
    model.compile(loss=nn.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25, name="cce"))
    model.build(4, seed=1)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras").loss
    assert (type(back), back.label_smoothing, back.name, back.from_logits) == (
        nn.losses.CategoricalCrossentropy, 0.25, "cce", True)


def test_keras_defaults_and_numpy_numbers_are_taken():
    loss = nn.losses.SparseCategoricalCrossentropy(ignore_class=None, label_smoothing=np.int64(0), name="s")
    assert loss.label_smoothing == 0.0 and repr(loss).endswith("name='s')")


def test_fit_and_evaluate_without_labels_say_so():
    # evaluate(x) was Python's "missing 1 required positional argument: 'y'"
    model = nn.Sequential([nn.Dense(3)])
    model.compile(loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    for call in (lambda: model.evaluate(np.ones((4, 2))), lambda: model.fit(np.ones((4, 2)), verbose=0)):
        with pytest.raises(nn.NNError, match="no labels: pass y beside x"):
            call()
    assert not model.built  # refused before anything was built
