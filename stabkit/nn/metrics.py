"""Metrics by Keras's names, computed per sample on the model's outputs.

``compile(metrics=[...])`` takes the names below; each becomes a log key of
the same name (``'acc'`` stays ``'acc'``, as in Keras). ``'accuracy'`` /
``'acc'`` resolve by the loss: sparse labels ->
``sparse_categorical_accuracy``, one-hot -> ``categorical_accuracy``, binary
-> ``binary_accuracy``. Metrics are not weighted by ``sample_weight`` or
``class_weight`` (Keras weights only ``weighted_metrics``).

One difference, kept on purpose: Keras's ``binary_accuracy`` thresholds
``y_pred`` at 0.5 whatever the loss, so with ``from_logits=True`` it compares
logits with 0.5. Here ``'accuracy'`` with a binary loss from logits
thresholds the logits at 0 (the same decision as the probability at 0.5);
the explicit name ``'binary_accuracy'`` behaves as Keras's. Another, for
the same reason: Keras resolves ``'accuracy'`` by the shapes, so a binary
loss on several outputs (a multi-label model: the slides' car / bus /
pedestrian detector) gets ``categorical_accuracy``, whether the argmax of
the outputs is the first positive label, a number that says little about
independent labels; here it stays ``binary_accuracy``, the fraction of
labels right.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import NNError
from .losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, SparseCategoricalCrossentropy

__all__ = ["Metric", "get", "direction", "NAMES", "SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
           "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy"]

#: ``k`` of the top-k metrics (Keras's default)
TOP_K = 5


def _sparse(y, out):
    return np.argmax(out, axis=1) == y


def _categorical(y, out):
    return np.argmax(out, axis=1) == np.argmax(y, axis=1)


def _binary(y, out, cut=0.5):
    # Keras: mean over the outputs of (y_pred > threshold) == y_true
    return np.mean((out > cut) == (y > 0.5), axis=1)


def _top_k(t, out, k=TOP_K):
    # the true class is in the top k when fewer than k scores exceed its own
    # (ties count for the true class, as Keras's in_top_k does)
    score = out[np.arange(len(t)), t][:, None]
    return np.sum(out > score, axis=1) < k


#: Keras's name -> (per-sample function of (labels as the loss prepared them, outputs),
#: the kind of labels it needs: 'sparse', 'dense' (one-hot) or 'binary')
NAMES: dict[str, tuple[Callable, str]] = {
    "sparse_categorical_accuracy": (_sparse, "sparse"),
    "categorical_accuracy": (_categorical, "dense"),
    "binary_accuracy": (_binary, "binary"),
    "sparse_top_k_categorical_accuracy": (_top_k, "sparse"),
    "top_k_categorical_accuracy": (lambda y, out: _top_k(np.argmax(y, axis=1), out), "dense"),
}

_KINDS = {SparseCategoricalCrossentropy: "sparse", CategoricalCrossentropy: "dense", BinaryCrossentropy: "binary"}


class Metric:
    """One compiled metric: ``name`` (the log key) and ``values(y, out)``,
    the per-sample values whose mean is reported."""

    def __init__(self, name: str, fn: Callable, config: dict | None = None):
        self.name, self._fn = name, fn
        #: what model.save stores: the name, or a class's ``{"class_name", "config"}``
        self.config = name if config is None else config

    def __repr__(self) -> str:
        return f"Metric({self.name!r})"

    def values(self, y: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.asarray(self._fn(y, out), dtype=np.float64)

    def __call__(self, y, out) -> float:
        return float(np.mean(self.values(y, out)))


class _Spec:
    """A metric given as Keras's class (``SparseCategoricalAccuracy()``):
    the function of its Keras name, logged under ``name``."""

    key = ""

    def __init__(self, name: str | None = None, dtype=None):
        if name is not None and not (isinstance(name, str) and name):
            raise NNError(f"a metric's name must be a non-empty string, got {name!r}")
        self.name = name or self.key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _fn(self) -> Callable:
        return NAMES[self.key][0]

    def get_config(self) -> dict:
        return {"name": self.name}


class SparseCategoricalAccuracy(_Spec):
    """Keras's ``SparseCategoricalAccuracy``: integer labels, the top output."""

    key = "sparse_categorical_accuracy"


