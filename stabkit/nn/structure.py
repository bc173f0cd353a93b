"""Keras's layer access and freezing on ``Sequential``: ``get_layer``,
``trainable``, ``trainable_weights``, ``non_trainable_weights``,
``count_params`` and ``summary``.

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

from . import summary
from .errors import NNError

__all__ = ["Structure"]


class Structure:
    """Mixed into ``Sequential``: the methods that read its layer list."""

    _trainable = True

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

    def _trains(self, layer) -> bool:
        return self._trainable and layer.trainable

    def _weights_where(self, trained: bool) -> list[np.ndarray]:
        if not self.built:
            return []
        return [self._P[sl].reshape(shape) for layer in self.layers if self._trains(layer) == trained
                for sl, shape in (self._slots[f"{layer.name}/{n}"] for n in layer.weight_names)]  # fmt: skip

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The trainable layers' weights, live views in the order of ``get_weights``."""
        return self._weights_where(True)

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The frozen layers' weights, live views in the order of ``get_weights``."""
        return self._weights_where(False)

    def count_params(self) -> int:
        """The number of scalars in the weights; 0 while the model is not built."""
        return 0 if not self.built else int(self._P.size)

    def summary(self, line_length: int = 76, print_fn=print) -> None:
        """Print the layer table as Keras 3 does: names and types, output
        shapes, parameter counts, totals (trainable and not) with their size
        in memory (see :mod:`stabkit.nn.summary`); one string to ``print_fn``."""
        text = summary.text(self, line_length)
        print(text, end="") if print_fn is print else print_fn(text)

    def _param_counts(self) -> tuple[int, int]:
        """``(trainable, non-trainable)`` parameter counts (0, 0 unbuilt)."""
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
                if not self._trains(layer):
                    frozen = True
                elif runs and runs[-1].stop == sl.start:
                    runs[-1] = slice(runs[-1].start, sl.stop)
                else:
                    runs.append(sl)
        return runs if frozen else None
