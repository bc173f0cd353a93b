"""The activations beyond the lecture's (elu, selu, gelu, silu/swish,
leaky_relu, softplus, softsign, relu6, hard_sigmoid, exponential): values
against their formulas and against Keras's own, gradients against central
differences, and a network with each training on the NumPy step."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import _native, activations

NAMES = ["elu", "selu", "gelu", "silu", "swish", "leaky_relu", "softplus", "softsign", "relu6", "hard_sigmoid",
         "exponential"]  # fmt: skip
# both sides of every kink and saturation (0, +-3, 6), the tails, and values near 0
Z = np.concatenate([np.linspace(-8, 8, 161), [-1e-9, 1e-9, -3.0001, -2.9999, 2.9999, 3.0001, 5.9999, 6.0001,
                                              -40.0, 40.0]])  # fmt: skip
Z = Z[np.min(np.abs(Z[:, None] - np.array([0.0, -3.0, 3.0, 6.0])), axis=1) > 1e-12]  # none on a kink itself


def _formula(name: str, z: np.ndarray) -> np.ndarray:
    """Each activation written out plainly in mpmath-free float64."""
    erf = np.vectorize(math.erf)
    return {"elu": np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
            "selu": 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(np.minimum(z, 0))),
            "gelu": 0.5 * z * (1 + erf(z / math.sqrt(2))),
            "silu": z / (1 + np.exp(-z)), "swish": z / (1 + np.exp(-z)),
            "leaky_relu": np.where(z > 0, z, 0.2 * z), "softplus": np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0),
            "softsign": z / (1 + np.abs(z)), "relu6": np.minimum(np.maximum(z, 0), 6),
            "hard_sigmoid": np.minimum(np.maximum(z + 3, 0), 6) / 6, "exponential": np.exp(z)}[name]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients(name):
    act = activations.get(name)
    a = act.forward(Z.copy())
    assert np.allclose(a, _formula(name, Z), rtol=1e-13, atol=1e-15)
    # the backward pass against central differences (h = 1e-6), beyond 2h of the kinks (0, +-3, 6)
    h = 1e-6
    z = Z[np.min(np.abs(Z[:, None] - np.array([0.0, -3.0, 3.0, 6.0])), axis=1) > 2 * h]
    numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    g = act.backward(np.ones_like(z), z.copy(), act.forward(z.copy()))
    scale = np.maximum(1, np.abs(numeric))
    assert np.all(np.abs(g - numeric) / scale < 1e-6), name
    # float32 in, float32 out
    assert act.forward(Z.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_same_values_as_keras(name):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    z = Z.astype(np.float32)
    theirs = np.asarray(keras.ops.convert_to_numpy(keras.activations.get(name)(z)), np.float64)
    ours = activations.get(name)(z).astype(np.float64)
    assert np.allclose(ours, theirs, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "selu", "silu", "leaky_relu"])
def test_networks_train_with_them(name):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, 6)), rng.integers(0, 3, 128)
    model = nn.Sequential([nn.Dense(16, activation=name), nn.Dense(3)])
    model.compile(optimizer=nn.Adam(0.01), loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    h = model.fit(X, y, epochs=30, batch_size=32, verbose=0, seed=0)
    assert h.history["loss"][-1] < 0.9 * h.history["loss"][0]
    assert h.params["step"] == "NumPy" and h.params["step_reason"] in (f"a {activations.get(name).name} hidden layer",
                                                                        _native.status()[1])  # fmt: skip
    assert model.layers[0].get_config()["activation"] == activations.get(name).name


def test_unknown_names_list_the_known_ones():
    with pytest.raises(nn.NNError, match="unknown activation 'mish'; use one of .*gelu.*swish"):
        nn.Dense(2, activation="mish")
    assert isinstance(activations.get("Swish"), activations.SiLU)


def test_keras_function_names_work_as_activations_and_on_arrays():
    # keras.activations.relu is a function a layer takes and an array goes through
    for name in ["relu", "sigmoid", "tanh", "softmax", *NAMES]:
        fn = getattr(activations, name)
        assert activations.get(fn) is fn and fn.__name__ == activations.get(name).name
        z = Z[:12].reshape(3, 4)
        assert np.array_equal(fn(z), activations.get(name).forward(z.copy()))
    layer = nn.Dense(3, activation=activations.gelu)
    assert layer.get_config()["activation"] == "gelu"
