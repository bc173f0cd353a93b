"""The lecture's frameworks under test: Keras 3 (``keras.ops``,
``keras.losses``, on whichever backend Keras reports) and TensorFlow
(``tf.nn``, ``tf.keras.losses``).

Both are imported only when asked for (importing Keras takes seconds), and
stabkit never chooses Keras's backend: Keras reads ``KERAS_BACKEND`` (else
``~/.keras/keras.json``) when it is first imported, and a backend that is
not installed makes that import fail; :func:`unavailable` turns that into a
one-line skip reason naming the cause. Adapters follow
:mod:`stabkit.analysis.thirdparty`: arguments in the format under test,
results converted back without rounding (bfloat16 through an exact float32
copy, since backends disagree on handing ml_dtypes' bfloat16 to NumPy), and
fail-soft.

Per-case decisions, each at its line below:

- ``keras.losses.binary_crossentropy`` averages over the last axis; each
  sample is given as a column of one, so that mean is the sample's own loss.
  (Measured with Keras 3.15 on JAX and on PyTorch: ``keras.ops.mean``
  rounds a float64 mean through float32, so this loss has float32's
  accuracy in float64; that is Keras's result, and it is reported as such.)
- On the JAX backend, float64 stays float64 only inside JAX's x64 mode; it
  is switched on around each call, never globally, as for ``jax.nn``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util

import numpy as np

from stabkit.floats import get_format

from .impl import Impl, Unsupported

__all__ = ["CALLS", "LIBRARIES", "unavailable", "keras_impl", "tensorflow_impl", "DeviceUnavailable"]

LIBRARIES = ("keras", "tensorflow")

_ONE = ("sigmoid", "log_sigmoid", "softplus")
_ROWS = ("softmax", "log_softmax", "logsumexp")

#: What each adapter calls, for the report.
CALLS = {
    "keras": {
        **{f: f"keras.ops.{f}" for f in _ONE + _ROWS},
        "binary_crossentropy": "keras.losses.binary_crossentropy(from_logits=True; probabilities: False)",
        "sparse_categorical_crossentropy": "keras.losses.sparse_categorical_crossentropy(from_logits=True; probabilities: False)",
        "categorical_crossentropy": "keras.losses.categorical_crossentropy(from_logits=True; probabilities: False)",
    },
    "tensorflow": {
        "sigmoid": "tf.nn.sigmoid", "log_sigmoid": "tf.math.log_sigmoid", "softplus": "tf.nn.softplus",
        "softmax": "tf.nn.softmax", "log_softmax": "tf.nn.log_softmax", "logsumexp": "tf.math.reduce_logsumexp",
        "binary_crossentropy": "tf.nn.sigmoid_cross_entropy_with_logits (probabilities: tf.keras.losses.binary_crossentropy)",
        "sparse_categorical_crossentropy": "tf.nn.sparse_softmax_cross_entropy_with_logits "
                                           "(probabilities: tf.keras.losses.sparse_categorical_crossentropy)",
        "categorical_crossentropy": "tf.nn.softmax_cross_entropy_with_logits "
                                    "(probabilities: tf.keras.losses.categorical_crossentropy)",
    },
}


class DeviceUnavailable(ValueError):
    """The library runs here, but not on the device asked for."""


#: library -> skip reason (None: it imports); an import is tried once per process
_IMPORTED: dict[str, str | None] = {}


def unavailable(name: str) -> str | None:
    """None when ``keras`` / ``tensorflow`` imports here, else a one-line
    reason. Imports the library (the first call only)."""
    if name not in _IMPORTED:
        _IMPORTED[name] = _try_import(name)
    return _IMPORTED[name]


def _try_import(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return f"{name}: skipped, package {name!r} is not installed (pip install {name})"
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure to import is a reason to skip, shown in one line
        first = (str(e).strip().splitlines() or [""])[0]
        why = f"{type(e).__name__}: {first}" if first else type(e).__name__
        if name == "keras":
            return (f"keras: skipped, importing it failed ({why}); Keras loads the backend named by "
                    "KERAS_BACKEND (else ~/.keras/keras.json): set it to an installed one (jax, torch or tensorflow)")
        return f"{name}: skipped, importing it failed ({why})"
    if name == "keras" and not hasattr(mod, "ops"):
        return f"keras: skipped, keras {mod.__version__} is not Keras 3 (no keras.ops; pip install 'keras>=3')"
    return None


def _bf16():
    return get_format("bfloat16").dtype


# ------------------------------------------------------------ Keras 3


def _keras_device(keras, device: str) -> str:
    """Keras's name for ``device``; DeviceUnavailable when its backend has no GPU."""
    if device != "cuda":
        return "cpu"
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError as e:
            raise DeviceUnavailable(f"keras: --device cuda requested but its jax backend has no GPU "
                                    f"({str(e).splitlines()[0]})") from None
    elif backend == "torch":
        import torch

        if not torch.cuda.is_available():
            raise DeviceUnavailable("keras: --device cuda requested but its torch backend has no GPU "
                                    "(torch.cuda.is_available() is False)")
    elif backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise DeviceUnavailable("keras: --device cuda requested but its tensorflow backend has no GPU "
                                    "(tf.config.list_physical_devices('GPU') is empty)")
    return "gpu"


