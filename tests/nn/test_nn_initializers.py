"""kernel_initializer= and bias_initializer= of Dense and Conv2D
(stabkit.nn.initializers): Keras's names and distributions, the defaults'
bits unchanged, seeds, saving, and the errors; against Keras itself where it
is installed."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError
from stabkit.nn import initializers as I

SHAPE = (400, 300)  # fan_in 400, fan_out 300: 120,000 draws


def _expected_std(name: str) -> float:
    """The standard deviation Keras's documentation gives each, for SHAPE."""
    fi, fo = SHAPE
    return {"glorot_uniform": math.sqrt(2 / (fi + fo)), "glorot_normal": math.sqrt(2 / (fi + fo)),
            "he_uniform": math.sqrt(2 / fi), "he_normal": math.sqrt(2 / fi), "lecun_uniform": math.sqrt(1 / fi),
            "lecun_normal": math.sqrt(1 / fi), "random_uniform": 0.1 / math.sqrt(12), "random_normal": 0.05,
            "truncated_normal": 0.05 * 0.87962566103423978}[name]  # fmt: skip


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", "random_uniform", "random_normal", "truncated_normal"])  # fmt: skip
def test_named_initializers_have_keras_spread_and_support(name):
    w = I.get(name)(SHAPE, np.random.default_rng(0))
    assert w.shape == SHAPE and w.dtype == np.float64
    assert abs(w.std() / _expected_std(name) - 1) < 0.01 and abs(w.mean()) < 0.01 * w.std()
    if "uniform" in name:
        limit = math.sqrt(3) * _expected_std(name)
        assert w.max() <= limit and w.min() >= -limit and w.max() > 0.999 * limit
    elif "truncated" in name or name in ("glorot_normal", "he_normal", "lecun_normal"):
        # cut at two standard deviations of the untruncated normal
        cut = 2 * _expected_std(name) / 0.87962566103423978
        assert np.abs(w).max() <= cut and np.abs(w).max() > 0.99 * cut
    else:
        assert np.abs(w).max() > 3 * _expected_std(name)  # untruncated: tails past two


def test_constant_zeros_ones_identity_orthogonal():
    assert np.array_equal(I.get("zeros")((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(I.get("one")((3,)), np.ones(3))
    assert np.array_equal(I.Constant(0.1)((2, 2)), np.full((2, 2), 0.1))
    assert np.array_equal(I.Constant([1, 2])((3, 2)), np.array([[1.0, 2.0]] * 3))
    assert np.array_equal(I.Identity(2.0)((2, 3)), 2 * np.eye(2, 3))
    for shape in ((5, 3), (3, 5), (2, 2, 3, 4)):
        q = I.Orthogonal(seed=1)(shape).reshape(-1, shape[-1])
        gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        assert np.allclose(gram, np.eye(len(gram)), atol=1e-12)
    with pytest.raises(NNError, match="Identity needs a 2-D weight"):
        I.Identity()((3,))
    with pytest.raises(NNError, match="does not fit a weight of shape"):
        I.Constant([1, 2, 3])((2, 2))


def test_default_weights_keep_their_bits():
    # the formula the layers used before initializers existed, draw for draw
    model = nn.Sequential([nn.Conv2D(4, 3, input_shape=(6, 6, 2)), nn.Flatten(), nn.Dense(7), nn.Dense(3)])
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build((6, 6, 2), seed=5)
    rng = np.random.default_rng(5)
    want = []
    for fi, fo, shape in ((9 * 2, 9 * 4, (3, 3, 2, 4)), (64, 7, (64, 7)), (7, 3, (7, 3))):
        limit = np.sqrt(6.0 / (fi + fo))
        want += [rng.uniform(-limit, limit, size=shape), np.zeros(shape[-1])]
    got = model.get_weights()  # build(seed=5) draws from np.random.default_rng(5) (stabkit.nn.seeding.rng)
    assert len(got) == len(want) and all(g.tobytes() == w.tobytes() for g, w in zip(got, want))


def test_layers_take_initializers_and_draw_from_the_model_seed():
    def build(seed, **kw):
        m = nn.Sequential([nn.Dense(6, input_shape=(5,), **kw), nn.Dense(2)])
        m.build((5,), seed=seed)
        return m.get_weights()

    a, b = build(1, kernel_initializer="he_normal", bias_initializer=I.Constant(0.5)), build(1, kernel_initializer="he_normal")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], np.full(6, 0.5)) and not np.array_equal(a[0], build(2)[0])
    # a seeded initializer gives the same values whatever the model's seed, at every call
    s1 = build(1, kernel_initializer=I.HeNormal(seed=7))
    s2 = build(2, kernel_initializer=I.HeNormal(seed=7))
    assert np.array_equal(s1[0], s2[0]) and not np.array_equal(s1[2], s2[2])
    # the bias initializer draws after the kernel's, from the same stream
    r = build(3, bias_initializer="random_normal")
    assert not np.array_equal(r[1], np.zeros(6)) and np.array_equal(r[0], build(3)[0])
    conv = nn.Conv2D(3, 2, kernel_initializer="lecun_uniform", bias_initializer="ones", input_shape=(4, 4, 2))
    nn.Sequential([conv]).build((4, 4, 2), seed=0)
    k, bias = conv.get_weights()
    assert np.abs(k).max() <= math.sqrt(3 / (2 * 2 * 2)) and np.array_equal(bias, np.ones(3))
    # a callable, as Keras calls it
    c = build(0, kernel_initializer=lambda shape, dtype=None: np.full(shape, 0.25))
    assert np.array_equal(c[0], np.full((5, 6), 0.25))


def test_get_takes_keras_identifiers_and_names_the_bad_ones():
    assert isinstance(I.get("HeNormal"), I.HeNormal) and isinstance(I.get("uniform"), I.RandomUniform)
    assert isinstance(I.get(I.GlorotNormal), I.GlorotNormal)
    keras_cfg = {"module": "keras.initializers", "class_name": "HeNormal",
                 "config": {"seed": 3, "input_axes": None, "output_axes": None}, "registered_name": None}  # fmt: skip
    assert I.get(keras_cfg).seed == 3
    vs = I.get({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}})
    assert (vs.scale, vs.mode, vs.distribution) == (2.0, "fan_out", "uniform")
    with pytest.raises(NNError, match="unknown kernel_initializer 'he_norm'; stabkit knows .*he_normal"):
        nn.Dense(2, kernel_initializer="he_norm")
    with pytest.raises(NNError, match="mode must be one of fan_in, fan_out, fan_avg, got 'fan'"):
        I.VarianceScaling(mode="fan")
    with pytest.raises(NNError, match="seed must be None or a non-negative integer"):
        I.HeNormal(seed=-1)
    with pytest.raises(NNError, match="bias_initializer must be a name"):
        nn.Dense(2, bias_initializer=3)
    with pytest.raises(NNError, match="returned float64 of shape \\(2,\\)"):
        nn.Sequential([nn.Dense(2, input_shape=(3,), kernel_initializer=lambda shape, dtype=None: np.ones(2))]).build((3,))


