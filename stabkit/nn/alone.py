"""A layer called on its own, ``Dense(1)(x)``, as a course's first
"neurons and layers" cells call it (Keras builds the layer for ``x``).

The first call builds the layer for ``x``'s features (Glorot-uniform, seeded
as every build is: :func:`stabkit.nn.utils.set_random_seed`) inside a
one-layer ``Sequential`` of its own; later calls, ``get_weights`` and
``set_weights`` use those weights, and a model the layer goes into next keeps
them (:func:`stabkit.nn.shapes.layer_weights`), as Keras keeps a built
layer's. A layer without weights (Dropout, Flatten, pooling) just runs on
``x`` as it comes. A layer that a model has built since is that model's:
call the model (Keras's functional API, ``layer(tensor)`` to wire models, is
not here: models are ``Sequential``).
"""

from __future__ import annotations

import numpy as np

from .errors import NNError
from .layers import Layer, keras_name

__all__ = ["call"]

_COUNTS: dict[str, int] = {}  # how many layers of each Keras name were called on their own


def _name(cls: type) -> str:
    """``dense``, then ``dense_1``, ...: unique in the process, as Keras's
    names are in a session, so that two such layers go into one model."""
    base = keras_name(cls)
    k = _COUNTS.get(base, 0)
    _COUNTS[base] = k + 1
    return base if k == 0 else f"{base}_{k}"


def call(layer: Layer, x, training: bool = False) -> np.ndarray:
    """``layer``'s outputs for ``x`` (an ndarray, float32 from its
    one-layer model; a weightless layer keeps ``x``'s float dtype)."""
    if layer._views is not None and layer._views is not layer._solo_views:
        raise NNError(f"layer {layer.name or type(layer).__name__} belongs to a built model: call the model, "
                      "model(x) (stabkit.nn builds Sequential models only; Keras's functional API is not here)")
    if layer.name is None:
        layer.name = _name(type(layer))
    if not layer.weight_names:  # nothing to build: the shape as it comes
        a = np.asarray(x)
        return layer.forward(a if a.dtype.kind == "f" else a.astype(np.float32), training=bool(training))
    if layer._solo is None or layer._views is None:
        from .model import Sequential  # model imports layers, which imports this module lazily

        # the model's first call builds it for x (and leaves it unbuilt where x is refused)
        solo = Sequential([layer], name=f"{layer.name}_alone")
        y = solo(x, training=training)
        layer._solo, layer._solo_views = solo, layer._views
        return y
    return layer._solo(x, training=training)
