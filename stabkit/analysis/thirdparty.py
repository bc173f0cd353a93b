"""Implementations under test: stabkit's three tiers and adapters for the
libraries users already call (SciPy, NumPy, PyTorch, JAX/optax; Keras and
TensorFlow in :mod:`stabkit.analysis.keras_tf`).

Every implementation is an :class:`Impl` (:mod:`stabkit.analysis.impl`) whose ``evaluate`` takes the
function's NumPy arguments in the format under test and returns the result in
that format, plus a note when the library could not compute in that format
(it returned another dtype, or had to be fed an upcast copy). The result is
then rounded once to the format, so an upcasting library is measured on what
a user who casts back would see. A library that is not installed is skipped
with a one-line reason; one that lacks a function is marked "n/a".

Third-party implementations fail soft (``Impl.fail_soft``): an exception
inside a library's call is recorded by :mod:`stabkit.analysis` as that cell's
error and the other cells go on; an exception inside one of stabkit's own
tiers is a bug and propagates.

Upcasts decided per case, each documented at its adapter:

- SciPy's ``logsumexp`` (1.17) rejects ml_dtypes' bfloat16 with a TypeError
  (``numpy.isdtype`` refuses non-NumPy dtypes); the adapter then feeds it a
  float32 copy (exact: float32 holds every bfloat16), as a user must, and
  notes it. It tries bfloat16 first, so a SciPy that accepts it again is
  measured natively.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from stabkit.floats import get_format
from stabkit.registry import TIERS

from . import keras_tf
from .impl import Impl, Unsupported, tier_impl
from .keras_tf import DeviceUnavailable

__all__ = ["Impl", "Unsupported", "DeviceUnavailable", "CALLS", "FRAMEWORKS", "resolve", "tier_impl",
           "framework_impl", "available", "KNOWN_IMPLS"]

FRAMEWORKS = ("scipy", "numpy", "torch", "jax", *keras_tf.LIBRARIES)
KNOWN_IMPLS = TIERS + FRAMEWORKS


#: What each adapter calls, for the report.
CALLS = {
    "scipy": {
        "sigmoid": "scipy.special.expit", "log_sigmoid": "scipy.special.log_expit", "softplus": "scipy.special.softplus",
        "softmax": "scipy.special.softmax", "log_softmax": "scipy.special.log_softmax", "logsumexp": "scipy.special.logsumexp",
        "binary_crossentropy": "-(y*log_expit(z) + (1-y)*log_expit(-z))",
        "sparse_categorical_crossentropy": "-log_softmax(z)[y]", "categorical_crossentropy": "-sum(y*log_softmax(z))",
    },
    "numpy": {
        "sigmoid": "exp(-logaddexp(0, -x))", "log_sigmoid": "-logaddexp(0, -x)", "softplus": "logaddexp(0, x)",
        "softmax": "exp(x - logaddexp.reduce(x))", "log_softmax": "x - logaddexp.reduce(x)", "logsumexp": "logaddexp.reduce(x)",
        "binary_crossentropy": "y*logaddexp(0, -z) + (1-y)*logaddexp(0, z)",
        "sparse_categorical_crossentropy": "logaddexp.reduce(z) - z[y]", "categorical_crossentropy": "sum(y*(logaddexp.reduce(z) - z))",
    },
    "torch": {
        "sigmoid": "torch.sigmoid", "log_sigmoid": "F.logsigmoid", "softplus": "F.softplus", "softmax": "torch.softmax",
        "log_softmax": "torch.log_softmax", "logsumexp": "torch.logsumexp",
        "binary_crossentropy": "F.binary_cross_entropy_with_logits (probabilities: F.binary_cross_entropy)",
        "sparse_categorical_crossentropy": "F.cross_entropy (class indices)", "categorical_crossentropy": "F.cross_entropy (probability targets)",
    },
    "jax": {
        "sigmoid": "jax.nn.sigmoid", "log_sigmoid": "jax.nn.log_sigmoid", "softplus": "jax.nn.softplus", "softmax": "jax.nn.softmax",
        "log_softmax": "jax.nn.log_softmax", "logsumexp": "jax.nn.logsumexp",
        "binary_crossentropy": "optax.sigmoid_binary_cross_entropy",
        "sparse_categorical_crossentropy": "optax.softmax_cross_entropy_with_integer_labels",
        "categorical_crossentropy": "optax.softmax_cross_entropy",
    },
    **keras_tf.CALLS,
}


# ------------------------------------------------------------ SciPy and NumPy


def _scipy_rows(fn, x):
    """``fn(x, axis=-1)``; bfloat16 that SciPy rejects with a TypeError
    (``logsumexp`` in 1.17: ``numpy.isdtype`` refuses ml_dtypes) is fed as
    an exact float32 copy, with a note. Only bfloat16 and only that error:
    anything else is the library's own failure and is reported as such."""
    if x.dtype != get_format("bfloat16").dtype:
        return fn(x, axis=-1)
    try:
        return fn(x, axis=-1)
    except TypeError as e:
        y = fn(x.astype(np.float32), axis=-1)
        return y, f"rejects bfloat16 ({type(e).__name__}); fed a float32 copy, rounded to bfloat16"