def _x64(backend: str):
    """JAX's x64 mode for one call on the JAX backend, else nothing."""
    if backend != "jax":
        return contextlib.nullcontext()
    import jax

    # jax.enable_x64 in recent JAX releases, jax.experimental.enable_x64 in older ones
    x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else importlib.import_module("jax.experimental").enable_x64
    return x64(True)


def keras_impl(device: str = "cpu") -> Impl:
    """Keras 3 on the backend it was loaded with (ValueError when it cannot run)."""
    reason = unavailable("keras")
    if reason:
        raise ValueError(reason)
    import keras

    ops, losses, backend = keras.ops, keras.losses, keras.backend.backend()
    where = _keras_device(keras, device)
    bf16 = _bf16()

    def to_k(a):
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            return ops.convert_to_tensor(a.astype(np.int64))
        if a.dtype == bf16:  # float32 holds every bfloat16: the cast back is exact
            return ops.cast(ops.convert_to_tensor(a.astype(np.float32)), "bfloat16")
        return ops.convert_to_tensor(a)

    def to_np(t):
        if keras.backend.standardize_dtype(t.dtype) == "bfloat16":
            return np.asarray(ops.convert_to_numpy(ops.cast(t, "float32"))).astype(bf16)
        return np.asarray(ops.convert_to_numpy(t))

    def fn(function, from_logits, args):
        with _x64(backend), keras.device(where):
            a = [to_k(v) for v in args]
            if function in _ONE:
                r = getattr(ops, function)(a[0])
            elif function in _ROWS:
                r = getattr(ops, function)(a[0], axis=-1)
            elif function == "binary_crossentropy":
                # the loss is a mean over the last axis: over a column of one it is the sample's own value
                # (Keras rounds that mean through float32, see the module's docstring)
                y, z = (ops.expand_dims(v, -1) for v in a)
                r = losses.binary_crossentropy(y, z, from_logits=from_logits)
            elif function == "sparse_categorical_crossentropy":
                r = losses.sparse_categorical_crossentropy(a[0], a[1], from_logits=from_logits)
            elif function == "categorical_crossentropy":
                r = losses.categorical_crossentropy(a[0], a[1], from_logits=from_logits)
            else:
                raise Unsupported
            return to_np(r)

    label = f"keras {keras.__version__} ({backend} backend" + (", cuda)" if device == "cuda" else ")")
    return Impl("keras", fn, label, fail_soft=True)


# ------------------------------------------------------------ TensorFlow


def tensorflow_impl(device: str = "cpu") -> Impl:
    """TensorFlow's ``tf.nn`` (and ``tf.keras.losses`` for probabilities)."""
    reason = unavailable("tensorflow")
    if reason:
        raise ValueError(reason)
    import tensorflow as tf

    if device == "cuda" and not tf.config.list_physical_devices("GPU"):
        raise DeviceUnavailable("tensorflow: --device cuda requested but tf.config.list_physical_devices('GPU') is empty")
    where = "/GPU:0" if device == "cuda" else "/CPU:0"
    bf16 = _bf16()

    def to_t(a):
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            return tf.constant(a.astype(np.int64))
        if a.dtype == bf16:  # exact both ways, as for Keras
            return tf.cast(tf.constant(a.astype(np.float32)), tf.bfloat16)
        return tf.constant(a)

    def to_np(t):
        if t.dtype == tf.bfloat16:
            return tf.cast(t, tf.float32).numpy().astype(bf16)
        return t.numpy()

    one = {"sigmoid": tf.nn.sigmoid, "log_sigmoid": tf.math.log_sigmoid, "softplus": tf.nn.softplus}
    rows = {"softmax": tf.nn.softmax, "log_softmax": tf.nn.log_softmax, "logsumexp": tf.math.reduce_logsumexp}
    nn_losses = {"binary_crossentropy": tf.nn.sigmoid_cross_entropy_with_logits,
                 "sparse_categorical_crossentropy": tf.nn.sparse_softmax_cross_entropy_with_logits,
                 "categorical_crossentropy": tf.nn.softmax_cross_entropy_with_logits}

    def fn(function, from_logits, args):
        with tf.device(where):
            a = [to_t(v) for v in args]
            if function in one:
                return to_np(one[function](a[0]))
            if function in rows:
                return to_np(rows[function](a[0], axis=-1))
            if function not in nn_losses:
                raise Unsupported
            y, z = a
            if y.dtype.is_floating:
                y = tf.cast(y, z.dtype)
            if from_logits:
                return to_np(nn_losses[function](labels=y, logits=z))
            keras_loss = getattr(tf.keras.losses, function)
            if function == "binary_crossentropy":
                # Keras's mean over the last axis, over a column of one: the sample's own loss
                return to_np(keras_loss(y[..., None], z[..., None], from_logits=False))
            return to_np(keras_loss(y, z, from_logits=False))

    version = f"tensorflow {tf.__version__}" + (" (cuda)" if device == "cuda" else "")
    return Impl("tensorflow", fn, version, fail_soft=True)
