"""``copy.deepcopy(model)`` and ``pickle.dumps(model)``, as Keras allows both.

A built model keeps its weights in flat buffers (``_P``, its gradient
``_G`` and, in mixed precision, the float16 copies) that its layers hold
*views* of, and its optimizer keeps its moments the same way and binds C
kernels to them; a layer also holds a weak reference to its model. A copy
made attribute by attribute would give each layer a detached array of its
own (training the copy would then move the flat buffer but not the layers'
weights) and fails on the weak reference and the C function pointers.

So the copy takes the plain state, with the flat master weights and the
optimizer's state vectors by value, and binds it again: the copied model
packs its weights into fresh buffers (which binds its copied layers and
builds its copied optimizer), then gets back the optimizer's moments and
iterations and each layer's ``set_weights`` flag. The copy trains as the
original would, on weights of its own.
"""

from __future__ import annotations

__all__ = ["CopyModel", "CopyLayer", "CopyOptimizer"]

#: derived buffers, rebuilt by _pack
_DERIVED = ("_G", "_Pc", "_P16")


class CopyModel:
    """Mixed into ``Sequential``."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for k in _DERIVED:
            state.pop(k, None)
        if state.get("_P") is not None:
            state["_copy_flags"] = [layer._weights_set for layer in self.layers]
            opt = self.optimizer
            if opt is not None and opt._size is not None:
                state["_copy_optimizer"] = ({k: v.copy() for k, v in opt.variables().items()}, opt.iterations)
        return state

    def __setstate__(self, state: dict) -> None:
        flags = state.pop("_copy_flags", None)
        optimizer_state = state.pop("_copy_optimizer", None)
        self.__dict__.update(state)
        if self._P is None:
            return
        flat, self._P = self._P, None
        self._pack([flat[sl].reshape(shape) for sl, shape in self._slots.values()])
        for layer, was_set in zip(self.layers, flags):
            layer._weights_set = was_set
            if layer._solo is self:  # a layer called on its own: its one-layer model's views
                layer._solo_views = layer._views
        if optimizer_state is not None and self.optimizer._size == self._P.size:
            variables, iterations = optimizer_state
            for k, flat_state in self.optimizer.variables().items():
                flat_state[...] = variables[k]
            self.optimizer.iterations = iterations


class CopyLayer:
    """Mixed into ``Layer``: its model's weak reference is dropped (the
    copied model that holds the layer sets it again when it binds it)."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_owner", None)
        return state


class CopyOptimizer:
    """Mixed into ``Optimizer``: the views bound to C kernels are dropped
    (built again at the next update)."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_part_list", None)
        state["_parts_key"] = None
        return state
