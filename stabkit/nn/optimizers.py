"""Optimizers that update every parameter with a few in-place operations.

The model keeps all parameters in one flat master vector (float32 by default,
float32 in mixed precision) and all gradients in another; ``apply(params,
grads, runs)`` updates the vector in place, or only its slices ``runs`` (the
weights of the trainable layers: a frozen layer's weights and its state are
not touched). The state is kept per parameter as well:
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
import sys

import numpy as np

from . import schedules, steps
from .adaptive import Adadelta, Adagrad, Adamax, Lion, Nadam
from .errors import NNError
from .optbase import Optimizer
from .schedules import Rate  # noqa: F401  (optimizer.learning_rate's type, importable from here as before)

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "get",
           "schedules"]

# Keras's path to the schedules, keras.optimizers.schedules: the same module
# under a second name (as os.path is posixpath), so that
# ``from stabkit.nn.optimizers.schedules import CosineDecay`` imports it too
sys.modules.setdefault(f"{__name__}.schedules", schedules)


class SGD(Optimizer):
    """Keras's SGD: ``p -= lr * g`` without momentum; with it, ``v = momentum
    * v - lr * g`` then ``p += v``, or with ``nesterov=True`` ``p += momentum
    * v - lr * g`` (the new ``v``, as Keras 3). With ``batch_size`` equal to
    the data size this is full-batch gradient descent."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not (0 <= momentum < 1):
            raise NNError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def __repr__(self):
        extra = ", nesterov=True" if self.nesterov else ""
        return f"SGD(learning_rate={self._lr_text()}, momentum={self.momentum:g}{extra})"

    def get_config(self):
        return {"learning_rate": self._lr_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                **self._options_config()}  # fmt: skip

    def _allocate(self, size, dtype):
        return {"velocity": np.zeros(size, dtype)} if self.momentum else {}

    def _update(self, part, lr):
        tmp = part["tmp"]
        np.multiply(part["grads"], -lr, out=tmp)  # -lr * g
        if self.momentum:
            v = part["velocity"]
            v *= self.momentum
            v += tmp
            if self.nesterov:
                # p += momentum * v - lr * g, with the v just updated
                tmp += self.momentum * v
            else:
                tmp = v
        part["params"] += tmp


