"""Keras arguments that stabkit takes only at Keras's defaults, checked with one message.

A lecture's Keras code passes some arguments by habit at their default
values (``Conv2D(..., data_format='channels_last')``, ``Dropout(0.5,
noise_shape=None)``, ``model.save(path, zipped=True)``). :func:`check` takes
each at the values listed in ``TAKEN`` (Keras's default, and a value that
means the same here) and refuses any other with one :class:`NNError` that
names the argument, the values stabkit takes and why::

    Conv2D(dilation_rate=2): stabkit has no dilated convolutions; leave dilation_rate at 1 or (1, 1)
"""

from __future__ import annotations

import numpy as np

from .errors import NNError

__all__ = ["TAKEN", "check"]

_CONSTRAINT = "stabkit has no weight constraints"
_CALLBACKS = "stabkit calls callbacks in fit only; pass them to fit"
#: argument -> (the values taken, what stabkit does instead)
TAKEN = {
    "data_format": ((None, "channels_last"), "stabkit's image layers are channels last, Keras's default; move the "
                    "channel axis last (x.transpose(0, 2, 3, 1))"),
    "dilation_rate": ((1, (1, 1)), "stabkit has no dilated convolutions"),
    "groups": ((1,), "stabkit has no grouped convolutions"),
    "kernel_constraint": ((None,), _CONSTRAINT),
    "bias_constraint": ((None,), _CONSTRAINT),
    "beta_constraint": ((None,), _CONSTRAINT),
    "gamma_constraint": ((None,), _CONSTRAINT),
    "activity_regularizer": ((None,), "stabkit has no activity regularizers (kernel_regularizer= and "
                             "bias_regularizer= are taken)"),
    "beta_regularizer": ((None,), "stabkit regularizes no BatchNormalization weight"),
    "gamma_regularizer": ((None,), "stabkit regularizes no BatchNormalization weight"),
    "renorm": ((False,), "stabkit has no batch renormalization"),
    "renorm_clipping": ((None,), "stabkit has no batch renormalization"),
    "renorm_momentum": ((0.99,), "stabkit has no batch renormalization"),
    "synchronized": ((False,), "stabkit trains on one device (Keras takes True on TensorFlow only)"),
    "noise_shape": ((None,), "stabkit draws a mask entry for every input entry"),
    "dtype": ((None, "float32"), "compile's dtype= sets the model's format (compile(..., dtype='float64'))"),
    "steps": ((None,), "one pass covers all of x; pass fewer samples to compute fewer"),
    "callbacks": ((None, ()), _CALLBACKS),
    "zipped": ((None, True), "model.save writes one zip archive (Keras's unzipped folder is not written)"),
    "max_shard_size": ((None,), "save_weights writes one file"),
    "skip_mismatch": ((False,), "load_weights needs every weight to fit its layer"),
    "custom_objects": ((None, ()), "stabkit's files hold only stabkit's own layers, losses and optimizers"),
    "positions": ((None,), "summary() sets Keras's column positions itself (line_length= is taken)"),
    "layer_range": ((None,), "summary() prints every layer"),
}


def _same(value, taken) -> bool:
    """Whether ``value`` is the taken value ``taken`` (flags by identity,
    numbers by value but never a bool for a number, pairs entry by entry,
    ``()`` any empty list, tuple or dict)."""
    if taken is None or isinstance(taken, bool):
        return value is taken or (isinstance(value, np.bool_) and bool(value) is taken)
    if taken == ():
        return isinstance(value, (list, tuple, dict)) and not value
    if isinstance(taken, tuple):
        return (isinstance(value, (list, tuple)) and len(value) == len(taken)
                and all(_same(v, t) for v, t in zip(value, taken)))  # fmt: skip
    if isinstance(taken, str):
        return isinstance(value, str) and value.lower() == taken
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number)) and value == taken


def check(owner: str, **given) -> None:
    """Each argument of ``given`` at a value ``TAKEN`` lists for it; else one
    NNError naming ``owner``, the argument, the values taken and why."""
    for name, value in given.items():
        taken, why = TAKEN[name]
        if not any(_same(value, t) for t in taken):
            shown = " or ".join("an empty list" if t == () else repr(t) for t in taken)
            raise NNError(f"{owner}({name}={value!r}): {why}; leave {name} at {shown}")