def _scipy_fn(function, from_logits, args):
    import scipy.special as sp

    one = {"sigmoid": sp.expit, "log_sigmoid": sp.log_expit, "softplus": sp.softplus}
    if function in one:
        return one[function](args[0])
    rows = {"softmax": sp.softmax, "log_softmax": sp.log_softmax, "logsumexp": sp.logsumexp}
    if function in rows:
        return _scipy_rows(rows[function], args[0])
    if not from_logits:
        raise Unsupported  # SciPy has no probability-space losses
    # the losses as users write them from SciPy's building blocks
    y, z = args
    if function == "binary_crossentropy":
        return -(y * sp.log_expit(z) + (1 - y) * sp.log_expit(-z))
    logp = sp.log_softmax(z, axis=-1)
    if function == "sparse_categorical_crossentropy":
        return -np.take_along_axis(logp, np.asarray(y)[:, None], axis=-1)[:, 0]
    return -(y * logp).sum(axis=-1)


def _numpy_fn(function, from_logits, args):
    if not from_logits:
        raise Unsupported
    la = np.logaddexp
    if function == "softplus":
        return la(0, args[0]).astype(args[0].dtype)
    if function == "log_sigmoid":
        return -la(0, -args[0]).astype(args[0].dtype)
    if function == "sigmoid":
        return np.exp(-la(0, -args[0])).astype(args[0].dtype)
    if function in ("softmax", "log_softmax", "logsumexp"):
        x = args[0]
        lse = la.reduce(x, axis=-1, keepdims=True)
        if function == "logsumexp":
            return lse[..., 0]
        return x - lse if function == "log_softmax" else np.exp(x - lse)
    y, z = args
    if function == "binary_crossentropy":
        return y * la(0, -z) + (1 - y) * la(0, z)
    lse = la.reduce(z, axis=-1, keepdims=True)
    if function == "sparse_categorical_crossentropy":
        return (lse - np.take_along_axis(z, np.asarray(y)[:, None], axis=-1))[:, 0]
    return (y * (lse - z)).sum(axis=-1)


# ------------------------------------------------------------ PyTorch


def _torch_fn(device: str):
    import torch
    import torch.nn.functional as F

    def to_t(a):
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            return torch.from_numpy(a.astype(np.int64)).to(device)
        if a.dtype == get_format("bfloat16").dtype:
            return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16).to(device)
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    def to_np(t):
        t = t.detach().cpu()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(get_format("bfloat16").dtype)
        return t.numpy()

    def fn(function, from_logits, args):
        a = [to_t(v) for v in args]
        if function == "sigmoid":
            r = torch.sigmoid(a[0])
        elif function == "log_sigmoid":
            r = F.logsigmoid(a[0])
        elif function == "softplus":
            r = F.softplus(a[0])
        elif function in ("softmax", "log_softmax", "logsumexp"):
            r = {"softmax": torch.softmax, "log_softmax": torch.log_softmax, "logsumexp": torch.logsumexp}[function](a[0], -1)
        elif function == "binary_crossentropy":
            y, z = a
            if from_logits:
                r = F.binary_cross_entropy_with_logits(z, y, reduction="none")
            else:
                r = F.binary_cross_entropy(z, y, reduction="none")
        elif function in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
            if not from_logits:
                raise Unsupported  # cross_entropy takes logits only
            y, z = a
            r = F.cross_entropy(z, y, reduction="none")
        else:
            raise Unsupported
        return to_np(r)

    return fn


