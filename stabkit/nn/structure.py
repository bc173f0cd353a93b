"""Keras's layer access and freezing on ``Sequential``: the layers'
automatic names, ``add``, ``get_layer``, ``pop``, ``input_shape``, ``output_shape``,
``weights``, ``get_weights``, ``set_weights``, ``trainable``, ``trainable_weights``,
``non_trainable_weights`` (and Keras 3's ``*variables`` names for them,
:mod:`stabkit.nn.weightroles`), ``count_params`` and ``summary``.

A frozen layer (``layer.trainable = False``, or ``model.trainable = False``
for all of them) keeps its weights through ``fit``: the trainer passes the
optimizer the slices of the flat weight vector that belong to trainable
layers (:meth:`Structure._trainable_runs`), and the optimizer updates those
only, leaving the frozen weights and its state for them untouched. The flags
are read at the start of every ``fit``, so a change takes effect on the next
one, after ``compile`` or after an earlier ``fit`` alike. (Keras 3 honours a
change made after ``compile`` but before the first ``fit``; after a ``fit``
it wants ``compile`` again: on JAX it raises a ValueError otherwise.)
"""

from __future__ import annotations

import numpy as np

from . import defaults, seeding, shapes, summary
from .activations import Activation
from .errors import NNError
from .saving import checked_weights
from .layers import Input, Layer, keras_name
from .weightroles import WeightRoles

__all__ = ["Structure"]