def test_initializers_survive_save_and_from_config(tmp_path):
    model = nn.Sequential([nn.Dense(4, input_shape=(3,), kernel_initializer="he_uniform",
                                    bias_initializer=I.Constant(0.1)), nn.Dense(2, kernel_initializer=I.HeNormal(seed=4))])  # fmt: skip
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    cfg = model.layers[0].get_config()
    assert cfg["kernel_initializer"] == "he_uniform"
    assert cfg["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.1}}
    assert model.layers[1].get_config()["kernel_initializer"] == {"class_name": "HeNormal", "config": {"seed": 4}}
    path = tmp_path / "m.keras"
    model.save(path)
    back = nn.load_model(path)
    assert [type(layer.kernel_initializer) for layer in back.layers] == [I.HeUniform, I.HeNormal]
    assert back.layers[1].kernel_initializer.seed == 4 and back.layers[0].bias_initializer.value == 0.1
    fresh = nn.Sequential.from_config(model.get_config())
    assert isinstance(fresh.layers[0].bias_initializer, I.Constant)
    odd = nn.Sequential([nn.Dense(2, input_shape=(3,), kernel_initializer=lambda shape, dtype=None: np.ones(shape))])
    odd.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(NNError, match="callable initializer .* cannot be saved"):
        odd.save(tmp_path / "odd.keras")
    assert not (tmp_path / "odd.keras").exists()


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", "random_uniform", "random_normal", "truncated_normal", "orthogonal"])  # fmt: skip
def test_same_distributions_as_keras(name):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    theirs = np.asarray(keras.initializers.get(name)(SHAPE), np.float64)
    ours = I.get(name)(SHAPE, np.random.default_rng(1))
    assert abs(ours.std() / theirs.std() - 1) < 0.02
    assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < (0.02 if "uniform" in name else 0.25)
    # the layer's own config names the same class as Keras's layer does
    k = keras.layers.Dense(3, kernel_initializer=name).get_config()["kernel_initializer"]["class_name"]
    assert type(nn.Dense(3, kernel_initializer=name).kernel_initializer).__name__ == k
