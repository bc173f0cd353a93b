"""Activations: an elementwise (or row-wise) map and its backward pass.

Each activation has the same shape: ``forward(z)`` returns ``a``;
``backward(dLda, z, a)`` returns ``dLdz``. Both run in the dtype of their
input, so a float16 network overflows where float16 does.
"""

from __future__ import annotations

import numpy as np

from .errors import NNError

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "ELU", "SELU", "GELU", "SiLU", "LeakyReLU",
           "Softplus", "Softsign", "ReLU6", "HardSigmoid", "Exponential", "get"]


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
        return _sig(z)

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


def _sig(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) in z's dtype, ``exp`` seeing only ``-|z|`` (as Sigmoid)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e).astype(z.dtype, copy=False) / (1 + e)


class ELU(Activation):
    """``a = z`` for ``z > 0``, else ``alpha (exp(z) - 1)`` (``expm1``, which
    keeps small ``z`` exact); ``da/dz = 1``, else ``a + alpha``. Keras's
    ``'elu'``, ``alpha = 1``."""

    name = "elu"
    alpha, scale = 1.0, 1.0

    def __init__(self, alpha: float | None = None):
        if alpha is not None:  # the ELU layer's; the function's (and SELU's) is the class's
            self.alpha = float(alpha)

    def forward(self, z):
        return self.scale * np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, dLda, z, a):
        return dLda * self.scale * np.where(z > 0, 1, self.alpha * np.exp(np.minimum(z, 0)))


class SELU(ELU):
    """``scale * elu(z, alpha)`` with Keras's (Klambauer et al.'s) constants."""

    name = "selu"
    alpha, scale = 1.6732632423543772, 1.0507009873554805


class GELU(Activation):
    """Keras's ``'gelu'`` (``approximate=False``): ``a = z Phi(z)``, Phi the
    standard normal CDF (``scipy.special.ndtr``, accurate in both tails);
    ``da/dz = Phi(z) + z phi(z)``."""

    name = "gelu"

    def forward(self, z):
        from scipy.special import ndtr

        return (z * ndtr(z)).astype(z.dtype, copy=False)

    def backward(self, dLda, z, a):
        from scipy.special import ndtr

        pdf = np.exp(-0.5 * np.square(z, dtype=np.float64)) / np.sqrt(2 * np.pi)
        return (dLda * (ndtr(z) + z * pdf)).astype(z.dtype, copy=False)


class SiLU(Activation):
    """``a = z sigmoid(z)`` (Keras's ``'silu'`` and ``'swish'``);
    ``da/dz = s + z s (1 - s)``."""

    name = "silu"

    def forward(self, z):
        return z * _sig(z)

    def backward(self, dLda, z, a):
        s = _sig(z)
        return dLda * (s + z * s * (1 - s))


class LeakyReLU(Activation):
    """``a = z`` for ``z > 0``, else ``0.2 z`` (Keras 3's ``'leaky_relu'``
    slope); the derivative at 0 is taken as the slope."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.2):
        self.slope = float(slope)

    def forward(self, z):
        return np.where(z > 0, z, self.slope * z).astype(z.dtype, copy=False)

    def backward(self, dLda, z, a):
        return dLda * np.where(z > 0, 1, self.slope).astype(z.dtype, copy=False)


class Softplus(Activation):
    """``a = log(1 + exp(z))`` as ``logaddexp(0, z)`` (no overflow);
    ``da/dz = sigmoid(z)``."""

    name = "softplus"

    def forward(self, z):
        return np.logaddexp(z.dtype.type(0), z)

    def backward(self, dLda, z, a):
        return dLda * _sig(z)


class Softsign(Activation):
    """``a = z / (1 + |z|)``; ``da/dz = 1 / (1 + |z|)**2``."""

    name = "softsign"

    def forward(self, z):
        return z / (1 + np.abs(z))

    def backward(self, dLda, z, a):
        return dLda / np.square(1 + np.abs(z))


class ReLU6(Activation):
    """``a = min(max(z, 0), 6)``; derivative 1 on (0, 6), 0 elsewhere."""

    name = "relu6"

    def forward(self, z):
        return np.clip(z, 0, 6)

    def backward(self, dLda, z, a):
        return dLda * ((z > 0) & (z < 6))


class HardSigmoid(Activation):
    """Keras 3's ``'hard_sigmoid'``: ``relu6(z + 3) / 6``; derivative 1/6 on (-3, 3)."""

    name = "hard_sigmoid"

    def forward(self, z):
        return np.clip(z + 3, 0, 6) / 6

    def backward(self, dLda, z, a):
        return dLda * ((z > -3) & (z < 3)) / 6


class Exponential(Activation):
    """``a = exp(z)``; ``da/dz = a``."""

    name = "exponential"

    def forward(self, z):
        return np.exp(z)

    def backward(self, dLda, z, a):
        return dLda * a


_BY_NAME = {"linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax, "elu": ELU,
            "selu": SELU, "gelu": GELU, "silu": SiLU, "swish": SiLU, "leaky_relu": LeakyReLU, "softplus": Softplus,
            "softsign": Softsign, "relu6": ReLU6, "hard_sigmoid": HardSigmoid, "exponential": Exponential}  # fmt: skip


# Keras's functions by name (keras.activations.relu): an instance of each, which
# a layer takes as activation= and which maps an array when called (Activation.__call__)
linear, relu, sigmoid, tanh, softmax = Linear(), ReLU(), Sigmoid(), Tanh(), Softmax()
elu, selu, gelu, silu, leaky_relu = ELU(), SELU(), GELU(), SiLU(), LeakyReLU()
softplus, softsign, relu6, hard_sigmoid, exponential = Softplus(), Softsign(), ReLU6(), HardSigmoid(), Exponential()
swish = silu


def get(activation) -> Activation:
    """An :class:`Activation` from ``None``, a name or an instance."""
    if activation is None:
        return Linear()
    if isinstance(activation, Activation):
        return activation
    from .actlayers import Activation as ActivationLayer  # imports this module: here, not at the top

    # an activation layer (stabkit.nn.ReLU(), as Keras takes activation=keras.layers.ReLU()): its function
    if isinstance(activation, ActivationLayer):
        return activation.activation
    if isinstance(activation, str) and activation.lower() in _BY_NAME:
        return _BY_NAME[activation.lower()]()
    raise NNError(f"unknown activation {activation!r}; use one of {', '.join(_BY_NAME)} or None")
