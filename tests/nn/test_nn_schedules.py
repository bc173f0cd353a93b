"""Learning-rate schedules: the rates and the updates they give, against
Keras 3 (JAX backend); the optimizer's ``learning_rate`` under a schedule; a
saved model keeps its schedule; bad arguments."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import schedules

SCHEDULES = [
    ("CosineDecay", dict(initial_learning_rate=0.02, decay_steps=40)),
    ("CosineDecay", dict(initial_learning_rate=0.02, decay_steps=40, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=30, warmup_target=0.05, warmup_steps=10)),
    ("ExponentialDecay", dict(initial_learning_rate=0.01, decay_steps=7, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.01, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 25], values=[0.1, 0.01, 0.001])),
]
IDS = [f"{n}-{sorted(k)}" for n, k in SCHEDULES]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    if keras.backend.backend() != "jax":  # pragma: no cover
        pytest.skip("these comparisons are written for Keras's JAX backend")
    return keras


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=IDS)
def test_rates_match_keras(name, kwargs):
    keras = _keras()
    ours, theirs = getattr(nn, name)(**kwargs), getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = np.arange(0, 61)  # through the warm-up, the boundaries and past the end of the decay
    got = np.array([ours(int(k)) for k in steps])
    want = np.array([float(theirs(int(k))) for k in steps])
    # Keras computes in float32, these in float64
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-9)
    assert len(np.unique(np.round(got, 9))) > 2  # the rate did change


@pytest.mark.parametrize("optimizer,schedule", [("Adam", 0), ("SGD", 5), ("RMSprop", 3)])
def test_updates_under_a_schedule_match_keras(optimizer, schedule):
    """Update k uses the rate at step k (0-based), as Keras's does; the decay
    is shorter than the run, so the rate past its end is checked too."""
    keras = _keras()
    name, kwargs = SCHEDULES[schedule]
    kwargs = {**kwargs, "decay_steps": 4} if "decay_steps" in kwargs else {**kwargs, "boundaries": [2, 4]}
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(100).astype(np.float32)
    grads = rng.standard_normal((8, 100)).astype(np.float32)
    ours = getattr(nn, optimizer)(learning_rate=getattr(nn, name)(**kwargs))
    ours.build({"w": (slice(0, 100), (100,))}, 100, np.float32)
    theirs = getattr(keras.optimizers, optimizer)(learning_rate=getattr(keras.optimizers.schedules, name)(**kwargs))
    p, v = p0.copy(), keras.Variable(p0.copy())
    for g in grads:
        assert ours.learning_rate == pytest.approx(float(theirs.learning_rate), rel=2e-6, abs=1e-9)
        ours.apply(p, g.copy())
        theirs.apply([g], [v])
        np.testing.assert_allclose(p, np.asarray(v), rtol=1e-6, atol=1e-6)
    assert not np.allclose(p, p0)


def test_learning_rate_follows_the_schedule_and_cannot_be_set():
    opt = nn.Adam(learning_rate=nn.CosineDecay(0.02, 10))
    opt.build({"w": (slice(0, 3), (3,))}, 3, np.float32)
    assert opt.learning_rate == 0.02
    p = np.ones(3, np.float32)
    for _ in range(5):
        opt.apply(p, np.ones(3, np.float32))
    assert opt.learning_rate == pytest.approx(0.01)  # half way down the cosine
    with pytest.raises(nn.NNError, match="follows CosineDecay"):
        opt.learning_rate = 0.1
    plain = nn.SGD(learning_rate=0.1)
    plain.learning_rate = 0.05
    assert plain.learning_rate == 0.05
    with pytest.raises(nn.NNError, match="learning_rate must be a positive number"):
        plain.learning_rate = -1.0
    assert "CosineDecay(initial_learning_rate=0.02" in repr(opt)


def test_a_saved_model_keeps_its_schedule_and_step(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 3, 64)
    model = nn.Sequential([nn.Input((5,)), nn.Dense(4, activation="relu"), nn.Dense(3)])
    model.compile(optimizer=nn.Adam(learning_rate=nn.ExponentialDecay(0.01, 4, 0.5)),
                  loss=nn.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=0)
    model.save(tmp_path / "m.keras")
    back = nn.load_model(tmp_path / "m.keras")
    assert back.optimizer.iterations == 4
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert back.optimizer.learning_rate == pytest.approx(0.005)  # 0.01 * 0.5 ** (4 / 4)
    # both continue identically
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=1, shuffle=False)
    back.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=1, shuffle=False)
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make,message", [
    (lambda: nn.CosineDecay(0.01, 0), "decay_steps must be a positive number"),
    (lambda: nn.ExponentialDecay(0.01, 10, float("nan")), "decay_rate must be a positive number"),
    (lambda: nn.PiecewiseConstantDecay([5, 10], [0.1, 0.01]), "one more entry than boundaries"),
    (lambda: nn.PiecewiseConstantDecay([10, 5], [0.1, 0.01, 0.001]), "boundaries must increase"),
    (lambda: nn.Adam(learning_rate={"class_name": "OneCycle", "config": {}}), "learning_rate must be"),
    (lambda: nn.Adam(learning_rate={"class_name": "CosineDecay", "config": {"steps": 3}}), "schedule CosineDecay"),
    (lambda: schedules.get("cosine"), "learning_rate must be"),
])  # fmt: skip
def test_bad_arguments_are_named(make, message):
    with pytest.raises(nn.NNError, match=message):
        make()
