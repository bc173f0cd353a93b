"""Cross-entropy losses whose values come from the function library.

A loss reports per-sample values computed by one tier of stabkit
(``tier='accurate'`` by default, ``'stable'`` as Keras computes them, or
``'naive'``, the textbook formula) and supplies the gradient the trainer
back-propagates:

* ``from_logits=True``: the fused ``(softmax(z) - y) / batch`` (sigmoid for
  the binary loss), evaluated max-shifted in the working dtype; the same for
  every tier, so tiers differ only in the loss they report;
* ``from_logits=False``: the derivative of ``-log p`` exactly as the formula
  says (``'accurate'``: of ``-log(p_y / sum(p))``, its rows renormalised,
  which adds ``1/sum(p)``), ``-1/p_y`` per sample and then ``1/batch`` for the mean, which
  overflows in float16 once ``p_y < 1/65504``. The ``'stable'`` tier clips as
  Keras does (rows rescaled to sum 1, ``p`` clipped to ``[1e-7, 1 - 1e-7]``,
  zero gradient where the clip is active); ``'naive'`` and ``'accurate'`` do
  not clip. (Autodiff frameworks multiply by ``1/batch`` *before* dividing by
  ``p``, which postpones the float16 overflow to ``p_y < 1/(batch * 65504)``.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from stabkit import stable
from stabkit._api.arrays import to_numpy
from stabkit.registry import TIERS, module
from .errors import NNError

__all__ = [
    "Loss",
    "SparseCategoricalCrossentropy",
    "CategoricalCrossentropy",
    "BinaryCrossentropy",
    "TIERS",
    "get",
]

_EPS = stable.KERAS_EPSILON


#: Keras's loss-constructor options that the trainer does not take, and why
_NOT_TAKEN = {
    "reduction": "the trainer's losses are Keras's default, sum_over_batch_size (stabkit's functions take reduction=)",
    "ignore_class": "the trainer takes no ignored class (stabkit.sparse_categorical_crossentropy takes "
                    "ignore_class=); leave those samples out of x and y",
    "axis": "the trainer's losses take the classes on the last axis",
    "dtype": "compile(dtype=) sets the trainer's format",
}


_DEFAULTS = {"reduction": "sum_over_batch_size", "axis": -1, "dtype": None, "ignore_class": None}


class Loss(ABC):
    """Base class. ``loss(y_true, y_pred)`` is the batch mean, as in Keras.

    ``label_smoothing`` (Keras's): targets ``y (1 - ls) + ls / k`` (``k``
    classes; ``k = 2`` for the binary loss, per output), in the loss and in
    its gradient; ``name`` is kept, as Keras keeps it."""

    fn_name = ""

    def __init__(self, from_logits: bool = False, tier: str = "accurate", *, label_smoothing: float = 0.0,
                 name: str | None = None, **keras_options):
        for key, value in keras_options.items():
            if _DEFAULTS.get(key, object()) != value:  # Keras's own default is what the trainer does
                why = _NOT_TAKEN.get(key, "it is not an option of Keras's losses either")
                raise NNError(f"{type(self).__name__} does not take {key}={value!r}: {why}")
        if tier not in TIERS:
            hint = ""
            if isinstance(tier, (int, float)) and not isinstance(tier, bool):
                hint = f" (the second argument is stabkit's tier; Keras's label_smoothing goes by name: " \
                       f"label_smoothing={tier!r})"
            raise NNError(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}{hint}")
        if isinstance(label_smoothing, (bool, np.bool_, str)) or not isinstance(label_smoothing, (int, float, np.number)) \
                or not 0 <= label_smoothing <= 1:
            raise NNError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
        self.from_logits = bool(from_logits)
        self.tier = tier
        self.label_smoothing = float(label_smoothing)
        self.name = name

    def __repr__(self) -> str:
        ls = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"{type(self).__name__}(from_logits={self.from_logits}, tier={self.tier!r}{ls}{name})"

    def get_config(self) -> dict:
        """The constructor's arguments (saved with the model; Keras's name)."""
        config = {"from_logits": self.from_logits, "tier": self.tier}
        if self.label_smoothing:  # older files have none: the default
            config["label_smoothing"] = self.label_smoothing
        if self.name is not None:
            config["name"] = self.name
        return config

    def smoothed(self, y: np.ndarray, k: int) -> np.ndarray:
        """Dense targets ``y`` smoothed over ``k`` classes (``y`` itself for none)."""
        ls = self.label_smoothing
        return y if not ls else y * (1 - ls) + ls / k

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """The batch mean of the per-sample losses as a Python float; with
        ``sample_weight`` (one weight per sample, or what broadcasts to the
        per-sample losses), ``sum(w * loss) / n``, Keras's default
        ``"sum_over_batch_size"``. NumPy arrays, lists, torch CPU tensors
        and JAX arrays go in."""
        # a torch tensor (bfloat16 too) or JAX array comes back from the tier in
        # its own type, whose mean would not take NumPy's dtype
        values = to_numpy(self.values(y_true, y_pred), "loss")[0].astype(np.float64)
        if sample_weight is not None:
            w = to_numpy(sample_weight, "sample_weight")[0].astype(np.float64)
            while w.ndim > values.ndim and w.shape[-1] == 1:  # Keras's (n, 1) weights
                w = w[..., 0]
            # one weight per sample: on the leading axes, as Keras expands (n,)
            # to (n, 1) against (n, t) losses (NumPy would align the last axes)
            w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
            try:
                values = values * np.broadcast_to(w, values.shape)
            except ValueError:
                raise NNError(f"sample_weight has shape {w.shape}; it needs one weight per sample, "
                              f"{values.shape}") from None
        return float(np.mean(values))

    def values(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses from the chosen tier, in ``y_pred``'s dtype."""
        fn = getattr(module(self.tier), self.fn_name)
        kw = {"label_smoothing": self.label_smoothing} if self.label_smoothing else {}
        with np.errstate(all="ignore"):  # the naive tier's inf and NaN are reported, not warned
            return fn(y_true, y_pred, from_logits=self.from_logits, **kw)

    @abstractmethod
    def prepare(self, y, n_outputs: int) -> np.ndarray:
        """Validated training targets (called once per ``fit``)."""

    @abstractmethod
    def true_index(self, y: np.ndarray) -> np.ndarray:
        """The true class of each sample (for accuracy and diagnostics)."""

    @abstractmethod
    def gradient(self, y, out: np.ndarray) -> np.ndarray:
        """``dL/d(out)`` of the batch-mean loss, in ``out``'s dtype."""


