"""Keras's optimizer options that change the update: clipnorm,
global_clipnorm, clipvalue, weight_decay (and AdamW), Adam's amsgrad. Their
arithmetic by hand, the trained and frozen weights, fit and saving, and
each step against Keras's own optimizers where Keras is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import stabkit.nn as nn
from helpers.nn import keras_optimizer_steps
from stabkit.nn import gradopts

SLOTS = {"d/kernel": (slice(0, 6), (2, 3)), "d/bias": (slice(6, 9), (3,)), "e/kernel": (slice(9, 12), (3, 1))}
rng = np.random.default_rng(0)
P0 = rng.standard_normal(12)
STEPS = [rng.standard_normal(12) * s for s in (3.0, 0.1, 10.0)]  # gradients above and below the clip values


def _ours(opt, dtype=np.float64, runs=None):
    opt.build(SLOTS, 12, dtype)
    p = P0.astype(dtype)
    for g in STEPS:
        opt.apply(p, g.astype(dtype), runs)
    return p


def test_clipping_by_hand():
    g = np.array([3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    out = np.empty(12)
    spans = [sl for sl, _ in SLOTS.values()]
    # clipnorm 1: the kernel's norm 5 -> 1, the bias' 1 stays, the last (0) stays 0
    c = gradopts.clipped(out, g, None, spans, "clipnorm", 1.0)
    assert np.allclose(c[:2], [0.6, 0.8]) and c[6] == 1.0 and not c[9:].any()
    # global_clipnorm 2: joint norm sqrt(26) -> 2
    c = gradopts.clipped(out, g, None, spans, "global_clipnorm", 2.0)
    assert math.isclose(float(np.linalg.norm(c)), 2.0) and np.allclose(c / g.max(), c[0] / 3.0 * g / g.max())
    c = gradopts.clipped(out, g, None, spans, "clipvalue", 2.0)
    assert list(c[:2]) == [2.0, 2.0] and c[6] == 1.0
    # a NaN spreads through its weight's norm (clipnorm) or the joint one, as in Keras
    bad = g.copy()
    bad[6] = np.nan
    assert np.isnan(gradopts.clipped(out, bad, None, spans, "clipnorm", 1.0)[6:9]).all()
    assert not np.isnan(out[:6]).any()
    assert np.isnan(gradopts.clipped(out, bad, None, spans, "global_clipnorm", 1.0)).all()


def test_only_trained_weights_are_clipped_decayed_and_updated():
    runs = [slice(0, 9)]  # the last weight frozen
    for opt in (nn.SGD(0.1, clipnorm=0.5), nn.Adam(0.1, global_clipnorm=0.5, weight_decay=0.1)):
        p = _ours(opt, runs=runs)
        assert np.array_equal(p[9:], P0[9:]) and not np.array_equal(p[:9], P0[:9])
    # the joint norm is the trained weights' only: freezing a weight changes the others' step
    a, b = _ours(nn.SGD(0.1, global_clipnorm=0.5), runs=runs), _ours(nn.SGD(0.1, global_clipnorm=0.5))
    assert not np.allclose(a[:9], b[:9])


def test_weight_decay_is_decoupled_and_zero_options_do_nothing():
    # SGD with decay: p - p wd lr, then - lr g
    opt = nn.SGD(0.1, weight_decay=0.5)
    opt.build(SLOTS, 12, np.float64)
    p, g = P0.copy(), STEPS[0]
    opt.apply(p, g)
    assert np.allclose(p, (P0 - P0 * 0.5 * 0.1) - 0.1 * g, rtol=0, atol=1e-15)
    plain = _ours(nn.Adam(0.01))
    for kw in ({"clipnorm": 0.0}, {"clipvalue": -1.0}, {"global_clipnorm": None}, {"weight_decay": None}):
        assert np.array_equal(_ours(nn.Adam(0.01, **kw)), plain)  # Keras acts only on a positive clip value
    assert not np.array_equal(_ours(nn.Adam(0.01, amsgrad=True)), plain)
    assert nn.AdamW().weight_decay == 0.004 and "weight_decay=0.004" in repr(nn.AdamW())
    with pytest.raises(nn.NNError, match="AdamW's weight_decay must be a number"):
        nn.AdamW(weight_decay=None)


def test_gradients_of_the_model_stay_unclipped_and_fit_trains():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    for opt in (nn.Adam(0.05, clipnorm=0.01), nn.AdamW(0.05, amsgrad=True), nn.RMSprop(0.01, clipvalue=0.01)):
        model = nn.Sequential([nn.Dense(8, "relu"), nn.Dense(3)])
        model.compile(optimizer=opt, loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
        h = model.fit(X, y, epochs=20, batch_size=64, verbose=0, seed=0)
        assert h.history["loss"][-1] < h.history["loss"][0]
    # the last step's gradients, as the model holds them: not clipped in place (the output
    # kernel's norm is past the last optimizer's clip value, which each entry would then be below)
    assert np.abs(model._G).max() > 0.01
    # clipped to 1e-9 by value, Adam still moves each weight by about lr a step (its update is scale-free)
    # but SGD barely moves: the clipping acts inside fit
    model = nn.Sequential([nn.Dense(3, input_shape=(5,))])
    model.compile(optimizer=nn.SGD(1.0, clipvalue=1e-9), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.build((5,), seed=0)
    w0 = model.get_weights()[0].copy()
    model.fit(X, y, epochs=1, batch_size=64, verbose=0, seed=0)
    assert np.abs(model.get_weights()[0] - w0).max() <= 1.01e-9


def test_options_are_saved(tmp_path):
    model = nn.Sequential([nn.Dense(3, input_shape=(4,))])
    model.compile(optimizer=nn.AdamW(1e-3, weight_decay=0.01, clipnorm=1.0, amsgrad=True),
                  loss=nn.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    cfg = model.optimizer.get_config()
    assert cfg["weight_decay"] == 0.01 and cfg["clipnorm"] == 1.0 and cfg["amsgrad"] is True
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras").optimizer
    assert type(back) is nn.AdamW and (back.weight_decay, back.clipnorm, back.amsgrad) == (0.01, 1.0, True)
    assert "clipnorm" not in nn.Adam().get_config()  # unset options stay out, as before


@pytest.mark.parametrize("cls, kw", [
    ("SGD", {"learning_rate": 0.1, "clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "global_clipnorm": 2.0}),
    ("SGD", {"learning_rate": 0.1, "clipvalue": 0.5, "weight_decay": 0.2}),
    ("Adam", {"learning_rate": 0.1, "beta_2": 0.5, "amsgrad": True}),  # v falls fast: v_hat matters
    ("Adam", {"learning_rate": 0.1, "clipnorm": 0.5, "weight_decay": 0.1}),
    ("AdamW", {"learning_rate": 0.1}),
    ("RMSprop", {"learning_rate": 0.05, "global_clipnorm": 1.0, "weight_decay": 0.05}),
])  # fmt: skip
def test_steps_match_keras(cls, kw):
    want = keras_optimizer_steps(cls, kw, SLOTS, P0, STEPS)
    got = _ours(getattr(nn, cls)(**kw), np.float32)
    # float32 steps of lr 0.1 on weights near 1: plain Adam differs from Keras's by up to 1.6e-6 too
    assert np.abs(got - want).max() < 5e-6, (got - want)
    # and each option moves the weights far more than that
    plain = {k: v for k, v in kw.items() if k not in ("clipnorm", "global_clipnorm", "clipvalue", "weight_decay",
                                                      "amsgrad")}  # fmt: skip
    without = _ours(getattr(nn, "Adam" if cls == "AdamW" else cls)(**plain), np.float32)
    assert np.abs(without - want).max() > 1e-4
