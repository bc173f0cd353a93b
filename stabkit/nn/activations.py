"""Activations: an elementwise (or row-wise) map and its backward pass.

Each activation has the same shape: ``forward(z)`` returns ``a``;
``backward(dLda, z, a)`` returns ``dLdz``. Both run in the dtype of their
input, so a float16 network overflows where float16 does.
"""

from __future__ import annotations

import numpy as np

from .errors import NNError

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "get"]


class Activation:
    """Base class: the identity."""

    name = "linear"

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z

    def backward(self, dLda: np.ndarray, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return dLda

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, x) -> np.ndarray:
        """The activation of ``x`` as a new array (Keras's ``layer.activation(x)``;
        ``forward`` may work in place)."""
        x = np.array(x, dtype=np.result_type(np.asarray(x).dtype, np.float32), copy=True)
        return self.forward(x)

    @property
    def __name__(self) -> str:  # keras.activations.relu.__name__ is "relu"
        return self.name


class Linear(Activation):
    """``a = z`` (Keras's ``'linear'`` and ``None``): the layer outputs logits."""


class ReLU(Activation):
    """``a = max(z, 0)``, computed in place (``z`` is not needed afterwards)."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0, out=z)

    def backward(self, dLda, z, a):
        # a > 0 exactly where z > 0; the derivative at 0 is taken as 0 (Keras)
        return np.multiply(dLda, a > 0, out=dLda)


class Sigmoid(Activation):
    """``a = 1 / (1 + exp(-z))`` evaluated without overflow (SciPy's expit):
    ``exp`` only sees ``-|z|``."""

    name = "sigmoid"

    def forward(self, z):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1, e).astype(z.dtype, copy=False) / (1 + e)

    def backward(self, dLda, z, a):
        return dLda * a * (1 - a)


class Tanh(Activation):
    """``a = tanh(z)`` (NumPy's, which saturates to +-1 without overflow);
    ``da/dz = 1 - a**2``, from the output."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, dLda, z, a):
        return dLda * (1 - a * a)


class Softmax(Activation):
    """Row-wise ``exp(z - max) / sum(exp(z - max))`` (max-shifted, as Keras's
    softmax layer); the backward pass is the Jacobian-vector product
    ``a * (g - sum(g * a))``, exactly as the formula says."""

    name = "softmax"

    def forward(self, z):
        e = z - z.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def backward(self, dLda, z, a):
        with np.errstate(invalid="ignore"):  # inf - inf is the lesson, not a bug
            return a * (dLda - np.sum(dLda * a, axis=-1, keepdims=True))


_BY_NAME = {"linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax}


def get(activation) -> Activation:
    """An :class:`Activation` from ``None``, a name or an instance."""
    if activation is None:
        return Linear()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _BY_NAME:
        return _BY_NAME[activation.lower()]()
    raise NNError(f"unknown activation {activation!r}; use one of {', '.join(_BY_NAME)} or None")
