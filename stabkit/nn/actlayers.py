"""Keras's activation layers: ``Activation(name)``, ``ReLU``, ``LeakyReLU``,
``ELU`` and ``Softmax`` (importable from :mod:`stabkit.nn.layers`, as from
``keras.layers``). Each applies one of :mod:`stabkit.nn.activations` to its
input, keeps the input's shape and has no weights (``dtype`` None or
``'float32'`` only: compile's ``dtype=`` sets the model's); as the last layer it is
the model's output activation (``Dense(10)`` then ``Activation('softmax')``
is the softmax-output network, its logits the Dense layer's outputs). A
model with one runs the NumPy step.
"""

from __future__ import annotations

import numpy as np

from . import activations, defaults
from .errors import NNError
from .layers import Layer, first_shape

__all__ = ["Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"]


def _number(name: str, value, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value >= low:
        raise NNError(f"{name} must be a number >= {low:g}, got {value!r}")
    return float(value)


class Activation(Layer):
    """``activation(x)``: Keras's ``Activation('relu')`` (any name or
    instance :func:`stabkit.nn.activations.get` takes)."""

    flat_input = None

    def __init__(self, activation, name: str | None = None, input_shape=None, trainable: bool = True, dtype=None):
        defaults.check(type(self).__name__, dtype=dtype)
        self.activation = activations.get(activation)
        self.name, self.trainable = name, trainable
        self.input_shape = first_shape(input_shape)
        self._units = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.activation.name!r})"

    @property
    def units(self) -> int | None:
        """The outputs per sample along the last axis (known once built):
        a last layer's, which the loss reads."""
        return self._units

    def output_shape(self, input_shape):
        self._units = int(input_shape[-1])
        return tuple(input_shape)

    def get_config(self):
        return {"name": self.name, "activation": self.activation.name, "trainable": self.trainable}

    def forward(self, x, training=False):
        # a copy: ReLU works in place, and x is the layer below's output
        a = self.activation.forward(np.array(x, copy=True))
        if training:
            self._z, self._a = x, a
        return a

    def backward(self, dLda, need_input_grad=True):
        if not need_input_grad:
            return None
        return self.activation.backward(dLda, self._z, self._a)


class ReLU(Activation):
    """Keras's ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``:
    ``relu``, ``relu6`` for ``max_value=6``, a leaky one for a positive
    slope; other combinations are refused by name."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None, input_shape=None, trainable=True,
                 dtype=None):  # fmt: skip
        slope = _number("negative_slope", negative_slope)
        if threshold != 0:
            raise NNError(f"ReLU(threshold={threshold!r}) is not supported by stabkit; leave it 0")
        if max_value is None:
            act = activations.LeakyReLU(slope) if slope else activations.ReLU()
        elif max_value == 6 and not slope:
            act = activations.ReLU6()
        else:
            raise NNError(f"ReLU(max_value={max_value!r}, negative_slope={negative_slope!r}) is not supported by "
                          "stabkit; it takes max_value None or 6 (without a slope), or a negative_slope alone")  # fmt: skip
        super().__init__(act, name, input_shape, trainable, dtype)
        self.max_value, self.negative_slope, self.threshold = max_value, slope, 0.0

    def get_config(self):
        return {"name": self.name, "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold, "trainable": self.trainable}  # fmt: skip


class LeakyReLU(Activation):
    """Keras's ``LeakyReLU(negative_slope=0.3)`` layer (the layer's default
    slope is 0.3 where the ``'leaky_relu'`` function's is 0.2, as in Keras 3)."""

    def __init__(self, negative_slope=0.3, name=None, input_shape=None, trainable=True, dtype=None, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name for it
            negative_slope = kwargs.pop("alpha")
        if kwargs:
            raise TypeError(f"LeakyReLU does not support the argument {sorted(kwargs)[0]!r}")
        self.negative_slope = _number("negative_slope", negative_slope)
        super().__init__(activations.LeakyReLU(self.negative_slope), name, input_shape, trainable, dtype)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope, "trainable": self.trainable}


class ELU(Activation):
    """Keras's ``ELU(alpha=1.0)`` layer."""

    def __init__(self, alpha=1.0, name=None, input_shape=None, trainable=True, dtype=None):
        self.alpha = _number("alpha", alpha)
        super().__init__(activations.ELU(self.alpha), name, input_shape, trainable, dtype)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha, "trainable": self.trainable}


class Softmax(Activation):
    """Keras's ``Softmax(axis=-1)`` layer (the last axis only)."""

    def __init__(self, axis=-1, name=None, input_shape=None, trainable=True, dtype=None):
        if axis != -1:
            raise NNError(f"Softmax(axis={axis!r}): stabkit's softmax layer works along the last axis; leave axis=-1")
        super().__init__(activations.Softmax(), name, input_shape, trainable, dtype)

    def get_config(self):
        return {"name": self.name, "axis": -1, "trainable": self.trainable}
