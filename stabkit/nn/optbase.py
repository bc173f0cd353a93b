"""The optimizers' base class: the flat state, the learning rate (a number
or a schedule), Keras's clipping and weight decay before each update, and
the update of the trained weights' runs (see :mod:`stabkit.nn.optimizers`,
whose docstring says how the flat vectors make the update cheap).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import numpy as np

from . import gradopts, kerasargs, schedules
from .copying import CopyOptimizer
from .errors import NNError
from .schedules import Rate, rate as _rate

__all__ = ["Optimizer"]


#: Keras's gradient clipping options (at most one of them), and weight decay
_CLIPS = ("clipnorm", "global_clipnorm", "clipvalue")


def _option(cls_name: str, key: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) and math.isfinite(value)):
        raise NNError(f"{cls_name}({key}=...) takes None or a finite number, got {value!r}")
    return float(value)


class Optimizer(CopyOptimizer, ABC):
    """Base class: ``build(slots, size, dtype)`` then ``apply(params, grads, runs)``.

    ``learning_rate`` is a positive number or a schedule
    (:mod:`stabkit.nn.schedules`, as Keras's ``keras.optimizers.schedules``):
    update ``k`` (0-based: ``iterations`` before it) uses ``schedule(k)``.
    Reading ``optimizer.learning_rate`` gives the rate the next update will
    use; assigning a number changes it, except under a schedule (refused, as
    Keras refuses it).

    Keras's ``clipnorm`` (each weight's gradient scaled to an L2 norm of at
    most that), ``global_clipnorm`` (all of them by one factor, to a joint
    norm of at most that) and ``clipvalue`` (each entry clipped to
    ``[-v, v]``), at most one of them and only where positive, act on the
    gradients of the trained weights before the update, in a buffer of
    their own (``model``'s gradients stay as computed); ``weight_decay``
    takes ``p * weight_decay * lr`` off each trained weight before the update
    (Keras 3's decoupled decay, biases included), as Keras orders them."""

    def __init__(self, learning_rate, name=None, options=None):
        options = dict(options or {})
        cls_name = type(self).__name__
        extra = {k: _option(cls_name, k, options.pop(k, None)) for k in (*_CLIPS, "weight_decay")}
        if sum(extra[k] is not None for k in _CLIPS) > 1:
            set_ = ", ".join(f"{k}={extra[k]:g}" for k in _CLIPS if extra[k] is not None)
            raise NNError(f"{cls_name}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {set_}")
        self.clipnorm, self.global_clipnorm, self.clipvalue = (extra[k] for k in _CLIPS)
        self.weight_decay = extra["weight_decay"]
        # Keras's other options (use_ema=False, ...) at their defaults only
        self.name = kerasargs.optimizer_options(cls_name, name, options)
        self._schedule = None
        if isinstance(learning_rate, (schedules.LearningRateSchedule, dict)):
            self._schedule = schedules.get(learning_rate)
        else:
            self._learning_rate = _rate(learning_rate)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._size = None

    def build(self, slots: dict[str, tuple[slice, tuple[int, ...]]], size: int, dtype) -> None:
        """Allocate the flat state; ``slots[name] = (slice, shape)``."""
        self.iterations = 0
        self._size, self._dtype = size, np.dtype(dtype)
        self._tmp = np.empty(size, self._dtype)
        self._slices = [sl for sl, _ in slots.values()]  # each weight's span, for clipping by norm
        self._gclip = np.empty(size, self._dtype) if self._clip() else None
        self._scratch: dict[str, np.ndarray] = {}  # work space beside tmp (set by _allocate)
        self._parts_key = None  # the buffers and runs _parts was last built for
        flats = self._flats = self._allocate(size, self._dtype)
        self.state = {
            name: {k: flat[sl].reshape(shape) for k, flat in flats.items()} for name, (sl, shape) in slots.items()
        }

    @property
    def learning_rate(self) -> Rate:
        """The rate of the next update: the schedule's at ``iterations``, or
        the number; a float with Keras's ``assign`` (:class:`Rate`)."""
        rate = float(self._schedule(self.iterations)) if self._schedule is not None else self._learning_rate
        return Rate(rate, self)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if self._schedule is not None:
            raise NNError(f"this optimizer's learning rate follows {self._schedule!r} and cannot be set")
        self._learning_rate = _rate(value)

    def _lr_text(self) -> str:
        return repr(self._schedule) if self._schedule is not None else f"{self._learning_rate:g}"

    def _lr_config(self):
        """``learning_rate`` for ``get_config``: the number, or ``{"class_name", "config"}``."""
        if self._schedule is None:
            return self._learning_rate
        return {"class_name": type(self._schedule).__name__, "config": self._schedule.get_config()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self._lr_text()})"

    def _allocate(self, size, dtype) -> dict[str, np.ndarray]:
        return {}

    def get_config(self) -> dict:
        """The constructor's arguments (``model.save`` stores them)."""
        return {"learning_rate": self._lr_config(), **self._options_config()}

    def _options_config(self) -> dict:
        """The clipping and weight decay options that are set, for ``get_config``."""
        return {k: getattr(self, k) for k in (*_CLIPS, "weight_decay") if getattr(self, k) is not None}

    def _clip(self) -> str | None:
        """The clipping that acts (Keras's: only a positive value does)."""
        return next((k for k in _CLIPS if getattr(self, k) is not None and getattr(self, k) > 0), None)

    def variables(self) -> dict[str, np.ndarray]:
        """The flat state vectors by name (empty before ``build``); ``model.save``
        stores them and ``load_model`` writes them back."""
        return dict(getattr(self, "_flats", {}))

    def apply(self, params: np.ndarray, grads: np.ndarray, runs: list[slice] | None = None) -> None:
        """One update of the flat parameter vector ``params`` from the flat
        gradients ``grads``, of the slices ``runs`` of them only (the weights
        of the trainable layers; None: all). The other parameters, and the
        optimizer's state for them, are left as they are: Keras neither
        updates a frozen weight nor keeps state for it. ``iterations``
        counts the update either way."""
        lr = self.learning_rate  # at iterations before this update (a schedule's step)
        self.iterations += 1
        if self._gclip is not None:
            kind = self._clip()
            grads = gradopts.clipped(self._gclip, grads, runs, self._slices, kind, getattr(self, kind))
        if self.weight_decay is not None:
            gradopts.decay(params, self._tmp, runs, self.weight_decay, float(lr))
        for part in self._parts(params, grads, runs):
            self._update(part, lr)

    def _parts(self, params, grads, runs) -> list[dict]:
        """Per run, views of the buffers an update reads and writes:
        ``params``, ``grads``, ``tmp``, the state and scratch vectors by name
        (built again only when the buffers or the runs change)."""
        spans = None if runs is None else tuple((sl.start, sl.stop) for sl in runs)
        key = self._parts_key
        if key is None or key[0] is not params or key[1] is not grads or key[2] != spans:
            flats = {"params": params, "grads": grads, "tmp": self._tmp, **self._flats, **self._scratch}
            cuts = [slice(None)] if runs is None else runs
            self._part_list = [self._prepare({k: a[sl] for k, a in flats.items()}) for sl in cuts]
            self._parts_key = (params, grads, spans)
        return self._part_list

    def _prepare(self, part: dict) -> dict:
        """A run's views, with whatever the update binds to them once (Adam: its kernel)."""
        return part

    @abstractmethod
    def _update(self, part: dict, lr: float) -> None:
        """One update of one run's views (see ``_parts``) at rate ``lr``."""