# ------------------------------------------------------------ JAX and optax


def _jax_fn(device: str):
    import jax
    import jax.numpy as jnp

    # jax.enable_x64 in recent JAX releases, jax.experimental.enable_x64 in older ones
    x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else importlib.import_module("jax.experimental").enable_x64
    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    optax = importlib.import_module("optax") if importlib.util.find_spec("optax") else None

    def fn(function, from_logits, args):
        # float64 inputs stay float64 inside this call only: the x64 switch is
        # scoped, not a global config change at import or resolve
        with x64(True):
            a = [jax.device_put(jnp.asarray(v), dev) for v in args]
            nn = jax.nn
            if function in ("sigmoid", "log_sigmoid", "softplus"):
                r = getattr(nn, function)(a[0])
            elif function in ("softmax", "log_softmax"):
                r = getattr(nn, function)(a[0], axis=-1)
            elif function == "logsumexp":
                r = nn.logsumexp(a[0], axis=-1)
            elif optax is None or not from_logits:
                raise Unsupported
            elif function == "binary_crossentropy":
                r = optax.sigmoid_binary_cross_entropy(a[1], a[0])
            elif function == "sparse_categorical_crossentropy":
                r = optax.softmax_cross_entropy_with_integer_labels(a[1], a[0])
            else:
                r = optax.softmax_cross_entropy(a[1], a[0])
            return np.asarray(r)

    return fn


# ------------------------------------------------------------ resolution


def available(name: str) -> str | None:
    """None when the framework can run here, else a one-line reason (Keras and
    TensorFlow are imported to find out: a Keras whose backend is missing
    is installed but cannot run)."""
    if name in keras_tf.LIBRARIES:
        return keras_tf.unavailable(name)
    if importlib.util.find_spec(name) is None:
        return f"{name}: skipped, package {name!r} is not installed (pip install {name})"
    return None


def framework_impl(name: str, device: str = "cpu") -> Impl:
    """The adapter for one framework: ValueError when it cannot run here,
    :class:`DeviceUnavailable` (a ValueError) when it runs but not on ``device``."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    if name == "keras":
        return keras_tf.keras_impl(device)
    if name == "tensorflow":
        return keras_tf.tensorflow_impl(device)
    reason = available(name)
    if reason:
        raise ValueError(reason)
    mod = importlib.import_module(name)
    version = f"{name} {mod.__version__}"
    if name == "scipy":
        return Impl(name, _scipy_fn, version, fail_soft=True)
    if name == "numpy":
        return Impl(name, _numpy_fn, version, fail_soft=True)
    if device == "cuda" and name == "torch" and not mod.cuda.is_available():
        raise DeviceUnavailable("torch: --device cuda requested but torch.cuda.is_available() is False")
    if name == "torch":
        return Impl(name, _torch_fn(device), version + (f" ({device})" if device != "cpu" else ""), fail_soft=True)
    try:
        return Impl(name, _jax_fn(device), version + (f" ({device})" if device != "cpu" else ""), fail_soft=True)
    except RuntimeError as e:  # no GPU backend
        raise DeviceUnavailable(f"jax: --device {device} requested but JAX has no such backend "
                                f"({str(e).splitlines()[0]})") from None


def resolve(names, device: str = "cpu", *, skip_missing: bool = True) -> tuple[list[Impl], list[str]]:
    """Implementations for ``names`` (tiers and frameworks) and the skip
    reasons of frameworks that cannot run here. Unknown names are a
    ValueError; a missing framework is skipped (or a ValueError when
    ``skip_missing`` is False)."""
    impls, skipped = [], []
    for n in names:
        if n in TIERS:
            impls.append(tier_impl(n))
        elif n in FRAMEWORKS:
            reason = available(n)
            if reason and skip_missing:
                skipped.append(reason)
                continue
            impls.append(framework_impl(n, device))
        else:
            raise ValueError(f"unknown implementation {n!r}; known: {', '.join(KNOWN_IMPLS)}")
    return impls, skipped
