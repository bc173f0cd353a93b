"""Per-sample shapes: what a model is built for, what it accepts, what each layer gives.

A model is built from the shape of one sample: ``(784,)`` for flat inputs,
``(28, 28, 1)`` for one-channel images (channels last, as in Keras). The
first layer that cares decides (``Layer.flat_input``; a Dropout in front
takes either): one that takes flat inputs (``Dense``) gets images flattened
by the model, and the model is built for ``(height * width * channels,)``;
one that takes images (``Conv2D``, ``MaxPooling2D``, ``Flatten``) gets them
as they are, and a ``(batch, 28, 28)`` array is refused with the reshape
that adds the channel axis. Training needs a Dense last layer: the loss, the
accuracy and the diagnostics read its logits. ``fit`` and ``evaluate`` also
refuse a softmax over one output and a probability loss on outputs that are
not probabilities, and warn once when a loss from logits reads a softmax or
sigmoid (:class:`~stabkit.nn.errors.LogitsWarning`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .errors import LogitsWarning, NNError

__all__ = ["flat_first", "model_input", "output_shapes", "initial_weights", "check_input", "check_logits", "check_loss_output",
           "check_softmax", "warn_not_logits", "weights_input"]  # fmt: skip


def flat_first(layers) -> bool | None:
    """True if the model flattens its inputs (its first layer that cares
    takes flat inputs), False if it takes them as they come, None if no layer
    cares (only Dropout so far)."""
    return next((layer.flat_input for layer in layers if layer.flat_input is not None), None)


def model_input(layers, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the first layer sees for samples of ``in_shape``: flattened
    in front of a flat layer, else as given."""
    return (math.prod(in_shape),) if flat_first(layers) else tuple(in_shape)


