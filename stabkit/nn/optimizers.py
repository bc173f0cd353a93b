"""Optimizers that update every parameter with a few in-place operations.

The model keeps all parameters in one flat master vector (float32 by default,
float32 in mixed precision) and all gradients in another; ``apply(params,
grads, runs)`` updates the vector in place, or only its slices ``runs`` (the
weights of the trainable layers: a frozen layer's weights and its state are
not touched). The state is kept per parameter as well:
``state[name]`` holds views of the flat moments for that parameter (numpy-ml's
``m``, ``v`` per name), and ``iterations`` counts the steps (Keras's ``t``).
Working on one vector instead of six small arrays, with preallocated
scratch space, is what makes Adam cheap: a plain per-array loop spends more
time on Adam's temporaries than on the matmuls. Where the C extension is
built, Adam's update runs there in one pass, bit-identical to the twelve
NumPy passes (both behind one seam: :func:`stabkit.nn.steps.adam_update`).
"""

from __future__ import annotations

import math
import numbers
import sys
from abc import ABC, abstractmethod

import numpy as np

from . import gradopts, kerasargs, schedules, steps
from .schedules import Rate, rate as _rate
from .copying import CopyOptimizer
from .errors import NNError

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "get", "schedules"]

# Keras's path to the schedules, keras.optimizers.schedules: the same module
# under a second name (as os.path is posixpath), so that
# ``from stabkit.nn.optimizers.schedules import CosineDecay`` imports it too
sys.modules.setdefault(f"{__name__}.schedules", schedules)


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
            grads = gradopts.clipped(self._gclip, grads, runs, self._slices, self._clip(), getattr(self, self._clip()))
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


