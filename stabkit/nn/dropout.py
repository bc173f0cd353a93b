"""Keras's ``Dropout`` layer (importable from :mod:`stabkit.nn.layers`, as
every layer is from ``keras.layers``)."""

from __future__ import annotations

import numpy as np

from . import defaults, seeding
from .errors import NNError
from .layers import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout, Keras's ``Dropout(rate)``: while training, each
    input is zeroed with probability ``rate`` and the others are scaled by
    ``1 / (1 - rate)``, so the expected output is the input and inference
    (``training=False``: ``predict``, ``evaluate``, ``model(x)``) is the
    identity. ``seed`` fixes the masks (else they are drawn fresh, or from
    :func:`stabkit.nn.utils.set_random_seed`'s seed). It takes
    inputs of any shape (images too) and keeps it. Keras's arguments in its
    order; ``noise_shape`` and ``dtype`` at Keras's defaults only (None;
    ``dtype='float32'`` too), else NNError naming them."""

    flat_input = None

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, name: str | None = None,
                 trainable: bool = True, dtype=None):  # fmt: skip
        defaults.check("Dropout", noise_shape=noise_shape, dtype=dtype)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 <= rate < 1:
            raise NNError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate, self.seed, self.name = float(rate), seed, name
        self.trainable = trainable  # no weights: kept for Keras's API and the saved config
        self._rng = seeding.rng(seed)
        self._mask = None

    def __repr__(self) -> str:
        return f"Dropout({self.rate:g})"

    def get_config(self):
        return {"name": self.name, "rate": self.rate, "seed": self.seed, "trainable": self.trainable}

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        self._mask = self._rng.random(x.shape) >= self.rate
        return self._scale(x)

    def _scale(self, a):
        # the kept values divided by the keep probability, as Keras does:
        # E[output] = input (inverted dropout); the dropped ones are 0
        return np.where(self._mask, a / a.dtype.type(1 - self.rate), a.dtype.type(0))

    def backward(self, dLdy, need_input_grad=True):
        if not need_input_grad:
            return None
        return dLdy if self._mask is None else self._scale(dLdy)