def output_shapes(layers, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """``[input, output of layer 0, output of layer 1, ...]`` per sample;
    NNError where a layer cannot take what the one before gives."""
    out = [model_input(layers, in_shape)]
    for layer in layers:
        out.append(tuple(layer.output_shape(out[-1])))
    return out


def initial_weights(layers, in_shape: tuple[int, ...], rng: np.random.Generator, model=None) -> list[np.ndarray]:
    """Every layer's initial weights, in ``get_weights`` order, for samples
    of shape ``in_shape``; NNError where a layer cannot take its input. A
    layer that another model built (a layer called on its own, or taken from
    another model) keeps its weights where they fit, as Keras keeps a built
    layer's; ``model``'s own layers get fresh ones."""
    weights = []
    for layer, shape in zip(layers, output_shapes(layers, in_shape)):
        if layer.weight_names:
            w, _ = layer_weights(layer, shape, rng, model)
            weights += [w[n] for n in layer.weight_names]
    return weights


def held_weights(layer, shape: tuple[int, ...], model=None) -> list[np.ndarray] | None:
    """The weights another model gave ``layer``, where they fit input
    ``shape`` (``model`` building it again draws fresh ones); else None."""
    held, owner = layer.weights, layer._owner() if layer._owner is not None else None
    want = layer.param_shapes(shape)
    if held and owner is not None and owner is not model and all(
            a.shape == tuple(want[n]) for n, a in zip(layer.weight_names, held)):  # fmt: skip
        return held
    return None


def layer_weights(layer, shape: tuple[int, ...], rng: np.random.Generator,
                  model=None) -> tuple[dict[str, np.ndarray], bool]:  # fmt: skip
    """``layer``'s weights for input ``shape`` in ``model``: copies of those
    another model gave it (:func:`held_weights`), else fresh ones from
    ``rng``; and whether they were drawn fresh."""
    held = held_weights(layer, shape, model)
    if held is not None:
        return {n: a.copy() for n, a in zip(layer.weight_names, held)}, False
    return layer.initial_weights(shape, rng), True


def weights_input(layers, weights: list[np.ndarray]) -> tuple[int, ...]:
    """The input shape an unbuilt model gets from its weights: the first
    kernel's rows, where the first layer that cares is flat (Dense). The
    kernels of image layers do not tell the image size: NNError then."""
    if not flat_first(layers):
        raise NNError("build the model first, e.g. model.build((28, 28, 1)): its weights do not tell the input shape")
    if weights[0].ndim != 2:
        raise NNError(f"the first kernel must be a matrix (inputs, units), got shape {weights[0].shape}")
    return (weights[0].shape[0],)


def check_input(shape: tuple[int, ...], in_shape: tuple[int, ...], flat: bool) -> None:
    """NNError unless samples of ``shape`` (flattened already where ``flat``)
    fit a model built for ``in_shape``."""
    if flat:
        if shape[0] != math.prod(in_shape):
            raise NNError(f"the model expects {math.prod(in_shape)} input features, got {shape[0]}")
        return
    if shape != in_shape:
        want = ", ".join(map(str, in_shape))
        hint = f"; add the channel axis: x.reshape(-1, {want})" if shape + (1,) == in_shape else ""
        raise NNError(f"the model expects inputs of shape (batch, {want}), got (batch, {', '.join(map(str, shape))}){hint}")


def check_logits(layers) -> None:
    """NNError unless the last layer is Dense: the loss reads its logits."""
    if not layers:
        raise NNError("the model has no layers")
    last = layers[-1]
    if not hasattr(last, "units"):
        raise NNError(f"the last layer must be a Dense layer (the loss reads its logits), not {type(last).__name__}; "
                      "end with Flatten() and Dense")  # fmt: skip


def check_loss_output(loss, last) -> None:
    """NNError unless the last layer's outputs are what ``loss`` reads.

    A loss with ``from_logits=False`` reads probabilities: it needs a
    softmax output (rows summing to 1), or for the binary loss a sigmoid or
    softmax one (each output in [0, 1]). Any other activation gives values
    the loss refuses (and whose ``-1/p`` gradient would train on nonsense),
    so the model is refused here, before any update. (Keras trains on
    silently in this case.) A categorical loss on one output is refused
    first, whatever its ``from_logits``: one output is one class, so the
    loss is 0 for label 0 and undefined for any other (the binary loss is
    the one for a single output)."""
    from .losses import BinaryCrossentropy  # here: losses is not needed to build a model

    binary = isinstance(loss, BinaryCrossentropy)
    if not binary and getattr(last, "units", None) == 1:
        layer = getattr(last, "name", None) or type(last).__name__
        raise NNError(f"loss {type(loss).__name__} needs one output per class, but layer {layer!r} has 1 output; for "
                      "one binary output use BinaryCrossentropy() with activation='sigmoid' (or BinaryCrossentropy("
                      "from_logits=True) with no activation), or give the layer 2 units, one per class")  # fmt: skip
    if getattr(loss, "from_logits", True):
        return
    act = getattr(getattr(last, "activation", None), "name", None)
    ok = ("softmax", "sigmoid") if binary else ("softmax",)
    if act in ok:
        return
    want = "'sigmoid'" if binary else "'softmax'"
    layer = getattr(last, "name", None) or type(last).__name__
    raise NNError(f"loss {type(loss).__name__}(from_logits=False) reads the last layer's outputs as probabilities, "
                  f"but layer {layer!r} has activation {act!r}; pass loss={type(loss).__name__}(from_logits=True) "
                  f"to train on its outputs as logits (recommended), or give it activation={want}")  # fmt: skip


def _activation(layer) -> str | None:
    return getattr(getattr(layer, "activation", None), "name", None)


def check_softmax(layers) -> None:
    """NNError for a softmax over one output (``Dense(1)``, a one-filter
    ``Conv2D``): its output is 1 whatever its input, so the layers before it
    get no gradient and a loss on it cannot fall. (Keras warns at every call:
    "softmax over axis -1 ... This axis has size 1".) Refused before any
    update, suggesting the sigmoid a single binary output wants."""
    for layer in layers:
        if _activation(layer) == "softmax" and getattr(layer, "units", getattr(layer, "filters", None)) == 1:
            name = getattr(layer, "name", None) or type(layer).__name__
            raise NNError(f"layer {name!r} applies a softmax over 1 output, which is always 1 whatever its input, "
                          "so nothing can be learned; for one binary output use activation='sigmoid' with "
                          "BinaryCrossentropy(), or no activation with BinaryCrossentropy(from_logits=True)")  # fmt: skip


def warn_not_logits(loss, last, stacklevel: int = 2) -> bool:
    """Warn (:class:`LogitsWarning`) if ``loss`` reads logits but the last
    layer ends in a softmax or sigmoid, whose outputs are not logits (Keras
    warns the same on TensorFlow; training then runs on squashed values).
    Returns whether it warned."""
    act = _activation(last)
    if not getattr(loss, "from_logits", False) or act not in ("softmax", "sigmoid"):
        return False
    name = getattr(last, "name", None) or type(last).__name__
    warnings.warn(f"{type(loss).__name__}(from_logits=True) reads the outputs of layer {name!r} as logits, but they "
                  f"were produced by a {act} activation and thus do not represent logits. Was this intended? Drop the "
                  f"activation (a linear last layer, recommended) or pass from_logits=False",
                  LogitsWarning, stacklevel=stacklevel + 1)  # fmt: skip
    return True
