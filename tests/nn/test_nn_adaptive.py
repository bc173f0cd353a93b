"""Adagrad, Adadelta, Adamax, Nadam and Lion (stabkit/nn/adaptive.py): each
step against Keras 3's own optimizers, by names, in fit, and through
model.save / load_model and copies (their state resumes)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import stabkit.nn as nn
from helpers.nn import keras_optimizer_steps

SLOTS = {"d/kernel": (slice(0, 6), (2, 3)), "d/bias": (slice(6, 9), (3,)), "e/kernel": (slice(9, 12), (3, 1))}
rng = np.random.default_rng(0)
P0 = rng.standard_normal(12)
STEPS = [rng.standard_normal(12) * s for s in (3.0, 0.1, 10.0, 1.0, 0.5)]
CASES = [("Adagrad", {"learning_rate": 0.1}), ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 1.0}),
         ("Adadelta", {"learning_rate": 1.0}), ("Adadelta", {"learning_rate": 0.5, "rho": 0.5}),
         ("Adamax", {"learning_rate": 0.1}), ("Adamax", {"learning_rate": 0.1, "beta_2": 0.5}),
         ("Nadam", {"learning_rate": 0.1}), ("Nadam", {"learning_rate": 0.05, "beta_1": 0.5, "clipnorm": 1.0}),
         ("Lion", {"learning_rate": 0.01}), ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "weight_decay": 0.1})]  # fmt: skip


def _ours(opt, dtype=np.float32):
    opt.build(SLOTS, 12, dtype)
    p = P0.astype(dtype)
    for g in STEPS:
        opt.apply(p, g.astype(dtype))
    return p


@pytest.mark.parametrize("cls, kw", CASES)
def test_steps_match_keras(cls, kw):
    want = keras_optimizer_steps(cls, kw, SLOTS, P0, STEPS)
    got = _ours(getattr(nn, cls)(**kw))
    # five float32 steps: within 5e-6 (plain Adam differs from Keras's by 1.6e-6 after three), and moved
    assert np.abs(got - want).max() < 5e-6, got - want
    assert np.abs(want - P0).max() > 1e-4  # 20 times the tolerance at least


@pytest.mark.parametrize("cls, kw", CASES[::2])
def test_by_hand_in_float64(cls, kw):
    # the first step written out from Keras's formulas (t = 1)
    g, lr = STEPS[0], kw["learning_rate"]
    if cls == "Adagrad":
        want = P0 - lr * g / np.sqrt(0.1 + g * g + 1e-7)
    elif cls == "Adadelta":
        a = 0.05 * g * g
        want = P0 - lr * np.sqrt(1e-7) * g / np.sqrt(a + 1e-7)
    elif cls == "Adamax":
        want = P0 - lr * (0.1 * g) / (0.1 * (np.abs(g) + 1e-7))
    elif cls == "Nadam":
        u1, u2 = 0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96**2)
        m_hat = u2 * 0.1 * g / (1 - u1 * u2) + (1 - u1) * g / (1 - u1)
        want = P0 - lr * m_hat / (np.sqrt(0.001 * g * g / 0.001) + 1e-7)
    else:
        want = P0 - lr * np.sign(g)
    opt = getattr(nn, cls)(**kw)
    opt.build(SLOTS, 12, np.float64)
    p = P0.copy()
    opt.apply(p, g.copy())
    assert np.allclose(p, want, rtol=1e-12, atol=1e-14)


def test_names_fit_save_and_copy(tmp_path):
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    for name in ("adagrad", "adadelta", "adamax", "nadam", "lion"):
        model = nn.Sequential([nn.Dense(8, "relu"), nn.Dense(3)])
        model.compile(optimizer=name, loss=nn.SparseCategoricalCrossentropy(from_logits=True))
        assert type(model.optimizer).__name__.lower() == name
        lr = {"adadelta": 1.0, "lion": 0.01}.get(name, 0.05)
        model.optimizer.learning_rate = lr
        h = model.fit(X, y, epochs=5, verbose=0, seed=0)
        assert h.history["loss"][-1] < h.history["loss"][0]
        # the state resumes: a saved, a copied and the original model take the same next epoch
        model.save(tmp_path / f"{name}.keras")
        back, twin = nn.load_model(tmp_path / f"{name}.keras"), copy.deepcopy(model)
        for m in (model, back, twin):
            m.fit(X, y, epochs=1, verbose=0, seed=1)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), back.get_weights()))
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights()))
    with pytest.raises(nn.NNError, match="rho must be in \\[0, 1\\)"):
        nn.Adadelta(rho=1.5)
