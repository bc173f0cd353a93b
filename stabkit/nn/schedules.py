"""Learning-rate schedules, Keras's ``keras.optimizers.schedules``, and a
fixed rate as an optimizer holds it (:func:`rate`, :class:`Rate`).

A schedule is passed as an optimizer's ``learning_rate``
(``Adam(learning_rate=CosineDecay(2e-2, 1250))``) and gives the rate of each
update from the optimizer's step count: update ``k`` (0-based, the
optimizer's ``iterations`` *before* it) uses ``schedule(k)``, as Keras 3
reads ``schedule(optimizer.iterations)`` before incrementing it. The
schedules count updates, not epochs: ``decay_steps = epochs *
ceil(samples / batch_size)`` decays over a whole fit.

Keras computes the rates in float32; these compute them in float64, so the
two agree to float32's rounding (about 1e-7 relative; tested).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import NNError

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay", "get", "Rate", "rate"]


def _number(value, name: str, *, positive: bool = False) -> int | float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise NNError(f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    # ints stay ints, so get_config (and model.save) gives back what was passed, as Keras's does
    return value if isinstance(value, int) else float(value)


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate of update ``step``
    (0-based); ``get_config()`` the constructor's arguments."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``, the
    exponent floored with ``staircase=True`` (Keras's)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.decay_rate = _number(decay_rate, "decay_rate", positive=True)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}  # fmt: skip


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i - 1] < step <= boundaries[i]``, ``values[-1]`` past the
    last boundary (Keras's: a boundary step still has the earlier value)."""

    def __init__(self, boundaries, values, name="PiecewiseConstantDecay"):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise NNError("boundaries and values must be lists")
        if len(values) != len(boundaries) + 1:
            raise NNError(f"values must hold one more entry than boundaries, got {len(values)} values "
                          f"for {len(boundaries)} boundaries")  # fmt: skip
        self.boundaries = [_number(b, "each boundary") for b in boundaries]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise NNError(f"boundaries must increase, got {list(boundaries)!r}")
        self.values = [_number(v, "each value") for v in values]
        self.name = name

    def __call__(self, step):
        # the first boundary at or past the step: its interval's value
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Keras's cosine decay, with its optional linear warm-up::

        warm-up (warmup_target set, step < warmup_steps):
            initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps
        then, s = min(step - warmup_steps, decay_steps), peak = warmup_target or initial_learning_rate:
            peak * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    Past ``warmup_steps + decay_steps`` the rate stays at ``alpha * peak``
    (0 by default: the last updates of a fit whose length is
    ``decay_steps`` barely move the weights)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):  # fmt: skip
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, "decay_steps", positive=True)
        self.alpha = _number(alpha, "alpha")
        self.warmup_target = None if warmup_target is None else _number(warmup_target, "warmup_target")
        self.warmup_steps = _number(warmup_steps, "warmup_steps")
        self.name = name

    def __call__(self, step):
        peak = self.initial_learning_rate
        if self.warmup_target is not None:
            step = min(step, self.decay_steps + self.warmup_steps)
            if step < self.warmup_steps:
                return (self.warmup_target - peak) * (step / self.warmup_steps) + peak
            peak, step = self.warmup_target, step - self.warmup_steps
        fraction = min(step, self.decay_steps) / self.decay_steps
        return peak * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}  # fmt: skip


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def get(value) -> LearningRateSchedule:
    """A schedule from an instance or from ``{"class_name", "config"}`` (what
    ``get_config`` of an optimizer holding one writes; ``model.save`` stores it)."""
    if isinstance(value, LearningRateSchedule):
        return value
    if isinstance(value, dict) and value.get("class_name") in _BY_NAME and isinstance(value.get("config"), dict):
        try:
            return _BY_NAME[value["class_name"]](**value["config"])
        except TypeError as e:
            raise NNError(f"learning-rate schedule {value['class_name']}: {e}") from None
    raise NNError(f"learning_rate must be a positive number or a schedule ({', '.join(_BY_NAME)}), got {value!r}")


def rate(learning_rate) -> float:
    """A fixed learning rate, checked: a positive finite number (NumPy's scalars too)."""
    # numbers.Real: NumPy's scalars too (np.float32 is no float)
    if isinstance(learning_rate, (bool, np.bool_)) or not (
            isinstance(learning_rate, numbers.Real) and math.isfinite(learning_rate) and learning_rate > 0):
        raise NNError(f"learning_rate must be a positive number, got {learning_rate!r}")
    return float(learning_rate)


class Rate(float):
    """``optimizer.learning_rate`` as read: the number itself (a float, for
    arithmetic, formatting and the update), with Keras's variable methods
    that callbacks call on it: ``assign(value)`` sets the optimizer's rate
    (as ``optimizer.learning_rate = value`` does; refused under a schedule),
    ``numpy()`` and ``value`` give the number. A copy or a pickle of it is a
    plain float."""

    __slots__ = ("_owner",)

    def __new__(cls, value: float, owner):
        self = super().__new__(cls, value)
        self._owner = owner
        return self

    def assign(self, value):
        self._owner.learning_rate = value
        return self._owner.learning_rate

    def numpy(self):
        return np.float64(self)

    @property
    def value(self) -> float:
        return float(self)

    def __reduce__(self):
        return (float, (float(self),))

    def __deepcopy__(self, memo):
        return float(self)