class SGD(Optimizer):
    """Keras's SGD: ``p -= lr * g`` without momentum; with it, ``v = momentum
    * v - lr * g`` then ``p += v``, or with ``nesterov=True`` ``p += momentum
    * v - lr * g`` (the new ``v``, as Keras 3). With ``batch_size`` equal to
    the data size this is full-batch gradient descent."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not (0 <= momentum < 1):
            raise NNError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def __repr__(self):
        extra = ", nesterov=True" if self.nesterov else ""
        return f"SGD(learning_rate={self._lr_text()}, momentum={self.momentum:g}{extra})"

    def get_config(self):
        return {"learning_rate": self._lr_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                **self._options_config()}  # fmt: skip

    def _allocate(self, size, dtype):
        return {"velocity": np.zeros(size, dtype)} if self.momentum else {}

    def _update(self, part, lr):
        tmp = part["tmp"]
        np.multiply(part["grads"], -lr, out=tmp)  # -lr * g
        if self.momentum:
            v = part["velocity"]
            v *= self.momentum
            v += tmp
            if self.nesterov:
                # p += momentum * v - lr * g, with the v just updated
                tmp += self.momentum * v
            else:
                tmp = v
        part["params"] += tmp


class RMSprop(Optimizer):
    """Keras's RMSprop, with its defaults::

        v = rho * v + (1 - rho) * g**2
        d = v + epsilon                      (centered: v - a**2 + epsilon,
                                              a = rho * a + (1 - rho) * g)
        step = lr * g / sqrt(d)
        p -= step                            (momentum: m = momentum * m + step; p -= m)

    ``epsilon`` sits inside the square root, as in Keras (PyTorch adds it
    outside)."""

    def __init__(self, learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        for arg, b in (("rho", rho), ("momentum", momentum)):
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not (0 <= b < 1):
                raise NNError(f"{arg} must be in [0, 1), got {b!r}")
        if not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise NNError(f"epsilon must be positive, got {epsilon!r}")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def __repr__(self):
        return (
            f"RMSprop(learning_rate={self._lr_text()}, rho={self.rho:g}, momentum={self.momentum:g}, "
            f"epsilon={self.epsilon:g}, centered={self.centered})"
        )

    def get_config(self):
        return {"learning_rate": self._lr_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered, **self._options_config()}  # fmt: skip

    def _allocate(self, size, dtype):
        flats = {"velocity": np.zeros(size, dtype)}
        if self.centered:
            flats["average_gradient"] = np.zeros(size, dtype)
        if self.momentum:
            flats["momentum"] = np.zeros(size, dtype)
        self._scratch["work"] = np.empty(size, dtype)
        return flats

    def _update(self, part, lr):
        f, tmp, d, grads = part, part["tmp"], part["work"], part["grads"]
        v, rho = f["velocity"], self.rho
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - rho
        v *= rho
        v += tmp
        if self.centered:
            a = f["average_gradient"]
            a *= rho
            np.multiply(grads, 1 - rho, out=tmp)
            a += tmp
            np.multiply(a, a, out=d)
            np.subtract(v, d, out=d)
        else:
            np.copyto(d, v)
        d += self.epsilon
        np.sqrt(d, out=d)
        np.multiply(grads, lr, out=tmp)
        tmp /= d
        if self.momentum:
            m = f["momentum"]
            m *= self.momentum
            m += tmp
            tmp = m
        part["params"] -= tmp


class Adam(Optimizer):
    """Adam with Keras's defaults and update::

        m += (1 - beta_1) * (g - m)
        v += (1 - beta_2) * (g * g - v)
        p -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    (PyTorch adds ``epsilon`` to the bias-corrected ``sqrt(v / (1 -
    beta_2**t))`` instead; the two agree when PyTorch's epsilon is
    ``epsilon / sqrt(1 - beta_2**t)``.) With ``amsgrad=True`` the step
    divides by ``sqrt(v_hat) + epsilon``, ``v_hat`` the largest ``v`` so far,
    as Keras (NumPy passes only: the C update knows plain Adam).
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, *, name=None,
                 **options):
        super().__init__(learning_rate, name, options)
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise NNError(f"{type(self).__name__}(amsgrad=...) takes True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)
        for arg, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (0 <= b < 1):
                raise NNError(f"{arg} must be in [0, 1), got {b!r}")
        if not epsilon > 0:
            raise NNError(f"epsilon must be positive, got {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def __repr__(self):
        return (
            f"Adam(learning_rate={self._lr_text()}, beta_1={self.beta_1:g}, "
            f"beta_2={self.beta_2:g}, epsilon={self.epsilon:g})"
        )

    def _allocate(self, size, dtype):
        flats = {"m": np.zeros(size, dtype), "v": np.zeros(size, dtype)}
        if self.amsgrad:
            flats["v_hat"] = np.zeros(size, dtype)
        return flats

    def _prepare(self, part):
        # in C where it applies (bit-identical, ~7x faster), else NumPy: see steps
        p = (part["params"], part["grads"], part["m"], part["v"], part["tmp"])
        part["update"] = steps.NumPyAdam(*p, v_hat=part["v_hat"]) if self.amsgrad else steps.adam_update(*p)
        return part

    def _update(self, part, lr):
        t = self.iterations
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        part["update"](1 - self.beta_1, 1 - self.beta_2, alpha, self.epsilon)

    def get_config(self):
        amsgrad = {"amsgrad": True} if self.amsgrad else {}
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                **amsgrad, **self._options_config()}  # fmt: skip


class AdamW(Adam):
    """Keras's AdamW: :class:`Adam` whose ``weight_decay`` defaults to 0.004
    (and must be a number): ``p - p * weight_decay * lr`` before each update."""

    def __init__(self, learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, *, name=None, **options):  # fmt: skip
        if weight_decay is None:
            raise NNError("AdamW's weight_decay must be a number, got None (use Adam for none)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name, weight_decay=weight_decay,
                         **options)  # fmt: skip

    def __repr__(self):
        return super().__repr__().replace("Adam(", "AdamW(", 1)[:-1] + f", weight_decay={self.weight_decay:g})"


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def get(optimizer) -> Optimizer:
    """An optimizer from an instance or a name in any case (``'adam'``,
    ``'SGD'``, ``'RMSprop'``, with Keras's defaults). A class is refused, as
    Keras refuses it, with the instance to write instead."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    hint = f" (the class; pass an instance, {optimizer.__name__}())" if isinstance(optimizer, type) else ""
    raise NNError(f"unknown optimizer {optimizer!r}{hint}; use one of {', '.join(_BY_NAME)} or a stabkit.nn.optimizers "
                  "instance")  # fmt: skip
