"""Per-sample shapes: what a model is built for, what it accepts, what each layer gives.

A model is built from the shape of one sample: ``(784,)`` for flat inputs,
``(28, 28, 1)`` for one-channel images (channels last, as in Keras). A first
layer that takes flat inputs (``Dense``) gets images flattened by the model;
one that takes images (``Conv2D``, ``MaxPooling2D``, ``Flatten``) gets them as
they are, and a ``(batch, 28, 28)`` array is refused with the reshape that
adds the channel axis. The last layer must be ``Dense``: the loss, the
accuracy and the diagnostics read its logits.
"""

from __future__ import annotations

import numpy as np

from .errors import NNError

__all__ = ["sample_shape", "initial_weights", "check_input", "output_shapes", "set_weights_by_shape"]


def sample_shape(input_dim) -> tuple[int, ...]:
    """The per-sample shape from an int or a tuple (Keras's leading ``None``,
    the batch axis, is dropped); NNError unless all are positive integers."""
    shape = (input_dim,) if isinstance(input_dim, (int, np.integer)) else tuple(input_dim)
    if shape and shape[0] is None:
        shape = shape[1:]
    if not shape or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
        raise NNError(f"the input shape must be positive integers, got {input_dim!r}")
    return tuple(int(n) for n in shape)


def initial_weights(layers, in_shape: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Every layer's initial weights, in ``get_weights`` order, for samples of
    shape ``in_shape``; NNError where a layer cannot take its input or the
    model does not end in a Dense layer."""
    weights, shape = [], in_shape
    for layer in layers:
        w = layer.initial_weights(shape, rng)
        weights += [w[part] for part in layer.parts]
        shape = layer.output_shape(shape)
    if len(shape) != 1 or not hasattr(layers[-1], "units"):
        raise NNError(f"the last layer must be Dense (it gives the logits), not {layers[-1]!r}; end with Flatten() and Dense")
    return weights


def output_shapes(layers, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The per-sample output shape of each layer of a built model."""
    out = []
    for layer in layers:
        in_shape = layer.output_shape(in_shape)
        out.append(in_shape)
    return out


def check_input(shape: tuple[int, ...], in_shape: tuple[int, ...], flat: bool) -> None:
    """NNError unless samples of ``shape`` fit a model built for ``in_shape``."""
    if flat and shape[0] != in_shape[0]:
        raise NNError(f"the model expects {in_shape[0]} input features, got {shape[0]}")
    if shape != in_shape:
        want = ", ".join(map(str, in_shape))
        hint = f"; add the channel axis: x.reshape(-1, {want})" if shape + (1,) == in_shape else ""
        raise NNError(f"the model expects inputs of shape (batch, {want}), got (batch, {', '.join(map(str, shape))}){hint}")


def set_weights_by_shape(model, weights: list[np.ndarray]) -> None:
    """``set_weights`` for a model with layers other than Dense: it must be
    built (the kernels of image layers do not say the image size), and each
    array must have its slot's shape. Checks all before it writes any."""
    if not model.built:
        raise NNError("build the model first, e.g. model.build((28, 28, 1)): its weights do not tell the input shape")
    slots = model._slots
    if len(weights) != len(slots):
        raise NNError(f"expected {len(slots)} arrays ({', '.join(slots)}), got {len(weights)}")
    for (name, (_, shape)), w in zip(slots.items(), weights):
        if w.shape != shape or w.dtype.kind != "f":
            raise NNError(f"{name} needs a floating-point array of shape {shape}, got {w.dtype} {w.shape}")
    for (sl, _), w in zip(slots.values(), weights):
        model._P[sl] = w.reshape(-1)
    model._sync()