_ROWS: dict[int, np.ndarray] = {}


def _rows(n: int) -> np.ndarray:
    """``arange(n)``, cached: the row index of every training step."""
    r = _ROWS.get(n)
    if r is None:
        r = _ROWS[n] = np.arange(n)
        r.flags.writeable = False
    return r


def _softmax_minus(out, y_onehot_or_index, sparse, ls=0.0):
    """``(softmax(z) - y) / n``, max-shifted, in place on a fresh array;
    sparse labels smoothed by ``ls`` (``1 - ls`` at the label, ``ls / k``
    everywhere)."""
    n = out.shape[0]
    g = out - out.max(axis=1, keepdims=True)
    np.exp(g, out=g)
    g /= g.sum(axis=1, keepdims=True)
    if sparse:
        g[_rows(n), y_onehot_or_index] -= 1 - ls
        if ls:
            g -= ls / out.shape[1]
    else:
        g -= y_onehot_or_index
    g *= 1.0 / n
    return g


def _prob_gradient(y_dense, p, tier):
    """``d/dp`` of ``mean(-sum(y log p))`` for probabilities ``p``.

    naive, accurate: ``-y/p`` (``-1/p_y`` for one-hot rows), then ``/n``.
    stable (Keras): ``q = p / sum(p)``, ``c = clip(q, eps, 1 - eps)``,
    ``L = -sum(y log c)``, differentiated through the clip and the rescaling.
    """
    n = p.shape[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if tier != "stable":
            g = -(y_dense / p)  # 0/0 where y = 0 and p = 0 is set to 0 below
            g[y_dense == 0] = 0
            if tier == "accurate":  # rows renormalised: d/dp_i of sum(y) log(sum(p))
                g += (y_dense.sum(axis=1, keepdims=True) / p.sum(axis=1, keepdims=True)).astype(p.dtype)
            return g * p.dtype.type(1.0 / n)
        s = p.sum(axis=1, keepdims=True)
        q = p / s
        inside = (q > _EPS) & (q < 1 - _EPS)
        dq = np.where(inside & (y_dense != 0), -(y_dense / np.clip(q, _EPS, 1 - _EPS)), 0).astype(p.dtype)
        g = dq / s - np.sum(dq * p, axis=1, keepdims=True) / (s * s)
        return g * p.dtype.type(1.0 / n)


class SparseCategoricalCrossentropy(Loss):
    """``-log p_y`` for integer labels ``y`` (Keras's
    ``SparseCategoricalCrossentropy``)."""

    fn_name = "sparse_categorical_crossentropy"

    def prepare(self, y, n_outputs):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise NNError(f"sparse labels must be a 1-d array of class indices, got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y) & (y == np.round(y))):
                raise NNError("sparse labels must be integer class indices")
        elif y.dtype.kind not in "iu":
            raise NNError(f"sparse labels have dtype {y.dtype}; expected integer class indices")
        y = y.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= n_outputs):
            bad = y[(y < 0) | (y >= n_outputs)][0]
            raise NNError(f"label {bad} is out of range for a model with {n_outputs} outputs")
        return y

    def true_index(self, y):
        return y

    def gradient(self, y, out):
        if self.from_logits:
            return _softmax_minus(out, y, sparse=True, ls=self.label_smoothing)
        if self.tier == "stable" or self.label_smoothing:
            onehot = np.zeros_like(out)
            onehot[np.arange(out.shape[0]), y] = 1
            return _prob_gradient(self.smoothed(onehot, out.shape[1]), out, self.tier)
        n = out.shape[0]
        g = np.zeros_like(out)
        rows = np.arange(n)
        with np.errstate(divide="ignore", over="ignore"):
            # -1/p_y first (the formula's derivative), then the mean's 1/n
            g[rows, y] = -(out.dtype.type(1) / out[rows, y])
        if self.tier == "accurate":  # rows renormalised: d/dp_i log(sum(p)) = 1/sum(p)
            g += (1 / out.sum(axis=1, keepdims=True)).astype(out.dtype)
        g *= out.dtype.type(1.0 / n)
        return g


class CategoricalCrossentropy(Loss):
    """``-sum_i y_i log p_i`` for one-hot or soft labels (Keras's
    ``CategoricalCrossentropy``)."""

    fn_name = "categorical_crossentropy"

    def prepare(self, y, n_outputs):
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise NNError(f"categorical labels must have shape (n, {n_outputs}), got {y.shape}")
        y = y.astype(np.float64)
        # the tiers refuse targets outside [0, 1]: refused here, before any update (Keras trains on them)
        bad = (y < 0) | (y > 1)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NNError(f"categorical labels must lie in [0, 1] (one-hot rows or class probabilities); "
                          f"y[{at[0]}, {at[1]}] = {y[at]:g} (values in [{np.nanmin(y):g}, {np.nanmax(y):g}])")  # fmt: skip
        return y

    def true_index(self, y):
        return np.argmax(y, axis=1)

    def gradient(self, y, out):
        y = self.smoothed(y, out.shape[1]).astype(out.dtype)
        if self.from_logits:
            # d/dz -sum(y log softmax(z)) = softmax(z) * sum(y) - y
            total = y.sum(axis=1, keepdims=True)
            g = _softmax_minus(out, y, sparse=False)
            if np.any(total != 1):
                g += (out.shape[0] * g + y) * (total - 1) / out.shape[0]
            return g
        return _prob_gradient(y, out, self.tier)


class BinaryCrossentropy(Loss):
    """Mean over outputs of ``-(y log p + (1 - y) log(1 - p))``: one
    independent sigmoid (or logit) per output, for multi-label problems such
    as the slides' car / bus / pedestrian detector (Keras's
    ``BinaryCrossentropy``)."""

    fn_name = "binary_crossentropy"

    def values(self, y_true, y_pred):
        y_pred, y_true = to_numpy(y_pred, "y_pred")[0], to_numpy(y_true, "y_true")[0]
        # Keras pairs labels (n,) with outputs (n, 1) and back (a trailing
        # axis of 1 added or dropped); any other shape is refused, as Keras
        # refuses it, not reshaped into the wrong pairs
        if y_true.shape != y_pred.shape:
            if y_true.shape + (1,) == y_pred.shape or y_true.shape == y_pred.shape + (1,):
                y_true = y_true.reshape(y_pred.shape)
            else:
                raise NNError(f"binary labels of shape {y_true.shape} do not match the predictions' {y_pred.shape} "
                              "(Keras pairs them only up to a trailing axis of 1)")
        return np.mean(super().values(y_true, y_pred), axis=-1)

    def prepare(self, y, n_outputs):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1 and n_outputs == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise NNError(f"binary labels must have shape (n, {n_outputs}), got {y.shape}")
        if np.any((y < 0) | (y > 1)):
            raise NNError("binary labels must lie in [0, 1]")
        return y

    def true_index(self, y):
        return y > 0.5

    def gradient(self, y, out):
        n, k = out.shape
        y = self.smoothed(y, 2).astype(out.dtype)
        scale = out.dtype.type(1.0 / (n * k))
        if self.from_logits:
            # d/dz [y softplus(-z) + (1 - y) softplus(z)] = sigmoid(z) - y
            e = np.exp(-np.abs(out))
            p = np.where(out >= 0, 1, e).astype(out.dtype) / (1 + e)
            return (p - y) * scale
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.tier == "stable":
                inside = (out > _EPS) & (out < 1 - _EPS)
                c = np.clip(out, _EPS, 1 - _EPS).astype(out.dtype)
                g = np.where(inside, -y / c + (1 - y) / (1 - c), 0).astype(out.dtype)
            else:
                g = -y / out + (1 - y) / (1 - out)
                g[(y == 0) & (out == 0)] = 0  # 0 log 0 = 0 contributes nothing
                g[(y == 1) & (out == 1)] = 0
        return g * scale


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(loss) -> Loss:
    """A :class:`Loss` from an instance, a class (made with its defaults), a
    name Keras takes: the function's (``'sparse_categorical_crossentropy'``)
    or the class's (``'SparseCategoricalCrossentropy'``), case-sensitive as
    in Keras, or one of stabkit's loss functions (``stabkit.stable.
    binary_crossentropy``: that class in that tier). A name, class or
    function gets ``from_logits=False``, as in Keras."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss) and loss is not Loss:
        return loss()
    if isinstance(loss, str):
        cls = _BY_NAME.get(loss) or next((c for c in _BY_NAME.values() if c.__name__ == loss), None)
        if cls is not None:
            return cls()
    if callable(loss):
        # stabkit's own loss functions (as keras.losses' functions in Keras):
        # the class of that name, in the function's tier, from_logits=False
        tier = getattr(loss, "__module__", "").rpartition(".")[2]
        name = getattr(loss, "__name__", "")
        if name in _BY_NAME and tier in TIERS:
            return _BY_NAME[name](tier=tier)
        raise NNError(f"cannot train on the function {name or loss!r}: the trainer differentiates its own losses "
                      f"only (no autodiff); use a stabkit.nn.losses class or one of {', '.join(_BY_NAME)}")
    raise NNError(f"unknown loss {loss!r}; use a stabkit.nn.losses class or one of {', '.join(_BY_NAME)}")
