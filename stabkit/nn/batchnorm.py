"""Keras's ``BatchNormalization`` layer (importable from
:mod:`stabkit.nn.layers`), along the last axis (features, or channels last).

Training (``fit``, and ``training=True``): each feature is normalised by its
batch mean and biased variance over every other axis, ``x_hat = (x - mean)
/ sqrt(var + epsilon)``, then ``gamma x_hat + beta``; the moving statistics
follow ``moving = moving * momentum + batch * (1 - momentum)``, as Keras 3
updates them, once per training forward pass. Inference (``predict``,
``evaluate``, ``model(x)``) uses the moving statistics. A frozen layer
(``trainable=False``) runs in inference mode during ``fit`` too, as Keras 3's.
The weights, in ``get_weights`` order: ``gamma`` (with ``scale``), ``beta``
(with ``center``), ``moving_mean``, ``moving_variance``; the last two are
never trained (``fixed_names``: the optimizer leaves them, ``summary``
counts them as non-trainable). In float16 the statistics are computed in
float32, as Keras computes them. A model with this layer runs the NumPy step.
"""

from __future__ import annotations

import math

import numpy as np

from . import defaults, initializers
from .errors import NNError
from .layers import Layer, first_shape

__all__ = ["BatchNormalization"]


def _number(name: str, value, low: float, high: float | None = None) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and value >= low
    if not ok or (high is not None and not value < high):
        raise NNError(f"BatchNormalization's {name} must be a number in [{low:g}, {high if high else 'inf'}), got {value!r}")
    return float(value)


class BatchNormalization(Layer):
    """Keras 3's BatchNormalization (module docstring); ``axis=-1`` only.
    Keras's other arguments, in its order (regularizers and constraints of
    ``beta`` and ``gamma``, ``renorm*``, ``synchronized``, ``dtype``), at
    Keras's defaults only, else NNError naming them."""

    flat_input = None
    fixed_names = ("moving_mean", "moving_variance")

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, name=None,
                 input_shape=None, trainable=True, dtype=None):  # fmt: skip
        defaults.check("BatchNormalization", beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                       beta_constraint=beta_constraint, gamma_constraint=gamma_constraint, renorm=renorm,
                       renorm_clipping=renorm_clipping, renorm_momentum=renorm_momentum, synchronized=synchronized,
                       dtype=dtype)  # fmt: skip
        if axis not in (-1,):
            raise NNError(f"BatchNormalization(axis={axis!r}): stabkit normalises the last axis only; leave axis=-1")
        self.axis = -1
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        if not self.epsilon > 0:
            raise NNError(f"BatchNormalization's epsilon must be positive, got {epsilon!r}")
        self.center, self.scale = bool(center), bool(scale)
        self.inits = {"gamma": initializers.get(gamma_initializer, "gamma_initializer"),
                      "beta": initializers.get(beta_initializer, "beta_initializer"),
                      "moving_mean": initializers.get(moving_mean_initializer, "moving_mean_initializer"),
                      "moving_variance": initializers.get(moving_variance_initializer, "moving_variance_initializer")}  # fmt: skip
        self.weight_names = tuple(n for n, keep in (("gamma", self.scale), ("beta", self.center),
                                                    ("moving_mean", True), ("moving_variance", True)) if keep)  # fmt: skip
        self.name, self.trainable = name, trainable
        self.input_shape = first_shape(input_shape)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def __repr__(self) -> str:
        return f"BatchNormalization(momentum={self.momentum:g}, epsilon={self.epsilon:g})"

    def get_config(self):
        return {"name": self.name, "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "trainable": self.trainable,
                **{f"{n}_initializer": initializers.serialize(i) for n, i in self.inits.items()}}  # fmt: skip

    def param_shapes(self, input_shape):
        return {n: (int(input_shape[-1]),) for n in self.weight_names}

    def initial_weights(self, input_shape, rng):
        return {n: self.inits[n]((int(input_shape[-1]),), rng) for n in self.weight_names}

    def bind(self, params, grads, compute, mixed):
        for n in self.weight_names:
            setattr(self, n, params[n])
        self._grads = grads

    def forward(self, x, training=False):
        # a frozen layer normalises with its moving statistics, also in fit (Keras 3)
        training = training and self.trainable
        xs = x.astype(np.float32) if x.dtype == np.float16 else x  # float16: the statistics in float32
        axes = tuple(range(x.ndim - 1))
        if training:
            mean = xs.mean(axis=axes)
            var = xs.var(axis=axes)  # biased, as Keras's moments
            m = self.momentum
            w = self.moving_mean.dtype
            self.moving_mean[...] = self.moving_mean * w.type(m) + mean.astype(w) * w.type(1 - m)
            self.moving_variance[...] = self.moving_variance * w.type(m) + var.astype(w) * w.type(1 - m)
        else:
            mean, var = self.moving_mean.astype(xs.dtype), self.moving_variance.astype(xs.dtype)
        inv = 1.0 / np.sqrt(var + xs.dtype.type(self.epsilon))
        xhat = (xs - mean) * inv
        gamma = self.gamma.astype(xs.dtype) if self.scale else None
        y = xhat * gamma if self.scale else xhat.copy()
        if self.center:
            y += self.beta.astype(xs.dtype)
        # for backward: which statistics were used, and x_hat where they were the batch's
        self._train, self._inv, self._gamma = training, inv, gamma
        self._xhat = xhat if training else None
        return y.astype(x.dtype, copy=False)

    def backward(self, dLdy, need_input_grad=True):
        g = dLdy.astype(np.float32) if dLdy.dtype == np.float16 else dLdy
        axes = tuple(range(g.ndim - 1))
        for n in self.fixed_names:
            self._grads[n][...] = 0  # not trained: nothing for the optimizer
        if self._train:
            xhat = self._xhat
            if self.scale:
                self._grads["gamma"][...] = np.sum(g * xhat, axis=axes)
            if self.center:
                self._grads["beta"][...] = np.sum(g, axis=axes)
            if not need_input_grad:
                return None
            dxhat = g * self._gamma if self.scale else g
            count = math.prod(g.shape[:-1])
            # the batch statistics' share: d/dx of (x - mean) / sqrt(var + eps), over the batch
            dx = (self._inv / count) * (count * dxhat - dxhat.sum(axis=axes) - xhat * np.sum(dxhat * xhat, axis=axes))
        else:
            # inference mode (a frozen layer): an affine map of x
            for n in ("gamma", "beta"):
                if n in self.weight_names:
                    self._grads[n][...] = 0
            if not need_input_grad:
                return None
            dx = g * (self._inv * self._gamma if self.scale else self._inv)
        return dx.astype(dLdy.dtype, copy=False)