class Structure(WeightRoles):
    """Mixed into ``Sequential``: the methods that read its layer list."""

    _trainable = True
    _reserved: set[str] = set()  # while the constructor adds its list: the names given in it

    def _auto_name(self, layer) -> None:
        """Name an unnamed ``layer`` as Keras 3 names it in a fresh session:
        its class in snake case (:func:`keras_name`), then ``_k`` for the
        ``k``-th unnamed layer of that class before it in this model
        (``dense``, ``dense_1``; a layer named by the user is not counted).
        Keras counts per session, not per model (a second model's first Dense
        is ``dense_2`` there; ``keras.backend.clear_session()`` starts again).
        A name that another layer of this model has, or will have in the list
        given to the constructor, is skipped for the next number: a fresh
        Keras session refuses that clash, a later one counts past it."""
        prefix = keras_name(type(layer))
        taken = {other.name for other in self.layers} | self._reserved
        k = self._uids.get(prefix, 0)
        while (name := prefix + (f"_{k}" if k else "")) in taken:
            k += 1
        self._uids[prefix], layer.name = k + 1, name

    @property
    def input_shape(self) -> tuple:
        """Keras's ``model.input_shape``: ``(None, *per-sample shape)``, e.g.
        ``(None, 784)``; an AttributeError, as Keras raises, while unbuilt."""
        if not self.built:
            raise AttributeError(f"Sequential model {self.name!r} has no defined input shape yet: build it first "
                                 "(Input(shape) first, model.build(input_shape), or fit or call it once)")  # fmt: skip
        return (None, *self._in_shape)

    @property
    def output_shape(self) -> tuple:
        """Keras's ``model.output_shape``: ``(None, *the last layer's output
        shape)``, e.g. ``(None, 10)``; an AttributeError while unbuilt."""
        if not self.built:
            raise AttributeError(f"Sequential model {self.name!r} has no defined output shape yet: build it first "
                                 "(Input(shape) first, model.build(input_shape), or fit or call it once)")  # fmt: skip
        return (None, *self._shapes()[-1])

    def add(self, layer) -> None:
        """Append ``layer``. An :class:`Input` (or a first layer with
        ``input_shape=``) fixes the input shape: the model is built then, as
        in Keras; a layer added to a built model gets fresh weights (or keeps
        those another model gave it), the others keep theirs."""
        if isinstance(layer, Input):
            if self.layers or self._input_shape is not None:
                raise NNError("Input(shape) must come first, before any layer")
            self._input_shape = layer.shape
            return
        if isinstance(layer, Activation):  # a function of stabkit.nn.activations (Sigmoid, Tanh, ...), not a layer
            raise NNError(f"{layer!r} is an activation, not a layer: give it to the layer before it, "
                          f"Dense(units, activation={layer.name!r}), or add the layer Activation({layer.name!r})")
        if isinstance(layer, type(self)):  # the TF quickstart's Sequential([model, Softmax()])
            raise NNError("Sequential takes layers, not a model: for its probabilities use stabkit.softmax(model.predict"
                          "(x)); to extend it, Sequential(model.layers + [...]) (copies of the trained weights)")
        if not isinstance(layer, Layer):
            raise NNError(f"Sequential takes stabkit.nn layers, got {layer!r}")
        if layer.input_shape is not None:
            if self.layers or self._input_shape is not None:
                raise NNError(f"only the first layer may take input_shape; {layer.name or layer!r} is not first")
            self._input_shape = layer.input_shape
        if layer.name is None:
            self._auto_name(layer)
        if any(l.name == layer.name for l in self.layers):
            raise NNError(f"two layers named {layer.name!r}; layer names must be unique in a model, as Keras "
                          "requires: pass another name=")  # fmt: skip
        old = self.get_weights() if self.built else None
        self.layers.append(layer)
        if old is not None:
            try:  # the new layer's input: what the others now give (NNError if it cannot take it)
                shape = self._shapes()[-2]
            except NNError:
                self.layers.pop()
                raise
            fresh, drawn = shapes.layer_weights(layer, shape, seeding.rng(), self) if layer.weight_names else ({}, False)
            self._pack(old + [fresh[n] for n in layer.weight_names])
            self._unseeded |= drawn and not seeding.seeded()  # fit(seed=) cannot fix these
        elif self._input_shape is not None:
            self._build(self._input_shape)

    def pop(self):
        """Remove the last layer and return it (Keras's ``model.pop()``). The
        other layers keep their weights (a compiled optimizer's state starts
        afresh: it was kept for the old weights); with no layer left the
        model is unbuilt (the shape of an ``Input`` stays for the next
        ``add``). IndexError, as Keras raises, on a model without layers."""
        if not self.layers:
            raise IndexError(f"pop() on model {self.name!r}, which has no layers")
        if not self.built:
            return self.layers.pop()
        kept = self.get_weights()[: -len(self.layers[-1].weight_names) or None]
        layer = self.layers.pop()
        if self.layers:
            self._pack(kept)
        else:
            self._P = self._G = self._Pc = self._P16 = self._slots = self._in_shape = None
        return layer

    @property
    def weights(self) -> list[np.ndarray]:
        """The live weight arrays (views of the flat master vector), in the
        order of :meth:`get_weights`; writing into them changes the model."""
        if not self.built:
            return []
        return [self._P[sl].reshape(shape) for sl, shape in self._slots.values()]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the master weights: ``[kernel_0, bias_0, kernel_1, ...]``."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Replace the weights (in the order of :meth:`get_weights`); an
        unbuilt model is built from their shapes. NNError, naming the layer,
        for a wrong count, shape or dtype; nothing is changed then."""
        weights, in_shape = checked_weights(self, weights)
        self._unseeded = False
        if self.built:
            for dst, src in zip(self.weights, weights):
                dst[...] = src
            self._sync()
        elif weights:
            self._in_shape = in_shape
            self._pack(weights)

    def get_layer(self, name: str | None = None, index: int | None = None):
        """The layer named ``name``, or at position ``index`` of ``model.layers``
        (Keras's ``get_layer``; negative indices count from the end). A
        ValueError (NNError) with Keras's message for both or neither, an
        unknown name, or an index out of range."""
        if index is not None and name is not None:
            raise NNError(f"Provide only a layer name or a layer index. Received: index={index}, name={name}.")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise NNError(f"get_layer(index=...) takes an integer, got {index!r}")
            if not -len(self.layers) <= index < len(self.layers):
                raise NNError(f"Was asked to retrieve layer at index {index} but model only has "
                              f"{len(self.layers)} layers.")  # fmt: skip
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise NNError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")
        raise NNError("Provide either a layer name or layer index at `get_layer`.")

    @property
    def trainable(self) -> bool:
        """Keras's ``model.trainable``: False freezes every layer (setting it
        sets each layer's ``trainable``); while it is False no weight is
        trained, whatever the layers say."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = self._trainable

    def _trains(self, layer, name: str | None = None) -> bool:
        """Whether fit updates ``layer`` (with ``name``: that weight of it;
        a layer's ``fixed_names``, BatchNormalization's moving statistics,
        are never trained)."""
        return self._trainable and layer.trainable and name not in layer.fixed_names

    def _weights_where(self, trained: bool) -> list[np.ndarray]:
        if not self.built:
            return []
        return [self._P[sl].reshape(shape) for layer in self.layers for n in layer.weight_names
                if self._trains(layer, n) == trained for sl, shape in (self._slots[f"{layer.name}/{n}"],)]  # fmt: skip

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The trainable layers' weights, live views in the order of ``get_weights``."""
        return self._weights_where(True)

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The frozen layers' weights, live views in the order of ``get_weights``."""
        return self._weights_where(False)

    def count_params(self) -> int:
        """The number of scalars in the weights (Keras's ``model.count_params()``);
        NNError (a ValueError, as Keras 3 raises) while the model is not built:
        a model whose first layer is an ``Input`` (or given ``input_shape=``)
        is built at once, any other by ``build``, ``fit`` or a first call."""
        if not self.built:
            raise NNError(f"You tried to call `count_params` on model {self.name!r}, but the model isn't built; "
                          "build it first (Input(shape) as its first layer, model.build(input_shape), "
                          "or fit or call it once)")  # fmt: skip
        return int(self._P.size)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:  # fmt: skip
        """Print the layer table as Keras 3 does: names and types, output
        shapes, parameter counts, totals (trainable and not) with their size
        in memory (see :mod:`stabkit.nn.summary`); one string to ``print_fn``
        (None: printed). Keras's arguments: ``line_length`` None is Keras's
        width (:func:`stabkit.nn.summary.default_length`, 76 without a
        terminal); ``show_trainable=True`` adds Keras 3's Trainable column;
        ``expand_nested`` changes nothing (no layer here holds layers);
        ``positions`` and ``layer_range`` None only (NNError)."""
        defaults.check("summary", positions=positions, layer_range=layer_range)
        for flag, name in ((expand_nested, "expand_nested"), (show_trainable, "show_trainable")):
            if not isinstance(flag, (bool, np.bool_)):
                raise NNError(f"summary({name}=...) takes True or False, got {flag!r}")
        text = summary.text(self, line_length, bool(show_trainable))
        print(text, end="") if print_fn in (None, print) else print_fn(text)

    def _param_counts(self) -> tuple[int, int]:
        """``(trainable, non-trainable)`` parameter counts ((0, 0) unbuilt,
        as Keras's summary counts an unbuilt model)."""
        if not self.built:
            return 0, 0
        trained = sum(w.size for w in self.trainable_weights)
        return trained, self.count_params() - trained

    def _trainable_runs(self) -> list[slice] | None:
        """The slices of the flat weight vector that ``fit`` updates: None for
        all of it (nothing is frozen), else the trainable layers' weights,
        adjacent ones merged (an empty list when every layer is frozen)."""
        runs, frozen = [], False
        for layer in self.layers:
            for n in layer.weight_names:
                sl = self._slots[f"{layer.name}/{n}"][0]
                if not self._trains(layer, n):
                    frozen = True
                elif runs and runs[-1].stop == sl.start:
                    runs[-1] = slice(runs[-1].start, sl.stop)
                else:
                    runs.append(sl)
        return runs if frozen else None
