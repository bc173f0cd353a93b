"""What the layers with a kernel and a bias (Dense, Conv2D) share: Keras's
``kernel_initializer``, ``bias_initializer``, ``kernel_regularizer`` and
``bias_regularizer`` arguments, their config, and the initial weights they
draw (:mod:`stabkit.nn.initializers`, :mod:`stabkit.nn.regularizers`).
"""

from __future__ import annotations

import numpy as np

from . import initializers, regularizers

__all__ = ["KernelOptions"]


class KernelOptions:
    """Mixed into a layer whose weights are ``kernel`` and (with
    ``use_bias``) ``bias``."""

    def _kernel_options(self, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer) -> None:
        """Keras's initializer and regularizer arguments of a layer with a
        kernel and a bias (Dense, Conv2D), checked and kept."""
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")

    def _kernel_config(self) -> dict:
        """Those four arguments as ``get_config`` stores them."""
        return {"kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}  # fmt: skip

    def _kernel_weights(self, kernel_shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The kernel, then (with ``use_bias``) the bias of its last axis'
        size, from their initializers, drawing from ``rng`` in that order."""
        w = {"kernel": self.kernel_initializer(kernel_shape, rng)}
        if self.use_bias:
            w["bias"] = self.bias_initializer((kernel_shape[-1],), rng)
        return w
