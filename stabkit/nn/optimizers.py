"""Optimizers that update every parameter with a few in-place operations.

The model keeps all parameters in one flat master vector (float32 by default,
float32 in mixed precision) and all gradients in another; ``apply(params,
grads)`` updates the vector in place. The state is kept per parameter as well:
``state[name]`` holds views of the flat moments for that parameter (numpy-ml's
``m``, ``v`` per name), and ``iterations`` counts the steps (Keras's ``t``).
Working on one vector instead of six small arrays, with preallocated
scratch space, is what makes Adam cheap: a plain per-array loop spends more
time on Adam's temporaries than on the matmuls. Where the C extension is
built, Adam's update runs there in one pass, bit-identical to the twelve
NumPy passes (both behind one seam: :func:`stabkit.nn.steps.adam_update`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from . import steps
from .errors import NNError

__all__ = ["Optimizer", "SGD", "Adam", "get"]


class Optimizer(ABC):
    """Base class: ``build(slots, size, dtype)`` then ``apply(params, grads)``."""

    def __init__(self, learning_rate: float):
        if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
            raise NNError(f"learning_rate must be a positive number, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._size = None

    def build(self, slots: dict[str, tuple[slice, tuple[int, ...]]], size: int, dtype) -> None:
        """Allocate the flat state; ``slots[name] = (slice, shape)``."""
        self.iterations = 0
        self._size, self._dtype = size, np.dtype(dtype)
        self._tmp = np.empty(size, self._dtype)
        flats = self._allocate(size, self._dtype)
        self.state = {
            name: {k: flat[sl].reshape(shape) for k, flat in flats.items()} for name, (sl, shape) in slots.items()
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate:g})"

    def _allocate(self, size, dtype) -> dict[str, np.ndarray]:
        return {}

    @abstractmethod
    def apply(self, params: np.ndarray, grads: np.ndarray) -> None:
        """One update of the flat parameter vector from the flat gradients."""


class SGD(Optimizer):
    """``v = momentum * v - lr * g; p += v`` (plain ``p -= lr * g`` without
    momentum): Keras's SGD. With ``batch_size`` equal to the data size this is
    full-batch gradient descent."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0):
        super().__init__(learning_rate)
        if not (0 <= momentum < 1):
            raise NNError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)

    def __repr__(self):
        return f"SGD(learning_rate={self.learning_rate:g}, momentum={self.momentum:g})"

    def _allocate(self, size, dtype):
        self._velocity = np.zeros(size, dtype) if self.momentum else None
        return {"velocity": self._velocity} if self.momentum else {}

    def apply(self, params, grads):
        self.iterations += 1
        tmp = self._tmp
        np.multiply(grads, -self.learning_rate, out=tmp)
        if self.momentum:
            v = self._velocity
            v *= self.momentum
            v += tmp
            tmp = v
        params += tmp


class Adam(Optimizer):
    """Adam with Keras's defaults and update::

        m += (1 - beta_1) * (g - m)
        v += (1 - beta_2) * (g * g - v)
        p -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    (PyTorch adds ``epsilon`` to the bias-corrected ``sqrt(v / (1 -
    beta_2**t))`` instead; the two agree when PyTorch's epsilon is
    ``epsilon / sqrt(1 - beta_2**t)``.)
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        for name, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (0 <= b < 1):
                raise NNError(f"{name} must be in [0, 1), got {b!r}")
        if not epsilon > 0:
            raise NNError(f"epsilon must be positive, got {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def __repr__(self):
        return (
            f"Adam(learning_rate={self.learning_rate:g}, beta_1={self.beta_1:g}, "
            f"beta_2={self.beta_2:g}, epsilon={self.epsilon:g})"
        )

    def _allocate(self, size, dtype):
        self._m, self._v = np.zeros(size, dtype), np.zeros(size, dtype)
        self._update = None  # (params, grads, the update: C or NumPy), made on first use
        return {"m": self._m, "v": self._v}

    def apply(self, params, grads):
        self.iterations += 1
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        key = self._update
        if key is None or key[0] is not params or key[1] is not grads:
            # in C where it applies (bit-identical, ~7x faster), else NumPy: see steps
            key = self._update = (params, grads, steps.adam_update(params, grads, self._m, self._v, self._tmp))
        key[2](1 - self.beta_1, 1 - self.beta_2, alpha, self.epsilon)

def get(optimizer) -> Optimizer:
    """An optimizer from an instance or a name (``'adam'``, ``'sgd'``)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in ("adam", "sgd"):
        return Adam() if optimizer.lower() == "adam" else SGD()
    raise NNError(f"unknown optimizer {optimizer!r}; use 'adam', 'sgd' or a stabkit.nn.optimizers instance")