class RMSprop(Optimizer):
    """Keras's RMSprop, with its defaults::

        v = rho * v + (1 - rho) * g**2
        d = v + epsilon                      (centered: v - a**2 + epsilon,
                                              a = rho * a + (1 - rho) * g)
        step = lr * g / sqrt(d)
        p -= step                            (momentum: m = momentum * m + step; p -= m)

    ``epsilon`` sits inside the square root, as in Keras (PyTorch adds it
    outside)."""

    def __init__(self, learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        for arg, b in (("rho", rho), ("momentum", momentum)):
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not (0 <= b < 1):
                raise NNError(f"{arg} must be in [0, 1), got {b!r}")
        if not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise NNError(f"epsilon must be positive, got {epsilon!r}")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def __repr__(self):
        return (
            f"RMSprop(learning_rate={self._lr_text()}, rho={self.rho:g}, momentum={self.momentum:g}, "
            f"epsilon={self.epsilon:g}, centered={self.centered})"
        )

    def get_config(self):
        return {"learning_rate": self._lr_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered, **self._options_config()}  # fmt: skip

    def _allocate(self, size, dtype):
        flats = {"velocity": np.zeros(size, dtype)}
        if self.centered:
            flats["average_gradient"] = np.zeros(size, dtype)
        if self.momentum:
            flats["momentum"] = np.zeros(size, dtype)
        self._scratch["work"] = np.empty(size, dtype)
        return flats

    def _update(self, part, lr):
        f, tmp, d, grads = part, part["tmp"], part["work"], part["grads"]
        v, rho = f["velocity"], self.rho
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - rho
        v *= rho
        v += tmp
        if self.centered:
            a = f["average_gradient"]
            a *= rho
            np.multiply(grads, 1 - rho, out=tmp)
            a += tmp
            np.multiply(a, a, out=d)
            np.subtract(v, d, out=d)
        else:
            np.copyto(d, v)
        d += self.epsilon
        np.sqrt(d, out=d)
        np.multiply(grads, lr, out=tmp)
        tmp /= d
        if self.momentum:
            m = f["momentum"]
            m *= self.momentum
            m += tmp
            tmp = m
        part["params"] -= tmp


class Adam(Optimizer):
    """Adam with Keras's defaults and update::

        m += (1 - beta_1) * (g - m)
        v += (1 - beta_2) * (g * g - v)
        p -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    (PyTorch adds ``epsilon`` to the bias-corrected ``sqrt(v / (1 -
    beta_2**t))`` instead; the two agree when PyTorch's epsilon is
    ``epsilon / sqrt(1 - beta_2**t)``.) With ``amsgrad=True`` the step
    divides by ``sqrt(v_hat) + epsilon``, ``v_hat`` the largest ``v`` so far,
    as Keras (NumPy passes only: the C update knows plain Adam).
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise NNError(f"{type(self).__name__}(amsgrad=...) takes True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)
        for arg, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (0 <= b < 1):
                raise NNError(f"{arg} must be in [0, 1), got {b!r}")
        if not epsilon > 0:
            raise NNError(f"epsilon must be positive, got {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def __repr__(self):
        return (
            f"Adam(learning_rate={self._lr_text()}, beta_1={self.beta_1:g}, "
            f"beta_2={self.beta_2:g}, epsilon={self.epsilon:g})"
        )

    def _allocate(self, size, dtype):
        flats = {"m": np.zeros(size, dtype), "v": np.zeros(size, dtype)}
        if self.amsgrad:
            flats["v_hat"] = np.zeros(size, dtype)
        return flats

    def _prepare(self, part):
        # in C where it applies (bit-identical, ~7x faster), else NumPy: see steps
        p = (part["params"], part["grads"], part["m"], part["v"], part["tmp"])
        part["update"] = steps.NumPyAdam(*p, v_hat=part["v_hat"]) if self.amsgrad else steps.adam_update(*p)
        return part

    def _update(self, part, lr):
        t = self.iterations
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        part["update"](1 - self.beta_1, 1 - self.beta_2, alpha, self.epsilon)

    def get_config(self):
        amsgrad = {"amsgrad": True} if self.amsgrad else {}
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                **amsgrad, **self._options_config()}  # fmt: skip


class AdamW(Adam):
    """Keras's AdamW: :class:`Adam` whose ``weight_decay`` defaults to 0.004
    (and must be a number): ``p - p * weight_decay * lr`` before each update."""

    def __init__(self, learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, *, name=None, **options):  # fmt: skip
        if weight_decay is None:
            raise NNError("AdamW's weight_decay must be a number, got None (use Adam for none)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name, weight_decay=weight_decay,
                         **options)  # fmt: skip

    def __repr__(self):
        return super().__repr__().replace("Adam(", "AdamW(", 1)[:-1] + f", weight_decay={self.weight_decay:g})"


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
            "adamax": Adamax, "nadam": Nadam, "lion": Lion}  # fmt: skip


def get(optimizer) -> Optimizer:
    """An optimizer from an instance or a name in any case (``'adam'``,
    ``'SGD'``, ``'RMSprop'``, with Keras's defaults). A class is refused, as
    Keras refuses it, with the instance to write instead."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    hint = f" (the class; pass an instance, {optimizer.__name__}())" if isinstance(optimizer, type) else ""
    raise NNError(f"unknown optimizer {optimizer!r}{hint}; use one of {', '.join(_BY_NAME)} or a stabkit.nn.optimizers "
                  "instance")  # fmt: skip
