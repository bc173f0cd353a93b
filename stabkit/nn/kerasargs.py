"""Keras's arguments that have no work to do here, checked.

A Keras user passes them by habit (``compile(..., jit_compile=False)``,
``Adam(1e-3, amsgrad=False)``, ``fit(..., validation_freq=1)``). Their
Keras defaults, and the values that would change nothing in a NumPy trainer
that runs eagerly, are taken; a value that would make Keras compute
something this trainer does not (a moving average of the weights, loss
scaling, loss weights, a limited number of steps per epoch) is one NNError
naming it, never ignored.
"""

from __future__ import annotations

import numpy as np

from .errors import NNError

__all__ = ["compile_hints", "fit_extras", "optimizer_options"]


def _flag(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise NNError(f"{name} must be True or False, got {value!r}")


def compile_hints(loss_weights, weighted_metrics, run_eagerly, steps_per_execution, jit_compile,
                  auto_scale_loss) -> None:
    """``compile``'s Keras arguments beyond optimizer, loss and metrics.
    ``run_eagerly``, ``jit_compile`` and ``auto_scale_loss`` change nothing
    here (NumPy runs eagerly and compiles nothing; float16 training has no
    loss scaling, see ``compile``'s ``dtype``); ``steps_per_execution`` 1
    only (more would batch the callbacks' per-step hooks in Keras)."""
    if loss_weights is not None:
        raise NNError("loss_weights weighs the losses of a model with several outputs; this one has a single "
                      "output. Metrics go by name: compile(optimizer, loss, metrics=['accuracy'])")
    if weighted_metrics:
        raise NNError("weighted_metrics are not computed here; metrics are means over the samples, unweighted")
    _flag(run_eagerly, "run_eagerly")
    _flag(auto_scale_loss, "auto_scale_loss")
    if not (isinstance(jit_compile, (bool, np.bool_)) or jit_compile == "auto"):
        raise NNError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    if isinstance(steps_per_execution, bool) or steps_per_execution != 1:
        raise NNError(f"steps_per_execution={steps_per_execution!r}: every step runs on its own here (with the "
                      "callbacks' per-step hooks after each); leave it at 1")


def fit_extras(steps_per_epoch, validation_steps, validation_batch_size, validation_freq) -> tuple[int | None, int]:
    """``fit``'s Keras arguments for step counts and validation:
    ``(validation_batch_size, validation_freq)``. An epoch is one pass over
    the arrays, so ``steps_per_epoch`` and ``validation_steps`` must be None
    (Keras's meaning for arrays: stop an epoch early)."""
    for value, name in ((steps_per_epoch, "steps_per_epoch"), (validation_steps, "validation_steps")):
        if value is not None:
            raise NNError(f"{name}={value!r}: an epoch here is one pass over all of x (and the validation over "
                          f"all of validation_data); leave {name} out, or pass fewer samples")
    if validation_batch_size is not None and (isinstance(validation_batch_size, bool) or not isinstance(
            validation_batch_size, (int, np.integer)) or validation_batch_size < 1):
        raise NNError(f"validation_batch_size must be a positive integer, got {validation_batch_size!r}")
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)) or validation_freq < 1:
        raise NNError(f"validation_freq must be a positive integer (validate every that many epochs), got "
                      f"{validation_freq!r}")
    return (None if validation_batch_size is None else int(validation_batch_size)), int(validation_freq)


#: Keras 3's optimizer options and their defaults: taken at these values only
_DEFAULTS = {"use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None}
#: options that act only with use_ema=True (refused above): any value
_IDLE = ("ema_momentum", "ema_overwrite_frequency")
_WHAT = {"use_ema": "an exponential moving average of the weights", "loss_scale_factor": "loss scaling",
         "gradient_accumulation_steps": "gradient accumulation"}


def optimizer_options(cls_name: str, name, options: dict) -> str:
    """The optimizer's ``name`` (Keras's default: the class name in lower
    case), after checking Keras's other options in ``options``: each at its
    Keras default, else NNError naming what it would ask for."""
    for key, value in options.items():
        if key in _IDLE:
            continue
        if key not in _DEFAULTS:
            raise NNError(f"{cls_name} has no argument {key!r}")
        default = _DEFAULTS[key]
        if not (value is default or (default is False and value is np.False_)):
            what = _WHAT.get(key, key)
            raise NNError(f"{cls_name}({key}={value!r}): {what} is not implemented by stabkit's optimizers; "
                          f"leave {key} at its default ({default!r})")
    if name is not None and not (isinstance(name, str) and name):
        raise NNError(f"an optimizer's name must be a non-empty string, got {name!r}")
    return name or cls_name.lower()
