"""Weight penalties with Keras's names (``keras.regularizers``), for
``Dense`` and ``Conv2D``'s ``kernel_regularizer=`` and ``bias_regularizer=``.

``L2(l2)`` adds ``l2 * sum(w**2)`` to the loss (Keras's default ``l2 = 0.01``;
no factor 1/2, so the gradient is ``2 l2 w``), ``L1(l1)`` adds ``l1 *
sum(|w|)`` (gradient ``l1 sign(w)``: 0 at 0, as TensorFlow's and PyTorch's
``abs``; Keras on JAX takes 1 there, which moves zero biases by ``lr l1`` on
the first step), ``L1L2(l1, l2)`` both. As in
Keras: the penalties of the trained weights are added to the loss that
``fit`` minimises and reports (the running mean over an epoch's batches,
each batch's penalty at the weights it was computed with) and to
``evaluate``'s loss; sample weights weigh the data loss only. A model with a
regularizer trains with the NumPy step.

``get`` takes a name (``'l2'``, ``'L2'``, ``'l1_l2'``...), an instance, the
lowercase classes Keras also exports (``regularizers.l2(0.1)``) or a
``{"class_name", "config"}`` dictionary.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import NNError

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "penalty", "regularized"]


def _factor(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) and math.isfinite(value)) \
            or value < 0:  # fmt: skip
        raise NNError(f"a regularizer's {name} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer:
    """``penalty(w)``: the loss term of a weight (a float); ``add_gradient(w,
    g)``: its gradient added into ``g`` in place."""

    l1 = l2 = 0.0

    def penalty(self, w: np.ndarray) -> float:
        # in float64 from the weights (Keras sums in the weights' format)
        out = 0.0
        if self.l1:
            out += self.l1 * float(np.sum(np.abs(w), dtype=np.float64))
        if self.l2:
            out += self.l2 * float(np.dot(w.ravel().astype(np.float64), w.ravel().astype(np.float64)))
        return out

    def add_gradient(self, w: np.ndarray, g: np.ndarray) -> None:
        if self.l1:
            g += (self.l1 * np.sign(w)).astype(g.dtype, copy=False)
        if self.l2:
            g += ((2.0 * self.l2) * w).astype(g.dtype, copy=False)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class L1(Regularizer):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1=0.01):
        self.l1 = _factor("l1", l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``."""

    def __init__(self, l2=0.01):
        self.l2 = _factor("l2", l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (Keras's defaults: both 0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor("l1", l1), _factor("l2", l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


# Keras exports the classes under lowercase names too: keras.regularizers.l2(0.1)
l1, l2, l1_l2 = L1, L2, L1L2
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier, what: str = "regularizer") -> Regularizer | None:
    """None, or the regularizer ``identifier`` names (module docstring)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _NAMES:
            raise NNError(f"unknown {what} {identifier!r}; stabkit knows 'l1', 'l2' and 'l1_l2' (and L1, L2, L1L2)")
        return _NAMES[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _NAMES:
        try:
            return _NAMES[identifier["class_name"]](**dict(identifier.get("config") or {}))
        except TypeError as e:
            raise NNError(f"{what} {identifier['class_name']}: {e}") from None
    raise NNError(f"{what} must be None, 'l1', 'l2', 'l1_l2' or a stabkit.nn.regularizers instance (L2(0.01), "
                  f"...), got {identifier!r}")  # fmt: skip


def serialize(reg: Regularizer | None):
    """What a layer's ``get_config`` stores: None or ``{"class_name", "config"}``."""
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}


def _terms(layers):
    """(regularizer, weight, gradient) of every regularized weight of the trained layers."""
    for layer in layers:
        if not layer.trainable:
            continue  # Keras counts the trainable weights' penalties only
        for reg, w, g in ((getattr(layer, "kernel_regularizer", None), "kernel", "dW"),
                          (getattr(layer, "bias_regularizer", None), "bias", "db")):  # fmt: skip
            if reg is not None and getattr(layer, w, None) is not None:
                yield reg, getattr(layer, w), getattr(layer, g, None)


def regularized(layers) -> bool:
    """Whether some layer has a regularizer."""
    return any(getattr(x, "kernel_regularizer", None) or getattr(x, "bias_regularizer", None) for x in layers)


def penalty(layers, gradients: bool = False) -> float:
    """The trained weights' penalties summed (0.0 without any); with
    ``gradients``, each one's gradient added to the layer's gradient buffer."""
    total = 0.0
    for reg, w, g in _terms(layers):
        total += reg.penalty(w)
        if gradients:
            reg.add_gradient(w, g)
    return total
