"""Mine vs gold: a CNN's forward pass in stabkit and in Keras 3 on JAX, with
Keras's own initial weights, in float64 (strides, both paddings, odd sizes).

Keras runs in a child process: its backend and JAX's x64 mode are process-wide
settings that no other test should inherit.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from stabkit.nn import Conv2D, Dense, Flatten, MaxPooling2D, Sequential

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None,
        reason="Keras 3 and JAX are not installed (pip install keras jax)",
    ),
]

#: the same network on both sides: (layer kind, arguments)
NET = [
    ("Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu")),
    ("MaxPooling2D", dict(pool_size=2, padding="same")),
    ("Conv2D", dict(filters=5, kernel_size=(2, 3), padding="same", activation="sigmoid")),
    ("Conv2D", dict(filters=3, kernel_size=2, strides=(1, 2), padding="valid")),
    ("MaxPooling2D", dict(pool_size=(2, 1), strides=1, padding="valid")),
    ("Flatten", {}),
    ("Dense", dict(units=6)),
]
SHAPE = (17, 15, 2)  # odd sizes: 'same' pads an odd number of pixels

KERAS_SCRIPT = """
import sys
import numpy as np
import keras
keras.config.set_floatx("float64")
keras.utils.set_random_seed(0)
net = eval(sys.argv[2])
model = keras.Sequential([keras.Input(eval(sys.argv[3]))] + [getattr(keras.layers, k)(**a) for k, a in net])
x = np.load(sys.argv[1] + "/x.npy")
initial = model.get_weights()
rng = np.random.default_rng(1)
model.set_weights([w if w.ndim > 1 else rng.normal(size=w.shape) for w in initial])  # nonzero biases
np.savez(sys.argv[1] + "/keras.npz", y=np.asarray(model.predict(x, verbose=0)), *initial, *model.get_weights())
"""


def test_forward_matches_keras_with_keras_weights(tmp_path):
    x = np.random.default_rng(0).normal(size=(5, *SHAPE))
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", KERAS_SCRIPT, str(tmp_path), repr(NET), repr(SHAPE)],
                       env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    with np.load(tmp_path / "keras.npz") as data:
        gold = data["y"]
        arrays = [data[f"arr_{i}"] for i in range(len(data.files) - 1)]
    initial, weights = arrays[: len(arrays) // 2], arrays[len(arrays) // 2 :]
    assert gold.dtype == np.float64
    layers = {"Conv2D": Conv2D, "MaxPooling2D": MaxPooling2D, "Flatten": Flatten, "Dense": Dense}
    model = Sequential([layers[k](**a) for k, a in NET])
    model.compile(loss="categorical_crossentropy", dtype="float64")
    model.build(SHAPE)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]  # Keras's layout
    for ours, theirs in zip(model.get_weights(), initial, strict=True):  # Keras's initialisers
        if ours.ndim == 1:
            assert not ours.any() and not theirs.any()  # zero biases
        else:  # Glorot-uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)) on both sides
            fans = (np.prod(ours.shape[:-1]), np.prod(ours.shape[:-2]) * ours.shape[-1])
            limit = np.sqrt(6 / sum(fans))
            assert np.max(np.abs(ours)) <= limit and np.max(np.abs(theirs)) <= limit
            assert np.std(ours) == pytest.approx(np.std(theirs), rel=0.35)
    model.set_weights(weights)
    np.testing.assert_allclose(model(x), gold, rtol=1e-12, atol=1e-13)