class CategoricalAccuracy(_Spec):
    """Keras's ``CategoricalAccuracy``: one-hot labels, the top output."""

    key = "categorical_accuracy"


class BinaryAccuracy(_Spec):
    """Keras's ``BinaryAccuracy(threshold=0.5)``: outputs above ``threshold``
    count as 1 (the outputs as the model gives them: logits stay logits)."""

    key = "binary_accuracy"

    def __init__(self, name: str | None = None, dtype=None, threshold: float = 0.5):
        super().__init__(name, dtype)
        self.threshold = float(threshold)

    def _fn(self) -> Callable:
        return lambda y, out: _binary(y, out, self.threshold)

    def get_config(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}


class SparseTopKCategoricalAccuracy(_Spec):
    """Keras's ``SparseTopKCategoricalAccuracy(k=5)``."""

    key = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = TOP_K, name: str | None = None, dtype=None):
        super().__init__(name, dtype)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise NNError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def _fn(self) -> Callable:
        return lambda t, out: _top_k(t, out, self.k)

    def get_config(self) -> dict:
        return {"name": self.name, "k": self.k}


class TopKCategoricalAccuracy(SparseTopKCategoricalAccuracy):
    """Keras's ``TopKCategoricalAccuracy(k=5)``: one-hot labels."""

    key = "top_k_categorical_accuracy"

    def _fn(self) -> Callable:
        return lambda y, out: _top_k(np.argmax(y, axis=1), out, self.k)


def get(name, loss: Loss) -> Metric:
    """The metric ``name`` (a Keras name, or one of the classes above) for a
    model compiled with ``loss``; NNError for a name it does not know or
    one whose labels the loss does not take."""
    if isinstance(name, dict):  # a class's config, as model.save stores it
        cls = globals().get(name.get("class_name")) if name.get("class_name") in __all__ else None
        if not (isinstance(cls, type) and issubclass(cls, _Spec)):
            raise NNError(f"unknown metric class {name.get('class_name')!r}")
        name = cls(**name.get("config", {}))
    if isinstance(name, type) and issubclass(name, _Spec):
        raise NNError(f"metrics take an instance: write {name.__name__}(), as Keras does")
    if isinstance(name, _Spec):
        kind = next(k for cls, k in _KINDS.items() if isinstance(loss, cls))
        needs = NAMES[name.key][1]
        if needs != kind:
            raise NNError(f"metric {type(name).__name__} needs {needs} labels, but the loss {type(loss).__name__} "
                          f"takes {kind} ones")
        return Metric(name.name, name._fn(), {"class_name": type(name).__name__, "config": name.get_config()})
    if not isinstance(name, str):
        raise NNError(f"metrics must be names such as 'accuracy' or Keras's metric classes such as "
                      f"SparseCategoricalAccuracy(), got {name!r}")
    kind = next(k for cls, k in _KINDS.items() if isinstance(loss, cls))
    if name in ("accuracy", "acc"):
        if kind == "binary":
            cut = 0.0 if loss.from_logits else 0.5  # the logit 0 is the probability 0.5
            return Metric(name, lambda y, out: _binary(y, out, cut))
        return Metric(name, _sparse if kind == "sparse" else _categorical)
    if name not in NAMES:
        raise NNError(f"unknown metric {name!r}; use one of accuracy, acc, {', '.join(NAMES)}")
    fn, needs = NAMES[name]
    if needs != kind:
        raise NNError(f"metric {name!r} needs {needs} labels, but the loss {type(loss).__name__} takes {kind} ones")
    return Metric(name, fn)


def direction(key: str) -> str | None:
    """``'min'`` for a loss log key (``loss``, ``val_loss``), ``'max'`` for an
    accuracy, None if unknown: what EarlyStopping's ``mode='auto'`` uses."""
    base = key.removeprefix("val_")
    if base == "loss":
        return "min"
    if base in ("accuracy", "acc") or base in NAMES:
        return "max"
    return None
